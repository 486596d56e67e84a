"""Alembic revisions from change specs: one readable ``op.*`` call per operation.

Each operation class has one renderer in :data:`alembic_renderer`. Most build Alembic's own
operation objects (``CreateTableOp``, ``CreateIndexOp``...) and let Alembic's autogenerate
renderer write them, so a revision reads like one Alembic wrote; the few it cannot render
(primary keys, table renames, ``USING`` on a type change) are written here in the same style.
Every constraint and index name goes through ``op.f()``, so the target metadata's naming
convention never rewrites an explicit name.

SQL that no ``op.*`` call expresses (``VALIDATE CONSTRAINT``, ``run_sql``, and a column type
SQLAlchemy has no class for) is taken from :mod:`dualorm.emit.sql` and passed to
``op.execute``: the statements the runner executes, word for word.

Word for word means what reaches PostgreSQL, not what the revision's source says: Alembic
wraps SQL text in ``sa.text()``, which reads ``:word`` as a bind parameter (a missing value
fails the upgrade; inside DDL it becomes ``NULL``) and unescapes ``\\:``. Every SQL text is
therefore written with those colons escaped (:func:`_verbatim`), once for each time
SQLAlchemy will read it: once for ``op.execute`` and the ``sa.text`` written here, twice for
an expression Alembic's renderer compiles first. Percent signs are left alone: the renderer
compiles without doubling them, and SQLAlchemy's doubling at run time is undone by the
driver.

``run_python`` operations call :func:`run_python`, which hands the named function the
psycopg connection under ``op.get_bind()``, inside the revision's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op_text
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import conv

from dualorm.emit import sql as sql_emit
from dualorm.emit.pyformat import header, indent_block, string_literal
from dualorm.emit.registry import Registry, Rendered
from dualorm.errors import IrreversibleError
from dualorm.importpath import resolve_function
from dualorm.schema import (
    DEFAULT_SCHEMA,
    Column,
    FkAction,
    ForeignKey,
    Identity,
    Index,
    Table,
    UniqueConstraint,
    as_key,
    index_opclasses,
    index_orders,
)
from dualorm.spec.model import Migration
from dualorm.spec.ops import (
    AddCheck,
    AddColumn,
    AddEnumValue,
    AddForeignKey,
    AddPrimaryKey,
    AddUnique,
    AlterColumn,
    AlterForeignKey,
    ChangeKind,
    CreateEnum,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropConstraint,
    DropEnum,
    DropEnumValue,
    DropIndex,
    DropTable,
    Operation,
    RenameColumn,
    RenameEnumValue,
    RenameTable,
    RunPython,
    RunSQL,
    SetComment,
    ValidateConstraint,
)

if TYPE_CHECKING:
    from sqlalchemy.types import TypeEngine

__all__ = ["alembic_renderer", "render", "render_revision", "run_python", "sa_type"]

alembic_renderer: Registry[Rendered] = Registry("alembic")
"""Operation class -> function returning the ``op.*`` code (unindented) and its imports."""

_AUTOCOMMIT = "with op.get_context().autocommit_block():"
_ALTER_INDENT = " " * 11  # Alembic's own continuation indent for alter_column


def render(operation: Operation) -> Rendered:
    """Return the ``op.*`` code that applies ``operation`` and the imports it needs."""
    return alembic_renderer(operation)


# -- running python operations ----------------------------------------------------------------


def run_python(path: str, bind: sa.Connection) -> None:
    """Call ``"module:function"`` with the psycopg connection of an Alembic migration.

    The function gets the same argument ``dualorm migrate up`` gives it: a psycopg
    connection inside the migration's transaction.
    """
    resolve_function(path)(bind.connection.driver_connection)


# -- types ------------------------------------------------------------------------------------

_SIMPLE_TYPES: dict[str, Callable[[], TypeEngine[Any]]] = {
    "text": sa.Text,
    "integer": sa.Integer,
    "bigint": sa.BigInteger,
    "smallint": sa.SmallInteger,
    "boolean": sa.Boolean,
    "uuid": sa.UUID,
    "jsonb": postgresql.JSONB,
    "json": sa.JSON,
    "date": sa.Date,
    "bytea": sa.LargeBinary,
    "double precision": sa.Double,
    "real": sa.REAL,
    "inet": postgresql.INET,
    "cidr": postgresql.CIDR,
    "macaddr": postgresql.MACADDR,
    "interval": postgresql.INTERVAL,
    "tsvector": postgresql.TSVECTOR,
    "timestamp with time zone": lambda: sa.DateTime(timezone=True),
    "timestamp without time zone": sa.DateTime,
    "time with time zone": lambda: sa.Time(timezone=True),
    "time without time zone": sa.Time,
    "character varying": sa.String,
    "numeric": sa.Numeric,
}


def _modifiers(text: str) -> tuple[str, list[int]] | None:
    base, _, rest = text.partition("(")
    inner, _, tail = rest.partition(")")
    try:
        numbers = [int(part) for part in inner.split(",")]
    except ValueError:
        return None
    return f"{base.strip()} {tail.strip()}".strip(), numbers


def sa_type(canonical: str) -> TypeEngine[Any] | None:
    """Return the SQLAlchemy type that creates the canonical PostgreSQL type, or None."""
    if canonical.endswith("[]"):
        item = sa_type(canonical[:-2])
        return None if item is None else postgresql.ARRAY(item)
    simple = _SIMPLE_TYPES.get(canonical)
    if simple is not None:
        return simple()
    if "(" not in canonical:
        return None
    parsed = _modifiers(canonical)
    if parsed is None:
        return None
    base, numbers = parsed
    if base == "character varying" and len(numbers) == 1:
        return sa.String(numbers[0])
    if base == "character" and len(numbers) == 1:
        return sa.CHAR(numbers[0])
    if base == "numeric" and len(numbers) in (1, 2):
        return sa.Numeric(numbers[0], numbers[1] if len(numbers) == 2 else None)
    if base in ("timestamp with time zone", "timestamp without time zone") and len(numbers) == 1:
        return postgresql.TIMESTAMP(timezone=base.endswith("with time zone"), precision=numbers[0])
    if base in ("time with time zone", "time without time zone") and len(numbers) == 1:
        return postgresql.TIME(timezone=base.endswith("with time zone"), precision=numbers[0])
    return None


def _column_type(column: Column) -> TypeEngine[Any] | None:
    """The SQLAlchemy type of ``column``, its collation included (None: no class for it)."""
    type_ = sa_type(column.type)
    if type_ is None or column.collation is None:
        return type_
    if not isinstance(type_, sa.String) or column.collation.startswith('"'):
        return None
    type_.collation = column.collation
    return type_


def _mappable(columns: Iterable[Column]) -> bool:
    return all(_column_type(c) is not None for c in columns)


# -- rendering helpers ------------------------------------------------------------------------


def _context() -> AutogenContext:
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


def _verbatim(sql: str) -> str:
    """Return ``sql`` spelled so that ``sa.text()`` of it compiles back to exactly ``sql``."""
    return _TEXT_COLON.sub(r"\\:", sql)


def _rendered_text(sql: str) -> sa.TextClause:
    """Return the ``sa.text()`` of an expression Alembic's renderer compiles into the revision
    as ``sa.text(...)``: read once when rendering, once when the revision runs."""
    return sa.text(_verbatim(_verbatim(sql)))


def _alembic_ops(items: Sequence[ops.MigrateOperation]) -> Rendered:
    context = _context()
    text = "\n".join(render_op_text(context, item) for item in items)
    return text, frozenset(context.imports)


def _schema_of(table: str) -> str | None:
    schema_name, _ = as_key(table)
    return None if schema_name == DEFAULT_SCHEMA else schema_name


def _name_of(table: str) -> str:
    return as_key(table)[1]


def _schema_kw(table: str) -> str:
    schema_name = _schema_of(table)
    return "" if schema_name is None else f", schema={schema_name!r}"


def _sa_column(column: Column, *, autoincrement: bool = True) -> sa.Column[Any]:
    type_ = _column_type(column)
    args: list[Any] = []
    if column.identity is not None:
        args.append(sa.Identity(always=column.identity is Identity.ALWAYS))
    if column.generated is not None:
        args.append(sa.Computed(_rendered_text(column.generated), persisted=True))
    kw: dict[str, Any] = {"nullable": column.nullable}
    if not autoincrement:
        kw["autoincrement"] = False
    if column.default is not None:
        kw["server_default"] = _rendered_text(column.default)
    if column.comment is not None:
        kw["comment"] = column.comment
    return sa.Column(column.name, type_, *args, **kw)


def _fk_kwargs(fk: ForeignKey) -> dict[str, Any]:
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


def _ref_prefix(fk: ForeignKey) -> str:
    if fk.ref_schema == DEFAULT_SCHEMA:
        return fk.ref_table
    return f"{fk.ref_schema}.{fk.ref_table}"


def _sa_table(t: Table) -> sa.Table:
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
    items: list[Any] = [_sa_column(c, autoincrement=c.name != serial) for c in t.columns]
    if t.primary_key is not None:
        items.append(sa.PrimaryKeyConstraint(*t.primary_key.columns, name=conv(t.primary_key.name)))
    for fk in t.foreign_keys:
        ref = _ref_prefix(fk)
        items.append(
            sa.ForeignKeyConstraint(
                list(fk.columns),
                [f"{ref}.{c}" for c in fk.ref_columns],
                name=conv(fk.name),
                **_fk_kwargs(fk),
            )
        )
    for u in t.uniques:
        items.append(sa.UniqueConstraint(*u.columns, name=conv(u.name), deferrable=u.deferrable))
    for c in t.checks:
        items.append(sa.CheckConstraint(_rendered_text(c.expression), name=conv(c.name)))
    schema_name = None if t.schema == DEFAULT_SCHEMA else t.schema
    return sa.Table(t.name, sa.MetaData(), *items, schema=schema_name, comment=t.comment)


def _index_elements(index: Index) -> list[Any]:
    # Index.columns holds column names or expressions, as in the SQL emitter; a key with an
    # operator class or an ordering is written as the SQL emitter's text of the whole key.
    # Alembic writes an expression key as sa.literal_column(), which SQLAlchemy does not
    # parse when the revision runs: the text is read only once, when rendering.
    out: list[Any] = []
    keys = zip(index.columns, index_opclasses(index), index_orders(index), strict=True)
    for c, opclass, order in keys:
        if order or opclass:
            out.append(sa.text(_verbatim(sql_emit.index_key(c, opclass, order))))
        elif c and all(ch.isalnum() or ch in "_$" for ch in c):
            out.append(c)
        else:
            out.append(sa.text(_verbatim(c)))
    return out


def _create_index_op(table: str, index: Index, concurrently: bool) -> ops.CreateIndexOp:
    kw: dict[str, Any] = {}
    if index.where is not None:
        kw["postgresql_where"] = _rendered_text(index.where)
    if index.method != "btree":
        kw["postgresql_using"] = index.method
    if index.include:
        kw["postgresql_include"] = list(index.include)
    if concurrently:
        kw["postgresql_concurrently"] = True
    return ops.CreateIndexOp(
        conv(index.name),
        _name_of(table),
        _index_elements(index),
        schema=_schema_of(table),
        unique=index.unique,
        **kw,
    )


def _autocommit(rendered: Rendered) -> Rendered:
    text, imports = rendered
    return f"{_AUTOCOMMIT}\n{indent_block(text)}", imports


def _execute(operation: Operation) -> Rendered:
    """Render ``operation`` as ``op.execute`` calls with the shared SQL emitter's statements."""
    statements = sql_emit.statements(operation)
    lines = [f"op.execute({string_literal(_verbatim(s))})" for s in statements]
    return "\n".join(lines), frozenset()


# -- one renderer per operation ---------------------------------------------------------------


@alembic_renderer.register(CreateTable)
def _create_table(op: CreateTable) -> Rendered:
    if not _mappable(op.table.columns):
        return _execute(op)
    name = op.table.qualified_name
    later = sql_emit.folded_uniques(op.table)
    inline = replace(op.table, uniques=tuple(u for u in op.table.uniques if u not in later))
    items: list[ops.MigrateOperation] = [ops.CreateTableOp.from_table(_sa_table(inline))]
    items += [_create_unique_op(name, u) for u in later]
    items += [_create_index_op(name, i, False) for i in op.table.indexes]
    return _alembic_ops(items)


@alembic_renderer.register(DropTable)
def _drop_table(op: DropTable) -> Rendered:
    schema_name = None if op.table.schema == DEFAULT_SCHEMA else op.table.schema
    return _alembic_ops([ops.DropTableOp(op.table.name, schema=schema_name)])


@alembic_renderer.register(RenameTable)
def _rename_table(op: RenameTable) -> Rendered:
    args = f"{_name_of(op.table)!r}, {op.new_name!r}{_schema_kw(op.table)}"
    return f"op.rename_table({args})", frozenset()


@alembic_renderer.register(AddColumn)
def _add_column(op: AddColumn) -> Rendered:
    if not _mappable([op.column]):
        return _execute(op)
    return _alembic_ops(
        [ops.AddColumnOp(_name_of(op.table), _sa_column(op.column), schema=_schema_of(op.table))]
    )


@alembic_renderer.register(DropColumn)
def _drop_column(op: DropColumn) -> Rendered:
    return _alembic_ops(
        [ops.DropColumnOp(_name_of(op.table), op.column.name, schema=_schema_of(op.table))]
    )


def _alter(table: str, column: str, lines: list[str]) -> str:
    head = f"op.alter_column({_name_of(table)!r}, {column!r}"
    tail = [*lines, *([f"schema={_schema_of(table)!r}"] if _schema_of(table) else [])]
    return head + "".join(f",\n{_ALTER_INDENT}{line}" for line in tail) + ")"


def _server_default(expression: str | None) -> str:
    return "None" if expression is None else f"sa.text({_verbatim(expression)!r})"


@alembic_renderer.register(AlterColumn)
def _alter_column(op: AlterColumn) -> Rendered:
    # Alembic pastes postgresql_using into its ALTER statement as is, and SQLAlchemy then hands
    # that statement to the driver with parameters, which reads a lone % as a placeholder.
    collated = op.from_.collation is not None or op.to.collation is not None
    if collated or not _mappable([op.from_, op.to]) or (op.using is not None and "%" in op.using):
        # Alembic's alter_column has no collation of its own: the shared SQL says COLLATE.
        return _execute(op)
    context = _context()
    old_type = sa_type(op.from_.type)
    new_type = sa_type(op.to.type)
    assert old_type is not None and new_type is not None
    existing = f"existing_type={render_type(old_type, context)}"
    calls = []
    lines = [existing]
    moved = op.changes & (
        ChangeKind.TYPE | ChangeKind.DEFAULT | ChangeKind.NULL | ChangeKind.COMMENT
    )
    final_default = op.to.default if ChangeKind.DEFAULT in op.changes else op.from_.default
    if ChangeKind.TYPE in op.changes:
        # The old default may not cast to the new type: drop it first and set it again after,
        # as the SQL emitter does.
        if op.from_.default is not None:
            calls.append(_alter(op.table, op.from_.name, [existing, "server_default=None"]))
        lines.append(f"type_={render_type(new_type, context)}")
        if op.using:
            lines.append(f"postgresql_using={op.using!r}")
        if final_default is not None:
            lines.append(f"server_default={_server_default(final_default)}")
    elif ChangeKind.DEFAULT in op.changes:
        lines.append(f"server_default={_server_default(final_default)}")
    if ChangeKind.NULL in op.changes:
        lines.append(f"nullable={op.to.nullable!r}")
    else:
        lines.append(f"existing_nullable={op.from_.nullable!r}")
    if ChangeKind.COMMENT in op.changes:
        lines.append(f"comment={op.to.comment!r}")
    if moved:
        calls.append(_alter(op.table, op.from_.name, lines))
    return "\n".join(calls), frozenset(context.imports)


def render_type(type_: TypeEngine[Any], context: AutogenContext) -> str:
    """Return ``type_`` as Alembic writes it (``sa.String(length=20)``), noting imports."""
    from alembic.autogenerate.render import _repr_type

    return _repr_type(type_, context)


@alembic_renderer.register(RenameColumn)
def _rename_column(op: RenameColumn) -> Rendered:
    return _alembic_ops(
        [
            ops.AlterColumnOp(
                _name_of(op.table),
                op.old_name,
                modify_name=op.new_name,
                schema=_schema_of(op.table),
            )
        ]
    )


@alembic_renderer.register(CreateIndex)
def _create_index(op: CreateIndex) -> Rendered:
    rendered = _alembic_ops([_create_index_op(op.table, op.index, op.concurrently)])
    return _autocommit(rendered) if op.concurrently else rendered


@alembic_renderer.register(DropIndex)
def _drop_index(op: DropIndex) -> Rendered:
    kw: dict[str, Any] = {"postgresql_concurrently": True} if op.concurrently else {}
    rendered = _alembic_ops(
        [
            ops.DropIndexOp(
                conv(op.index.name),
                table_name=_name_of(op.table),
                schema=_schema_of(op.table),
                **kw,
            )
        ]
    )
    return _autocommit(rendered) if op.concurrently else rendered


@alembic_renderer.register(AddPrimaryKey)
def _add_primary_key(op: AddPrimaryKey) -> Rendered:
    columns = list(op.constraint.columns)
    args = f"op.f({op.constraint.name!r}), {_name_of(op.table)!r}, {columns!r}"
    return f"op.create_primary_key({args}{_schema_kw(op.table)})", frozenset()


@alembic_renderer.register(AddForeignKey)
def _add_foreign_key(op: AddForeignKey) -> Rendered:
    fk = op.constraint
    kw = _fk_kwargs(fk)
    if not fk.validated:
        kw["postgresql_not_valid"] = True
    return _alembic_ops(
        [
            ops.CreateForeignKeyOp(
                conv(fk.name),
                _name_of(op.table),
                fk.ref_table,
                list(fk.columns),
                list(fk.ref_columns),
                source_schema=_schema_of(op.table),
                referent_schema=None if fk.ref_schema == DEFAULT_SCHEMA else fk.ref_schema,
                **kw,
            )
        ]
    )


def _create_unique_op(table: str, unique: UniqueConstraint) -> ops.CreateUniqueConstraintOp:
    kw = {"deferrable": True} if unique.deferrable else {}
    return ops.CreateUniqueConstraintOp(
        conv(unique.name), _name_of(table), list(unique.columns), schema=_schema_of(table), **kw
    )


@alembic_renderer.register(AddUnique)
def _add_unique(op: AddUnique) -> Rendered:
    return _alembic_ops([_create_unique_op(op.table, op.constraint)])


@alembic_renderer.register(AddCheck)
def _add_check(op: AddCheck) -> Rendered:
    kw = {} if op.constraint.validated else {"postgresql_not_valid": True}
    return _alembic_ops(
        [
            ops.CreateCheckConstraintOp(
                conv(op.constraint.name),
                _name_of(op.table),
                _rendered_text(op.constraint.expression),
                schema=_schema_of(op.table),
                **kw,
            )
        ]
    )


_CONSTRAINT_TYPES = {
    "PrimaryKey": "primary",
    "UniqueConstraint": "unique",
    "CheckConstraint": "check",
    "ForeignKey": "foreignkey",
}


@alembic_renderer.register(DropConstraint)
def _drop_constraint(op: DropConstraint) -> Rendered:
    return _alembic_ops(
        [
            ops.DropConstraintOp(
                conv(op.constraint.name),
                _name_of(op.table),
                type_=_CONSTRAINT_TYPES[type(op.constraint).__name__],
                schema=_schema_of(op.table),
            )
        ]
    )


@alembic_renderer.register(
    ValidateConstraint,
    AlterForeignKey,
    RunSQL,
    CreateEnum,
    DropEnum,
    AddEnumValue,
    DropEnumValue,
    RenameEnumValue,
)
def _execute_sql(op: Operation) -> Rendered:
    # An enum type has no op.* call of its own (sa.Enum creates one only with a table):
    # the statements are the shared SQL's.
    return _execute(op)


@alembic_renderer.register(SetComment)
def _set_comment(op: SetComment) -> Rendered:
    if op.column is not None:
        return _execute(op)
    if op.to is None:
        drop = ops.DropTableCommentOp(
            _name_of(op.table), schema=_schema_of(op.table), existing_comment=op.from_
        )
        return _alembic_ops([drop])
    create = ops.CreateTableCommentOp(
        _name_of(op.table), op.to, schema=_schema_of(op.table), existing_comment=op.from_
    )
    return _alembic_ops([create])


@alembic_renderer.register(RunPython)
def _run_python(op: RunPython) -> Rendered:
    return (
        f"run_python({op.function!r}, op.get_bind())",
        frozenset({"from dualorm.emit.alembic import run_python"}),
    )


# -- revisions --------------------------------------------------------------------------------


def _body(operations: Iterable[Operation]) -> tuple[str, set[str]]:
    texts: list[str] = []
    imports: set[str] = set()
    for operation in operations:
        text, needed = render(operation)
        if text:
            texts.append(text)
        imports |= needed
    return ("\n".join(texts) if texts else "pass"), imports


def _downgrade(migration: Migration) -> tuple[str, set[str]]:
    try:
        reverse = [op.reverse() for op in reversed(migration.operations)]
    except IrreversibleError as exc:
        message = f"{migration.id} cannot be rolled back: {exc}"
        return (
            f"raise IrreversibleError({message!r})",
            {"from dualorm.errors import IrreversibleError"},
        )
    return _body(reverse)


def _revision_value(dependencies: Sequence[str]) -> str:
    if not dependencies:
        return "None"
    if len(dependencies) == 1:
        return repr(dependencies[0])
    return "(" + ", ".join(repr(d) for d in dependencies) + ")"


def render_revision(migration: Migration, source: str, parents: Sequence[str] | None = None) -> str:
    """Return the whole Alembic revision file for ``migration`` (``source`` names the spec).

    ``parents`` are the revisions it comes after (default: the spec's dependencies).
    """
    after = tuple(migration.dependencies if parents is None else parents)
    up, up_imports = _body(migration.operations)
    down, down_imports = _downgrade(migration)
    extra = sorted((up_imports | down_imports) - {"import sqlalchemy as sa"})
    imports = ["from alembic import op", "import sqlalchemy as sa", *extra]
    return (
        f"{header(migration, source, after)}\n"
        + "\n".join(imports)
        + "\n\n# revision identifiers, used by Alembic.\n"
        + f"revision = {migration.id!r}\n"
        + f"down_revision = {_revision_value(after)}\n"
        + "branch_labels = None\n"
        + "depends_on = None\n\n\n"
        + f"def upgrade() -> None:\n{indent_block(up)}\n\n\n"
        + f"def downgrade() -> None:\n{indent_block(down)}\n"
    )
