"""The JSON form of spec-model values, for the spec cache and the foreign-table snapshot.

:func:`encode` turns a value built from the spec model's dataclasses and enums (and tuples,
lists, dicts, frozensets, paths and plain values) into JSON data, naming each object by its
class; :func:`decode` builds it back. Only the classes of :data:`MODULES` can be named, and
building one sets its fields and calls nothing else: the data is never code. The format is
:class:`dualorm.cachefile.Codec`'s, shared with the model-schema cache.
"""

from __future__ import annotations

from typing import Any

from dualorm.cachefile import Codec

__all__ = ["MODULES", "decode", "encode"]

# The only modules whose classes a cache file may name.
MODULES = (
    "dualorm.schema",
    "dualorm.spec.model",
    "dualorm.spec.operation",
    "dualorm.spec.ops",
    "dualorm.spec.constraint_ops",
    "dualorm.spec.through",
    "dualorm.spec.type_ops",
)

_CODEC = Codec(MODULES)


def encode(value: Any) -> Any:
    """Return ``value`` (built from the spec model's dataclasses and enums, tuples, lists,
    dicts, frozensets, paths and plain values) as JSON data; ``TypeError`` for anything
    else."""
    return _CODEC.encode(value)


def decode(value: Any) -> Any:
    """Return the value :func:`encode` gave ``value`` for (only spec-model classes are built)."""
    return _CODEC.decode(value)
