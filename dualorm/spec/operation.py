"""The :class:`Operation` contract, its vocabularies, and the checks operations share.

Concrete operations live in :mod:`dualorm.spec.ops` (tables, columns, indexes) and
:mod:`dualorm.spec.constraint_ops` (constraints, raw SQL, Python); import them all from
:mod:`dualorm.spec.ops`. The helpers below raise the :meth:`Operation.fail` error that names
the operation and the missing or conflicting object.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dualorm.errors import IrreversibleError, SpecError
from dualorm.schema import (
    DEFAULT_SCHEMA,
    CheckConstraint,
    Column,
    ForeignKey,
    PrimaryKey,
    Schema,
    Table,
    TableKey,
    UniqueConstraint,
    as_key,
    normalized,
)

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
    COLLATION = enum.auto()


@dataclass(frozen=True)
class Acknowledgement:
    """A lint finding a spec author accepted on purpose, with the reason they gave."""

    rule: str
    reason: str


KINDS: dict[str, type[Operation]] = {}
"""Every concrete operation class by its spec name; read it through
:func:`dualorm.spec.ops.operation_kinds`, which is complete once all classes are defined."""


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

    A concrete operation registers itself with its spec name as a class keyword,
    ``class DropTable(Operation, kind="drop_table")``: that name is ``kind``, the key a spec
    writes, and the registry (:func:`dualorm.spec.ops.operation_kinds`) is the one list of
    operations the spec reader, the emitters' coverage tests and the docs check read.

    Class attributes: ``reversible`` (whether :meth:`reverse` succeeds), ``destructive``
    (whether applying can lose data), ``opaque`` (whether the replayed schema cannot see what
    it does, so the lint cannot judge it whole: hand-written SQL, Python) and ``category``
    (:class:`Category`). :attr:`transactional` says whether it can run inside the migration's
    transaction; read these facts off the operation, never off its class.

    ``line`` (where the operation stands in its spec file) and ``acknowledge`` (lint findings
    accepted by the author) are annotations, not semantics: they take no part in equality
    and renderers ignore them.
    """

    kind: ClassVar[str] = ""
    reversible: ClassVar[bool] = True
    destructive: ClassVar[bool] = False
    opaque: ClassVar[bool] = False
    category: ClassVar[Category] = Category.ALTERATION

    line: int | None = field(default=None, kw_only=True, compare=False, repr=False)
    acknowledge: tuple[Acknowledgement, ...] = field(
        default=(), kw_only=True, compare=False, repr=False
    )

    def __init_subclass__(cls, *, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is None:
            return
        if kind in KINDS:
            raise TypeError(
                f"operation kind {kind} is registered twice: by {KINDS[kind].__name__} "
                f"and by {cls.__name__}"
            )
        cls.kind = kind
        KINDS[kind] = cls

    @property
    def transactional(self) -> bool:
        """Whether PostgreSQL runs this inside a transaction block (``CONCURRENTLY`` does not)."""
        return True

    def transactional_form(self) -> Operation:
        """Return the equivalent operation that runs inside a transaction block and whose
        effect the rest of that transaction can use (``self`` when this one is such), for a
        rehearsal that executes everything in one transaction."""
        return self

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


# -- checks shared by the operations ----------------------------------------------


def label(key: TableKey) -> str:
    return key[1] if key[0] == DEFAULT_SCHEMA else f"{key[0]}.{key[1]}"


def require_table(op: Operation, schema: Schema, table: str) -> Table:
    found = schema.get(table)
    if found is None:
        raise op.fail(f"table {label(as_key(table))} does not exist")
    return found


def require_column(op: Operation, table: Table, name: str) -> Column:
    found = table.column(name)
    if found is None:
        raise op.fail(f"column {table.qualified_name}.{name} does not exist")
    return found


def relation_names(schema: Schema, schema_name: str) -> set[str]:
    """Names that share PostgreSQL's relation namespace: tables, indexes, PK/unique indexes."""
    # One pass of plain loops: the replay asks for every index it adds, over every table.
    names: set[str] = set()
    add = names.add
    for t in schema.tables:
        if t.schema != schema_name:
            continue
        add(t.name)
        for index in t.indexes:
            add(index.name)
        for unique in t.uniques:
            add(unique.name)
        if t.primary_key is not None:
            add(t.primary_key.name)
    return names


def check_new_constraint(op: Operation, schema: Schema, table: Table, name: str) -> None:
    if name in table.constraint_names():
        raise op.fail(f"constraint {name} already exists on {table.qualified_name}")
    if name in relation_names(schema, table.schema):
        raise op.fail(f"relation {name} already exists in schema {table.schema}")


def check_columns(op: Operation, table: Table, columns: tuple[str, ...]) -> None:
    for name in columns:
        require_column(op, table, name)


def check_fk_target(op: Operation, schema: Schema, table: Table, fk: ForeignKey) -> None:
    target = table if fk.ref_key == table.key else schema.get(fk.ref_key)
    if target is None:
        raise op.fail(
            f"{fk.name} references table {label(fk.ref_key)}, which does not exist (no "
            "earlier spec creates it; a table another app or owner creates is recorded in "
            "foreign_tables.json by `dualorm migrate make`)"
        )
    for name in fk.ref_columns:
        if target.column(name) is None:
            raise op.fail(
                f"{fk.name} references column {target.qualified_name}.{name}, which does not exist"
            )
    if len(fk.columns) != len(fk.ref_columns):
        raise op.fail(
            f"{fk.name} has {len(fk.columns)} column(s) but references {len(fk.ref_columns)}"
        )


def referencing_fks(schema: Schema, key: TableKey) -> list[tuple[Table, ForeignKey]]:
    return [(t, fk) for t in schema if t.key != key for fk in t.foreign_keys if fk.ref_key == key]


def put(schema: Schema, table: Table) -> Schema:
    return schema.with_table(normalized(table))
