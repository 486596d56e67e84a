"""Enum type and comment operations: create, drop and relabel enum types; set a comment.

Import them from :mod:`dualorm.spec.ops`, which re-exports every operation class.

PostgreSQL cannot drop a label from an enum type. :class:`DropEnumValue` therefore rebuilds
the type: it renames the old one aside, creates the type again without the label, converts
every column of the type (``USING column::text::type``) and drops the old type; it carries
those columns, as a drop carries what it drops, so that its renderers need no history.
:class:`AddEnumValue` is its reverse and carries the same columns.

``ALTER TYPE ... ADD VALUE`` runs inside a transaction block since PostgreSQL 12, but the new
label cannot be *used* in the transaction that adds it (unless the type was created in that
same transaction): a default or a row naming it belongs in a later migration.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from dualorm.pgtypes import parse_type
from dualorm.schema import Column, EnumType, Schema, Table, TableKey, as_key
from dualorm.spec.operation import Category, Operation, put, require_column, require_table

EnumUsers = tuple[tuple[str, Column], ...]
"""``(table, column)`` for every column of an enum type (or an array of it)."""


def enum_users(schema: Schema, enum: EnumType) -> EnumUsers:
    """Return the columns of ``schema`` whose type is ``enum`` or an array of it."""
    return tuple(
        (t.qualified_name, c)
        for t in schema
        for c in t.columns
        if parse_type(c.type).name == enum.reference
    )


def _require_enum(op: Operation, schema: Schema, key: TableKey | str) -> EnumType:
    found = schema.enum(key)
    if found is None:
        raise op.fail(f"enum type {_label(as_key(key))} does not exist")
    return found


def _label(key: TableKey) -> str:
    return key[1] if key[0] == "public" else f"{key[0]}.{key[1]}"


@dataclass(frozen=True)
class CreateEnum(Operation, kind="create_enum"):
    """Create an enum type with its labels in order."""

    enum: EnumType
    category: ClassVar[Category] = Category.ADDITION

    def apply(self, schema: Schema) -> Schema:
        if schema.enum(self.enum.key) is not None:
            raise self.fail(f"enum type {self.enum.qualified_name} already exists")
        if self.enum.key in schema:
            # A table's row type takes the same name in pg_type.
            raise self.fail(f"table {self.enum.qualified_name} already has that type name")
        if len(set(self.enum.labels)) != len(self.enum.labels):
            raise self.fail(f"enum type {self.enum.qualified_name} repeats a label")
        return schema.with_enum(self.enum)

    def reverse(self) -> Operation:
        return DropEnum(self.enum)

    def describe(self) -> str:
        return f"create enum {self.enum.qualified_name}"

    def references(self, key: TableKey | str) -> bool:
        return False


@dataclass(frozen=True)
class DropEnum(Operation, kind="drop_enum"):
    """Drop an enum type no column uses; carries its labels so the reverse can recreate it."""

    enum: EnumType
    category: ClassVar[Category] = Category.REMOVAL

    def apply(self, schema: Schema) -> Schema:
        _require_enum(self, schema, self.enum.key)
        users = enum_users(schema, self.enum)
        if users:
            named = ", ".join(f"{table}.{c.name}" for table, c in users)
            raise self.fail(f"enum type {self.enum.qualified_name} is used by {named}")
        return schema.without_enum(self.enum.key)

    def reverse(self) -> Operation:
        return CreateEnum(self.enum)

    def describe(self) -> str:
        return f"drop enum {self.enum.qualified_name}"

    def references(self, key: TableKey | str) -> bool:
        return False


def _placed(labels: tuple[str, ...], label: str) -> tuple[str | None, str | None]:
    """Return ``(before, after)`` placing ``label`` where it stands in ``labels``."""
    position = labels.index(label)
    if position > 0:
        return None, labels[position - 1]
    return (labels[1] if len(labels) > 1 else None), None


@dataclass(frozen=True)
class AddEnumValue(Operation, kind="add_enum_value"):
    """Add a label to an enum type: last, or ``before``/``after`` an existing label.

    ``enum`` is the type before the change and ``users`` its columns, which the reverse (a
    rebuild of the type, see :class:`DropEnumValue`) converts.
    """

    enum: EnumType
    label: str
    before: str | None = None
    after: str | None = None
    users: EnumUsers = ()
    rebuild: bool = False
    category: ClassVar[Category] = Category.ADDITION

    def transactional_form(self) -> Operation:
        # ADD VALUE runs in a transaction block, but the label cannot be used before that
        # transaction commits; a rehearsal running later migrations in the same transaction
        # rebuilds the type instead (a type created in a transaction may use all its labels).
        return replace(self, rebuild=True)

    def labels(self) -> tuple[str, ...]:
        """The labels once the label is added."""
        labels = list(self.enum.labels)
        if self.before is not None:
            labels.insert(labels.index(self.before), self.label)
        elif self.after is not None:
            labels.insert(labels.index(self.after) + 1, self.label)
        else:
            labels.append(self.label)
        return tuple(labels)

    def apply(self, schema: Schema) -> Schema:
        current = _require_enum(self, schema, self.enum.key)
        name = current.qualified_name
        if current.labels != self.enum.labels:
            raise self.fail(f"enum type {name} has labels {current.labels}, not {self.enum.labels}")
        if self.label in current.labels:
            raise self.fail(f"enum type {name} already has label {self.label!r}")
        if self.before is not None and self.after is not None:
            raise self.fail("give before or after, not both")
        for neighbour in (self.before, self.after):
            if neighbour is not None and neighbour not in current.labels:
                raise self.fail(f"enum type {name} has no label {neighbour!r}")
        return schema.with_enum(replace(current, labels=self.labels()))

    def reverse(self) -> Operation:
        after = replace(self.enum, labels=self.labels())
        return DropEnumValue(after, self.label, self.users)

    def describe(self) -> str:
        return f"add value {self.label!r} to enum {self.enum.qualified_name}"

    def references(self, key: TableKey | str) -> bool:
        return any(as_key(table) == as_key(key) for table, _ in self.users)


@dataclass(frozen=True)
class DropEnumValue(Operation, kind="drop_enum_value"):
    """Remove a label from an enum type by rebuilding the type (PostgreSQL has no DROP VALUE).

    ``enum`` is the type before the change, ``users`` its columns: each is converted to the
    rebuilt type, which fails (and changes nothing) while a row still holds the label.
    """

    enum: EnumType
    label: str
    users: EnumUsers = ()
    destructive: ClassVar[bool] = True
    category: ClassVar[Category] = Category.REMOVAL

    def remaining(self) -> EnumType:
        return replace(self.enum, labels=tuple(x for x in self.enum.labels if x != self.label))

    def apply(self, schema: Schema) -> Schema:
        current = _require_enum(self, schema, self.enum.key)
        if current.labels != self.enum.labels:
            raise self.fail(
                f"enum type {current.qualified_name} has labels {current.labels}, "
                f"not {self.enum.labels}"
            )
        if self.label not in current.labels:
            raise self.fail(f"enum type {current.qualified_name} has no label {self.label!r}")
        if set(enum_users(schema, current)) != set(self.users):
            raise self.fail(f"the columns of enum type {current.qualified_name} have changed")
        return schema.with_enum(self.remaining())

    def reverse(self) -> Operation:
        before, after = _placed(self.enum.labels, self.label)
        return AddEnumValue(self.remaining(), self.label, before, after, self.users)

    def describe(self) -> str:
        return f"drop value {self.label!r} from enum {self.enum.qualified_name}"

    def references(self, key: TableKey | str) -> bool:
        return any(as_key(table) == as_key(key) for table, _ in self.users)


def _relabelled(text: str | None, reference: str, old: str, new: str) -> str | None:
    # The server stores a label constant by the label's oid: its printed text follows a
    # rename. Only the server's own spelling of such a constant is rewritten.
    if text is None:
        return None
    quoted = "'" + old.replace("'", "''") + "'::" + reference
    return text.replace(quoted, "'" + new.replace("'", "''") + "'::" + reference)


def _relabelled_table(t: Table, reference: str, old: str, new: str) -> Table:
    def fix(text: str | None) -> str | None:
        return _relabelled(text, reference, old, new)

    return replace(
        t,
        columns=tuple(
            replace(c, default=fix(c.default), generated=fix(c.generated)) for c in t.columns
        ),
        checks=tuple(replace(c, expression=fix(c.expression) or "") for c in t.checks),
        indexes=tuple(replace(i, where=fix(i.where)) for i in t.indexes),
    )


@dataclass(frozen=True)
class RenameEnumValue(Operation, kind="rename_enum_value"):
    """Rename a label of an enum type; defaults and checks naming it follow."""

    enum: str
    old_label: str
    new_label: str

    def apply(self, schema: Schema) -> Schema:
        current = _require_enum(self, schema, self.enum)
        name = current.qualified_name
        if self.old_label not in current.labels:
            raise self.fail(f"enum type {name} has no label {self.old_label!r}")
        if self.new_label in current.labels:
            raise self.fail(f"enum type {name} already has label {self.new_label!r}")
        labels = tuple(self.new_label if x == self.old_label else x for x in current.labels)
        out = schema.with_enum(replace(current, labels=labels))
        ref = current.reference
        return out.with_tables(
            _relabelled_table(t, ref, self.old_label, self.new_label) for t in out
        )

    def reverse(self) -> Operation:
        return RenameEnumValue(self.enum, self.new_label, self.old_label)

    def describe(self) -> str:
        return f"rename value {self.old_label!r} of enum {self.enum} to {self.new_label!r}"


@dataclass(frozen=True)
class SetComment(Operation, kind="set_comment"):
    """Set or clear (``to=None``) the comment of a table, or of one of its columns.

    ``from_`` is the comment before, for the reverse.
    """

    table: str
    column: str | None = None
    from_: str | None = None
    to: str | None = None

    def apply(self, schema: Schema) -> Schema:
        t = require_table(self, schema, self.table)
        if self.column is None:
            return put(schema, replace(t, comment=self.to))
        current = require_column(self, t, self.column)
        new = replace(current, comment=self.to)
        return put(schema, replace(t, columns=tuple(new if c is current else c for c in t.columns)))

    def reverse(self) -> Operation:
        return SetComment(self.table, self.column, self.to, self.from_)

    def describe(self) -> str:
        target = self.table if self.column is None else f"{self.table}.{self.column}"
        return f"{'clear' if self.to is None else 'set'} comment on {target}"

    def references(self, key: TableKey | str) -> bool:
        return as_key(key) == as_key(self.table)
