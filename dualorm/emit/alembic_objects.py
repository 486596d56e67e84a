"""The SQLAlchemy and Alembic objects the Alembic emitter builds from dualorm's schema.

Tables, columns, indexes and constraints become ``sa.Table``/``sa.Column`` and Alembic
``ops.*Op`` objects that Alembic's own autogenerate renderer writes (:func:`alembic_ops`), so
a revision reads like one Alembic wrote. Every name goes through ``conv()`` (written as
``op.f()``), so the target metadata's naming convention never rewrites an explicit name.

SQL text Alembic wraps in ``sa.text()`` has its colons escaped (:func:`verbatim`) once for each
time SQLAlchemy reads it; see :mod:`dualorm.emit.alembic`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op_text
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import conv

from dualorm.emit import sql as sql_emit
from dualorm.emit.alembic_types import column_type
from dualorm.emit.pyformat import indent_block, string_literal
from dualorm.emit.registry import Rendered
from dualorm.schema import (
    DEFAULT_SCHEMA,
    Column,
    FkAction,
    ForeignKey,
    Identity,
    Index,
    Table,
    TableKey,
    UniqueConstraint,
    as_key,
    index_opclasses,
    index_orders,
    is_column_key,
)
from dualorm.spec.ops import Operation

__all__ = [
    "AUTOCOMMIT",
    "alembic_ops",
    "autocommit",
    "autogen_context",
    "create_index_op",
    "create_unique_op",
    "execute",
    "fk_kwargs",
    "name_of",
    "rendered_text",
    "sa_column",
    "sa_table",
    "schema_kw",
    "schema_of",
    "verbatim",
]

AUTOCOMMIT = "with op.get_context().autocommit_block():"
# -- rendering helpers ------------------------------------------------------------------------


def autogen_context() -> AutogenContext:
    """A fresh Alembic autogenerate context that collects the imports the rendered code needs."""
    # A "named" paramstyle: Alembic's renderer compiles expressions with this dialect, and
    # the default (pyformat) one would write every % of them doubled into the revision.
    dialect = postgresql.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
    migration_context = MigrationContext.configure(dialect=dialect)
    return AutogenContext(
        migration_context,
        opts={
            "sqlalchemy_module_prefix": "sa.",
            "alembic_module_prefix": "op.",
            "render_item": None,
            "render_as_batch": False,
            "user_module_prefix": None,
        },
    )


# A colon SQLAlchemy's TextClause reads specially: ``:word`` (a bind parameter) unless a word
# character, a colon or a backslash comes before, and ``\:word`` (unescaped to ``:word``);
# either only when no word character or colon follows. Mirrors sqlalchemy.sql.compiler's
# BIND_PARAMS and BIND_PARAMS_ESC.
_TEXT_COLON = re.compile(r"(?<=\\):(?=\w*(?![:\w]))|(?<![:\w\\]):(?=\w+(?![:\w]))")


def verbatim(sql: str) -> str:
    """Return ``sql`` spelled so that ``sa.text()`` of it compiles back to exactly ``sql``."""
    return _TEXT_COLON.sub(r"\\:", sql)


def rendered_text(sql: str) -> sa.TextClause:
    """Return the ``sa.text()`` of an expression Alembic's renderer compiles into the revision
    as ``sa.text(...)``: read once when rendering, once when the revision runs."""
    return sa.text(verbatim(verbatim(sql)))


def alembic_ops(items: Sequence[ops.MigrateOperation]) -> Rendered:
    """Render Alembic operation objects as autogenerate writes them, with their imports."""
    context = autogen_context()
    text = "\n".join(render_op_text(context, item) for item in items)
    return text, frozenset(context.imports)


def schema_of(table: TableKey | str) -> str | None:
    """The ``schema=`` Alembic takes for ``table``: None for the default schema."""
    schema_name, _ = as_key(table)
    return None if schema_name == DEFAULT_SCHEMA else schema_name


def name_of(table: str) -> str:
    """The table name of ``table`` without its schema."""
    return as_key(table)[1]


def schema_kw(table: str) -> str:
    """``, schema='name'`` for a table outside the default schema, else nothing."""
    schema_name = schema_of(table)
    return "" if schema_name is None else f", schema={schema_name!r}"


def sa_column(column: Column, *, autoincrement: bool = True) -> sa.Column[Any]:
    """The ``sa.Column`` whose DDL creates ``column``."""
    type_ = column_type(column)
    args: list[Any] = []
    if column.identity is not None:
        args.append(sa.Identity(always=column.identity is Identity.ALWAYS))
    if column.generated is not None:
        args.append(sa.Computed(rendered_text(column.generated), persisted=True))
    kw: dict[str, Any] = {"nullable": column.nullable}
    if not autoincrement:
        kw["autoincrement"] = False
    if column.default is not None:
        kw["server_default"] = rendered_text(column.default)
    if column.comment is not None:
        kw["comment"] = column.comment
    return sa.Column(column.name, type_, *args, **kw)


def fk_kwargs(fk: ForeignKey) -> dict[str, Any]:
    """The ``ondelete``/``onupdate``/``deferrable`` keywords of ``fk``, where not the default."""
    kw: dict[str, Any] = {}
    if fk.on_delete is not FkAction.NO_ACTION:
        kw["ondelete"] = fk.on_delete.value
    if fk.on_update is not FkAction.NO_ACTION:
        kw["onupdate"] = fk.on_update.value
    if fk.deferrable:
        kw["deferrable"] = True
        if fk.initially_deferred:
            kw["initially"] = "DEFERRED"
    return kw


def sa_table(t: Table) -> sa.Table:
    """Return ``t`` as a SQLAlchemy table whose ``CREATE TABLE`` makes exactly ``t``.

    SQLAlchemy turns a lone integer primary key column without a default into a serial
    column: a sequence and a ``nextval`` default that the schema does not have and the shared
    SQL (run by the Django migration and ``dualorm migrate up``) does not create. SQLAlchemy's
    own rule picks that column; it is then rebuilt with ``autoincrement=False``.
    """
    plain = _build_sa_table(t, serial=None)
    found = plain.autoincrement_column
    if found is None or found.identity is not None:
        return plain
    return _build_sa_table(t, serial=str(found.name))


def _build_sa_table(t: Table, serial: str | None) -> sa.Table:
    items: list[Any] = [sa_column(c, autoincrement=c.name != serial) for c in t.columns]
    if t.primary_key is not None:
        items.append(sa.PrimaryKeyConstraint(*t.primary_key.columns, name=conv(t.primary_key.name)))
    for fk in t.foreign_keys:
        ref = fk.ref_qualified_name
        items.append(
            sa.ForeignKeyConstraint(
                list(fk.columns),
                [f"{ref}.{c}" for c in fk.ref_columns],
                name=conv(fk.name),
                **fk_kwargs(fk),
            )
        )
    for u in t.uniques:
        items.append(sa.UniqueConstraint(*u.columns, name=conv(u.name), deferrable=u.deferrable))
    for c in t.checks:
        items.append(sa.CheckConstraint(rendered_text(c.expression), name=conv(c.name)))
    return sa.Table(t.name, sa.MetaData(), *items, schema=schema_of(t.key), comment=t.comment)


def _index_elements(index: Index) -> list[Any]:
    # Index.columns holds column names or expressions, as in the SQL emitter; a key with an
    # operator class or an ordering is written as the SQL emitter's text of the whole key.
    # Alembic writes an expression key as sa.literal_column(), which SQLAlchemy does not
    # parse when the revision runs: the text is read only once, when rendering.
    out: list[Any] = []
    keys = zip(index.columns, index_opclasses(index), index_orders(index), strict=True)
    for c, opclass, order in keys:
        if order or opclass:
            out.append(sa.text(verbatim(sql_emit.index_key(c, opclass, order))))
        elif is_column_key(c):
            out.append(c)
        else:
            out.append(sa.text(verbatim(c)))
    return out


def create_index_op(table: str, index: Index, concurrently: bool) -> ops.CreateIndexOp:
    """The ``CreateIndexOp`` of ``index`` on ``table``."""
    kw: dict[str, Any] = {}
    if index.where is not None:
        kw["postgresql_where"] = rendered_text(index.where)
    if index.method != "btree":
        kw["postgresql_using"] = index.method
    if index.include:
        kw["postgresql_include"] = list(index.include)
    if concurrently:
        kw["postgresql_concurrently"] = True
    return ops.CreateIndexOp(
        conv(index.name),
        name_of(table),
        _index_elements(index),
        schema=schema_of(table),
        unique=index.unique,
        **kw,
    )


def autocommit(rendered: Rendered) -> Rendered:
    """Wrap rendered code in Alembic's autocommit block (for ``CONCURRENTLY``)."""
    text, imports = rendered
    return f"{AUTOCOMMIT}\n{indent_block(text)}", imports


def execute(operation: Operation) -> Rendered:
    """Render ``operation`` as ``op.execute`` calls with the shared SQL emitter's statements."""
    statements = sql_emit.statements(operation)
    lines = [f"op.execute({string_literal(verbatim(s))})" for s in statements]
    return "\n".join(lines), frozenset()


# -- one renderer per operation ---------------------------------------------------------------


def create_unique_op(table: str, unique: UniqueConstraint) -> ops.CreateUniqueConstraintOp:
    """The ``CreateUniqueConstraintOp`` of ``unique`` on ``table``."""
    kw = {"deferrable": True} if unique.deferrable else {}
    return ops.CreateUniqueConstraintOp(
        conv(unique.name), name_of(table), list(unique.columns), schema=schema_of(table), **kw
    )
