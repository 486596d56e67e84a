"""The manifest written beside each backup file, and finding backups in a directory.

A backup is the pair ``<name>.dump`` + ``<name>.manifest.json``. The manifest is written last,
so a directory only ever lists complete backups. It holds what restore and verify need to undo
the file (encryption scheme, compression) and what an operator needs to choose one (database,
server version, migration head, when); never a password or a key.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dualorm.errors import BackupCorrupt, UsageError

FORMAT = "dualorm-backup"
FORMAT_VERSION = 1
DATA_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Manifest:
    """What is known about one backup file."""

    name: str
    file: str
    sha256: str
    size: int
    database: str
    server_version: str
    migration_head: str | None
    created_at: str
    encrypted: bool
    encryption: str
    compression: str
    compression_level: int | None
    pg_dump_version: str
    pg_dump_compression: str
    dump_size: int
    dualorm_version: str
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> Manifest:
        if data.get("format") != FORMAT:
            raise BackupCorrupt(source, "not a dualorm backup manifest")
        if data.get("format_version") != FORMAT_VERSION:
            raise BackupCorrupt(
                source, f"unsupported manifest version {data.get('format_version')!r}"
            )
        names = {f.name for f in fields(cls)}
        missing = names - set(data) - {"format", "format_version"}
        if missing:
            raise BackupCorrupt(source, f"manifest lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in data.items() if k in names})


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe backup name (letters, digits, ``._-``), else refuse."""
    if not _NAME.match(name) or ".." in name:
        raise UsageError(
            f"backup name {name!r} must be 1-128 letters, digits, '.', '_' or '-' "
            "and start with a letter or digit"
        )
    return name


def data_path(directory: Path, name: str) -> Path:
    return directory / f"{name}{DATA_SUFFIX}"


def manifest_path(directory: Path, name: str) -> Path:
    return directory / f"{name}{MANIFEST_SUFFIX}"


def write(path: Path, manifest: Manifest) -> None:
    """Write ``manifest`` to ``path`` atomically, mode 0600."""
    tmp = path.with_name(f".{path.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(manifest.to_dict(), handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read(path: Path) -> Manifest:
    """Read the manifest at ``path``; a damaged one is ``BackupCorrupt``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupCorrupt(str(path), "manifest not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BackupCorrupt(str(path), f"manifest is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BackupCorrupt(str(path), "manifest is not a JSON object")
    return Manifest.from_dict(data, str(path))


def locate(path: Path) -> tuple[Path, Path]:
    """Return ``(data file, manifest file)`` for a path naming either of them."""
    if path.name.endswith(MANIFEST_SUFFIX):
        manifest_file = path
        data_file = path.with_name(path.name[: -len(MANIFEST_SUFFIX)] + DATA_SUFFIX)
    else:
        data_file = path
        stem = path.name[: -len(DATA_SUFFIX)] if path.name.endswith(DATA_SUFFIX) else path.name
        manifest_file = path.with_name(stem + MANIFEST_SUFFIX)
    if not data_file.exists() and not manifest_file.exists():
        raise UsageError(f"no backup at {path}")
    if manifest_file.exists() and not data_file.exists():
        raise BackupCorrupt(str(data_file), "backup file is missing (manifest found)")
    if not manifest_file.exists():
        raise BackupCorrupt(str(data_file), f"manifest {manifest_file.name} is missing")
    return data_file, manifest_file


def scan(directory: Path) -> list[tuple[Path, Manifest]]:
    """Return ``(manifest path, manifest)`` of every backup in ``directory``, newest first.

    Unreadable manifests are skipped here; ``verify`` reports them.
    """
    if not directory.is_dir():
        return []
    found: list[tuple[Path, Manifest]] = []
    for path in directory.glob(f"*{MANIFEST_SUFFIX}"):
        try:
            found.append((path, read(path)))
        except BackupCorrupt:
            continue
    found.sort(key=lambda item: (item[1].created_at, item[1].name), reverse=True)
    return found
