"""The operations a change spec is made of: data plus pure semantics, rendering kept outside.

Each operation is a frozen dataclass that holds everything needed to apply it to a
:class:`~dualorm.schema.Schema` *and* to reverse it: a drop carries the full object it drops,
so :meth:`Operation.reverse` never needs the history. ``emit/sql.py``, ``emit/alembic.py`` and
``emit/django.py`` render these classes through their registries; nothing here knows SQL
syntax beyond the expression-aware renaming in :mod:`dualorm.spec.sqltext`.

This module holds the table, column and index operations and re-exports the rest (the base
contract from :mod:`dualorm.spec.operation`, the constraint operations and the escape hatches
from :mod:`dualorm.spec.constraint_ops`, the enum type and comment operations from
:mod:`dualorm.spec.type_ops`): import every operation from here.

Tables are named by ``table``: ``"users"`` or ``"auth.users"`` (see :func:`dualorm.schema.as_key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import ClassVar

from dualorm.pgtypes import collatable
from dualorm.schema import (
    DEFAULT_SCHEMA,
    Column,
    Index,
    Schema,
    Table,
    TableKey,
    as_key,
    is_column_key,
)
from dualorm.schema import schema as build_schema
from dualorm.spec.constraint_ops import (
    AddCheck,
    AddForeignKey,
    AddPrimaryKey,
    AddUnique,
    AlterForeignKey,
    DropConstraint,
    RunPython,
    RunSQL,
    ValidateConstraint,
    find_constraint,
)
from dualorm.spec.operation import (
    KINDS,
    Acknowledgement,
    Category,
    ChangeKind,
    Constraint,
    Operation,
    check_columns,
    check_fk_target,
    put,
    referencing_fks,
    relation_names,
    require_column,
    require_table,
)
from dualorm.spec.sqltext import expression_identifiers, rename_identifier
from dualorm.spec.through import ManyToMany
from dualorm.spec.type_ops import (
    AddEnumValue,
    CreateEnum,
    DropEnum,
    DropEnumValue,
    RenameEnumValue,
    Restored,
    SetComment,
    enum_users,
    rebuild_dependents,
)

__all__ = [
    "OPERATIONS",
    "Acknowledgement",
    "AddCheck",
    "AddColumn",
    "AddEnumValue",
    "AddForeignKey",
    "AddPrimaryKey",
    "AddUnique",
    "AlterColumn",
    "AlterForeignKey",
    "Category",
    "ChangeKind",
    "Constraint",
    "CreateEnum",
    "CreateIndex",
    "CreateTable",
    "DropColumn",
    "DropConstraint",
    "DropEnum",
    "DropEnumValue",
    "DropIndex",
    "DropTable",
    "Operation",
    "RenameColumn",
    "RenameEnumValue",
    "Restored",
    "RenameTable",
    "RunPython",
    "RunSQL",
    "SetComment",
    "ValidateConstraint",
    "enum_users",
    "rebuild_dependents",
    "find_constraint",
    "operation_kinds",
]


# -- tables ----------------------------------------------------------------------------------


class _WholeTable:
    """What creating and dropping a table share: the whole table, ``definition``, and its name,
    ``table``, as on every other operation (not an :class:`Operation`, as ``_AddsConstraint``).
    """

    definition: Table

    @property
    def table(self) -> str:
        """The table's name (``users``, ``auth.users``), as every operation names its table."""
        return self.definition.qualified_name

    def references(self, key: TableKey | str) -> bool:
        k, new = as_key(key), self.definition
        return k == new.key or any(fk.ref_key == k for fk in new.foreign_keys)


@dataclass(frozen=True)
class CreateTable(_WholeTable, Operation, kind="create_table"):
    """Create a table with its columns, keys, constraints and indexes.

    ``app`` is the Django app label whose migrations create it (``None``: the project's
    ``default_app``); ``many_to_many``, the ``ManyToManyField`` that creates it in Django
    (:mod:`dualorm.spec.through`). Neither changes anything in the schema.
    """

    definition: Table
    app: str | None = None
    many_to_many: ManyToMany | None = None
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        new = self.definition
        if new.key in schema:
            raise self.fail(f"table {new.qualified_name} already exists")
        if schema.enum(new.key) is not None:
            # The table's row type would take the enum type's name in pg_type.
            raise self.fail(f"type {new.qualified_name} already exists (an enum type)")
        taken = relation_names(schema, new.schema) | {new.name}
        own = [i.name for i in new.indexes] + [u.name for u in new.uniques]
        if new.primary_key is not None:
            own.append(new.primary_key.name)
        for name in own:
            if name in taken:
                raise self.fail(f"relation {name} already exists in schema {new.schema}")
            taken.add(name)
        for fk in new.foreign_keys:
            check_fk_target(self, schema, new, fk)
        return put(schema, new)

    def reverse(self) -> Operation:
        return DropTable(self.definition)

    def describe(self) -> str:
        return f"create table {self.table}"


@dataclass(frozen=True)
class DropTable(_WholeTable, Operation, kind="drop_table"):
    """Drop a table; carries the full table so the reverse can recreate it."""

    definition: Table
    destructive: ClassVar[bool] = True
    category: ClassVar[Category] = Category.REMOVAL

    def apply(self, schema: Schema) -> Schema:
        require_table(self, schema, self.table)
        for other, fk in referencing_fks(schema, self.definition.key):
            raise self.fail(
                f"{other.qualified_name}.{fk.name} still references "
                f"{self.table}; drop that constraint first"
            )
        return schema.without(self.definition.key)

    def reverse(self) -> Operation:
        return CreateTable(self.definition)

    def describe(self) -> str:
        return f"drop table {self.table}"


@dataclass(frozen=True)
class RenameTable(Operation, kind="rename_table"):
    """Rename a table within its schema. Constraint and index names do not change."""

    table: str
    new_name: str

    def apply(self, schema: Schema) -> Schema:
        old = require_table(self, schema, self.table)
        if self.new_name in relation_names(schema, old.schema):
            raise self.fail(f"relation {self.new_name} already exists in schema {old.schema}")
        tables = [replace(old, name=self.new_name) if t.key == old.key else t for t in schema]
        return build_schema(
            (
                replace(
                    t,
                    foreign_keys=tuple(
                        replace(fk, ref_table=self.new_name) if fk.ref_key == old.key else fk
                        for fk in t.foreign_keys
                    ),
                )
                for t in tables
            ),
            schema.enums,
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
class AddColumn(Operation, kind="add_column"):
    """Add a column at the end of a table."""

    table: str
    column: Column
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        if t.column(self.column.name) is not None:
            raise self.fail(f"column {t.qualified_name}.{self.column.name} already exists")
        return put(schema, replace(t, columns=(*t.columns, self.column)))

    def reverse(self) -> Operation:
        return DropColumn(self.table, self.column)

    def describe(self) -> str:
        return f"add column {self.table}.{self.column.name}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


def column_users(table: Table, schema: Schema, name: str) -> list[str]:
    """Name every index, constraint and generated column that uses column ``name``."""
    users = [
        i.name
        for i in table.indexes
        if name in i.columns
        or name in i.include
        or (i.where is not None and name in expression_identifiers(i.where))
        or any(name in expression_identifiers(c) for c in i.columns if c != name)
    ]
    users += [u.name for u in table.uniques if name in u.columns]
    users += [c.name for c in table.checks if name in expression_identifiers(c.expression)]
    users += [
        f"generated column {c.name}"
        for c in table.columns
        if c.generated is not None
        and c.name != name
        and name in expression_identifiers(c.generated)
    ]
    users += [fk.name for fk in table.foreign_keys if name in fk.columns]
    if table.primary_key is not None and name in table.primary_key.columns:
        users.append(table.primary_key.name)
    for other, fk in referencing_fks(schema, table.key):
        if name in fk.ref_columns:
            users.append(f"{other.qualified_name}.{fk.name}")
    return sorted(users)


@dataclass(frozen=True)
class DropColumn(Operation, kind="drop_column"):
    """Drop a column; carries the full column so the reverse can add it back.

    Refused while an index or constraint still uses the column: drop those first, in their
    own operations, so that every step of the way down can restore them.
    """

    table: str
    column: Column
    destructive: ClassVar[bool] = True
    category: ClassVar[Category] = Category.REMOVAL

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        require_column(self, t, self.column.name)
        users = column_users(t, schema, self.column.name)
        if users:
            raise self.fail(
                f"column {t.qualified_name}.{self.column.name} is used by "
                f"{', '.join(users)}; drop those first"
            )
        return put(
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
    ChangeKind.COLLATION: "collation",
}


@dataclass(frozen=True)
class AlterColumn(Operation, kind="alter_column"):
    """Change a column's nullability, type, default, comment and/or collation.

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
        t = require_table(self, schema, self.table)
        current = require_column(self, t, self.from_.name)
        if self.to.name != self.from_.name:
            raise self.fail("alter column cannot rename; use rename_column")
        if ChangeKind.NULL in self.changes and self.to.nullable:
            # PostgreSQL refuses DROP NOT NULL on these; say so before any tool runs it.
            pk = t.primary_key
            if pk is not None and current.name in pk.columns:
                raise self.fail(
                    f"column {t.qualified_name}.{current.name} is in primary key {pk.name} "
                    "and cannot be made nullable"
                )
            if current.identity is not None:
                raise self.fail(
                    f"column {t.qualified_name}.{current.name} is an identity column "
                    "and cannot be made nullable"
                )
        if ChangeKind.TYPE in self.changes:
            dependents = [
                c.name
                for c in t.columns
                if c.generated is not None
                and c.name != current.name
                and current.name in expression_identifiers(c.generated)
            ]
            if dependents:
                raise self.fail(
                    f"column {t.qualified_name}.{current.name} is used by generated column(s) "
                    f"{', '.join(dependents)}; PostgreSQL cannot change its type"
                )
        if ChangeKind.DEFAULT in self.changes and current.generated is not None:
            # PostgreSQL refuses a default on a generated column; say so before any tool runs.
            raise self.fail(
                f"column {t.qualified_name}.{current.name} is a generated column "
                "and cannot have a server_default"
            )
        updates = {
            attr: getattr(self.to, attr)
            for kind, attr in _CHANGED_FIELDS.items()
            if kind in self.changes
        }
        if ChangeKind.TYPE in self.changes:
            # ALTER COLUMN TYPE resets the collation unless COLLATE names one: the emitters
            # name ``to``'s, which a type that cannot have one drops.
            updates["collation"] = self.to.collation if collatable(self.to.type) else None
        new = replace(current, **updates)
        return put(
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


def _renamed_column(c: Column, old: str, new: str) -> Column:
    if c.name == old:
        c = replace(c, name=new)
    if c.generated is not None:
        # PostgreSQL keeps the expression as a tree: it follows the rename.
        c = replace(c, generated=rename_identifier(c.generated, old, new))
    return c


def _renamed_table(t: Table, old: str, new: str) -> Table:
    pk = t.primary_key
    return replace(
        t,
        columns=tuple(_renamed_column(c, old, new) for c in t.columns),
        primary_key=None if pk is None else replace(pk, columns=_rename_in(pk.columns, old, new)),
        uniques=tuple(replace(u, columns=_rename_in(u.columns, old, new)) for u in t.uniques),
        checks=tuple(
            replace(c, expression=rename_identifier(c.expression, old, new)) for c in t.checks
        ),
        foreign_keys=tuple(
            replace(
                fk,
                columns=_rename_in(fk.columns, old, new),
                # A self-referencing key names the renamed column on both sides.
                ref_columns=(
                    _rename_in(fk.ref_columns, old, new) if fk.ref_key == t.key else fk.ref_columns
                ),
            )
            for fk in t.foreign_keys
        ),
        indexes=tuple(
            replace(
                i,
                columns=_rename_in(i.columns, old, new),
                include=_rename_in(i.include, old, new),
                where=None if i.where is None else rename_identifier(i.where, old, new),
            )
            for i in t.indexes
        ),
    )


@dataclass(frozen=True)
class RenameColumn(Operation, kind="rename_column"):
    """Rename a column; keys, indexes, checks and referencing foreign keys follow it."""

    table: str
    old_name: str
    new_name: str

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        require_column(self, t, self.old_name)
        if t.column(self.new_name) is not None:
            raise self.fail(f"column {t.qualified_name}.{self.new_name} already exists")
        out = put(schema, _renamed_table(t, self.old_name, self.new_name))
        for other, fk in referencing_fks(out, t.key):
            if self.old_name in fk.ref_columns:
                moved = replace(
                    fk,
                    ref_columns=tuple(
                        self.new_name if c == self.old_name else c for c in fk.ref_columns
                    ),
                )
                out = put(
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
class CreateIndex(Operation, kind="create_index"):
    """Create an index: unique or not, partial (``where``), on columns or expressions.

    ``concurrently`` builds it without blocking writes; PostgreSQL then refuses to run the
    statement inside a transaction block, so the runner executes it on its own.
    """

    table: str
    index: Index
    concurrently: bool = False
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        if self.index.name in relation_names(schema, t.schema):
            raise self.fail(f"relation {self.index.name} already exists in schema {t.schema}")
        for column in self.index.columns:
            if is_column_key(column) and t.column(column) is None:
                raise self.fail(f"column {t.qualified_name}.{column} does not exist")
        check_columns(self, t, self.index.include)
        return put(schema, replace(t, indexes=(*t.indexes, self.index)))

    @property
    def transactional(self) -> bool:
        return not self.concurrently

    def transactional_form(self) -> Operation:
        return replace(self, concurrently=False)

    def reverse(self) -> Operation:
        return DropIndex(self.table, self.index, concurrently=self.concurrently)

    def describe(self) -> str:
        return f"create index {self.index.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


@dataclass(frozen=True)
class DropIndex(Operation, kind="drop_index"):
    """Drop an index; carries the full index so the reverse can recreate it."""

    table: str
    index: Index
    concurrently: bool = False
    category: ClassVar[Category] = Category.REMOVAL

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        if all(i.name != self.index.name for i in t.indexes):
            raise self.fail(f"index {self.index.name} does not exist on {t.qualified_name}")
        return put(
            schema, replace(t, indexes=tuple(i for i in t.indexes if i.name != self.index.name))
        )

    @property
    def transactional(self) -> bool:
        return not self.concurrently

    def transactional_form(self) -> Operation:
        return replace(self, concurrently=False)

    def reverse(self) -> Operation:
        return CreateIndex(self.table, self.index, concurrently=self.concurrently)

    def describe(self) -> str:
        return f"drop index {self.index.name} on {self.table}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)


def operation_kinds() -> Mapping[str, type[Operation]]:
    """Return every operation class by the name a spec writes it with (``create_table`` ...):
    the registry the classes fill as they are defined (``kind=``), the only such list."""
    return MappingProxyType(KINDS)


OPERATIONS: tuple[type[Operation], ...] = tuple(KINDS.values())
"""Every concrete operation class, read from the registry."""
