"""PostgreSQL DDL for every operation, and the steps the runner executes for a migration.

One renderer per operation class, registered in :data:`sql_renderer`; each returns the
statements (without trailing semicolons) that carry the operation out. Identifiers are always
quoted with :func:`quote_ident`; default values, check expressions and index predicates are
SQL expressions and are emitted as written. The Alembic and Django emitters take their SQL
from here, so the three targets cannot drift apart.

:func:`migration_steps` turns a :class:`~dualorm.spec.model.Migration` into runner
:class:`~dualorm.spec.model.Step` values; :func:`render_migration_sql` prints a whole migration
as a script for ``migrate plan --sql`` or ``psql -f``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from dualorm.emit.registry import Registry, Rendered
from dualorm.emit.script import Script
from dualorm.errors import IrreversibleError
from dualorm.pgnames import default_name
from dualorm.pgtypes import collatable, parse_type
from dualorm.schema import (
    DEFAULT_SCHEMA,
    CheckConstraint,
    Column,
    EnumType,
    FkAction,
    ForeignKey,
    Index,
    PrimaryKey,
    Table,
    TableKey,
    UniqueConstraint,
    as_key,
    index_opclasses,
    index_orders,
    is_column_key,
)
from dualorm.spec.model import Direction, Migration, Step
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
    Restored,
    RunPython,
    RunSQL,
    SetComment,
    ValidateConstraint,
)
from dualorm.spec.sqltext import quote_ident, quote_literal, quote_qualified

__all__ = [
    "folded_uniques",
    "index_key",
    "migration_steps",
    "render",
    "render_migration_sql",
    "sql_renderer",
    "statements",
]

Statements = tuple[str, ...]

sql_renderer: Registry[Statements] = Registry("sql")
"""Operation class -> function returning the statements that carry it out."""


def statements(operation: Operation) -> Statements:
    """Return the SQL statements (no trailing semicolons) that apply ``operation``."""
    return sql_renderer(operation)


def render(operation: Operation) -> Rendered:
    """Return ``operation`` as one SQL text (statements ending in ``;``) and no imports."""
    return "\n".join(f"{s};" for s in statements(operation)), frozenset()


# -- fragments -------------------------------------------------------------------------------


def qualified(table: TableKey | str, *names: str) -> str:
    """Return a quoted table name, schema-qualified unless it is in ``public``; ``names``
    (a column) follow it."""
    schema_name, name = as_key(table)
    parts = (name,) if schema_name == DEFAULT_SCHEMA else (schema_name, name)
    return quote_qualified(*parts, *names)


def _names(columns: Iterable[str]) -> str:
    return ", ".join(quote_ident(c) for c in columns)


def collate(collation: str | None) -> str:
    """Return `` COLLATE "name"`` for a column's collation (``""`` for the type's default)."""
    if collation is None:
        return ""
    # Outside pg_catalog the catalog spells it quoted and qualified already.
    spelled = collation.startswith('"')
    return " COLLATE " + (collation if spelled else quote_ident(collation))


def column_definition(column: Column) -> str:
    """Return ``"name" type [COLLATE c] [identity | generation] [DEFAULT expr] [NOT NULL]``."""
    parts = [quote_ident(column.name), column.type + collate(column.collation)]
    if column.identity is not None:
        parts.append(f"GENERATED {column.identity.value.upper()} AS IDENTITY")
    if column.generated is not None:
        parts.append(f"GENERATED ALWAYS AS ({column.generated}) STORED")
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if not column.nullable:
        parts.append("NOT NULL")
    return " ".join(parts)


def _fk_body(fk: ForeignKey) -> str:
    ref = qualified(fk.ref_key)
    text = f"FOREIGN KEY ({_names(fk.columns)}) REFERENCES {ref} ({_names(fk.ref_columns)})"
    if fk.on_delete is not FkAction.NO_ACTION:
        text += f" ON DELETE {fk.on_delete.value}"
    if fk.on_update is not FkAction.NO_ACTION:
        text += f" ON UPDATE {fk.on_update.value}"
    if fk.deferrable:
        text += " DEFERRABLE"
        if fk.initially_deferred:
            text += " INITIALLY DEFERRED"
    return text


def constraint_definition(
    constraint: PrimaryKey | UniqueConstraint | CheckConstraint | ForeignKey,
) -> str:
    """Return ``CONSTRAINT "name" ...`` as it stands in CREATE TABLE or ADD CONSTRAINT."""
    head = f"CONSTRAINT {quote_ident(constraint.name)} "
    if isinstance(constraint, PrimaryKey):
        return head + f"PRIMARY KEY ({_names(constraint.columns)})"
    if isinstance(constraint, UniqueConstraint):
        tail = " DEFERRABLE" if constraint.deferrable else ""
        return head + f"UNIQUE ({_names(constraint.columns)}){tail}"
    if isinstance(constraint, CheckConstraint):
        return head + f"CHECK ({constraint.expression})"
    return head + _fk_body(constraint)


def index_element(element: str) -> str:
    """An index key as DDL writes it: a quoted column name, or a parenthesised expression."""
    if is_column_key(element):
        return quote_ident(element)
    return f"({element})"


def index_key(element: str, opclass: str = "", order: str = "") -> str:
    """One key of CREATE INDEX: the element, its operator class, its ordering."""
    return " ".join(part for part in (index_element(element), opclass, order) if part)


def _create_index(table: str, index: Index, concurrently: bool) -> str:
    head = "CREATE UNIQUE INDEX" if index.unique else "CREATE INDEX"
    if concurrently:
        head += " CONCURRENTLY"
    using = "" if index.method == "btree" else f" USING {index.method}"
    elements = ", ".join(
        index_key(e, c, o)
        for e, c, o in zip(index.columns, index_opclasses(index), index_orders(index), strict=True)
    )
    text = f"{head} {quote_ident(index.name)} ON {qualified(table)}{using} ({elements})"
    if index.include:
        text += f" INCLUDE ({', '.join(quote_ident(c) for c in index.include)})"
    if index.where is not None:
        text += f" WHERE {index.where}"
    return text


def _index_name(table: str, name: str) -> str:
    return qualified((as_key(table)[0], name))


def _comment(target: str, text: str | None) -> str:
    return f"COMMENT ON {target} IS {'NULL' if text is None else quote_literal(text)}"


def _alter(table: str, action: str) -> str:
    return f"ALTER TABLE {qualified(table)} {action}"


# -- one renderer per operation --------------------------------------------------------------


def folded_uniques(t: Table) -> tuple[UniqueConstraint, ...]:
    """The unique constraints of ``t`` that ``CREATE TABLE`` would fold into an earlier key.

    PostgreSQL silently drops a ``UNIQUE`` written in ``CREATE TABLE`` whose columns (in the
    same order) and deferrability equal the primary key's or an earlier unique constraint's;
    added by ``ALTER TABLE`` it stays. Every emitter therefore creates the table without
    these and adds them right after.
    """
    seen = set() if t.primary_key is None else {(t.primary_key.columns, False)}
    folded = []
    for u in t.uniques:
        if (u.columns, u.deferrable) in seen:
            folded.append(u)
        seen.add((u.columns, u.deferrable))
    return tuple(folded)


def _create_table_statements(t: Table) -> Statements:
    name = t.qualified_name
    lines = [column_definition(c) for c in t.columns]
    later = folded_uniques(t)
    constraints: list[PrimaryKey | UniqueConstraint | CheckConstraint | ForeignKey] = []
    if t.primary_key is not None:
        constraints.append(t.primary_key)
    constraints += [u for u in t.uniques if u not in later]
    constraints += [*t.checks, *t.foreign_keys]
    lines += [constraint_definition(c) for c in constraints]
    body = ",\n".join(f"    {line}" for line in lines)
    out = [f"CREATE TABLE {qualified(name)} (\n{body}\n)"]
    out += [_alter(name, f"ADD {constraint_definition(u)}") for u in later]
    out += [_create_index(name, i, False) for i in t.indexes]
    if t.comment is not None:
        out.append(_comment(f"TABLE {qualified(name)}", t.comment))
    out += [
        _comment(f"COLUMN {qualified(name, c.name)}", c.comment)
        for c in t.columns
        if c.comment is not None
    ]
    return tuple(out)


@sql_renderer.register(CreateTable)
def _create_table(op: CreateTable) -> Statements:
    return _create_table_statements(op.definition)


@sql_renderer.register(DropTable)
def _drop_table(op: DropTable) -> Statements:
    return (f"DROP TABLE {qualified(op.table)}",)


@sql_renderer.register(RenameTable)
def _rename_table(op: RenameTable) -> Statements:
    return (_alter(op.table, f"RENAME TO {quote_ident(op.new_name)}"),)


@sql_renderer.register(AddColumn)
def _add_column(op: AddColumn) -> Statements:
    out = [_alter(op.table, f"ADD COLUMN {column_definition(op.column)}")]
    if op.column.comment is not None:
        target = f"COLUMN {qualified(op.table, op.column.name)}"
        out.append(_comment(target, op.column.comment))
    return tuple(out)


@sql_renderer.register(DropColumn)
def _drop_column(op: DropColumn) -> Statements:
    return (_alter(op.table, f"DROP COLUMN {quote_ident(op.column.name)}"),)


@sql_renderer.register(AlterColumn)
def _alter_column(op: AlterColumn) -> Statements:
    column = f"ALTER COLUMN {quote_ident(op.from_.name)}"
    actions = []
    final_default = op.to.default if ChangeKind.DEFAULT in op.changes else op.from_.default
    retyped = ChangeKind.TYPE in op.changes
    if retyped and op.from_.default is not None:
        # The old default may not cast to the new type: drop it first, set it again after.
        actions.append(f"{column} DROP DEFAULT")
    if op.changes & (ChangeKind.TYPE | ChangeKind.COLLATION):
        # A new type takes its own default collation unless COLLATE says otherwise.
        type_ = op.to.type if retyped else op.from_.type
        collation = collate(op.to.collation) if collatable(type_) else ""
        if ChangeKind.COLLATION in op.changes and op.to.collation is None:
            collation = ' COLLATE "default"'
        using = f" USING {op.using}" if op.using else ""
        actions.append(f"{column} TYPE {type_}{collation}{using}")
    if final_default is not None and (retyped or ChangeKind.DEFAULT in op.changes):
        actions.append(f"{column} SET DEFAULT {final_default}")
    elif final_default is None and ChangeKind.DEFAULT in op.changes and not retyped:
        actions.append(f"{column} DROP DEFAULT")
    if ChangeKind.NULL in op.changes:
        actions.append(f"{column} {'DROP' if op.to.nullable else 'SET'} NOT NULL")
    out = [_alter(op.table, ", ".join(actions))] if actions else []
    if ChangeKind.COMMENT in op.changes:
        target = f"COLUMN {qualified(op.table, op.from_.name)}"
        out.append(_comment(target, op.to.comment))
    return tuple(out)


@sql_renderer.register(RenameColumn)
def _rename_column(op: RenameColumn) -> Statements:
    action = f"RENAME COLUMN {quote_ident(op.old_name)} TO {quote_ident(op.new_name)}"
    return (_alter(op.table, action),)


@sql_renderer.register(CreateIndex)
def _create_index_op(op: CreateIndex) -> Statements:
    return (_create_index(op.table, op.index, op.concurrently),)


@sql_renderer.register(DropIndex)
def _drop_index(op: DropIndex) -> Statements:
    head = "DROP INDEX CONCURRENTLY" if op.concurrently else "DROP INDEX"
    return (f"{head} {_index_name(op.table, op.index.name)}",)


@sql_renderer.register(AddPrimaryKey, AddUnique)
def _add_key(op: AddPrimaryKey | AddUnique) -> Statements:
    return (_alter(op.table, f"ADD {constraint_definition(op.constraint)}"),)


@sql_renderer.register(AddForeignKey, AddCheck)
def _add_checked(op: AddForeignKey | AddCheck) -> Statements:
    not_valid = "" if op.constraint.validated else " NOT VALID"
    return (_alter(op.table, f"ADD {constraint_definition(op.constraint)}{not_valid}"),)


@sql_renderer.register(ValidateConstraint)
def _validate(op: ValidateConstraint) -> Statements:
    return (_alter(op.table, f"VALIDATE CONSTRAINT {quote_ident(op.name)}"),)


@sql_renderer.register(AlterForeignKey)
def _alter_foreign_key(op: AlterForeignKey) -> Statements:
    timing = "NOT DEFERRABLE"
    if op.deferrable:
        timing = "DEFERRABLE INITIALLY " + ("DEFERRED" if op.initially_deferred else "IMMEDIATE")
    return (_alter(op.table, f"ALTER CONSTRAINT {quote_ident(op.name)} {timing}"),)


@sql_renderer.register(DropConstraint)
def _drop_constraint(op: DropConstraint) -> Statements:
    return (_alter(op.table, f"DROP CONSTRAINT {quote_ident(op.constraint.name)}"),)


def type_name(enum: EnumType) -> str:
    """Return the enum type's name quoted and schema-qualified, as DDL names it."""
    return quote_qualified(enum.schema, enum.name)


def _labels(labels: Iterable[str]) -> str:
    # Labels are part of the DDL: no parameter can stand there, so they are literals.
    return ", ".join(quote_literal(label) for label in labels)


@sql_renderer.register(CreateEnum)
def _create_enum(op: CreateEnum) -> Statements:
    return (f"CREATE TYPE {type_name(op.enum)} AS ENUM ({_labels(op.enum.labels)})",)


@sql_renderer.register(DropEnum)
def _drop_enum(op: DropEnum) -> Statements:
    return (f"DROP TYPE {type_name(op.enum)}",)


@sql_renderer.register(AddEnumValue)
def _add_enum_value(op: AddEnumValue) -> Statements:
    if op.rebuild:
        return _rebuilt_enum(op.enum, op.labels(), op.users, op.restored)
    place = ""
    if op.before is not None:
        place = f" BEFORE {quote_literal(op.before)}"
    elif op.after is not None:
        place = f" AFTER {quote_literal(op.after)}"
    return (f"ALTER TYPE {type_name(op.enum)} ADD VALUE {quote_literal(op.label)}{place}",)


@sql_renderer.register(DropEnumValue)
def _drop_enum_value(op: DropEnumValue) -> Statements:
    # PostgreSQL has no DROP VALUE: the type is rebuilt and every column converted to it.
    return _rebuilt_enum(op.enum, op.remaining().labels, op.users, op.restored)


def _rebuilt_enum(
    enum: EnumType,
    labels: tuple[str, ...],
    users: Iterable[tuple[str, Column]],
    restored: tuple[Restored, ...],
) -> Statements:
    """Create ``enum`` again with ``labels`` and convert the columns ``users`` to it; what
    depends on them (``restored``) is dropped before and created again after."""
    aside = replace(enum, name=default_name(enum.name, [], "old"))
    out = [s for r in restored for s in _dropped_dependents(r)]
    out += [
        f"ALTER TYPE {type_name(enum)} RENAME TO {quote_ident(aside.name)}",
        f"CREATE TYPE {type_name(enum)} AS ENUM ({_labels(labels)})",
    ]
    for table, c in users:
        column = f"ALTER COLUMN {quote_ident(c.name)}"
        cast = "::text[]" if parse_type(c.type).dimensions else "::text"
        actions = [f"{column} DROP DEFAULT"] if c.default is not None else []
        actions.append(f"{column} TYPE {c.type} USING {quote_ident(c.name)}{cast}::{c.type}")
        if c.default is not None:
            actions.append(f"{column} SET DEFAULT {c.default}")
        out.append(_alter(table, ", ".join(actions)))
    out += [s for r in restored for s in _restored_dependents(r)]
    out.append(f"DROP TYPE {type_name(aside)}")
    return tuple(out)


def _dropped_dependents(r: Restored) -> Statements:
    out = [f"DROP INDEX {_index_name(r.table, i.name)}" for i in r.indexes]
    actions = [f"DROP CONSTRAINT {quote_ident(c.name)}" for c in r.constraints]
    actions += [f"DROP COLUMN {quote_ident(c.name)}" for c in r.columns]
    if actions:
        out.append(_alter(r.table, ", ".join(actions)))
    return tuple(out)


def _restored_dependents(r: Restored) -> Statements:
    # Added back in their order, the generated columns become the last of their table.
    actions = [f"ADD COLUMN {column_definition(c)}" for c in r.columns]
    for c in r.constraints:
        not_valid = "" if isinstance(c, UniqueConstraint) or c.validated else " NOT VALID"
        actions.append(f"ADD {constraint_definition(c)}{not_valid}")
    out = [_alter(r.table, ", ".join(actions))] if actions else []
    out += [_create_index(r.table, i, False) for i in r.indexes]
    out += [
        _comment(f"COLUMN {qualified(r.table, c.name)}", c.comment)
        for c in r.columns
        if c.comment is not None
    ]
    return tuple(out)


@sql_renderer.register(RenameEnumValue)
def _rename_enum_value(op: RenameEnumValue) -> Statements:
    target = quote_qualified(*as_key(op.enum))
    old, new = quote_literal(op.old_label), quote_literal(op.new_label)
    return (f"ALTER TYPE {target} RENAME VALUE {old} TO {new}",)


@sql_renderer.register(SetComment)
def _set_comment(op: SetComment) -> Statements:
    if op.column is None:
        return (_comment(f"TABLE {qualified(op.table)}", op.to),)
    return (_comment(f"COLUMN {qualified(op.table, op.column)}", op.to),)


@sql_renderer.register(RunSQL)
def _run_sql(op: RunSQL) -> Statements:
    text = op.sql.strip().rstrip(";").rstrip()
    return (text,) if text else ()


@sql_renderer.register(RunPython)
def _run_python(op: RunPython) -> Statements:
    return (f"-- run python {op.function}: called by dualorm migrate, not by psql",)


# -- migrations ------------------------------------------------------------------------------


def _executed(migration: Migration, direction: Direction) -> list[Operation]:
    if direction == "up":
        return list(migration.operations)
    out = []
    for op in reversed(migration.operations):
        try:
            out.append(op.reverse())
        except IrreversibleError as exc:
            raise IrreversibleError(
                f"{migration.id} cannot be rolled back: {op.describe()} is irreversible ({exc})"
            ) from None
    return out


def migration_steps(migration: Migration, direction: Direction = "up") -> list[Step]:
    """Return what the runner executes to apply (``up``) or roll back (``down``) a migration.

    Going down runs the reverse of each operation, last first, and raises
    :class:`~dualorm.errors.IrreversibleError` naming the operation before any step is
    returned if one of them cannot be reversed. ``CREATE``/``DROP INDEX CONCURRENTLY`` steps
    are marked non-transactional; ``RunPython`` becomes a python step.
    """
    steps: list[Step] = []
    for op in _executed(migration, direction):
        if isinstance(op, RunPython):
            steps.append(Step(operation=op, python=op.function))
            continue
        steps.extend(
            Step(operation=op, sql=sql, transactional=op.transactional) for sql in statements(op)
        )
    return steps


def render_migration_sql(migration: Migration, direction: Direction = "up") -> str:
    """Return the migration as a psql script: transactional steps inside BEGIN/COMMIT.

    Python steps appear as comments; the script does not write dualorm's ledger.
    """
    script = Script()
    script.comment(f"{migration.id}: {migration.name} ({direction})")
    script.comment(f"checksum {migration.checksum}")
    in_txn = False
    for step in migration_steps(migration, direction):
        if step.transactional and not in_txn:
            script.begin()
        elif not step.transactional and in_txn:
            script.commit()
        in_txn = step.transactional
        script.step(step)
    if in_txn:
        script.commit()
    return script.text
