"""What each operation does to a live table: the lock it takes, and whether it rewrites or scans.

This is the knowledge the plan and the lint share, written once per operation class and read
off the operation's fields, never off SQL text. Lock modes are PostgreSQL's names (see the
"Explicit Locking" chapter of its manual); ``ACCESS EXCLUSIVE`` blocks reads and writes,
``SHARE`` and ``SHARE ROW EXCLUSIVE`` block writes, ``SHARE UPDATE EXCLUSIVE`` blocks neither.
An operation this module cannot see into (raw SQL, Python) is assumed to take
``ACCESS EXCLUSIVE``: if in doubt, assume the worst.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from dualorm.schema import DEFAULT_SCHEMA, Column, Schema, as_key
from dualorm.spec.ops import (
    AddCheck,
    AddColumn,
    AddForeignKey,
    AddPrimaryKey,
    AddUnique,
    AlterColumn,
    ChangeKind,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropConstraint,
    DropIndex,
    DropTable,
    Operation,
    RenameColumn,
    RenameTable,
    ValidateConstraint,
)


class Lock(enum.IntEnum):
    """PostgreSQL table lock modes, ordered by strength."""

    NONE = 0
    ACCESS_SHARE = 1
    ROW_SHARE = 2
    ROW_EXCLUSIVE = 3
    SHARE_UPDATE_EXCLUSIVE = 4
    SHARE = 5
    SHARE_ROW_EXCLUSIVE = 6
    EXCLUSIVE = 7
    ACCESS_EXCLUSIVE = 8

    @classmethod
    def from_pg(cls, mode: str) -> Lock:
        """Return the lock for a ``pg_locks.mode`` value such as ``ShareRowExclusiveLock``."""
        return _PG_MODES[mode]

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @property
    def blocks_writes(self) -> bool:
        return self >= Lock.SHARE

    @property
    def blocks_reads(self) -> bool:
        return self is Lock.ACCESS_EXCLUSIVE


_PG_MODES = {
    "AccessShareLock": Lock.ACCESS_SHARE,
    "RowShareLock": Lock.ROW_SHARE,
    "RowExclusiveLock": Lock.ROW_EXCLUSIVE,
    "ShareUpdateExclusiveLock": Lock.SHARE_UPDATE_EXCLUSIVE,
    "ShareLock": Lock.SHARE,
    "ShareRowExclusiveLock": Lock.SHARE_ROW_EXCLUSIVE,
    "ExclusiveLock": Lock.EXCLUSIVE,
    "AccessExclusiveLock": Lock.ACCESS_EXCLUSIVE,
}


@dataclass(frozen=True)
class Impact:
    """The effect of one operation on one table."""

    table: str
    lock: Lock
    rewrites: bool = False
    scans: bool = False
    note: str = ""


# Volatile functions: a column default calling one is evaluated per row, so ADD COLUMN with it
# rewrites the table even on PostgreSQL 11+ (non-volatile defaults are stored in the catalog).
VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v4",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "txid_current",
        "setseed",
    }
)


def volatile_default(column: Column) -> bool:
    """Return whether the column's default calls a volatile function."""
    if column.default is None:
        return False
    text = column.default.lower().replace(" ", "")
    return any(f"{name}(" in text for name in VOLATILE_FUNCTIONS)


_VARCHAR = "character varying"


def type_change_rewrites(old: str, new: str) -> bool:
    """Return whether changing a column from ``old`` to ``new`` rewrites the table.

    PostgreSQL skips the rewrite for binary-coercible changes that only relax a constraint:
    widening or removing a varchar limit, varchar to text, raising numeric precision at the
    same scale. Everything else is assumed to rewrite.
    """
    if old == new:
        return False
    if new == "text" and (old == "text" or old.startswith(_VARCHAR)):
        return False
    if old.startswith(_VARCHAR) and new == _VARCHAR:
        return False
    if old.startswith(f"{_VARCHAR}(") and new.startswith(f"{_VARCHAR}("):
        return _modifier(new)[0] < _modifier(old)[0]
    if old.startswith("numeric(") and new == "numeric":
        return False
    if old.startswith("numeric(") and new.startswith("numeric("):
        (p_old, s_old), (p_new, s_new) = _modifier(old), _modifier(new)
        return not (s_new == s_old and p_new >= p_old)
    return True


def _modifier(type_: str) -> tuple[int, int]:
    inner = type_[type_.index("(") + 1 : type_.index(")")]
    parts = [int(p) for p in inner.split(",")]
    return parts[0], parts[1] if len(parts) > 1 else 0


@functools.singledispatch
def impacts(op: Operation, before: Schema) -> list[Impact]:
    """Return the tables ``op`` locks when applied to a database whose schema is ``before``.

    Raw SQL, Python and any operation without a rule are assumed to take the worst lock.
    """
    return [Impact("*", Lock.ACCESS_EXCLUSIVE, note=f"{op.describe()}: assumed worst")]


@impacts.register
def _alter_column(op: AlterColumn, before: Schema) -> list[Impact]:
    rewrites = ChangeKind.TYPE in op.changes and type_change_rewrites(op.from_.type, op.to.type)
    scans = ChangeKind.NULL in op.changes and not op.to.nullable and not rewrites
    note = "rewrites the table" if rewrites else ("scans for NULLs" if scans else "")
    return [Impact(op.table, Lock.ACCESS_EXCLUSIVE, rewrites=rewrites, scans=scans, note=note)]


@impacts.register
def _add_column(op: AddColumn, before: Schema) -> list[Impact]:
    column = op.column
    rewrites = volatile_default(column) or column.identity is not None
    # A stored generated column is computed for every existing row.
    rewrites = rewrites or column.generated is not None
    note = "rewrites the table" if rewrites else "catalog-only"
    return [Impact(op.table, Lock.ACCESS_EXCLUSIVE, rewrites=rewrites, note=note)]


@impacts.register
def _create_index(op: CreateIndex, before: Schema) -> list[Impact]:
    if op.concurrently:
        return [Impact(op.table, Lock.SHARE_UPDATE_EXCLUSIVE, scans=True, note="concurrent")]
    return [Impact(op.table, Lock.SHARE, scans=True, note="blocks writes while it builds")]


@impacts.register
def _drop_index(op: DropIndex, before: Schema) -> list[Impact]:
    lock = Lock.SHARE_UPDATE_EXCLUSIVE if op.concurrently else Lock.ACCESS_EXCLUSIVE
    return [Impact(op.table, lock)]


@impacts.register
def _add_foreign_key(op: AddForeignKey, before: Schema) -> list[Impact]:
    fk = op.constraint
    note = "validates every row" if fk.validated else "NOT VALID: no scan"
    ref = fk.ref_table if fk.ref_schema == DEFAULT_SCHEMA else f"{fk.ref_schema}.{fk.ref_table}"
    return [
        Impact(op.table, Lock.SHARE_ROW_EXCLUSIVE, scans=fk.validated, note=note),
        Impact(ref, Lock.SHARE_ROW_EXCLUSIVE, note="referenced table"),
    ]


@impacts.register
def _add_check(op: AddCheck, before: Schema) -> list[Impact]:
    scans = op.constraint.validated
    note = "validates every row" if scans else "NOT VALID: no scan"
    return [Impact(op.table, Lock.ACCESS_EXCLUSIVE, scans=scans, note=note)]


@impacts.register
def _validate(op: ValidateConstraint, before: Schema) -> list[Impact]:
    return [Impact(op.table, Lock.SHARE_UPDATE_EXCLUSIVE, scans=True, note="writes continue")]


@impacts.register(AddUnique)
@impacts.register(AddPrimaryKey)
def _builds_index(op: AddUnique | AddPrimaryKey, before: Schema) -> list[Impact]:
    return [Impact(op.table, Lock.ACCESS_EXCLUSIVE, scans=True, note="builds an index")]


@impacts.register(RenameTable)
@impacts.register(DropColumn)
@impacts.register(RenameColumn)
@impacts.register(DropConstraint)
def _exclusive(
    op: RenameTable | DropColumn | RenameColumn | DropConstraint, before: Schema
) -> list[Impact]:
    return [Impact(op.table, Lock.ACCESS_EXCLUSIVE, note="catalog-only")]


@impacts.register
def _drop_table(op: DropTable, before: Schema) -> list[Impact]:
    return [Impact(op.table.qualified_name, Lock.ACCESS_EXCLUSIVE)]


@impacts.register
def _create_table(op: CreateTable, before: Schema) -> list[Impact]:
    # A new table is invisible to others until commit; only referenced tables are locked.
    refs = {fk.ref_table for fk in op.table.foreign_keys if fk.ref_key != op.table.key}
    return [Impact(ref, Lock.SHARE_ROW_EXCLUSIVE, note="referenced table") for ref in sorted(refs)]


def existing(table: str, before: Schema) -> bool:
    """Return whether ``table`` exists before the migration (so live rows may be affected)."""
    return as_key(table) in before
