"""Django state operations: one renderer per operation class in :data:`state_renderer`.

Each renderer returns the ``(dotted path, args, kwargs)`` triples of Django's own
``CreateModel``/``AddField``/``AddIndex``/``AddConstraint``... that make Django's model state
follow the schema; :func:`state_operations` instantiates them. An operation Django's state has
no notion of (enum types, ``validate_constraint``, ``run_sql``, a multi-column foreign key)
has no state operations: its database side is the shared SQL alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dualorm.emit.django_fields import (
    composite_pk,
    field_for,
    implied_names,
    many_to_many,
    stated_many_to_many,
    table_fields,
)
from dualorm.emit.django_indexes import constraint_state, index_state
from dualorm.emit.django_target import DjangoTarget, Triple, build, field_name, model_name
from dualorm.emit.registry import Registry
from dualorm.schema import CheckConstraint, ForeignKey, Schema, Table, UniqueConstraint, as_key
from dualorm.spec.ops import (
    AddCheck,
    AddColumn,
    AddEnumValue,
    AddForeignKey,
    AddPrimaryKey,
    AddUnique,
    AlterColumn,
    AlterForeignKey,
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

__all__ = ["StateContext", "state_operations", "state_renderer"]

# -- state operations: one function per operation ---------------------------------------------


@dataclass(frozen=True)
class StateContext:
    """What a state renderer sees: the target and the schema before and after the operation."""

    target: DjangoTarget
    before: Schema
    after: Schema

    def table(self, name: str, *, after: bool = True) -> Table:
        found = (self.after if after else self.before).get(name)
        assert found is not None, name
        return found


state_renderer: Registry[list[Triple]] = Registry("django")
"""Operation class -> function returning the Django state operations as triples."""

_M = "django.db.migrations."


def _model(ctx: StateContext, table: str) -> str:
    return model_name(ctx.target, as_key(table)[1])


def _create_model(ctx: StateContext, t: Table) -> list[Triple]:
    options: dict[str, Any] = {}
    hint = ctx.target.models.get(t.name)
    default = f"{ctx.target.app_label}_{model_name(ctx.target, t.name).lower()}"
    if t.name != default or (hint is not None and "db_table" in hint._meta.original_attrs):
        # Django's state holds db_table only where the model sets it.
        options["db_table"] = t.name
    implied = implied_names(ctx.target, t)
    indexes = [
        index_state(ctx.target, t, i) for i in t.indexes if not i.unique and i.name not in implied
    ]
    constraints = [constraint_state(ctx.target, t, u) for u in t.uniques if u.name not in implied]
    constraints += [index_state(ctx.target, t, i) for i in t.indexes if i.unique]
    constraints += [constraint_state(ctx.target, t, c) for c in t.checks if c.name not in implied]
    if t.comment is not None:
        options["db_table_comment"] = t.comment
    if indexes:
        options["indexes"] = indexes
    if constraints:
        options["constraints"] = constraints
    return [
        (
            _M + "CreateModel",
            (),
            {
                "name": _model(ctx, t.name),
                "fields": table_fields(ctx.target, t),
                "options": options,
            },
        )
    ]


@state_renderer.register(CreateTable)
def _create_table(op: CreateTable, ctx: StateContext) -> list[Triple]:
    t = ctx.table(op.table)
    # The table a ManyToManyField creates itself, as its spec says (else as the models say):
    # Django's state holds the field, not a model of the table (makemigrations would delete
    # such a model and add the field).
    fact = op.many_to_many or many_to_many(ctx.target, t)
    if fact is not None:
        model, name, stated = stated_many_to_many(ctx.target, t, fact)
        return [(_M + "AddField", (), {"model_name": model, "name": name, "field": stated})]
    return _create_model(ctx, t)


@state_renderer.register(DropTable)
def _drop_table(op: DropTable, ctx: StateContext) -> list[Triple]:
    fact = ctx.target.through.get(op.definition.name)
    if fact is not None:
        # The table its create_table says a ManyToManyField creates: the field goes.
        names = {"model_name": _model(ctx, fact.table).lower(), "name": fact.field}
        return [(_M + "RemoveField", (), names)]
    return [(_M + "DeleteModel", (), {"name": _model(ctx, op.definition.name)})]


@state_renderer.register(RenameTable)
def _rename_table(op: RenameTable, ctx: StateContext) -> list[Triple]:
    old, new = _model(ctx, op.table), _model(ctx, op.new_name)
    out: list[Triple] = []
    if old != new:
        out.append((_M + "RenameModel", (), {"old_name": old, "new_name": new}))
    out.append((_M + "AlterModelTable", (), {"name": new, "table": op.new_name}))
    return out


def _alter_field(ctx: StateContext, table: str, column: str) -> Triple:
    t = ctx.table(table)
    found = t.column(column)
    assert found is not None
    name, f = field_for(ctx.target, t, found)
    return (
        _M + "AlterField",
        (),
        {"model_name": _model(ctx, table).lower(), "name": name, "field": f},
    )


@state_renderer.register(AddColumn)
def _add_column(op: AddColumn, ctx: StateContext) -> list[Triple]:
    name, f = field_for(ctx.target, ctx.table(op.table), op.column)
    model = _model(ctx, op.table).lower()
    return [(_M + "AddField", (), {"model_name": model, "name": name, "field": f})]


@state_renderer.register(DropColumn)
def _drop_column(op: DropColumn, ctx: StateContext) -> list[Triple]:
    name = field_name(ctx.target, ctx.table(op.table, after=False), op.column.name)
    model = _model(ctx, op.table).lower()
    return [(_M + "RemoveField", (), {"model_name": model, "name": name})]


@state_renderer.register(AlterColumn)
def _alter_column(op: AlterColumn, ctx: StateContext) -> list[Triple]:
    return [_alter_field(ctx, op.table, op.from_.name)]


@state_renderer.register(RenameColumn)
def _rename_column(op: RenameColumn, ctx: StateContext) -> list[Triple]:
    old = field_name(ctx.target, ctx.table(op.table, after=False), op.old_name)
    new = field_for(ctx.target, ctx.table(op.table), ctx.table(op.table).column(op.new_name))  # type: ignore[arg-type]
    model = _model(ctx, op.table).lower()
    out: list[Triple] = []
    if old != new[0]:
        out.append(
            (_M + "RenameField", (), {"model_name": model, "old_name": old, "new_name": new[0]})
        )
    out.append(_alter_field(ctx, op.table, op.new_name))
    return out


@state_renderer.register(CreateIndex)
def _create_index(op: CreateIndex, ctx: StateContext) -> list[Triple]:
    if op.index.name in implied_names(ctx.target, ctx.table(op.table)):
        return []  # the field's own index: its AddField holds it
    item = index_state(ctx.target, ctx.table(op.table), op.index)
    model = _model(ctx, op.table).lower()
    if op.index.unique:
        return [(_M + "AddConstraint", (), {"model_name": model, "constraint": item})]
    return [(_M + "AddIndex", (), {"model_name": model, "index": item})]


@state_renderer.register(DropIndex)
def _drop_index(op: DropIndex, ctx: StateContext) -> list[Triple]:
    if op.index.name in implied_names(ctx.target, ctx.table(op.table, after=False)):
        return []  # the field's own index: its field's change removes it
    model = _model(ctx, op.table).lower()
    if op.index.unique:
        return [(_M + "RemoveConstraint", (), {"model_name": model, "name": op.index.name})]
    return [(_M + "RemoveIndex", (), {"model_name": model, "name": op.index.name})]


def _columns_changed(ctx: StateContext, table: str, columns: Sequence[str]) -> list[Triple]:
    """AlterField for each column, after a RenameField where its state name changes (a column
    ``<name>_id`` is the field ``<name>`` while an FK makes it one)."""
    out: list[Triple] = []
    model = _model(ctx, table).lower()
    old_table, new_table = ctx.table(table, after=False), ctx.table(table)
    for c in columns:
        old, new = field_name(ctx.target, old_table, c), field_name(ctx.target, new_table, c)
        if old != new:
            names = {"model_name": model, "old_name": old, "new_name": new}
            out.append((_M + "RenameField", (), names))
        out.append(_alter_field(ctx, table, c))
    return out


@state_renderer.register(AddPrimaryKey)
def _add_primary_key(op: AddPrimaryKey, ctx: StateContext) -> list[Triple]:
    t = ctx.table(op.table)
    composite = composite_pk(ctx.target, t)
    if composite is None:
        return _columns_changed(ctx, op.table, op.constraint.columns)
    model = _model(ctx, op.table).lower()
    return [(_M + "AddField", (), {"model_name": model, "name": "pk", "field": composite[1]})]


@state_renderer.register(AddForeignKey)
def _add_foreign_key(op: AddForeignKey, ctx: StateContext) -> list[Triple]:
    # Django has no multi-column foreign key field: the state keeps the plain columns.
    if len(op.constraint.columns) != 1:
        return []
    return _columns_changed(ctx, op.table, op.constraint.columns)


@state_renderer.register(AddUnique, AddCheck)
def _add_constraint(op: AddUnique | AddCheck, ctx: StateContext) -> list[Triple]:
    if op.constraint.name in implied_names(ctx.target, ctx.table(op.table)):
        return []  # the field's own check: its AddField holds it
    item = constraint_state(ctx.target, ctx.table(op.table), op.constraint)
    model = _model(ctx, op.table).lower()
    return [(_M + "AddConstraint", (), {"model_name": model, "constraint": item})]


@state_renderer.register(DropConstraint)
def _drop_constraint(op: DropConstraint, ctx: StateContext) -> list[Triple]:
    c = op.constraint
    model = _model(ctx, op.table).lower()
    if isinstance(c, CheckConstraint | UniqueConstraint) and c.name in implied_names(
        ctx.target, ctx.table(op.table, after=False)
    ):
        return []  # the field's own check or unique: its field's change removes it
    if isinstance(c, UniqueConstraint | CheckConstraint):
        return [(_M + "RemoveConstraint", (), {"model_name": model, "name": c.name})]
    if isinstance(c, ForeignKey):
        return [] if len(c.columns) != 1 else _columns_changed(ctx, op.table, c.columns)
    if len(c.columns) > 1:
        return [(_M + "RemoveField", (), {"model_name": model, "name": "pk"})]
    return _columns_changed(ctx, op.table, c.columns)


@state_renderer.register(SetComment)
def _set_comment(op: SetComment, ctx: StateContext) -> list[Triple]:
    if op.column is not None:
        return [_alter_field(ctx, op.table, op.column)]
    comment = {"name": _model(ctx, op.table), "table_comment": op.to}
    return [(_M + "AlterModelTableComment", (), comment)]


@state_renderer.register(
    ValidateConstraint,
    AlterForeignKey,
    RunSQL,
    RunPython,
    CreateEnum,
    DropEnum,
    AddEnumValue,
    DropEnumValue,
    RenameEnumValue,
)
def _no_state(op: Operation, ctx: StateContext) -> list[Triple]:
    # Django's state has no enum types (a field of one is a plain Field of that type): the
    # database side is the shared SQL alone.
    return []


def state_operations(op: Operation, ctx: StateContext) -> list[Any]:
    """Return the Django state operations for ``op`` (instantiated from their triples)."""
    return [build(triple) for triple in state_renderer(op, ctx)]
