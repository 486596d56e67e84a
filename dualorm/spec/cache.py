"""A cache of loaded change specs, so a command skips parsing and replaying unchanged ones.

:func:`~dualorm.spec.load.load_specs` is a pure function of the spec files' bytes and the
loader's code: the same bytes always give the same migrations (or the same error). Deploys
run ``migrate status`` and ``migrate up`` on an unchanged directory again and again, so
:func:`cached_specs` keeps the last result under a key made of every spec's name and bytes,
the dualorm version and the size and modification time of every module that builds them.
Any difference means a full load; a missing, unreadable or unwritable cache means a full load
too, silently. Errors are never cached: a directory that fails to load fails the same way
every time.

:class:`SpecCache` also keeps, beside the migrations, the tables the specs create as read
from their YAML (:func:`~dualorm.spec.foreign.created_tables`), once ``migrate make`` has read
them: ``make --check`` needs them before anything else, and reads them without decoding the
migrations.

The cache is data, never code: ``.dualorm/cache/specs.json`` holds one header line (format,
key, signature) and the migrations as JSON, where an object is named by its class and only
the dataclasses and enums of the spec model (:mod:`dualorm.spec.codec`) can be named; building them
sets their fields and calls nothing else. The header is compared before anything else is
read, and the body is signed with a key kept outside the project (the user's cache
directory), so a cache file committed to a repository, copied from another machine or edited
by hand is a miss, never an error and never trusted. The old ``specs.pickle`` is never read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dualorm import __version__
from dualorm.spec.codec import decode, encode
from dualorm.spec.files import spec_paths
from dualorm.spec.model import Migration

if TYPE_CHECKING:
    from dualorm.schema import TableKey

__all__ = ["CACHE_NAME", "SpecCache", "cached_specs", "spec_key"]

CACHE_NAME = "specs.json"
_FORMAT = 4
_MAGIC = b"dualorm-spec-cache"
# Far above what thousands of specs take; a bigger file is not ours and is not read.
_MAX_BYTES = 256 << 20
# What a loaded migration is built from, besides the spec files: the loader's own code.
_PACKAGE = Path(__file__).resolve().parent
_SOURCES = (
    *sorted(_PACKAGE.glob("*.py")),
    _PACKAGE.parent / "schema.py",
    _PACKAGE.parent / "errors.py",
)


def spec_key(directory: Path) -> str | None:
    """Return the key of what loading ``directory`` gives now, or ``None`` if unreadable."""
    header = f"{_FORMAT}\0{__version__}\0{sys.version_info[:2]}\0{directory}\0"
    digest = hashlib.sha256(header.encode())
    try:
        for source in _SOURCES:
            stat = source.stat()
            digest.update(f"{source.name}\0{stat.st_mtime_ns}\0{stat.st_size}\0".encode())
        for path in spec_paths(directory):
            digest.update(f"{path.name}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
        # The replay starts from the foreign tables (dualorm.spec.foreign.SNAPSHOT_NAME).
        snapshot = directory / "foreign_tables.json"
        digest.update(snapshot.read_bytes() if snapshot.is_file() else b"-")
    except OSError:
        return None
    return digest.hexdigest()


def cached_specs(directory: Path, cache_dir: Path) -> list[Migration]:
    """Return ``load_specs(directory)``, from ``cache_dir`` when nothing it depends on changed."""
    cache = SpecCache(directory, cache_dir)
    hit = cache.migrations()
    if hit is not None:
        return hit
    # Imported on a miss only: a hit never imports the YAML loader (deploys start faster).
    from dualorm.spec.load import load_specs

    migrations = load_specs(directory)
    cache.store(migrations)
    return migrations


class SpecCache:
    """The cache entry of one spec directory, keyed on what its files hold when created."""

    def __init__(self, directory: Path, cache_dir: Path) -> None:
        self.key = spec_key(directory)
        self.path = cache_dir / CACHE_NAME
        self._signing = _signing_key() if self.key is not None else None
        self._body: dict[str, Any] | None = None
        self._loaded = False

    def migrations(self) -> list[Migration] | None:
        """The cached migrations, or ``None`` (a miss: never raises)."""
        body = self._entry()
        if body is None:
            return None
        try:
            migrations = decode(body["migrations"])
        except Exception:  # a signed file this code cannot decode is a miss
            return None

        if isinstance(migrations, tuple) and all(isinstance(m, Migration) for m in migrations):
            return list(migrations)
        return None

    def created(self) -> set[TableKey] | None:
        """The tables the specs create (read from their YAML), or ``None`` when not kept."""
        body = self._entry()
        rows = None if body is None else body.get("created")
        if not isinstance(rows, list):
            return None
        try:
            return {(str(schema), str(name)) for schema, name in rows}
        except (TypeError, ValueError):
            return None

    def store(self, migrations: list[Migration], created: set[TableKey] | None = None) -> None:
        """Keep ``migrations`` (and ``created``) under the key; silently nothing if it cannot."""
        if self.key is None or self._signing is None:
            return
        try:
            encoded = encode(tuple(migrations))
        except (TypeError, ValueError):
            return  # something the format cannot name: no cache, a full load every time
        rows = None if created is None else [list(k) for k in sorted(created)]
        _store(self.path, self.key, self._signing, {"migrations": encoded, "created": rows})
        self._body, self._loaded = None, False

    def _entry(self) -> dict[str, Any] | None:
        if not self._loaded:
            self._loaded = True
            if self.key is not None and self._signing is not None:
                self._body = _read(self.path, self.key, self._signing)
        return self._body


# -- the file --------------------------------------------------------------------------------


def _header(key: str, signature: str) -> bytes:
    return b" ".join((_MAGIC, str(_FORMAT).encode(), key.encode(), signature.encode())) + b"\n"


def _sign(signing: bytes, key: str, body: bytes) -> str:
    return hmac.new(signing, key.encode() + b"\0" + body, hashlib.sha256).hexdigest()


def _read(path: Path, key: str, signing: bytes) -> dict[str, Any] | None:
    """The JSON body stored under ``key``, or ``None`` for anything else (never raises)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(len(_MAGIC) + 200)
            parts = first.rstrip(b"\n").split(b" ")
            if len(parts) != 4 or parts[:3] != [_MAGIC, str(_FORMAT).encode(), key.encode()]:
                return None
            body = handle.read(_MAX_BYTES + 1)
        if len(body) > _MAX_BYTES:
            return None
        if not hmac.compare_digest(parts[3].decode("ascii"), _sign(signing, key, body)):
            return None
        document = json.loads(body)
    except Exception:  # any unreadable, foreign or tampered file is a miss
        return None
    return document if isinstance(document, dict) and "migrations" in document else None


def _store(path: Path, key: str, signing: bytes, document: dict[str, Any]) -> None:
    body = json.dumps(document, separators=(",", ":")).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".specs-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_header(key, _sign(signing, key, body)))
                handle.write(body)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError:
        # A read-only checkout still works; it just loads in full every time.
        return


def _signing_key() -> bytes | None:
    """This user's key for signing caches, created on first use; ``None`` if it cannot be."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "dualorm" / "spec-cache.key"
    try:
        data = path.read_bytes()
        if len(data) == 32:
            return data
    except OSError:
        pass
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key-")
        try:
            import secrets

            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
            # Two first runs at once: the first link wins and both use its key.
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            Path(temporary).unlink(missing_ok=True)
        data = path.read_bytes()
    except OSError:
        return None
    return data if len(data) == 32 else None
