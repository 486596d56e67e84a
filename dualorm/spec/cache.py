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
:mod:`dualorm.cachefile` reads, writes and signs the file, as it does the model cache's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dualorm import __version__
from dualorm.cachefile import read_signed, signing_key, write_signed
from dualorm.spec.codec import decode, encode
from dualorm.spec.files import spec_paths
from dualorm.spec.model import Migration

if TYPE_CHECKING:
    from dualorm.schema import TableKey

__all__ = [
    "CACHE_NAME",
    "CachedMigration",
    "SpecCache",
    "cached_apps",
    "cached_specs",
    "migration_apps",
    "spec_key",
]

CACHE_NAME = "specs.json"
_FORMAT = 5
_MAGIC = b"dualorm-spec-cache"
# What a loaded migration is built from, besides the spec files: the loader's own code.
_PACKAGE = Path(__file__).resolve().parent
_SOURCES = (
    *sorted(_PACKAGE.glob("*.py")),
    _PACKAGE.parent / "schema.py",
    _PACKAGE.parent / "pgtypes.py",
    _PACKAGE.parent / "pgnames.py",
    _PACKAGE.parent / "sources" / "parsed.py",
    _PACKAGE.parent / "errors.py",
)


def spec_key(directory: Path) -> str | None:
    """Return the key of what loading ``directory`` gives now, or ``None`` if unreadable."""
    keyed = _keyed_specs(directory)
    return None if keyed is None else keyed[0]


def _keyed_specs(directory: Path) -> tuple[str, dict[Path, bytes]] | None:
    """Return the key of ``directory`` and the bytes of the spec files it was made of."""
    header = f"{_FORMAT}\0{__version__}\0{sys.version_info[:2]}\0{directory}\0"
    digest = hashlib.sha256(header.encode())
    files: dict[Path, bytes] = {}
    try:
        for source in _SOURCES:
            stat = source.stat()
            digest.update(f"{source.name}\0{stat.st_mtime_ns}\0{stat.st_size}\0".encode())
        for path in spec_paths(directory):
            files[path] = data = path.read_bytes()
            digest.update(f"{path.name}\0".encode())
            digest.update(data)
            digest.update(b"\0")
        # The replay starts from the foreign tables (dualorm.spec.foreign.SNAPSHOT_NAME).
        snapshot = directory / "foreign_tables.json"
        digest.update(snapshot.read_bytes() if snapshot.is_file() else b"-")
    except OSError:
        return None
    return digest.hexdigest(), files


def cached_specs(directory: Path, cache_dir: Path) -> list[Migration]:
    """Return ``load_specs(directory)``, from ``cache_dir`` when nothing it depends on changed."""
    cache = SpecCache(directory, cache_dir)
    hit = cache.migrations()
    if hit is not None:
        return hit
    # Imported on a miss only: a hit never imports the YAML loader (deploys start faster).
    from dualorm.spec.load import load_specs

    # The bytes the key was made of: each spec is read once, and what is stored under the
    # key is what those bytes load as, even if a file changes meanwhile.
    migrations = load_specs(directory, files=cache.take_files())
    cache.store(migrations)
    return migrations


class SpecCache:
    """The cache entry of one spec directory, keyed on what its files hold when created."""

    def __init__(self, directory: Path, cache_dir: Path) -> None:
        keyed = _keyed_specs(directory)
        self.key: str | None = None if keyed is None else keyed[0]
        self._files: dict[Path, bytes] | None = None if keyed is None else keyed[1]
        self.path = cache_dir / CACHE_NAME
        self._signing = signing_key() if self.key is not None else None
        self._body: dict[str, Any] | None = None
        self._loaded = False

    def migrations(self) -> list[Migration] | None:
        """The cached migrations, or ``None`` (a miss: never raises).

        Each migration's identity (id, name, checksum, dependencies, what it replaces, the
        apps it lands in) is decoded now, its operations when first read
        (:class:`CachedMigration`): ``migrate status`` reads no operation, and imports no
        operation module.
        """
        body = self._entry()
        if body is None:
            return None
        rows, apps = body["migrations"], body.get("apps")
        try:
            if not isinstance(apps, list) or len(apps) != len(rows):
                apps = [None] * len(rows)
            return [_lazy(row, placed) for row, placed in zip(rows, apps, strict=True)]
        except Exception:  # a signed file this code cannot decode is a miss
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

    def take_files(self) -> dict[Path, bytes] | None:
        """The spec files' bytes the key was made of (``None`` if unreadable), handed over
        once: the cache keeps only the key."""
        files, self._files = self._files, None
        return files

    def store(self, migrations: list[Migration], created: set[TableKey] | None = None) -> None:
        """Keep ``migrations`` (and ``created``) under the key; silently nothing if it cannot."""
        if self.key is None or self._signing is None:
            return
        try:
            encoded = [_encode_migration(m) for m in migrations]
        except (TypeError, ValueError):
            return  # something the format cannot name: no cache, a full load every time
        rows = None if created is None else [list(k) for k in sorted(created)]
        document = {"migrations": encoded, "created": rows, "apps": _apps(migrations)}
        _store(self.path, self.key, self._signing, document)
        self._body, self._loaded = None, False

    def _entry(self) -> dict[str, Any] | None:
        if not self._loaded:
            self._loaded = True
            if self.key is not None and self._signing is not None:
                self._body = _read(self.path, self.key, self._signing)
        return self._body


# -- the file: dualorm.cachefile, in the format of dualorm.spec.codec ------------------------


def _read(path: Path, key: str, signing: bytes) -> dict[str, Any] | None:
    document = read_signed(path, _MAGIC, _FORMAT, key, signing)
    return document if document is not None and "migrations" in document else None


def _store(path: Path, key: str, signing: bytes, document: dict[str, Any]) -> None:
    write_signed(path, _MAGIC, _FORMAT, key, signing, document)


# -- migrations decoded in two steps ---------------------------------------------------------

_MIGRATION = "dualorm.spec.model:Migration"
# An app name no project has: the placeholder of the default app in the cached placements.
_DEFAULT_APP = ""


def _apps(migrations: list[Migration]) -> list[list[str]] | None:
    """The apps each migration lands in (:func:`~dualorm.spec.apps.spec_apps`), the default
    app as a placeholder: the placement depends on the default app only through its name."""
    try:
        # Imported on a miss only, as the loader is: a warm migrate check never needs it.
        from dualorm.spec.apps import spec_apps

        placed = spec_apps(migrations, _DEFAULT_APP)
        return [list(placed[m.id]) for m in migrations]
    except Exception:  # kept only when it can be computed; read from the specs otherwise
        return None


def _lazy(row: Any, apps: Any) -> Migration:
    if not isinstance(row, dict) or row.get("c") != _MIGRATION:
        raise ValueError("not a cached migration")
    values = row["a"]
    if not isinstance(values, list) or len(values) != len(_FIELDS):
        raise ValueError("not a cached migration")
    built: Any = object.__new__(CachedMigration)
    for name, item in zip(_FIELDS, values, strict=True):
        if name != "operations":
            # Identity fields are plain values, paths and tuples: no spec-model class.
            object.__setattr__(built, name, decode(item))
    object.__setattr__(built, "_row", row)
    if isinstance(apps, list) and all(isinstance(a, str) for a in apps):
        object.__setattr__(built, "_apps", tuple(apps))
    return cast(Migration, built)


def cached_apps(migrations: list[Migration], default_app: str) -> dict[str, tuple[str, ...]] | None:
    """The apps each migration lands in, from the cache; ``None`` unless all were cached."""
    out: dict[str, tuple[str, ...]] = {}
    for m in migrations:
        apps = vars(m).get("_apps") if type(m) is CachedMigration else None
        if apps is None:
            return None
        out[m.id] = tuple(default_app if a == _DEFAULT_APP else a for a in apps)
    return out


def migration_apps(migrations: list[Migration], default_app: str) -> dict[str, tuple[str, ...]]:
    """The apps each migration lands in: from the cache when it kept them all (no operation
    decoded, none of their modules imported), else from the operations
    (:func:`~dualorm.spec.apps.spec_apps`)."""
    cached = cached_apps(migrations, default_app)
    if cached is not None:
        return cached
    # Imported on a miss only, like the loader: the placement reads the operation classes.
    from dualorm.spec.apps import spec_apps

    return spec_apps(migrations, default_app)


def _encode_migration(migration: Migration) -> Any:
    if type(migration) is CachedMigration:
        return migration.encoded()
    return encode(migration)


class CachedMigration(Migration):
    """A :class:`~dualorm.spec.model.Migration` from the cache whose operations are decoded
    when first read (they are the only fields naming operation classes). It equals the
    migration a full load gives."""

    def __getattr__(self, name: str) -> Any:
        # Only reached for a field not set yet: the operations.
        row = vars(self).get("_row")
        if name != "operations" or row is None:
            raise AttributeError(name)
        operations = decode(row["a"][_OPERATIONS])
        object.__setattr__(self, "operations", operations)
        return operations

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Migration):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)

    __hash__ = Migration.__hash__

    def encoded(self) -> Any:
        """The cache's JSON of this migration (its stored row while nothing decoded it)."""
        if "operations" not in vars(self):
            return vars(self)["_row"]
        return {"c": _MIGRATION, "a": [encode(getattr(self, f)) for f in _FIELDS]}


_FIELDS = tuple(f.name for f in dataclasses.fields(Migration))
_OPERATIONS = _FIELDS.index("operations")
