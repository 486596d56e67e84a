"""Enum type and comment operations: create, drop and relabel enum types; set a comment.

Import them from :mod:`dualorm.spec.ops`, which re-exports every operation class.

PostgreSQL cannot drop a label from an enum type. :class:`DropEnumValue` therefore rebuilds
the type: it renames the old one aside, creates the type again without the label, converts
every column of the type (``USING column::text::type``) and drops the old type; it carries
those columns, as a drop carries what it drops, so that its renderers need no history.
:class:`AddEnumValue` is its reverse and carries the same columns.

PostgreSQL refuses to change the type of a column a stored generated column reads, and an
index or check naming a label (``'a'::mood``) would compare the new type with the old one.
The rebuild drops those objects first and creates them again after (:class:`Restored`, found
by :func:`rebuild_dependents`): a generated column's values are computed again, so no data is
lost, and it comes back as the last column of its table. An index or check over the column
that names no label is rebuilt by the type change itself.

``ALTER TYPE ... ADD VALUE`` runs inside a transaction block since PostgreSQL 12, but the new
label cannot be *used* in the transaction that adds it (unless the type was created in that
same transaction): a default or a row naming it belongs in a later migration.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from dualorm.pgtypes import parse_type
from dualorm.schema import (
    CheckConstraint,
    Column,
    EnumType,
    ForeignKey,
    Index,
    Schema,
    Table,
    TableKey,
    UniqueConstraint,
    as_key,
    is_column_key,
)
from dualorm.sources.parsed import expression_names
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


@dataclass(frozen=True, slots=True)
class Restored:
    """What rebuilding an enum type drops from one table and creates again after.

    ``columns`` are the stored generated columns reading a converted column (in table order),
    ``indexes`` and ``constraints`` those using such a column or naming a label of the type.
    """

    table: str
    columns: tuple[Column, ...] = ()
    indexes: tuple[Index, ...] = ()
    constraints: tuple[UniqueConstraint | CheckConstraint | ForeignKey, ...] = ()


def _names_type(expression: str | None, enum: EnumType) -> bool:
    if expression is None:
        return False
    names = expression_names(expression)
    return names is not None and any(
        cast[-1] == enum.name and (len(cast) == 1 or cast[-2] == enum.schema)
        for cast in names.casts
    )


def _reads(expression: str | None, columns: set[str]) -> bool:
    if expression is None:
        return False
    names = expression_names(expression)
    return names is not None and not columns.isdisjoint(names.columns)


def _index_depends(i: Index, lost: set[str], enum: EnumType) -> bool:
    keys = [k for k in i.columns if is_column_key(k)]
    expressions = [k for k in i.columns if not is_column_key(k)]
    if lost & {*keys, *i.include}:
        return True
    return any(_reads(x, lost) or _names_type(x, enum) for x in (*expressions, i.where))


def _table_dependents(t: Table, converted: set[str], enum: EnumType) -> Restored | None:
    columns = tuple(
        c for c in t.columns if c.generated is not None and _reads(c.generated, converted)
    )
    lost = {c.name for c in columns}
    indexes = tuple(i for i in t.indexes if _index_depends(i, lost, enum))
    constraints: list[UniqueConstraint | CheckConstraint | ForeignKey] = [
        c for c in t.checks if _reads(c.expression, lost) or _names_type(c.expression, enum)
    ]
    constraints += [u for u in t.uniques if lost & set(u.columns)]
    constraints += [fk for fk in t.foreign_keys if lost & set(fk.columns)]
    if not (columns or indexes or constraints):
        return None
    return Restored(t.qualified_name, columns, indexes, tuple(constraints))


def rebuild_dependents(schema: Schema, enum: EnumType, users: EnumUsers) -> tuple[Restored, ...]:
    """Return, per table of ``schema``, what rebuilding ``enum`` (converting ``users``) must
    drop and create again: the stored generated columns reading a converted column, and the
    indexes and constraints using those or naming a label of the type."""
    out = []
    for t in schema:
        converted = {c.name for table, c in users if as_key(table) == t.key}
        found = _table_dependents(t, converted, enum)
        if found is not None:
            out.append(found)
    return tuple(out)


def _restored_last(schema: Schema, restored: tuple[Restored, ...]) -> Schema:
    """The schema once the rebuild has added each generated column back: last in its table."""
    for r in restored:
        t = _table_of(schema, r.table)
        moved = {c.name for c in r.columns}
        kept = tuple(c for c in t.columns if c.name not in moved)
        schema = put(schema, replace(t, columns=(*kept, *r.columns)))
    return schema


def _table_of(schema: Schema, name: str) -> Table:
    found = schema.get(name)
    assert found is not None, name
    return found


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
    rebuild of the type, see :class:`DropEnumValue`) converts; ``restored`` what that rebuild
    drops and creates again (:func:`rebuild_dependents`).
    """

    enum: EnumType
    label: str
    before: str | None = None
    after: str | None = None
    users: EnumUsers = ()
    rebuild: bool = False
    restored: tuple[Restored, ...] = ()
    category: ClassVar[Category] = Category.ADDITION

    @classmethod
    def on(
        cls,
        schema: Schema,
        enum: EnumType,
        label: str,
        before: str | None = None,
        after: str | None = None,
    ) -> AddEnumValue:
        """Add ``label`` to ``enum`` as it stands in ``schema``: the columns of the type and
        what a rebuild would drop and create again are read from there."""
        users = enum_users(schema, enum)
        restored = rebuild_dependents(schema, enum, users)
        return cls(enum, label, before, after, users, restored=restored)

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
        out = schema.with_enum(replace(current, labels=self.labels()))
        return _restored_last(out, self.restored) if self.rebuild else out

    def reverse(self) -> Operation:
        after = replace(self.enum, labels=self.labels())
        return DropEnumValue(after, self.label, self.users, self.restored)

    def describe(self) -> str:
        return f"add value {self.label!r} to enum {self.enum.qualified_name}"

    def references(self, key: TableKey | str) -> bool:
        tables = [table for table, _ in self.users] + [r.table for r in self.restored]
        return any(as_key(table) == as_key(key) for table in tables)


@dataclass(frozen=True)
class DropEnumValue(Operation, kind="drop_enum_value"):
    """Remove a label from an enum type by rebuilding the type (PostgreSQL has no DROP VALUE).

    ``enum`` is the type before the change, ``users`` its columns: each is converted to the
    rebuilt type, which fails (and changes nothing) while a row still holds the label.
    ``restored`` is what the rebuild drops and creates again (:func:`rebuild_dependents`).
    """

    enum: EnumType
    label: str
    users: EnumUsers = ()
    restored: tuple[Restored, ...] = ()
    destructive: ClassVar[bool] = True
    category: ClassVar[Category] = Category.REMOVAL

    @classmethod
    def on(cls, schema: Schema, enum: EnumType, label: str) -> DropEnumValue:
        """Drop ``label`` from ``enum`` as it stands in ``schema``: the columns the rebuild
        converts and what it drops and creates again are read from there."""
        users = enum_users(schema, enum)
        return cls(enum, label, users, rebuild_dependents(schema, enum, users))

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
        if rebuild_dependents(schema, current, self.users) != self.restored:
            raise self.fail(
                f"the generated columns, indexes or constraints depending on enum type "
                f"{current.qualified_name} have changed"
            )
        return _restored_last(schema.with_enum(self.remaining()), self.restored)

    def reverse(self) -> Operation:
        before, after = _placed(self.enum.labels, self.label)
        return AddEnumValue(
            self.remaining(), self.label, before, after, self.users, restored=self.restored
        )

    def describe(self) -> str:
        return f"drop value {self.label!r} from enum {self.enum.qualified_name}"

    def references(self, key: TableKey | str) -> bool:
        tables = [table for table, _ in self.users] + [r.table for r in self.restored]
        return any(as_key(table) == as_key(key) for table in tables)


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
