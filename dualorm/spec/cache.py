"""A cache of loaded change specs, so a command skips parsing and replaying unchanged ones.

:func:`~dualorm.spec.load.load_specs` is a pure function of the spec files' bytes and the
loader's code: the same bytes always give the same migrations (or the same error). Deploys
run ``migrate status`` and ``migrate up`` on an unchanged directory again and again, so
:func:`cached_specs` keeps the last result under a key made of every spec's name and bytes and
the size and modification time of every module that builds them. Any difference means a full
load; a missing, unreadable or unwritable cache means a full load too, silently. Errors are
never cached: a directory that fails to load fails the same way every time.

The file lives in the project's state directory (``.dualorm/``, next to the embedded server),
which only the project's owner writes; it is a pickle, so it is read only from there.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dualorm.spec.model import Migration

__all__ = ["CACHE_NAME", "cached_specs", "spec_key"]

CACHE_NAME = "specs.pickle"
_FORMAT = 1
# What a loaded migration is built from, besides the spec files: the loader's own code.
_PACKAGE = Path(__file__).resolve().parent
_SOURCES = (
    *sorted(_PACKAGE.glob("*.py")),
    _PACKAGE.parent / "schema.py",
    _PACKAGE.parent / "errors.py",
)


def _spec_paths(directory: Path) -> list[Path]:
    # The rule of dualorm.spec.load.spec_paths, without importing the YAML loader.
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def spec_key(directory: Path) -> str | None:
    """Return the key of what loading ``directory`` gives now, or ``None`` if unreadable."""
    digest = hashlib.sha256(f"{_FORMAT}\0{sys.version_info[:2]}\0{directory}\0".encode())
    try:
        for source in _SOURCES:
            stat = source.stat()
            digest.update(f"{source.name}\0{stat.st_mtime_ns}\0{stat.st_size}\0".encode())
        for path in _spec_paths(directory):
            digest.update(f"{path.name}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    except OSError:
        return None
    return digest.hexdigest()


def cached_specs(directory: Path, cache_dir: Path) -> list[Migration]:
    """Return ``load_specs(directory)``, from ``cache_dir`` when nothing it depends on changed."""
    key = spec_key(directory)
    path = cache_dir / CACHE_NAME
    if key is not None:
        try:
            with path.open("rb") as handle:
                stored_key, migrations = pickle.load(handle)
            if stored_key == key and isinstance(migrations, list):
                return migrations
        except Exception:  # any unreadable or foreign cache file is a miss
            pass
    from dualorm.spec.load import load_specs

    migrations = load_specs(directory)
    if key is not None:
        _store(path, key, migrations)
    return migrations


def _store(path: Path, key: str, migrations: list[Migration]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".specs-")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump((key, migrations), handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except (OSError, pickle.PicklingError):
        # A read-only checkout still works; it just loads in full every time.
        return
