"""One Alembic renderer per operation class: the ``op.*`` code that carries it out.

Each renderer is registered in :data:`alembic_renderer` and returns :data:`Rendered`: the
code, unindented, and the imports it needs. Most build Alembic's own operation objects
(:mod:`dualorm.emit.alembic_objects`); the few Alembic cannot render (primary keys, table
renames, ``USING`` on a type change) are written here in the same style. What no ``op.*``
call expresses is the shared SQL (:mod:`dualorm.emit.sql`) passed to ``op.execute``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from alembic.operations import ops
from sqlalchemy.sql.elements import conv

from dualorm.emit import sql as sql_emit
from dualorm.emit.alembic_objects import (
    alembic_ops,
    autocommit,
    autogen_context,
    create_index_op,
    create_unique_op,
    execute,
    fk_kwargs,
    name_of,
    rendered_text,
    sa_column,
    sa_table,
    schema_kw,
    schema_of,
    verbatim,
)
from dualorm.emit.alembic_types import mappable, render_type, sa_type
from dualorm.emit.registry import Registry, Rendered
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

__all__ = ["alembic_renderer"]

alembic_renderer: Registry[Rendered] = Registry("alembic")
"""Operation class -> function returning the ``op.*`` code (unindented) and its imports."""

_ALTER_INDENT = " " * 11  # Alembic's own continuation indent for alter_column


@alembic_renderer.register(CreateTable)
def _create_table(op: CreateTable) -> Rendered:
    if not mappable(op.definition.columns):
        return execute(op)
    name = op.table
    later = sql_emit.folded_uniques(op.definition)
    inline = replace(
        op.definition, uniques=tuple(u for u in op.definition.uniques if u not in later)
    )
    items: list[ops.MigrateOperation] = [ops.CreateTableOp.from_table(sa_table(inline))]
    items += [create_unique_op(name, u) for u in later]
    items += [create_index_op(name, i, False) for i in op.definition.indexes]
    return alembic_ops(items)


@alembic_renderer.register(DropTable)
def _drop_table(op: DropTable) -> Rendered:
    return alembic_ops([ops.DropTableOp(op.definition.name, schema=schema_of(op.definition.key))])


@alembic_renderer.register(RenameTable)
def _rename_table(op: RenameTable) -> Rendered:
    args = f"{name_of(op.table)!r}, {op.new_name!r}{schema_kw(op.table)}"
    return f"op.rename_table({args})", frozenset()


@alembic_renderer.register(AddColumn)
def _add_column(op: AddColumn) -> Rendered:
    if not mappable([op.column]):
        return execute(op)
    return alembic_ops(
        [ops.AddColumnOp(name_of(op.table), sa_column(op.column), schema=schema_of(op.table))]
    )


@alembic_renderer.register(DropColumn)
def _drop_column(op: DropColumn) -> Rendered:
    return alembic_ops(
        [ops.DropColumnOp(name_of(op.table), op.column.name, schema=schema_of(op.table))]
    )


def _alter(table: str, column: str, lines: list[str]) -> str:
    head = f"op.alter_column({name_of(table)!r}, {column!r}"
    tail = [*lines, *([f"schema={schema_of(table)!r}"] if schema_of(table) else [])]
    return head + "".join(f",\n{_ALTER_INDENT}{line}" for line in tail) + ")"


def _server_default(expression: str | None) -> str:
    return "None" if expression is None else f"sa.text({verbatim(expression)!r})"


@alembic_renderer.register(AlterColumn)
def _alter_column(op: AlterColumn) -> Rendered:
    # Alembic pastes postgresql_using into its ALTER statement as is, and SQLAlchemy then hands
    # that statement to the driver with parameters, which reads a lone % as a placeholder.
    collated = op.from_.collation is not None or op.to.collation is not None
    if collated or not mappable([op.from_, op.to]) or (op.using is not None and "%" in op.using):
        # Alembic's alter_column has no collation of its own: the shared SQL says COLLATE.
        return execute(op)
    context = autogen_context()
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


@alembic_renderer.register(RenameColumn)
def _rename_column(op: RenameColumn) -> Rendered:
    return alembic_ops(
        [
            ops.AlterColumnOp(
                name_of(op.table),
                op.old_name,
                modify_name=op.new_name,
                schema=schema_of(op.table),
            )
        ]
    )


@alembic_renderer.register(CreateIndex)
def _create_index(op: CreateIndex) -> Rendered:
    rendered = alembic_ops([create_index_op(op.table, op.index, op.concurrently)])
    return autocommit(rendered) if op.concurrently else rendered


@alembic_renderer.register(DropIndex)
def _drop_index(op: DropIndex) -> Rendered:
    kw: dict[str, Any] = {"postgresql_concurrently": True} if op.concurrently else {}
    rendered = alembic_ops(
        [
            ops.DropIndexOp(
                conv(op.index.name),
                table_name=name_of(op.table),
                schema=schema_of(op.table),
                **kw,
            )
        ]
    )
    return autocommit(rendered) if op.concurrently else rendered


@alembic_renderer.register(AddPrimaryKey)
def _add_primary_key(op: AddPrimaryKey) -> Rendered:
    columns = list(op.constraint.columns)
    args = f"op.f({op.constraint.name!r}), {name_of(op.table)!r}, {columns!r}"
    return f"op.create_primary_key({args}{schema_kw(op.table)})", frozenset()


@alembic_renderer.register(AddForeignKey)
def _add_foreign_key(op: AddForeignKey) -> Rendered:
    fk = op.constraint
    kw = fk_kwargs(fk)
    if not fk.validated:
        kw["postgresql_not_valid"] = True
    return alembic_ops(
        [
            ops.CreateForeignKeyOp(
                conv(fk.name),
                name_of(op.table),
                fk.ref_table,
                list(fk.columns),
                list(fk.ref_columns),
                source_schema=schema_of(op.table),
                referent_schema=schema_of(fk.ref_key),
                **kw,
            )
        ]
    )


@alembic_renderer.register(AddUnique)
def _add_unique(op: AddUnique) -> Rendered:
    return alembic_ops([create_unique_op(op.table, op.constraint)])


@alembic_renderer.register(AddCheck)
def _add_check(op: AddCheck) -> Rendered:
    kw = {} if op.constraint.validated else {"postgresql_not_valid": True}
    return alembic_ops(
        [
            ops.CreateCheckConstraintOp(
                conv(op.constraint.name),
                name_of(op.table),
                rendered_text(op.constraint.expression),
                schema=schema_of(op.table),
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
    return alembic_ops(
        [
            ops.DropConstraintOp(
                conv(op.constraint.name),
                name_of(op.table),
                type_=_CONSTRAINT_TYPES[type(op.constraint).__name__],
                schema=schema_of(op.table),
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
    return execute(op)


@alembic_renderer.register(SetComment)
def _set_comment(op: SetComment) -> Rendered:
    if op.column is not None:
        return execute(op)
    if op.to is None:
        drop = ops.DropTableCommentOp(
            name_of(op.table), schema=schema_of(op.table), existing_comment=op.from_
        )
        return alembic_ops([drop])
    create = ops.CreateTableCommentOp(
        name_of(op.table), op.to, schema=schema_of(op.table), existing_comment=op.from_
    )
    return alembic_ops([create])


@alembic_renderer.register(RunPython)
def _run_python(op: RunPython) -> Rendered:
    return (
        f"run_python({op.function!r}, op.get_bind())",
        frozenset({"from dualorm.emit.alembic import run_python"}),
    )


# -- revisions --------------------------------------------------------------------------------
