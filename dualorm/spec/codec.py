"""The JSON form of spec-model values, for the spec cache and the foreign-table snapshot.

:func:`encode` turns a value built from the spec model's dataclasses and enums (and tuples,
lists, dicts, frozensets, paths and plain values) into JSON data, naming each object by its
class; :func:`decode` builds it back. Only the classes of :data:`MODULES` can be named, and
building one sets its fields and calls nothing else: the data is never code.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
from functools import cache
from pathlib import Path, PurePath
from typing import Any

__all__ = ["MODULES", "decode", "encode"]

# The only modules whose classes a cache file may name.
MODULES = (
    "dualorm.schema",
    "dualorm.spec.model",
    "dualorm.spec.operation",
    "dualorm.spec.ops",
    "dualorm.spec.constraint_ops",
    "dualorm.spec.type_ops",
)


@cache
def _classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if not isinstance(value, type) or value.__module__ != name:
                continue
            is_enum = issubclass(value, enum.Enum)
            if is_enum or (dataclasses.is_dataclass(value) and not _abstract(value)):
                found[f"{name}:{value.__qualname__}"] = value
    return found


@cache
def _dataclass(name: str) -> tuple[type, tuple[str, ...]]:
    """The spec-model dataclass called ``name`` and its field names (``KeyError``: none)."""
    cls = _classes()[name]
    if not dataclasses.is_dataclass(cls):
        raise KeyError(name)
    return cls, tuple(f.name for f in dataclasses.fields(cls))


def _abstract(cls: type) -> bool:
    return bool(getattr(cls, "__abstractmethods__", ()))


def _name(cls: type) -> str:
    name = f"{cls.__module__}:{cls.__qualname__}"
    if _classes().get(name) is not cls:
        raise TypeError(f"{name} cannot be cached")
    return name


def encode(value: Any) -> Any:
    """Return ``value`` (built from the spec model's dataclasses and enums, tuples, lists,
    dicts, frozensets, paths and plain values) as JSON data; ``TypeError`` for anything
    else."""
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        return value
    if kind is tuple:
        return [encode(v) for v in value]
    if kind is list:
        return {"l": [encode(v) for v in value]}
    if kind is dict:
        return {"d": [[encode(k), encode(v)] for k, v in value.items()]}
    if kind is frozenset:
        return {"f": [encode(v) for v in value]}
    if isinstance(value, PurePath):
        return {"p": str(value)}
    if isinstance(value, enum.Enum):
        return {"e": _name(kind), "v": value.value}
    if isinstance(value, str):
        return str(value)  # a str subclass (SQLAlchemy's quoted_name) is stored as its text
    if dataclasses.is_dataclass(value):
        fields = dataclasses.fields(value)
        return {"c": _name(kind), "a": [encode(getattr(value, f.name)) for f in fields]}
    raise TypeError(f"{kind.__qualname__} cannot be cached")


def decode(value: Any) -> Any:
    """Return the value :func:`encode` gave ``value`` for (only spec-model classes are built)."""
    kind = type(value)
    if kind is list:
        return tuple(decode(v) for v in value)
    if kind is not dict:
        return value
    if "c" in value:
        cls, names = _dataclass(value["c"])
        built: Any = object.__new__(cls)
        for name, item in zip(names, value["a"], strict=True):
            # Frozen dataclasses: set the stored field values, as copy and pickle do.
            object.__setattr__(built, name, decode(item))
        return built
    if "e" in value:
        member = _classes()[value["e"]]
        if not issubclass(member, enum.Enum):
            raise ValueError(f"{value['e']} is not an enum")
        return member(value["v"])
    if "p" in value:
        return Path(value["p"])
    if "l" in value:
        return [decode(v) for v in value["l"]]
    if "d" in value:
        return {decode(k): decode(v) for k, v in value["d"]}
    if "f" in value:
        return frozenset(decode(v) for v in value["f"])
    raise ValueError("not a cached value")
