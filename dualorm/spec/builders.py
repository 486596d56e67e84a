"""A change spec's operations read through their builders: one YAML operation -> one operation.

The operation keys a spec may use (``create_table``, ``drop_column``, ``run_sql`` ...) are the
names the operation classes register themselves with (:func:`~dualorm.spec.ops.operation_kinds`).
Each class has a builder registered in :mod:`dualorm.spec.builder_registry` by the module of its
kind (:data:`BUILDER_MODULES`), with its required and optional fields. :func:`read_operation`
maps a key to its class through the registry, suggests the nearest key for an unknown one and
attaches the operation's line and acknowledgements; :func:`operation_names` lists the keys. The
spec header, the dependency graph and the directory driver live in :mod:`dualorm.spec.load`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType, ModuleType

import yaml

from dualorm.schema import Schema
from dualorm.spec import constraint_builders, table_builders, type_builders
from dualorm.spec.builder_registry import Entry, registered
from dualorm.spec.ops import Acknowledgement, Operation, operation_kinds
from dualorm.spec.reader import Reader

BUILDER_MODULES: tuple[ModuleType, ...] = (table_builders, constraint_builders, type_builders)
"""The modules whose builders register themselves as they are imported, one per kind of
operation."""


def operation_names() -> list[str]:
    """Return the operation keys a spec may use, sorted."""
    return sorted(operation_kinds())


def has_builder(kind: type[Operation]) -> bool:
    """Return whether the spec reader knows how to build the operation class ``kind``."""
    return kind in registered()


def _acknowledgements(reader: Reader, node: yaml.Node | None) -> tuple[Acknowledgement, ...]:
    if node is None:
        return ()
    out = []
    for item in reader.sequence(node, "acknowledge"):
        f = reader.fields(item, "acknowledge", ("rule", "reason"))
        out.append(
            Acknowledgement(
                reader.string(f.entries["rule"], "acknowledge.rule"),
                reader.string(f.entries["reason"], "acknowledge.reason"),
            )
        )
    return tuple(out)


def read_operation(reader: Reader, node: yaml.Node, schema: Schema) -> Operation:
    """Build the operation written at ``node``, resolved against ``schema``."""
    outer = reader.mapping(node, "an operation")
    if len(outer.entries) != 1:
        raise reader.error(
            node,
            "an operation is a mapping with exactly one key, its kind "
            f"(got {', '.join(outer.entries) or 'none'})",
        )
    ((key, body),) = outer.entries.items()
    kind = operation_kinds().get(key)
    if kind is None:
        hint = difflib.get_close_matches(key, operation_names(), n=1)
        suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        raise reader.error(node, f"unknown operation {key}{suggestion}")
    build = registered()[kind][0]
    op = build(reader, body, schema, key)
    acknowledge = _acknowledgements(reader, reader.mapping(body, key).get("acknowledge"))
    return replace(op, line=node.start_mark.line + 1, acknowledge=acknowledge)


def _by_name() -> Mapping[str, Entry]:
    entries = registered()
    missing = [cls.__name__ for cls in operation_kinds().values() if cls not in entries]
    if missing:
        modules = ", ".join(m.__name__ for m in BUILDER_MODULES)
        raise TypeError(f"operation kinds without a builder (in {modules}): {', '.join(missing)}")
    return MappingProxyType({name: entries[cls] for name, cls in operation_kinds().items()})


BUILDERS: Mapping[str, Entry] = _by_name()
"""Each spec key with its builder and fields, read off the registry (for the docs check)."""
