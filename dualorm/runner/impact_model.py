"""The impact vocabulary: the :class:`Lock` a statement takes, the :class:`Action` it performs on
a table, the :class:`Hazard` beyond the lock, and the :class:`Impact` that puts them together;
and the helpers both kinds of rules build impacts with (an operation's,
:mod:`dualorm.runner.impact`; a ``run_sql`` statement's, :mod:`dualorm.runner.statement_impact`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from dualorm.pgtypes import ColumnType, parse_type
from dualorm.schema import Column, Schema, as_key
from dualorm.spec.sqlcheck import StatementFact


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


class Action(enum.StrEnum):
    """What a statement does to one table, whichever way it was written."""

    CREATE_TABLE = "create table"
    REFERENCED = "reference"
    DROP_TABLE = "drop table"
    RENAME_TABLE = "rename table"
    TRUNCATE = "truncate"
    DELETE_ALL = "delete every row of"
    WRITE_ROWS = "write rows of"
    ADD_COLUMN = "add column"
    DROP_COLUMN = "drop column"
    ALTER_COLUMN = "alter column"
    RENAME_COLUMN = "rename column"
    BUILD_INDEX = "build index"
    DROP_INDEX = "drop index"
    ADD_FOREIGN_KEY = "add foreign key"
    ADD_CHECK = "add check"
    ADD_UNIQUE = "add unique"
    ADD_PRIMARY_KEY = "add primary key"
    VALIDATE_CONSTRAINT = "validate constraint"
    ALTER_FOREIGN_KEY = "alter foreign key"
    DROP_CONSTRAINT = "drop constraint"
    COMMENT = "comment on"
    OPAQUE = "run"


LOSES_DATA = frozenset({Action.DROP_TABLE, Action.DROP_COLUMN, Action.TRUNCATE, Action.DELETE_ALL})
"""Actions after which the rows (or a column of them) are gone: a backup is the way back."""

OPAQUE_TABLE = "*"
"""The table an opaque statement is assumed to lock: every one."""


class Hazard(enum.Flag):
    """Why a statement is dangerous beyond the lock it takes."""

    NONE = 0
    TYPE_REWRITE = enum.auto()
    """The new type is not binary-coercible: every row and index is rewritten."""
    VOLATILE_DEFAULT = enum.auto()
    """The added column's default is evaluated per row: the table is rewritten."""
    GENERATED = enum.auto()
    """The added column is stored generated: computed for every row, the table rewritten."""
    IDENTITY = enum.auto()
    """The added identity column is filled row by row: the table is rewritten."""
    SETS_NOT_NULL = enum.auto()
    """SET NOT NULL with nothing proving it already: every row is scanned for NULLs."""
    FAILS_ON_ROWS = enum.auto()
    """A NOT NULL column without a default: the statement fails on any existing row."""


@dataclass(frozen=True)
class Impact:
    """The effect of one operation (or one statement of its SQL) on one table.

    ``subject`` names the column, index or constraint concerned; ``note`` says in words what
    the plan should show.
    """

    table: str
    lock: Lock
    rewrites: bool = False
    scans: bool = False
    note: str = ""
    action: Action = field(default=Action.OPAQUE, kw_only=True)
    subject: str = field(default="", kw_only=True)
    hazards: Hazard = field(default=Hazard.NONE, kw_only=True)

    @property
    def opaque(self) -> bool:
        """Whether this is the worst case assumed for something that cannot be seen into."""
        return self.action is Action.OPAQUE

    @property
    def loses_data(self) -> bool:
        return self.action in LOSES_DATA

    def describe(self) -> str:
        """Return the action in words, such as ``drop column users.email``."""
        target = f"{self.table}.{self.subject}" if self.action in _COLUMN_ACTIONS else self.table
        if self.action in _NAMED_ACTIONS and self.subject:
            return f"{self.action} {self.subject} on {self.table}"
        return f"{self.action} {target}"


_COLUMN_ACTIONS = frozenset(
    {Action.ADD_COLUMN, Action.DROP_COLUMN, Action.ALTER_COLUMN, Action.RENAME_COLUMN}
)
_NAMED_ACTIONS = frozenset(
    {
        Action.BUILD_INDEX,
        Action.DROP_INDEX,
        Action.ADD_FOREIGN_KEY,
        Action.ADD_CHECK,
        Action.ADD_UNIQUE,
        Action.ADD_PRIMARY_KEY,
        Action.VALIDATE_CONSTRAINT,
        Action.ALTER_FOREIGN_KEY,
        Action.DROP_CONSTRAINT,
    }
)


StatementRule = Callable[[StatementFact, Schema], list[Impact] | None]
"""How one classified statement locks (None: it cannot be judged after all, so opaque)."""


def opaque_impact(what: str) -> Impact:
    """The worst case, for ``what`` that cannot be seen into."""
    return Impact(OPAQUE_TABLE, Lock.ACCESS_EXCLUSIVE, note=f"{what}: assumed worst")


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
    return column.default is not None and volatile_expression(column.default)


def volatile_expression(expression: str) -> bool:
    """Return whether the SQL ``expression`` calls a volatile function."""
    text = expression.lower().replace(" ", "")
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
    was, becomes = parse_type(old), parse_type(new)
    if new == "text" and (old == "text" or was.name == _VARCHAR):
        return False
    if was.name == _VARCHAR and new == _VARCHAR:
        return False
    if was.name == becomes.name == _VARCHAR and was.args and becomes.args:
        return _modifier(becomes)[0] < _modifier(was)[0]
    if was.name == "numeric" and was.args and new == "numeric":
        return False
    if was.name == becomes.name == "numeric" and was.args and becomes.args:
        (p_old, s_old), (p_new, s_new) = _modifier(was), _modifier(becomes)
        return not (s_new == s_old and p_new >= p_old)
    return True


def _modifier(type_: ColumnType) -> tuple[int, int]:
    parts = [int(p) for p in type_.args]
    return parts[0], parts[1] if len(parts) > 1 else 0


def not_null_proven(before: Schema, table: str, column: str) -> bool:
    """Return whether a validated ``CHECK (column IS NOT NULL)`` already proves the column has
    no NULL, so that PostgreSQL (12+) sets NOT NULL without scanning the table."""
    found = before.get(table)
    if found is None:
        return False
    wanted = f"{column} is not null"
    for check in found.checks:
        text = check.expression.lower().replace('"', "").strip("() ")
        if check.validated and text == wanted:
            return True
    return False


def existing(table: str, before: Schema) -> bool:
    """Return whether ``table`` exists before the migration (so live rows may be affected)."""
    return as_key(table) in before


def altered_column(table: str, column: str, hazards: Hazard, change: str) -> Impact:
    """Altering ``column`` of ``table``: ACCESS EXCLUSIVE, with what the change does beyond it."""
    rewrites = Hazard.TYPE_REWRITE in hazards
    scans = Hazard.SETS_NOT_NULL in hazards and not rewrites
    note = f"{change} rewrites the table" if rewrites else ("scans for NULLs" if scans else "")
    return Impact(
        table,
        Lock.ACCESS_EXCLUSIVE,
        rewrites=rewrites,
        scans=scans,
        note=note,
        action=Action.ALTER_COLUMN,
        subject=column,
        hazards=hazards,
    )


def added_column(
    table: str, column: str, *, default: str | None, nullable: bool, generated: bool, identity: bool
) -> Impact:
    """Adding ``column`` to ``table``: catalog-only unless its default, identity or generation
    rewrites the table."""
    hazards = Hazard.NONE
    if default is not None and volatile_expression(default):
        hazards |= Hazard.VOLATILE_DEFAULT
    if identity:
        hazards |= Hazard.IDENTITY
    # A stored generated column is computed for every existing row.
    if generated:
        hazards |= Hazard.GENERATED
    if not nullable and default is None and not identity:
        hazards |= Hazard.FAILS_ON_ROWS
    rewrites = bool(hazards & (Hazard.VOLATILE_DEFAULT | Hazard.IDENTITY | Hazard.GENERATED))
    note = "rewrites the table" if rewrites else "catalog-only"
    if Hazard.VOLATILE_DEFAULT in hazards:
        note = f"default {default} is volatile: rewrites the table"
    return Impact(
        table,
        Lock.ACCESS_EXCLUSIVE,
        rewrites=rewrites,
        note=note,
        action=Action.ADD_COLUMN,
        subject=column,
        hazards=hazards,
    )


def index_build(table: str, name: str, concurrently: bool) -> Impact:
    """Building index ``name`` on ``table`` (SHARE, or SHARE UPDATE EXCLUSIVE concurrently)."""
    if concurrently:
        return Impact(
            table,
            Lock.SHARE_UPDATE_EXCLUSIVE,
            scans=True,
            note="concurrent",
            action=Action.BUILD_INDEX,
            subject=name,
        )
    return Impact(
        table,
        Lock.SHARE,
        scans=True,
        note="blocks writes while it builds",
        action=Action.BUILD_INDEX,
        subject=name,
    )


def index_drop(table: str, name: str, concurrently: bool) -> Impact:
    """Dropping index ``name`` of ``table`` (ACCESS EXCLUSIVE; concurrently, SHARE UPDATE
    EXCLUSIVE)."""
    lock = Lock.SHARE_UPDATE_EXCLUSIVE if concurrently else Lock.ACCESS_EXCLUSIVE
    return Impact(table, lock, action=Action.DROP_INDEX, subject=name)


def foreign_key_impacts(table: str, name: str, ref: str, validated: bool) -> list[Impact]:
    """Adding foreign key ``name`` from ``table`` to ``ref``: both tables locked, a scan
    unless added ``NOT VALID``."""
    note = "validates every row" if validated else "NOT VALID: no scan"
    return [
        Impact(
            table,
            Lock.SHARE_ROW_EXCLUSIVE,
            scans=validated,
            note=note,
            action=Action.ADD_FOREIGN_KEY,
            subject=name,
        ),
        Impact(ref, Lock.SHARE_ROW_EXCLUSIVE, note="referenced table", action=Action.REFERENCED),
    ]


def check_impact(table: str, name: str, validated: bool) -> Impact:
    """Adding check ``name`` to ``table``: a scan unless added ``NOT VALID``."""
    note = "validates every row" if validated else "NOT VALID: no scan"
    return Impact(
        table,
        Lock.ACCESS_EXCLUSIVE,
        scans=validated,
        note=note,
        action=Action.ADD_CHECK,
        subject=name,
    )


def validate_impact(table: str, name: str) -> Impact:
    """Validating constraint ``name`` of ``table``: a scan under SHARE UPDATE EXCLUSIVE."""
    return Impact(
        table,
        Lock.SHARE_UPDATE_EXCLUSIVE,
        scans=True,
        note="writes continue",
        action=Action.VALIDATE_CONSTRAINT,
        subject=name,
    )


def constraint_index_build(table: str, name: str, action: Action, scans: bool = True) -> Impact:
    """Adding a unique or primary key constraint under ACCESS EXCLUSIVE: its index is built
    (a scan) or, ``USING INDEX``, an existing one adopted."""
    note = "builds an index" if scans else "adopts an existing index"
    return Impact(table, Lock.ACCESS_EXCLUSIVE, scans=scans, note=note, action=action, subject=name)


def catalog_change(table: str, action: Action, subject: str = "") -> Impact:
    """A catalog-only change of ``table`` under ACCESS EXCLUSIVE (brief, but it queues)."""
    return Impact(table, Lock.ACCESS_EXCLUSIVE, note="catalog-only", action=action, subject=subject)


def dropped_table(table: str) -> Impact:
    """Dropping ``table``: ACCESS EXCLUSIVE, and its rows are gone."""
    return Impact(table, Lock.ACCESS_EXCLUSIVE, note="drops every row", action=Action.DROP_TABLE)


def created_table(references: set[str]) -> list[Impact]:
    """Creating a table: no live table is locked but those its foreign keys ``references``."""
    # A new table is invisible to others until commit; only referenced tables are locked.
    return [
        Impact(ref, Lock.SHARE_ROW_EXCLUSIVE, note="referenced table", action=Action.REFERENCED)
        for ref in sorted(references)
    ]
