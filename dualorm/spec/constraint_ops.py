"""Constraint operations and the escape hatches (hand-written SQL, Python functions).

Import them from :mod:`dualorm.spec.ops`, which re-exports every operation class.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from dualorm.errors import IrreversibleError
from dualorm.schema import (
    CheckConstraint,
    ForeignKey,
    PrimaryKey,
    Schema,
    Table,
    TableKey,
    UniqueConstraint,
    as_key,
)
from dualorm.spec.operation import (
    Category,
    Constraint,
    Operation,
    check_columns,
    check_fk_target,
    check_new_constraint,
    put,
    referencing_fks,
    require_table,
)
from dualorm.spec.sqlcheck import statement_facts

# -- constraints -----------------------------------------------------------------------------


class _AddsConstraint:
    """What the four constraint additions share: a drop reverses them, ``noun`` names them.

    Deliberately not an :class:`Operation` subclass, so each addition stays a direct subclass
    in ``Operation.__subclasses__()``, which the emitter coverage tests compare with
    ``OPERATIONS``.
    """

    table: str
    constraint: Constraint
    noun: ClassVar[str]
    category: ClassVar[Category] = Category.ADDITION

    def reverse(self) -> Operation:
        return DropConstraint(self.table, self.constraint)

    def describe(self) -> str:
        return f"add {self.noun} {self.constraint.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


@dataclass(frozen=True)
class AddPrimaryKey(_AddsConstraint, Operation, kind="add_primary_key"):
    """Add a primary key. PostgreSQL marks its columns NOT NULL, and so does ``apply``."""

    table: str
    constraint: PrimaryKey
    noun = "primary key"

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        if t.primary_key is not None:
            raise self.fail(f"{t.qualified_name} already has primary key {t.primary_key.name}")
        check_new_constraint(self, schema, t, self.constraint.name)
        check_columns(self, t, self.constraint.columns)
        columns = tuple(
            replace(c, nullable=False) if c.name in self.constraint.columns else c
            for c in t.columns
        )
        return put(schema, replace(t, columns=columns, primary_key=self.constraint))


@dataclass(frozen=True)
class AddForeignKey(_AddsConstraint, Operation, kind="add_foreign_key"):
    """Add a foreign key; ``constraint.validated=False`` adds it ``NOT VALID``."""

    table: str
    constraint: ForeignKey
    noun = "foreign key"

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        check_new_constraint(self, schema, t, self.constraint.name)
        check_columns(self, t, self.constraint.columns)
        check_fk_target(self, schema, t, self.constraint)
        return put(schema, replace(t, foreign_keys=(*t.foreign_keys, self.constraint)))

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) in (as_key(self.table), self.constraint.ref_key)


@dataclass(frozen=True)
class AddUnique(_AddsConstraint, Operation, kind="add_unique"):
    """Add a unique constraint (backed by an index of the same name)."""

    table: str
    constraint: UniqueConstraint
    noun = "unique"

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        check_new_constraint(self, schema, t, self.constraint.name)
        check_columns(self, t, self.constraint.columns)
        return put(schema, replace(t, uniques=(*t.uniques, self.constraint)))


@dataclass(frozen=True)
class AddCheck(_AddsConstraint, Operation, kind="add_check"):
    """Add a check constraint; ``constraint.validated=False`` adds it ``NOT VALID``."""

    table: str
    constraint: CheckConstraint
    noun = "check"

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        check_new_constraint(self, schema, t, self.constraint.name)
        return put(schema, replace(t, checks=(*t.checks, self.constraint)))


def find_constraint(table: Table, name: str) -> Constraint | None:
    """Return the primary key, unique, check or foreign key of ``table`` named ``name``."""
    if table.primary_key is not None and table.primary_key.name == name:
        return table.primary_key
    for group in (table.uniques, table.checks, table.foreign_keys):
        for item in group:
            if item.name == name:
                return item
    return None


def _without_constraint(table: Table, name: str) -> Table:
    pk = table.primary_key
    return replace(
        table,
        primary_key=None if pk is not None and pk.name == name else pk,
        uniques=tuple(u for u in table.uniques if u.name != name),
        checks=tuple(c for c in table.checks if c.name != name),
        foreign_keys=tuple(f for f in table.foreign_keys if f.name != name),
    )


@dataclass(frozen=True)
class ValidateConstraint(Operation, kind="validate_constraint"):
    """Validate a ``NOT VALID`` foreign key or check (``VALIDATE CONSTRAINT``).

    PostgreSQL cannot mark a validated constraint as not valid again, and nothing is lost by
    keeping it validated, so the reverse is an empty :class:`RunSQL`: the database and the
    replayed schema both keep the constraint validated on the way down.
    """

    table: str
    name: str

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        found = find_constraint(t, self.name)
        if not isinstance(found, ForeignKey | CheckConstraint):
            raise self.fail(f"no foreign key or check {self.name} on {t.qualified_name}")
        return put(
            schema,
            replace(
                t,
                checks=tuple(
                    replace(c, validated=True) if c.name == self.name else c for c in t.checks
                ),
                foreign_keys=tuple(
                    replace(f, validated=True) if f.name == self.name else f for f in t.foreign_keys
                ),
            ),
        )

    def reverse(self) -> Operation:
        return RunSQL("", "")

    def describe(self) -> str:
        return f"validate constraint {self.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return True


@dataclass(frozen=True)
class AlterForeignKey(Operation, kind="alter_foreign_key"):
    """Change when a foreign key is checked (``ALTER CONSTRAINT ... [NOT] DEFERRABLE``).

    ``before`` is the foreign key as it was, found by the loader in the schema built so far,
    so the reverse restores its timing. No row is read: only the catalog changes.
    """

    table: str
    before: ForeignKey
    deferrable: bool
    initially_deferred: bool

    def __post_init__(self) -> None:
        if self.initially_deferred and not self.deferrable:
            raise self.fail("initially_deferred needs deferrable: true")

    @property
    def name(self) -> str:
        return self.before.name

    @property
    def after(self) -> ForeignKey:
        return replace(
            self.before, deferrable=self.deferrable, initially_deferred=self.initially_deferred
        )

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        if not isinstance(find_constraint(t, self.name), ForeignKey):
            raise self.fail(f"no foreign key {self.name} on {t.qualified_name}")
        fks = tuple(self.after if f.name == self.name else f for f in t.foreign_keys)
        return put(schema, replace(t, foreign_keys=fks))

    def reverse(self) -> Operation:
        b = self.before
        return AlterForeignKey(self.table, self.after, b.deferrable, b.initially_deferred)

    def describe(self) -> str:
        return f"alter foreign key {self.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) in (as_key(self.table), self.before.ref_key)


@dataclass(frozen=True)
class DropConstraint(Operation, kind="drop_constraint"):
    """Drop a constraint; carries the whole constraint so the reverse can add it back."""

    table: str
    constraint: Constraint
    category: ClassVar[Category] = Category.REMOVAL

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        if find_constraint(t, self.constraint.name) is None:
            raise self.fail(
                f"constraint {self.constraint.name} does not exist on {t.qualified_name}"
            )
        if isinstance(self.constraint, PrimaryKey | UniqueConstraint):
            for other, fk in referencing_fks(schema, t.key):
                if set(fk.ref_columns) == set(self.constraint.columns):
                    raise self.fail(
                        f"{other.qualified_name}.{fk.name} depends on "
                        f"{self.constraint.name}; drop it first"
                    )
        return put(schema, _without_constraint(t, self.constraint.name))

    def reverse(self) -> Operation:
        c = self.constraint
        if isinstance(c, PrimaryKey):
            return AddPrimaryKey(self.table, c)
        if isinstance(c, UniqueConstraint):
            return AddUnique(self.table, c)
        if isinstance(c, CheckConstraint):
            return AddCheck(self.table, c)
        return AddForeignKey(self.table, c)

    def describe(self) -> str:
        return f"drop constraint {self.constraint.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        c = self.constraint
        return as_key(key) == as_key(self.table) or (
            isinstance(c, ForeignKey) and c.ref_key == as_key(key)
        )


# -- escape hatches --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSQL(Operation, kind="run_sql"):
    """Run hand-written SQL; ``reverse_sql`` (None: irreversible) undoes it.

    The replayed schema does not see what the SQL does: use it for data changes, grants,
    extensions and the like, and the structural operations for the schema itself. What each
    statement does to the tables it names is read from PostgreSQL's parse tree
    (:func:`~dualorm.spec.sqlcheck.statement_facts`), so a ``DROP TABLE`` here is as
    destructive as a :class:`~dualorm.spec.ops.DropTable`.
    """

    sql: str
    reverse_sql: str | None = None
    category: ClassVar[Category] = Category.SQL
    opaque: ClassVar[bool] = True

    @property
    def reversible(self) -> bool:  # type: ignore[override]
        return self.reverse_sql is not None

    @property
    def destructive(self) -> bool:  # type: ignore[override]
        """Whether a statement drops a table or column, truncates, or deletes every row."""
        # The parse happens here, not when the operation is built: the spec cache decodes
        # operations on every `migrate status` and `up`, which need no SQL parsed.
        return any(fact.loses_data for fact in statement_facts(self.sql))

    def apply(self, schema: Schema) -> Schema:
        return schema

    def reverse(self) -> Operation:
        if self.reverse_sql is None:
            raise IrreversibleError(f"{self.describe()} has no reverse_sql and cannot be reversed")
        return RunSQL(self.reverse_sql, self.sql)

    def describe(self) -> str:
        first = next((ln.strip() for ln in self.sql.splitlines() if ln.strip()), "")
        if not first:
            return "run SQL (nothing)"
        return f"run SQL: {first[:60]}{'...' if len(first) > 60 else ''}"


@dataclass(frozen=True)
class RunPython(Operation, kind="run_python"):
    """Call ``"module:function"`` with the migration's connection; ``reverse`` undoes it.

    The function receives the psycopg connection inside the migration's transaction. Like
    :class:`RunSQL` it is invisible to the replayed schema.
    """

    function: str
    reverse_function: str | None = None
    category: ClassVar[Category] = Category.PYTHON
    opaque: ClassVar[bool] = True

    @property
    def reversible(self) -> bool:  # type: ignore[override]
        return self.reverse_function is not None

    def apply(self, schema: Schema) -> Schema:
        return schema

    def reverse(self) -> Operation:
        if self.reverse_function is None:
            raise IrreversibleError(f"{self.describe()} has no reverse and cannot be reversed")
        return RunPython(self.reverse_function, self.function)

    def describe(self) -> str:
        return f"run python {self.function}"
