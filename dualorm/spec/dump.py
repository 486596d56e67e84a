"""Writing a change spec from a :class:`~dualorm.schema.Schema`: operations, then YAML text.

:func:`spec_operations` turns tables (and the sequences their columns draw from) into the
operations of docs/specs.md, as the mappings a spec file holds: enum types and sequences
first, then each
table with its keys, checks, indexes and the foreign keys to tables already created, then the
foreign keys that close a cycle or are ``NOT VALID``, and last the sequences' ownership and
identity options. Every name is written out, so the loader derives none. :func:`render_spec`
writes the YAML the loader reads: safe, without anchors, one line per column, constraint and
index, as the hand-written specs are laid out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from dualorm.schema import (
    Column,
    FkAction,
    ForeignKey,
    Index,
    Schema,
    Table,
    UniqueConstraint,
    index_opclasses,
    index_orders,
)
from dualorm.spec.ops import AddCheck, AddForeignKey, CreateEnum, CreateTable, RunSQL
from dualorm.spec.sqltext import quote_ident, quote_qualified

__all__ = [
    "FlowMapping",
    "SpecSequence",
    "column_mapping",
    "create_table_mapping",
    "foreign_key_mapping",
    "index_mapping",
    "render_spec",
    "spec_operations",
    "unique_mapping",
]

_TYPE_MAX = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}


@dataclass(frozen=True, slots=True)
class SpecSequence:
    """A sequence behind a column: a serial's (``CREATE SEQUENCE``) or an identity's."""

    schema: str
    name: str
    type: str
    start: int
    increment: int
    minimum: int
    maximum: int
    cache: int
    cycle: bool
    owned_by: tuple[str, str, str] | None = None
    """``(schema, table, column)`` the sequence belongs to, or ``None``."""
    identity: bool = False

    @property
    def qualified(self) -> str:
        return quote_qualified(self.schema, self.name)

    def options(self) -> list[str]:
        cycle = "CYCLE" if self.cycle else "NO CYCLE"
        return [
            f"INCREMENT BY {self.increment}",
            f"MINVALUE {self.minimum}",
            f"MAXVALUE {self.maximum}",
            f"START WITH {self.start}",
            f"CACHE {self.cache}",
            cycle,
        ]

    @property
    def has_default_options(self) -> bool:
        """Whether the options are those ``GENERATED AS IDENTITY`` gives by itself."""
        top = _TYPE_MAX.get(self.type)
        return (self.start, self.increment, self.minimum, self.maximum, self.cache) == (
            1,
            1,
            1,
            top,
            1,
        ) and not self.cycle


def _creation_order(tables: Sequence[Table], known: Schema) -> list[Table]:
    """Order ``tables`` so each comes after the tables its foreign keys reference, where a
    cycle allows; a cycle is broken at the table with the fewest unmet references."""
    remaining = {t.key: t for t in tables}
    created = set(known.keys())
    order: list[Table] = []

    def unmet(t: Table) -> int:
        return sum(1 for fk in t.foreign_keys if fk.ref_key not in created and fk.ref_key != t.key)

    while remaining:
        ready = [t for t in remaining.values() if unmet(t) == 0]
        batch = ready or [min(remaining.values(), key=lambda t: (unmet(t), t.key))]
        for t in sorted(batch, key=lambda t: t.key):
            order.append(t)
            created.add(t.key)
            del remaining[t.key]
    return order


class FlowMapping(dict[str, Any]):
    """A mapping written on one line (YAML flow style), as hand-written specs do."""


def column_mapping(c: Column) -> FlowMapping:
    out = FlowMapping(name=c.name, type=c.type)
    if not c.nullable:
        out["nullable"] = False
    if c.default is not None:
        out["server_default"] = c.default
    if c.identity is not None:
        out["identity"] = c.identity.value
    if c.generated is not None:
        out["generated"] = c.generated
    if c.comment is not None:
        out["comment"] = c.comment
    if c.collation is not None:
        out["collation"] = c.collation
    return out


def _enum(name: str, schema_name: str, labels: tuple[str, ...]) -> FlowMapping:
    out = FlowMapping(name=name, labels=list(labels))
    if schema_name != "public":
        out["schema"] = schema_name
    return out


def foreign_key_mapping(fk: ForeignKey, table: str | None = None) -> FlowMapping:
    target = fk.ref_qualified_name
    out = FlowMapping() if table is None else FlowMapping(table=table)
    out.update(
        name=fk.name,
        columns=list(fk.columns),
        references=f"{target}({', '.join(fk.ref_columns)})",
    )
    for key, action in (("on_delete", fk.on_delete), ("on_update", fk.on_update)):
        if action is not FkAction.NO_ACTION:
            out[key] = action.value.lower()
    if fk.deferrable:
        out["deferrable"] = True
    if fk.initially_deferred:
        out["initially_deferred"] = True
    if not fk.validated:
        out["not_valid"] = True
    return out


def index_mapping(i: Index) -> FlowMapping:
    keys = [
        " ".join(part for part in (key, opclass, order) if part)
        for key, opclass, order in zip(i.columns, index_opclasses(i), index_orders(i), strict=True)
    ]
    out = FlowMapping(name=i.name, columns=keys)
    if i.unique:
        out["unique"] = True
    if i.method != "btree":
        out["method"] = i.method
    if i.include:
        out["include"] = list(i.include)
    if i.where is not None:
        out["where"] = i.where
    return out


def unique_mapping(u: UniqueConstraint) -> FlowMapping:
    out = FlowMapping(name=u.name, columns=list(u.columns))
    if u.deferrable:
        out["deferrable"] = True
    return out


def create_table_mapping(t: Table, inline: list[ForeignKey]) -> dict[str, Any]:
    body: dict[str, Any] = {"name": t.name}
    if t.schema != "public":
        body["schema"] = t.schema
    if t.comment is not None:
        body["comment"] = t.comment
    body["columns"] = [column_mapping(c) for c in t.columns]
    if t.primary_key is not None:
        body["primary_key"] = FlowMapping(
            name=t.primary_key.name, columns=list(t.primary_key.columns)
        )
    if t.uniques:
        body["uniques"] = [unique_mapping(u) for u in t.uniques]
    checks = [k for k in t.checks if k.validated]
    if checks:
        body["checks"] = [FlowMapping(name=k.name, expression=k.expression) for k in checks]
    if inline:
        body["foreign_keys"] = [foreign_key_mapping(fk) for fk in inline]
    if t.indexes:
        body["indexes"] = [index_mapping(i) for i in t.indexes]
    return {CreateTable.kind: body}


def _run_sql(sql: str, reverse_sql: str) -> dict[str, Any]:
    return {RunSQL.kind: FlowMapping(sql=sql, reverse_sql=reverse_sql)}


def _sequence_ops(s: SpecSequence) -> list[dict[str, Any]]:
    """The operations after every table: ``OWNED BY`` for a serial's sequence, the options
    of an identity that are not its defaults."""
    if s.owned_by is None:
        return []
    schema_name, table, column = s.owned_by
    if not s.identity:
        owned = f"ALTER SEQUENCE {s.qualified} OWNED BY {quote_qualified(*s.owned_by)}"
        return [_run_sql(owned, f"ALTER SEQUENCE {s.qualified} OWNED BY NONE")]
    if s.has_default_options:
        return []
    alter = f"ALTER TABLE {quote_qualified(schema_name, table)} ALTER COLUMN {quote_ident(column)} "
    defaults = SpecSequence(
        s.schema, s.name, s.type, 1, 1, 1, _TYPE_MAX.get(s.type, 2**63 - 1), 1, False
    )
    return [
        _run_sql(
            alter + " ".join(f"SET {o}" for o in s.options()),
            alter + " ".join(f"SET {o}" for o in defaults.options()),
        )
    ]


def spec_operations(
    tables: Schema, sequences: Sequence[SpecSequence] = (), known: Schema | None = None
) -> list[dict[str, Any]]:
    """Return the operations, as spec mappings, that build ``tables`` on top of ``known``.

    Args:
        tables: what the spec creates, names and expressions exactly as they are to be.
        sequences: the sequences behind their columns; a serial's is created before the
            tables and owned by its column after them, an identity's options are set.
        known: what earlier specs created already (foreign keys to it go inline).
    """
    known = Schema() if known is None else known
    enums = [
        {CreateEnum.kind: _enum(e.name, e.schema, e.labels)}
        for e in tables.enums
        if known.enum(e.key) is None
    ]
    ops = enums + [
        _run_sql(
            f"CREATE SEQUENCE {s.qualified} AS {s.type} {' '.join(s.options())}",
            f"DROP SEQUENCE {s.qualified}",
        )
        for s in sequences
        if not s.identity
    ]
    created = set(known.keys())
    later: list[dict[str, Any]] = []
    for t in _creation_order(list(tables), known):
        inline = [
            fk
            for fk in t.foreign_keys
            if fk.validated and (fk.ref_key in created or fk.ref_key == t.key)
        ]
        ops.append(create_table_mapping(t, inline))
        created.add(t.key)
        label = t.qualified_name
        later += [
            {AddForeignKey.kind: foreign_key_mapping(fk, label)}
            for fk in t.foreign_keys
            if fk not in inline
        ]
        later += [
            {
                AddCheck.kind: FlowMapping(
                    table=label, name=k.name, expression=k.expression, not_valid=True
                )
            }
            for k in t.checks
            if not k.validated
        ]
    return ops + later + [op for s in sequences for op in _sequence_ops(s)]


class _Dumper(yaml.SafeDumper):
    """Safe YAML without anchors (the spec loader refuses them), one line per :class:`FlowMapping`,
    and SQL holding a quote in double quotes (``"'active'::text"``, not ``'''active''...'``)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _line(dumper: yaml.SafeDumper, data: FlowMapping) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = '"' if "'" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(FlowMapping, _line)
_Dumper.add_representer(str, _text)


def render_spec(
    spec_id: str,
    name: str,
    description: str,
    operations: list[dict[str, Any]],
    dependencies: Sequence[str] = (),
    *,
    header: str = "",
    replaces: Sequence[str] = (),
) -> str:
    """Return the YAML text of a spec; ``header`` (comment lines) goes first, ``replaces``
    (a squash's, see :mod:`dualorm.spec.squash`) after the dependencies."""
    document: dict[str, Any] = {
        "id": spec_id,
        "name": name,
        "version": "1.0.0",
        "description": description,
        "dependencies": list(dependencies),
    }
    if replaces:
        document["replaces"] = list(replaces)
    document["operations"] = operations
    text = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=2**16,
    )
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comments + text
