"""The live catalog as a neutral ``Schema``: one bulk query per object kind.

:func:`load` reads tables with their columns, constraints (primary key, unique, check,
foreign key) and indexes, the enum types with their labels and the standalone sequences (those
no serial or identity column owns), with five queries for the whole database, however many
tables it holds; the SQL lives in ``pg_sql/<kind>.sql``.
Every value is what PostgreSQL itself prints (``format_type``, ``pg_get_expr``,
``pg_get_indexdef``), which is the canonical spelling :mod:`dualorm.schema` stores. The
ledger schema ``dualorm``, the system schemas and the foreign ledgers ``alembic_version``
and ``django_migrations`` are never read: they are not part of the application's schema and
must never show up as drift.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, LiteralString, NamedTuple, TypeVar, cast

from dualorm.db import connect
from dualorm.schema import (
    CheckConstraint,
    Column,
    EnumType,
    FkAction,
    ForeignKey,
    Identity,
    Index,
    PrimaryKey,
    Schema,
    Sequence,
    Table,
    UniqueConstraint,
    key_opclasses,
    key_orders,
    schema,
    table,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import RowFactory, RowMaker

__all__ = ["load"]

TEMP_SCHEMA = "pg_temp"
"""Request the session's own temporary schema (``pg_temp_N``); it is reported under this key."""

_ROW = TypeVar("_ROW")


class _TableColumnRow(NamedTuple):
    table_oid: int
    schema_name: str
    table_name: str
    table_comment: str | None
    column_number: int
    column_name: str | None
    column_type: str | None
    not_null: bool | None
    column_default: str | None
    identity: str | None
    column_comment: str | None
    generated: str | None
    collation: str | None


class _EnumRow(NamedTuple):
    schema_name: str
    name: str
    labels: list[str]


class _SequenceRow(NamedTuple):
    schema_name: str
    name: str
    data_type: str
    increment: int
    start: int


class _ConstraintRow(NamedTuple):
    table_oid: int
    name: str
    kind: str
    columns: list[str]
    expression: str | None
    ref_schema: str | None
    ref_table: str | None
    ref_columns: list[str]
    on_update: str
    on_delete: str
    deferrable: bool
    initially_deferred: bool
    validated: bool


class _IndexRow(NamedTuple):
    table_oid: int
    name: str
    columns: list[str]
    include: list[str]
    orders: list[str]
    opclasses: list[str]
    is_unique: bool
    predicate: str | None
    method: str
    valid: bool


_IDENTITY = {"a": Identity.ALWAYS, "d": Identity.BY_DEFAULT}
_FK_ACTION = {
    "a": FkAction.NO_ACTION,
    "r": FkAction.RESTRICT,
    "c": FkAction.CASCADE,
    "n": FkAction.SET_NULL,
    "d": FkAction.SET_DEFAULT,
}


@dataclass(slots=True)
class _Parts:
    """One table's pieces while rows are grouped by table oid."""

    schema: str
    name: str
    comment: str | None
    columns: list[Column] = field(default_factory=list)
    primary_key: PrimaryKey | None = None
    uniques: list[UniqueConstraint] = field(default_factory=list)
    checks: list[CheckConstraint] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)

    def build(self) -> Table:
        return table(
            self.name,
            self.columns,
            schema=self.schema,
            primary_key=self.primary_key,
            uniques=self.uniques,
            checks=self.checks,
            foreign_keys=self.foreign_keys,
            indexes=self.indexes,
            comment=self.comment,
        )


def load(conn: psycopg.Connection[Any] | str, *, schemas: Iterable[str] = ("public",)) -> Schema:
    """Read the tables of ``schemas`` from the live catalog into a ``Schema``.

    Args:
        conn: an open psycopg connection (left open, its transaction state untouched beyond
            the reads), or a database URL (a connection is opened and closed here).
        schemas: the PostgreSQL schemas to read; ``"pg_temp"`` means the session's own
            temporary schema, whose tables are keyed ``("pg_temp", name)``. The ledger schema
            ``dualorm`` and the system schemas are never read.

    Returns:
        The catalog as canonical values; five queries whatever the number of tables.
    """
    if isinstance(conn, str):
        with connect(conn) as own:
            own.read_only = True
            try:
                return _load(own, schemas)
            finally:
                own.rollback()
    return _load(conn, schemas)


def _load(conn: psycopg.Connection[Any], schemas: Iterable[str]) -> Schema:
    names = list(dict.fromkeys(schemas))
    params = {"schemas": names, "temp": TEMP_SCHEMA in names}
    parts = _tables(_fetch(conn, "tables", _TableColumnRow, params))
    _add_constraints(parts, _fetch(conn, "constraints", _ConstraintRow, params))
    _add_indexes(parts, _fetch(conn, "indexes", _IndexRow, params))
    enums = [
        EnumType(r.name, r.schema_name, tuple(r.labels))
        for r in _fetch(conn, "enums", _EnumRow, params)
    ]
    sequences = [
        Sequence(r.name, r.schema_name, r.data_type, r.increment, r.start)
        for r in _fetch(conn, "sequences", _SequenceRow, params)
    ]
    return schema((p.build() for p in parts.values()), enums, sequences=sequences)


_column_order = operator.itemgetter(0, 4)
"""``(table_oid, column_number)`` of a ``_TableColumnRow``."""


@functools.cache
def _query(kind: str) -> LiteralString:
    text = resources.files("dualorm.sources").joinpath("pg_sql", f"{kind}.sql").read_text("utf-8")
    # Package data, never input: safe to hand to the driver as a query.
    return text


def _fetch(
    conn: psycopg.Connection[Any], kind: str, row: type[_ROW], params: dict[str, Any]
) -> list[_ROW]:
    with conn.cursor(row_factory=_rows_as(row)) as cur:
        cur.execute(_query(kind), params)
        return cur.fetchall()


def _rows_as(row: type[_ROW]) -> RowFactory[_ROW]:
    # tuple.__new__ builds the NamedTuple in C: no Python frame per row, which is most of
    # the cost of typed rows on a large catalog. The SQL fixes the arity.
    make = cast("RowMaker[_ROW]", functools.partial(tuple.__new__, row))

    def factory(cursor: Any) -> RowMaker[_ROW]:
        return make

    return factory


def _tables(rows: list[_TableColumnRow]) -> dict[int, _Parts]:
    rows.sort(key=_column_order)
    parts: dict[int, _Parts] = {}
    current: _Parts | None = None
    current_oid = -1
    for r in rows:
        if r.table_oid != current_oid:
            current_oid = r.table_oid
            current = parts[current_oid] = _Parts(r.schema_name, r.table_name, r.table_comment)
        if r.column_name is None or r.column_type is None:
            continue
        assert current is not None
        current.columns.append(
            Column(
                r.column_name,
                r.column_type,
                not r.not_null,
                r.column_default,
                _IDENTITY.get(r.identity) if r.identity else None,
                r.column_comment,
                generated=r.generated,
                collation=r.collation,
            )
        )
    return parts


def _add_constraints(parts: dict[int, _Parts], rows: list[_ConstraintRow]) -> None:
    for r in rows:
        owner = parts.get(r.table_oid)
        if owner is None:
            continue
        if r.kind == "p":
            owner.primary_key = PrimaryKey(r.name, tuple(r.columns))
        elif r.kind == "u":
            owner.uniques.append(UniqueConstraint(r.name, tuple(r.columns), r.deferrable))
        elif r.kind == "c":
            owner.checks.append(CheckConstraint(r.name, r.expression or "", r.validated))
        else:
            owner.foreign_keys.append(
                ForeignKey(
                    name=r.name,
                    columns=tuple(r.columns),
                    ref_table=r.ref_table or "",
                    ref_columns=tuple(r.ref_columns),
                    ref_schema=r.ref_schema or "",
                    on_delete=_FK_ACTION[r.on_delete],
                    on_update=_FK_ACTION[r.on_update],
                    deferrable=r.deferrable,
                    initially_deferred=r.initially_deferred,
                    validated=r.validated,
                )
            )


def _add_indexes(parts: dict[int, _Parts], rows: list[_IndexRow]) -> None:
    for r in rows:
        owner = parts.get(r.table_oid)
        if owner is not None:
            owner.indexes.append(
                Index(
                    r.name,
                    tuple(r.columns),
                    r.is_unique,
                    r.predicate,
                    r.method,
                    r.valid,
                    include=tuple(r.include),
                    orders=key_orders(r.orders),
                    opclasses=key_opclasses(r.opclasses),
                )
            )
