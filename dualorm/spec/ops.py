"""The operations a change spec is made of: data plus pure semantics, rendering kept outside.

Each operation is a frozen dataclass that holds everything needed to apply it to a
:class:`~dualorm.schema.Schema` *and* to reverse it: a drop carries the full object it drops,
so :meth:`Operation.reverse` never needs the history. ``emit/sql.py``, ``emit/alembic.py`` and
``emit/django.py`` render these classes through their registries; nothing here knows SQL
syntax beyond the expression-aware renaming in :mod:`dualorm.spec.sqltext`.

Tables are named by ``table``: ``"users"`` or ``"auth.users"`` (see :func:`dualorm.schema.as_key`).
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field, replace
from typing import ClassVar

from dualorm.errors import IrreversibleError, SpecError
from dualorm.schema import (
    DEFAULT_SCHEMA,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    PrimaryKey,
    Schema,
    Table,
    TableKey,
    UniqueConstraint,
    as_key,
    normalized,
)
from dualorm.schema import schema as build_schema
from dualorm.spec.sqltext import expression_identifiers, rename_identifier

Constraint = PrimaryKey | UniqueConstraint | CheckConstraint | ForeignKey


class Category(enum.StrEnum):
    """What kind of change an operation is, as one character (Django's ``OperationCategory``)."""

    ADDITION = "+"
    REMOVAL = "-"
    ALTERATION = "~"
    PYTHON = "p"
    SQL = "s"


class ChangeKind(enum.Flag):
    """Which properties of a column an :class:`AlterColumn` changes (Atlas ``ChangeKind``)."""

    NONE = 0
    NULL = enum.auto()
    TYPE = enum.auto()
    DEFAULT = enum.auto()
    COMMENT = enum.auto()


@dataclass(frozen=True)
class Acknowledgement:
    """A lint finding a spec author accepted on purpose, with the reason they gave."""

    rule: str
    reason: str


@dataclass(frozen=True)
class Operation(abc.ABC):
    """One change to a schema, modelled once: its effect, its reverse, its description.

    Subclasses are frozen dataclasses whose fields hold everything needed to apply *and*
    reverse the change. The contract every subclass keeps:

    * :meth:`apply` is pure: it returns a new :class:`~dualorm.schema.Schema` and never
      touches a database. Applying to a schema that lacks the target (or already has what
      is created) raises :class:`~dualorm.errors.SpecError` naming the object; the spec
      loader re-raises it with the spec's file and line.
    * :meth:`reverse` returns the operation that undoes this one, such that
      ``op.reverse().apply(op.apply(s)) == s``; it raises
      :class:`~dualorm.errors.IrreversibleError` when that is impossible.
    * :meth:`describe` returns one short line for humans (plans, logs, lint findings).
    * :meth:`references` answers "might this operation touch table ``key``?" for ordering and
      lint. If in doubt, return True: a false yes costs a little ordering freedom, a false no
      can reorder a migration into a broken one.

    Subclasses are plain frozen dataclasses, deliberately without ``slots=True``: a slotted
    dataclass is a second class object, and the stale first one would linger in
    ``Operation.__subclasses__()``, which the emitter coverage tests iterate.

    Class attributes: ``reversible`` (whether :meth:`reverse` succeeds), ``destructive``
    (whether applying can lose data) and ``category`` (:class:`Category`).

    ``line`` (where the operation stands in its spec file) and ``acknowledge`` (lint findings
    accepted by the author) are annotations, not semantics: they take no part in equality
    and renderers ignore them.
    """

    reversible: ClassVar[bool] = True
    destructive: ClassVar[bool] = False
    category: ClassVar[Category] = Category.ALTERATION

    line: int | None = field(default=None, kw_only=True, compare=False, repr=False)
    acknowledge: tuple[Acknowledgement, ...] = field(
        default=(), kw_only=True, compare=False, repr=False
    )

    @abc.abstractmethod
    def apply(self, schema: Schema) -> Schema:
        """Return ``schema`` with this operation applied (a new value; ``schema`` is unchanged)."""

    def reverse(self) -> Operation:
        """Return the operation that undoes this one, or raise ``IrreversibleError``."""
        raise IrreversibleError(f"{self.describe()} cannot be reversed")

    @abc.abstractmethod
    def describe(self) -> str:
        """Return a one-line, human description such as ``add column users.image``."""

    def references(self, key: TableKey | str) -> bool:
        """Return whether this operation might touch the table ``key`` (if in doubt, True)."""
        return True

    def fail(self, message: str) -> SpecError:
        """Return the error for applying this operation to a schema it does not fit."""
        return SpecError(self.describe(), self.line, message)


# -- helpers shared by the table-level operations ----------------------------------------------


def _label(key: TableKey) -> str:
    return key[1] if key[0] == DEFAULT_SCHEMA else f"{key[0]}.{key[1]}"


def _require_table(op: Operation, schema: Schema, table: str) -> Table:
    found = schema.get(table)
    if found is None:
        raise op.fail(f"table {_label(as_key(table))} does not exist")
    return found


def _require_column(op: Operation, table: Table, name: str) -> Column:
    found = table.column(name)
    if found is None:
        raise op.fail(f"column {table.qualified_name}.{name} does not exist")
    return found


def _index_names(schema: Schema, schema_name: str) -> set[str]:
    return {i.name for t in schema if t.schema == schema_name for i in t.indexes}


def _relation_names(schema: Schema, schema_name: str) -> set[str]:
    """Names that share PostgreSQL's relation namespace: tables, indexes, PK/unique indexes."""
    names = {t.name for t in schema if t.schema == schema_name}
    for t in schema:
        if t.schema == schema_name:
            names.update(i.name for i in t.indexes)
            names.update(u.name for u in t.uniques)
            if t.primary_key is not None:
                names.add(t.primary_key.name)
    return names


def _check_new_constraint(op: Operation, schema: Schema, table: Table, name: str) -> None:
    if name in table.constraint_names():
        raise op.fail(f"constraint {name} already exists on {table.qualified_name}")
    if name in _relation_names(schema, table.schema):
        raise op.fail(f"relation {name} already exists in schema {table.schema}")


def _check_columns(op: Operation, table: Table, columns: tuple[str, ...]) -> None:
    for name in columns:
        _require_column(op, table, name)


def _check_fk_target(op: Operation, schema: Schema, table: Table, fk: ForeignKey) -> None:
    target = table if fk.ref_key == table.key else schema.get(fk.ref_key)
    if target is None:
        raise op.fail(f"{fk.name} references table {_label(fk.ref_key)}, which does not exist")
    for name in fk.ref_columns:
        if target.column(name) is None:
            raise op.fail(
                f"{fk.name} references column {target.qualified_name}.{name}, which does not exist"
            )
    if len(fk.columns) != len(fk.ref_columns):
        raise op.fail(
            f"{fk.name} has {len(fk.columns)} column(s) but references {len(fk.ref_columns)}"
        )


def _referencing_fks(schema: Schema, key: TableKey) -> list[tuple[Table, ForeignKey]]:
    return [(t, fk) for t in schema if t.key != key for fk in t.foreign_keys if fk.ref_key == key]


def _put(schema: Schema, table: Table) -> Schema:
    return schema.with_table(normalized(table))


# -- tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateTable(Operation):
    """Create a table with its columns, keys, constraints and indexes."""

    table: Table
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        if self.table.key in schema:
            raise self.fail(f"table {self.table.qualified_name} already exists")
        taken = _relation_names(schema, self.table.schema) | {self.table.name}
        own = [i.name for i in self.table.indexes] + [u.name for u in self.table.uniques]
        if self.table.primary_key is not None:
            own.append(self.table.primary_key.name)
        for name in own:
            if name in taken:
                raise self.fail(f"relation {name} already exists in schema {self.table.schema}")
            taken.add(name)
        for fk in self.table.foreign_keys:
            _check_fk_target(self, schema, self.table, fk)
        return _put(schema, self.table)

    def reverse(self) -> Operation:
        return DropTable(self.table)

    def describe(self) -> str:
        return f"create table {self.table.qualified_name}"

    def references(self, key: TableKey | str) -> bool:
        k = as_key(key)
        return k == self.table.key or any(fk.ref_key == k for fk in self.table.foreign_keys)


@dataclass(frozen=True)
class DropTable(Operation):
    """Drop a table; carries the full table so the reverse can recreate it."""

    table: Table
    destructive: ClassVar[bool] = True
    category: ClassVar[Category] = Category.REMOVAL

    def apply(self, schema: Schema) -> Schema:
        _require_table(self, schema, self.table.qualified_name)
        for other, fk in _referencing_fks(schema, self.table.key):
            raise self.fail(
                f"{other.qualified_name}.{fk.name} still references "
                f"{self.table.qualified_name}; drop that constraint first"
            )
        return schema.without(self.table.key)

    def reverse(self) -> Operation:
        return CreateTable(self.table)

    def describe(self) -> str:
        return f"drop table {self.table.qualified_name}"

    def references(self, key: TableKey | str) -> bool:
        k = as_key(key)
        return k == self.table.key or any(fk.ref_key == k for fk in self.table.foreign_keys)


@dataclass(frozen=True)
class RenameTable(Operation):
    """Rename a table within its schema. Constraint and index names do not change."""

    table: str
    new_name: str

    def apply(self, schema: Schema) -> Schema:
        old = _require_table(self, schema, self.table)
        if self.new_name in _relation_names(schema, old.schema):
            raise self.fail(f"relation {self.new_name} already exists in schema {old.schema}")
        tables = [replace(old, name=self.new_name) if t.key == old.key else t for t in schema]
        return build_schema(
            replace(
                t,
                foreign_keys=tuple(
                    replace(fk, ref_table=self.new_name) if fk.ref_key == old.key else fk
                    for fk in t.foreign_keys
                ),
            )
            for t in tables
        )

    def reverse(self) -> Operation:
        schema_name, name = as_key(self.table)
        new = self.new_name if schema_name == DEFAULT_SCHEMA else f"{schema_name}.{self.new_name}"
        return RenameTable(new, name)

    def describe(self) -> str:
        return f"rename table {self.table} to {self.new_name}"

    def references(self, key: TableKey | str) -> bool:
        schema_name, _ = as_key(self.table)
        return as_key(key) in (as_key(self.table), (schema_name, self.new_name))


# -- columns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddColumn(Operation):
    """Add a column at the end of a table."""

    table: str
    column: Column
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        if t.column(self.column.name) is not None:
            raise self.fail(f"column {t.qualified_name}.{self.column.name} already exists")
        return _put(schema, replace(t, columns=(*t.columns, self.column)))

    def reverse(self) -> Operation:
        return DropColumn(self.table, self.column)

    def describe(self) -> str:
        return f"add column {self.table}.{self.column.name}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


def _column_users(table: Table, schema: Schema, name: str) -> list[str]:
    """Name every index and constraint that uses column ``name`` of ``table``."""
    users = [
        i.name
        for i in table.indexes
        if name in i.columns
        or (i.where is not None and name in expression_identifiers(i.where))
        or any(name in expression_identifiers(c) for c in i.columns if c != name)
    ]
    users += [u.name for u in table.uniques if name in u.columns]
    users += [c.name for c in table.checks if name in expression_identifiers(c.expression)]
    users += [fk.name for fk in table.foreign_keys if name in fk.columns]
    if table.primary_key is not None and name in table.primary_key.columns:
        users.append(table.primary_key.name)
    for other, fk in _referencing_fks(schema, table.key):
        if name in fk.ref_columns:
            users.append(f"{other.qualified_name}.{fk.name}")
    return sorted(users)


@dataclass(frozen=True)
class DropColumn(Operation):
    """Drop a column; carries the full column so the reverse can add it back.

    Refused while an index or constraint still uses the column: drop those first, in their
    own operations, so that every step of the way down can restore them.
    """

    table: str
    column: Column
    destructive: ClassVar[bool] = True
    category: ClassVar[Category] = Category.REMOVAL

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        _require_column(self, t, self.column.name)
        users = _column_users(t, schema, self.column.name)
        if users:
            raise self.fail(
                f"column {t.qualified_name}.{self.column.name} is used by "
                f"{', '.join(users)}; drop those first"
            )
        return _put(
            schema, replace(t, columns=tuple(c for c in t.columns if c.name != self.column.name))
        )

    def reverse(self) -> Operation:
        return AddColumn(self.table, self.column)

    def describe(self) -> str:
        return f"drop column {self.table}.{self.column.name}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


_CHANGED_FIELDS = {
    ChangeKind.NULL: "nullable",
    ChangeKind.TYPE: "type",
    ChangeKind.DEFAULT: "default",
    ChangeKind.COMMENT: "comment",
}


@dataclass(frozen=True)
class AlterColumn(Operation):
    """Change a column's nullability, type, default and/or comment.

    ``from_`` and ``to`` are the whole column before and after; ``changes`` says which of
    their properties move (only those are applied). ``using`` converts existing values on a
    type change (``USING``); ``reverse_using`` does the same on the way back.
    """

    table: str
    from_: Column
    to: Column
    changes: ChangeKind
    using: str | None = None
    reverse_using: str | None = None

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        current = _require_column(self, t, self.from_.name)
        if self.to.name != self.from_.name:
            raise self.fail("alter column cannot rename; use rename_column")
        updates = {
            attr: getattr(self.to, attr)
            for kind, attr in _CHANGED_FIELDS.items()
            if kind in self.changes
        }
        new = replace(current, **updates)
        return _put(
            schema,
            replace(t, columns=tuple(new if c.name == current.name else c for c in t.columns)),
        )

    def reverse(self) -> Operation:
        return AlterColumn(
            self.table,
            self.to,
            self.from_,
            self.changes,
            using=self.reverse_using,
            reverse_using=self.using,
        )

    def describe(self) -> str:
        moved = ", ".join(attr for kind, attr in _CHANGED_FIELDS.items() if kind in self.changes)
        return f"alter column {self.table}.{self.from_.name} ({moved})"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


def _rename_in(columns: tuple[str, ...], old: str, new: str) -> tuple[str, ...]:
    return tuple(new if c == old else rename_identifier(c, old, new) for c in columns)


def _renamed_table(t: Table, old: str, new: str) -> Table:
    pk = t.primary_key
    return replace(
        t,
        columns=tuple(replace(c, name=new) if c.name == old else c for c in t.columns),
        primary_key=None if pk is None else replace(pk, columns=_rename_in(pk.columns, old, new)),
        uniques=tuple(replace(u, columns=_rename_in(u.columns, old, new)) for u in t.uniques),
        checks=tuple(
            replace(c, expression=rename_identifier(c.expression, old, new)) for c in t.checks
        ),
        foreign_keys=tuple(
            replace(fk, columns=_rename_in(fk.columns, old, new)) for fk in t.foreign_keys
        ),
        indexes=tuple(
            replace(
                i,
                columns=_rename_in(i.columns, old, new),
                where=None if i.where is None else rename_identifier(i.where, old, new),
            )
            for i in t.indexes
        ),
    )


@dataclass(frozen=True)
class RenameColumn(Operation):
    """Rename a column; keys, indexes, checks and referencing foreign keys follow it."""

    table: str
    old_name: str
    new_name: str

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        _require_column(self, t, self.old_name)
        if t.column(self.new_name) is not None:
            raise self.fail(f"column {t.qualified_name}.{self.new_name} already exists")
        out = _put(schema, _renamed_table(t, self.old_name, self.new_name))
        for other, fk in _referencing_fks(out, t.key):
            if self.old_name in fk.ref_columns:
                moved = replace(
                    fk,
                    ref_columns=tuple(
                        self.new_name if c == self.old_name else c for c in fk.ref_columns
                    ),
                )
                out = _put(
                    out,
                    replace(
                        other,
                        foreign_keys=tuple(
                            moved if f.name == fk.name else f for f in other.foreign_keys
                        ),
                    ),
                )
        return out

    def reverse(self) -> Operation:
        return RenameColumn(self.table, self.new_name, self.old_name)

    def describe(self) -> str:
        return f"rename column {self.table}.{self.old_name} to {self.new_name}"

    def references(self, key: TableKey | str) -> bool:
        # Foreign keys elsewhere may name the column; they follow the rename.
        return True


# -- indexes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateIndex(Operation):
    """Create an index: unique or not, partial (``where``), on columns or expressions.

    ``concurrently`` builds it without blocking writes; PostgreSQL then refuses to run the
    statement inside a transaction block, so the runner executes it on its own.
    """

    table: str
    index: Index
    concurrently: bool = False
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        if self.index.name in _relation_names(schema, t.schema):
            raise self.fail(f"relation {self.index.name} already exists in schema {t.schema}")
        for column in self.index.columns:
            if column.isidentifier() and t.column(column) is None:
                raise self.fail(f"column {t.qualified_name}.{column} does not exist")
        return _put(schema, replace(t, indexes=(*t.indexes, self.index)))

    def reverse(self) -> Operation:
        return DropIndex(self.table, self.index, concurrently=self.concurrently)

    def describe(self) -> str:
        return f"create index {self.index.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


@dataclass(frozen=True)
class DropIndex(Operation):
    """Drop an index; carries the full index so the reverse can recreate it."""

    table: str
    index: Index
    concurrently: bool = False
    category: ClassVar[Category] = Category.REMOVAL

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        if all(i.name != self.index.name for i in t.indexes):
            raise self.fail(f"index {self.index.name} does not exist on {t.qualified_name}")
        return _put(
            schema, replace(t, indexes=tuple(i for i in t.indexes if i.name != self.index.name))
        )

    def reverse(self) -> Operation:
        return CreateIndex(self.table, self.index, concurrently=self.concurrently)

    def describe(self) -> str:
        return f"drop index {self.index.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


# -- constraints -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AddPrimaryKey(Operation):
    """Add a primary key. PostgreSQL marks its columns NOT NULL, and so does ``apply``."""

    table: str
    constraint: PrimaryKey
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        if t.primary_key is not None:
            raise self.fail(f"{t.qualified_name} already has primary key {t.primary_key.name}")
        _check_new_constraint(self, schema, t, self.constraint.name)
        _check_columns(self, t, self.constraint.columns)
        columns = tuple(
            replace(c, nullable=False) if c.name in self.constraint.columns else c
            for c in t.columns
        )
        return _put(schema, replace(t, columns=columns, primary_key=self.constraint))

    def reverse(self) -> Operation:
        return DropConstraint(self.table, self.constraint)

    def describe(self) -> str:
        return f"add primary key {self.constraint.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


@dataclass(frozen=True)
class AddForeignKey(Operation):
    """Add a foreign key; ``constraint.validated=False`` adds it ``NOT VALID``."""

    table: str
    constraint: ForeignKey
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        _check_new_constraint(self, schema, t, self.constraint.name)
        _check_columns(self, t, self.constraint.columns)
        _check_fk_target(self, schema, t, self.constraint)
        return _put(schema, replace(t, foreign_keys=(*t.foreign_keys, self.constraint)))

    def reverse(self) -> Operation:
        return DropConstraint(self.table, self.constraint)

    def describe(self) -> str:
        return f"add foreign key {self.constraint.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) in (as_key(self.table), self.constraint.ref_key)


@dataclass(frozen=True)
class AddUnique(Operation):
    """Add a unique constraint (backed by an index of the same name)."""

    table: str
    constraint: UniqueConstraint
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        _check_new_constraint(self, schema, t, self.constraint.name)
        _check_columns(self, t, self.constraint.columns)
        return _put(schema, replace(t, uniques=(*t.uniques, self.constraint)))

    def reverse(self) -> Operation:
        return DropConstraint(self.table, self.constraint)

    def describe(self) -> str:
        return f"add unique {self.constraint.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


@dataclass(frozen=True)
class AddCheck(Operation):
    """Add a check constraint; ``constraint.validated=False`` adds it ``NOT VALID``."""

    table: str
    constraint: CheckConstraint
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        _check_new_constraint(self, schema, t, self.constraint.name)
        return _put(schema, replace(t, checks=(*t.checks, self.constraint)))

    def reverse(self) -> Operation:
        return DropConstraint(self.table, self.constraint)

    def describe(self) -> str:
        return f"add check {self.constraint.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


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
class ValidateConstraint(Operation):
    """Validate a ``NOT VALID`` foreign key or check (``VALIDATE CONSTRAINT``).

    PostgreSQL cannot mark a validated constraint as not valid again, and nothing is lost by
    keeping it validated, so the reverse is an empty :class:`RunSQL`: the database and the
    replayed schema both keep the constraint validated on the way down.
    """

    table: str
    name: str

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        found = find_constraint(t, self.name)
        if not isinstance(found, ForeignKey | CheckConstraint):
            raise self.fail(f"no foreign key or check {self.name} on {t.qualified_name}")
        return _put(
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
class DropConstraint(Operation):
    """Drop a constraint; carries the whole constraint so the reverse can add it back."""

    table: str
    constraint: Constraint
    category: ClassVar[Category] = Category.REMOVAL

    def apply(self, schema: Schema) -> Schema:
        t = _require_table(self, schema, self.table)
        if find_constraint(t, self.constraint.name) is None:
            raise self.fail(
                f"constraint {self.constraint.name} does not exist on {t.qualified_name}"
            )
        if isinstance(self.constraint, PrimaryKey | UniqueConstraint):
            for other, fk in _referencing_fks(schema, t.key):
                if set(fk.ref_columns) == set(self.constraint.columns):
                    raise self.fail(
                        f"{other.qualified_name}.{fk.name} depends on "
                        f"{self.constraint.name}; drop it first"
                    )
        return _put(schema, _without_constraint(t, self.constraint.name))

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
class RunSQL(Operation):
    """Run hand-written SQL; ``reverse_sql`` (None: irreversible) undoes it.

    The replayed schema does not see what the SQL does: use it for data changes, grants,
    extensions and the like, and the structural operations for the schema itself.
    """

    sql: str
    reverse_sql: str | None = None
    category: ClassVar[Category] = Category.SQL

    @property
    def reversible(self) -> bool:  # type: ignore[override]
        return self.reverse_sql is not None

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
class RunPython(Operation):
    """Call ``"module:function"`` with the migration's connection; ``reverse`` undoes it.

    The function receives the psycopg connection inside the migration's transaction. Like
    :class:`RunSQL` it is invisible to the replayed schema.
    """

    function: str
    reverse_function: str | None = None
    category: ClassVar[Category] = Category.PYTHON

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


OPERATIONS: tuple[type[Operation], ...] = (
    CreateTable,
    DropTable,
    RenameTable,
    AddColumn,
    DropColumn,
    AlterColumn,
    RenameColumn,
    CreateIndex,
    DropIndex,
    AddPrimaryKey,
    AddForeignKey,
    AddUnique,
    AddCheck,
    ValidateConstraint,
    DropConstraint,
    RunSQL,
    RunPython,
)
"""Every concrete operation class, in the order the spec format documents them."""
