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
import secrets
import stat
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dualorm.errors import BackupCorrupt, UsageError

FORMAT = "dualorm-backup"
FORMAT_VERSION = 1
DATA_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# A manifest is a few hundred bytes; anything far larger is not one.
MANIFEST_LIMIT = 1 << 20


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
    # The source database's environment label when it was dumped (None: unlabelled, or a
    # manifest written before labels were recorded); restore judges it against the target.
    environment: str | None = None
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
        missing = names - set(data) - {"format", "format_version", "environment"}
        if missing:
            raise BackupCorrupt(source, f"manifest lacks {', '.join(sorted(missing))}")
        found = cls(**{k: v for k, v in data.items() if k in names})
        found.check(source)
        return found

    def check(self, source: str) -> None:
        """Refuse a manifest whose name, file or size could point outside its own backup."""
        if not isinstance(self.name, str) or not _NAME.match(self.name) or ".." in self.name:
            raise BackupCorrupt(source, f"manifest names an invalid backup {self.name!r}")
        if self.file != f"{self.name}{DATA_SUFFIX}":
            # prune and restore act on the file a manifest names: it must be its own.
            raise BackupCorrupt(
                source, f"manifest describes {self.file!r}, not {self.name}{DATA_SUFFIX}"
            )
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise BackupCorrupt(source, f"manifest size {self.size!r} is not a byte count")
        if not isinstance(self.sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise BackupCorrupt(source, "manifest sha256 is not a SHA-256 hex digest")


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
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
        data = json.loads(read_regular(path, MANIFEST_LIMIT).decode("utf-8"))
    except FileNotFoundError:
        raise BackupCorrupt(str(path), "manifest not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BackupCorrupt(str(path), f"manifest is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BackupCorrupt(str(path), "manifest is not a JSON object")
    return Manifest.from_dict(data, str(path))


def open_regular(path: Path) -> int:
    """Open ``path`` for reading; refuse anything but a regular file (exit 1).

    Opened non-blocking and judged on the open descriptor: a FIFO would block ``open`` itself,
    and a link to ``/dev/zero`` would never end.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise BackupCorrupt(str(path), "not a regular file (a FIFO, device or directory)")
    return fd


def read_regular(path: Path, limit: int) -> bytes:
    """Read a regular file of at most ``limit`` bytes."""
    with os.fdopen(open_regular(path), "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise BackupCorrupt(str(path), f"larger than {limit} bytes")
    return data


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
            manifest = read(path)
        except (BackupCorrupt, OSError):
            continue
        # A manifest copied under another name describes some other backup; skip it.
        if path.name == f"{manifest.name}{MANIFEST_SUFFIX}":
            found.append((path, manifest))
    found.sort(key=lambda item: (item[1].created_at, item[1].name), reverse=True)
    return found
