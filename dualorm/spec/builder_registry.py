"""The registry of operation builders, and the lookups every builder shares.

Each operation class gets one builder, registered with :func:`builder` beside the others of its
kind (:mod:`dualorm.spec.table_builders`, :mod:`dualorm.spec.constraint_builders`,
:mod:`dualorm.spec.type_builders`, mirroring :mod:`dualorm.spec.ops`,
:mod:`dualorm.spec.constraint_ops` and :mod:`dualorm.spec.type_ops`). A builder reads its
operation's mapping through a :class:`~dualorm.spec.reader.Reader` and resolves it against the
schema the earlier operations produced (a drop gets the full object it drops).
:mod:`dualorm.spec.builders` imports them all and reads a spec's operations through them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import yaml

from dualorm.schema import Schema
from dualorm.spec.ops import Operation
from dualorm.spec.reader import Fields, Reader

Builder = Callable[[Reader, yaml.Node, Schema, str], Operation]
Entry = tuple[Builder, tuple[str, ...], tuple[str, ...]]
"""A builder with the required and the optional fields of its operation's mapping."""

_READERS: dict[type[Operation], Entry] = {}


def builder(
    kind: type[Operation], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> Callable[[Callable[[Reader, Fields, Schema, str], Operation]], None]:
    """Register how the operation class ``kind`` is read: its required and optional fields."""

    def decorate(function: Callable[[Reader, Fields, Schema, str], Operation]) -> None:
        def build(reader: Reader, node: yaml.Node, schema: Schema, what: str) -> Operation:
            fields = reader.fields(node, what, required, (*optional, "acknowledge"))
            return function(reader, fields, schema, what)

        if kind in _READERS:
            raise TypeError(f"{kind.__name__} has two builders")
        _READERS[kind] = (build, required, optional)

    return decorate


def registered() -> Mapping[type[Operation], Entry]:
    """Return each operation class with the builder registered for it so far."""
    return MappingProxyType(_READERS)


def table_of(reader: Reader, f: Fields, schema: Schema, key: str = "table") -> str:
    """Return the table the field ``key`` names, refused unless ``schema`` has it."""
    name = reader.table_ref(f.entries[key], key)
    if name not in schema:
        raise reader.error(f.entries[key], f"table {name} does not exist at this point")
    return name


def name_of(reader: Reader, f: Fields) -> str:
    """Return the qualified name the ``name`` and optional ``schema`` fields give."""
    name = reader.name(f.entries["name"], "name")
    schema_node = f.get("schema")
    if schema_node is None:
        return name
    return f"{reader.name(schema_node, 'schema')}.{name}"


def enum_names(schema: Schema) -> dict[str, str]:
    """Each way a spec may name an enum type of ``schema`` (``mood``, ``auth.mood``, its
    reference ``"Mood"``), mapped to the reference a column's type holds."""
    names: dict[str, str] = {}
    for e in schema.enums:
        names[e.qualified_name] = names[e.reference] = e.reference
    return names
