"""What each operation does to a live table: the lock it takes, and whether it rewrites or scans.

This is the knowledge the plan and the lint share, written once per operation class and read
off the operation's fields, never off SQL text. Lock modes are PostgreSQL's names (see the
"Explicit Locking" chapter of its manual); ``ACCESS EXCLUSIVE`` blocks reads and writes,
``SHARE`` and ``SHARE ROW EXCLUSIVE`` block writes, ``SHARE UPDATE EXCLUSIVE`` blocks neither.

Hand-written SQL (``run_sql``) is judged statement by statement from the parse tree
(:func:`dualorm.spec.sqlcheck.statement_facts`): a ``DROP TABLE`` there has the impact of a
``drop_table`` operation, a ``CREATE INDEX`` that of ``create_index``. A statement the parser
cannot classify, and an operation this module cannot see into (Python), is opaque: it is
assumed to take ``ACCESS EXCLUSIVE`` on every table (``*``). If in doubt, assume the worst.

Each :class:`~dualorm.runner.impact_model.Impact` says what happens to one table (an
``Action``), under which lock, and why it is dangerous beyond the lock (a ``Hazard``); the lint
rules read these facts instead of testing operation classes. The vocabulary and the helpers
that build impacts are :mod:`dualorm.runner.impact_model`; the statement rules of ``run_sql``
are :mod:`dualorm.runner.statement_impact`. To add an operation kind, register its rule here.
"""

from __future__ import annotations

import functools

from dualorm.runner.impact_model import (
    Action,
    Hazard,
    Impact,
    Lock,
    added_column,
    altered_column,
    catalog_change,
    check_impact,
    constraint_index_build,
    created_table,
    dropped_table,
    foreign_key_impacts,
    index_build,
    index_drop,
    not_null_proven,
    opaque_impact,
    type_change_rewrites,
    validate_impact,
)
from dualorm.runner.statement_impact import statement_impacts
from dualorm.schema import Schema
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
    RunSQL,
    SetComment,
    ValidateConstraint,
)
from dualorm.spec.sqlcheck import statement_facts


@functools.singledispatch
def impacts(op: Operation, before: Schema) -> list[Impact]:
    """Return the tables ``op`` locks when applied to a database whose schema is ``before``.

    Python and any operation without a rule are assumed to take the worst lock.
    """
    return [opaque_impact(op.describe())]


@impacts.register
def _alter_column(op: AlterColumn, before: Schema) -> list[Impact]:
    rewrites = ChangeKind.TYPE in op.changes and type_change_rewrites(op.from_.type, op.to.type)
    hazards = Hazard.TYPE_REWRITE if rewrites else Hazard.NONE
    sets_not_null = ChangeKind.NULL in op.changes and not op.to.nullable
    if sets_not_null and not not_null_proven(before, op.table, op.to.name):
        hazards |= Hazard.SETS_NOT_NULL
    return [altered_column(op.table, op.to.name, hazards, f"{op.from_.type} -> {op.to.type}")]


@impacts.register
def _add_column(op: AddColumn, before: Schema) -> list[Impact]:
    column = op.column
    return [
        added_column(
            op.table,
            column.name,
            default=column.default,
            nullable=column.nullable,
            generated=column.generated is not None,
            identity=column.identity is not None,
        )
    ]


@impacts.register
def _create_index(op: CreateIndex, before: Schema) -> list[Impact]:
    return [index_build(op.table, op.index.name, op.concurrently)]


@impacts.register
def _drop_index(op: DropIndex, before: Schema) -> list[Impact]:
    return [index_drop(op.table, op.index.name, op.concurrently)]


@impacts.register
def _add_foreign_key(op: AddForeignKey, before: Schema) -> list[Impact]:
    fk = op.constraint
    ref = fk.ref_qualified_name
    return foreign_key_impacts(op.table, fk.name, ref, fk.validated)


@impacts.register
def _add_check(op: AddCheck, before: Schema) -> list[Impact]:
    return [check_impact(op.table, op.constraint.name, op.constraint.validated)]


@impacts.register
def _validate_constraint(op: ValidateConstraint, before: Schema) -> list[Impact]:
    return [validate_impact(op.table, op.name)]


@impacts.register
def _add_unique(op: AddUnique, before: Schema) -> list[Impact]:
    return [constraint_index_build(op.table, op.constraint.name, Action.ADD_UNIQUE)]


@impacts.register
def _add_primary_key(op: AddPrimaryKey, before: Schema) -> list[Impact]:
    return [constraint_index_build(op.table, op.constraint.name, Action.ADD_PRIMARY_KEY)]


@impacts.register
def _rename_table(op: RenameTable, before: Schema) -> list[Impact]:
    return [catalog_change(op.table, Action.RENAME_TABLE)]


@impacts.register
def _drop_column(op: DropColumn, before: Schema) -> list[Impact]:
    return [catalog_change(op.table, Action.DROP_COLUMN, op.column.name)]


@impacts.register
def _rename_column(op: RenameColumn, before: Schema) -> list[Impact]:
    return [catalog_change(op.table, Action.RENAME_COLUMN, op.old_name)]


@impacts.register
def _alter_foreign_key(op: AlterForeignKey, before: Schema) -> list[Impact]:
    # Measured on PostgreSQL 15 and 16: ACCESS EXCLUSIVE on the table, no row read.
    return [catalog_change(op.table, Action.ALTER_FOREIGN_KEY, op.name)]


@impacts.register
def _drop_constraint(op: DropConstraint, before: Schema) -> list[Impact]:
    return [catalog_change(op.table, Action.DROP_CONSTRAINT, op.constraint.name)]


@impacts.register
def _drop_table(op: DropTable, before: Schema) -> list[Impact]:
    return [dropped_table(op.table)]


@impacts.register
def _create_table(op: CreateTable, before: Schema) -> list[Impact]:
    refs = {fk.ref_table for fk in op.definition.foreign_keys if fk.ref_key != op.definition.key}
    return created_table(refs)


@impacts.register(CreateEnum)
@impacts.register(DropEnum)
@impacts.register(AddEnumValue)
@impacts.register(RenameEnumValue)
def _type_only(op: Operation, before: Schema) -> list[Impact]:
    # These lock the type, not a table: CREATE/DROP TYPE touch no table (DropEnum refuses a
    # type in use), ADD VALUE and RENAME VALUE change pg_enum only.
    return []


@impacts.register
def _drop_enum_value(op: DropEnumValue, before: Schema) -> list[Impact]:
    # The type is rebuilt: every column of it is converted, its table rewritten; a stored
    # generated column reading one is dropped and added again, computed for every row.
    converted = [
        altered_column(table, c.name, Hazard.TYPE_REWRITE, f"{c.type} rebuilt without {op.label!r}")
        for table, c in op.users
    ]
    return converted + [
        altered_column(r.table, c.name, Hazard.TYPE_REWRITE, "generated column added again")
        for r in op.restored
        for c in r.columns
    ]


@impacts.register
def _set_comment(op: SetComment, before: Schema) -> list[Impact]:
    subject = op.column or ""
    return [
        Impact(
            op.table,
            Lock.SHARE_UPDATE_EXCLUSIVE,
            note="catalog-only",
            action=Action.COMMENT,
            subject=subject,
        )
    ]


@impacts.register
def _run_sql(op: RunSQL, before: Schema) -> list[Impact]:
    return [
        impact for fact in statement_facts(op.sql) for impact in statement_impacts(fact, before)
    ]
