"""Signed cache files: data a command may reuse, never code, never trusted unsigned.

Every cache dualorm keeps under ``.dualorm/cache/`` (the spec cache, the model-schema cache)
is one file: a header line (a magic word naming the cache, its format, the key the content
was stored under, an HMAC-SHA256 signature) and a JSON body. :func:`read_signed` compares the
header before anything else is read and checks the signature with this user's key, kept
outside the project (:func:`signing_key`); anything else (a missing, truncated, foreign,
hand-edited file, or one copied from another machine) is ``None``, a miss, never an error.
:func:`write_signed` replaces the file atomically and silently does nothing where it cannot
write (a read-only checkout).

:class:`Codec` turns values built from a fixed set of modules' dataclasses and enums (and
tuples, lists, dicts, frozensets, paths, plain values) into JSON data and back: a file can
name only those classes, and building one sets its fields and calls nothing else.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import json
import os
import tempfile
from pathlib import Path, PurePath
from typing import Any

__all__ = ["Codec", "read_signed", "signing_key", "write_signed"]

# The JSON values that decode as themselves.
_PLAIN = frozenset({str, int, float, bool, type(None)})
# Far above what thousands of specs or tables take; a bigger file is not ours and is not read.
MAX_BYTES = 256 << 20


def _header(magic: bytes, version: int, key: str, signature: str) -> bytes:
    return b" ".join((magic, str(version).encode(), key.encode(), signature.encode())) + b"\n"


def _sign(signing: bytes, key: str, body: bytes) -> str:
    return hmac.new(signing, key.encode() + b"\0" + body, hashlib.sha256).hexdigest()


def read_signed(
    path: Path, magic: bytes, version: int, key: str, signing: bytes
) -> dict[str, Any] | None:
    """The JSON object stored at ``path`` under ``key``, or ``None`` for anything else
    (never raises)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(len(magic) + 200)
            parts = first.rstrip(b"\n").split(b" ")
            if len(parts) != 4 or parts[:3] != [magic, str(version).encode(), key.encode()]:
                return None
            body = handle.read(MAX_BYTES + 1)
        if len(body) > MAX_BYTES:
            return None
        if not hmac.compare_digest(parts[3].decode("ascii"), _sign(signing, key, body)):
            return None
        document = json.loads(body)
    except Exception:  # any unreadable, foreign or tampered file is a miss
        return None
    return document if isinstance(document, dict) else None


def write_signed(
    path: Path, magic: bytes, version: int, key: str, signing: bytes, document: dict[str, Any]
) -> None:
    """Store ``document`` at ``path`` under ``key``, atomically; nothing if it cannot."""
    body = json.dumps(document, separators=(",", ":")).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_header(magic, version, key, _sign(signing, key, body)))
                handle.write(body)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError:
        # A read-only checkout still works; it just reads in full every time.
        return


def signing_key() -> bytes | None:
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


class Codec:
    """JSON data for values built from the dataclasses and enums of ``modules`` alone."""

    def __init__(self, modules: tuple[str, ...]) -> None:
        self.modules = modules
        self._found: dict[str, type] | None = None
        self._fields: dict[str, tuple[type, tuple[str, ...]]] = {}

    def classes(self) -> dict[str, type]:
        """Every class a file may name, by ``module:qualname``."""
        if self._found is None:
            import importlib

            found: dict[str, type] = {}
            for name in self.modules:
                module = importlib.import_module(name)
                for value in vars(module).values():
                    if not isinstance(value, type) or value.__module__ != name:
                        continue
                    is_enum = issubclass(value, enum.Enum)
                    if is_enum or (dataclasses.is_dataclass(value) and not _abstract(value)):
                        found[f"{name}:{value.__qualname__}"] = value
            self._found = found
        return self._found

    def _dataclass(self, name: str) -> tuple[type, tuple[str, ...]]:
        """The dataclass called ``name`` and its field names (``KeyError``: none)."""
        known = self._fields.get(name)
        if known is None:
            cls = self.classes()[name]
            if not dataclasses.is_dataclass(cls):
                raise KeyError(name)
            known = self._fields[name] = (cls, tuple(f.name for f in dataclasses.fields(cls)))
        return known

    def _defaults(self, cls: type, names: tuple[str, ...], given: int) -> list[tuple[str, Any]]:
        """The fields after the first ``given`` of ``cls`` with their plain defaults: a file
        written before those fields were added (each with a default) still reads back."""
        fields = dataclasses.fields(cls)
        missing = fields[given:]
        if len(names) < given or any(type(f.default) not in _PLAIN for f in missing):
            raise ValueError(f"{cls.__qualname__}: {given} fields cached, {len(names)} known")
        return [(f.name, f.default) for f in missing]

    def _name(self, cls: type) -> str:
        name = f"{cls.__module__}:{cls.__qualname__}"
        if self.classes().get(name) is not cls:
            raise TypeError(f"{name} cannot be cached")
        return name

    def encode(self, value: Any) -> Any:
        """Return ``value`` as JSON data; ``TypeError`` for anything the format cannot name."""
        kind = type(value)
        if value is None or kind in (str, int, float, bool):
            return value
        if kind is tuple:
            return [self.encode(v) for v in value]
        if kind is list:
            return {"l": [self.encode(v) for v in value]}
        if kind is dict:
            return {"d": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if kind is frozenset:
            return {"f": [self.encode(v) for v in value]}
        if isinstance(value, PurePath):
            return {"p": str(value)}
        if isinstance(value, enum.Enum):
            return {"e": self._name(kind), "v": value.value}
        if isinstance(value, str):
            return str(value)  # a str subclass (SQLAlchemy's quoted_name) is stored as its text
        if dataclasses.is_dataclass(value):
            fields = dataclasses.fields(value)
            values = [self.encode(getattr(value, f.name)) for f in fields]
            return {"c": self._name(kind), "a": values}
        raise TypeError(f"{kind.__qualname__} cannot be cached")

    def decode(self, value: Any) -> Any:
        """Return the value :meth:`encode` gave ``value`` for (only known classes are built)."""
        kind = type(value)
        if kind is list:
            return tuple([v if type(v) in _PLAIN else self.decode(v) for v in value])
        if kind is not dict:
            return value
        if "c" in value:
            cls, names = self._dataclass(value["c"])
            built: Any = object.__new__(cls)
            setattr_ = object.__setattr__
            items = value["a"]
            if len(items) != len(names):
                for name, default in self._defaults(cls, names, len(items)):
                    setattr_(built, name, default)
            # Plain values are most fields: set them without a call per value.
            for name, item in zip(names, items, strict=False):
                # Frozen dataclasses: set the stored field values, as copy and pickle do.
                setattr_(built, name, item if type(item) in _PLAIN else self.decode(item))
            return built
        if "e" in value:
            member = self.classes()[value["e"]]
            if not issubclass(member, enum.Enum):
                raise ValueError(f"{value['e']} is not an enum")
            return member(value["v"])
        if "p" in value:
            return Path(value["p"])
        if "l" in value:
            return [self.decode(v) for v in value["l"]]
        if "d" in value:
            return {self.decode(k): self.decode(v) for k, v in value["d"]}
        if "f" in value:
            return frozenset(self.decode(v) for v in value["f"])
        raise ValueError("not a cached value")


def _abstract(cls: type) -> bool:
    return bool(getattr(cls, "__abstractmethods__", ()))
