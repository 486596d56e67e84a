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

Each :class:`Impact` says what happens to one table (:class:`Action`), under which lock, and
why it is dangerous beyond the lock (:class:`Hazard`); the lint rules read these facts instead
of testing operation classes.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from dualorm.schema import DEFAULT_SCHEMA, Column, Schema, Table, as_key, canonical_type
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
from dualorm.spec.sqlcheck import Effect, StatementFact, statement_facts


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
    return [_altered(op.table, op.to.name, hazards, f"{op.from_.type} -> {op.to.type}")]


def _altered(table: str, column: str, hazards: Hazard, change: str) -> Impact:
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


@impacts.register
def _add_column(op: AddColumn, before: Schema) -> list[Impact]:
    column = op.column
    return [
        _added(
            op.table,
            column.name,
            default=column.default,
            nullable=column.nullable,
            generated=column.generated is not None,
            identity=column.identity is not None,
        )
    ]


def _added(
    table: str, column: str, *, default: str | None, nullable: bool, generated: bool, identity: bool
) -> Impact:
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


def _index_build(table: str, name: str, concurrently: bool) -> Impact:
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


def _index_drop(table: str, name: str, concurrently: bool) -> Impact:
    lock = Lock.SHARE_UPDATE_EXCLUSIVE if concurrently else Lock.ACCESS_EXCLUSIVE
    return Impact(table, lock, action=Action.DROP_INDEX, subject=name)


@impacts.register
def _create_index(op: CreateIndex, before: Schema) -> list[Impact]:
    return [_index_build(op.table, op.index.name, op.concurrently)]


@impacts.register
def _drop_index(op: DropIndex, before: Schema) -> list[Impact]:
    return [_index_drop(op.table, op.index.name, op.concurrently)]


def _foreign_key(table: str, name: str, ref: str, validated: bool) -> list[Impact]:
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


@impacts.register
def _add_foreign_key(op: AddForeignKey, before: Schema) -> list[Impact]:
    fk = op.constraint
    ref = fk.ref_table if fk.ref_schema == DEFAULT_SCHEMA else f"{fk.ref_schema}.{fk.ref_table}"
    return _foreign_key(op.table, fk.name, ref, fk.validated)


def _check(table: str, name: str, validated: bool) -> Impact:
    note = "validates every row" if validated else "NOT VALID: no scan"
    return Impact(
        table,
        Lock.ACCESS_EXCLUSIVE,
        scans=validated,
        note=note,
        action=Action.ADD_CHECK,
        subject=name,
    )


@impacts.register
def _add_check(op: AddCheck, before: Schema) -> list[Impact]:
    return [_check(op.table, op.constraint.name, op.constraint.validated)]


def _validate(table: str, name: str) -> Impact:
    return Impact(
        table,
        Lock.SHARE_UPDATE_EXCLUSIVE,
        scans=True,
        note="writes continue",
        action=Action.VALIDATE_CONSTRAINT,
        subject=name,
    )


@impacts.register
def _validate_constraint(op: ValidateConstraint, before: Schema) -> list[Impact]:
    return [_validate(op.table, op.name)]


def _builds_constraint_index(table: str, name: str, action: Action, scans: bool = True) -> Impact:
    note = "builds an index" if scans else "adopts an existing index"
    return Impact(table, Lock.ACCESS_EXCLUSIVE, scans=scans, note=note, action=action, subject=name)


@impacts.register
def _add_unique(op: AddUnique, before: Schema) -> list[Impact]:
    return [_builds_constraint_index(op.table, op.constraint.name, Action.ADD_UNIQUE)]


@impacts.register
def _add_primary_key(op: AddPrimaryKey, before: Schema) -> list[Impact]:
    return [_builds_constraint_index(op.table, op.constraint.name, Action.ADD_PRIMARY_KEY)]


def _catalog(table: str, action: Action, subject: str = "") -> Impact:
    return Impact(table, Lock.ACCESS_EXCLUSIVE, note="catalog-only", action=action, subject=subject)


@impacts.register
def _rename_table(op: RenameTable, before: Schema) -> list[Impact]:
    return [_catalog(op.table, Action.RENAME_TABLE)]


@impacts.register
def _drop_column(op: DropColumn, before: Schema) -> list[Impact]:
    return [_catalog(op.table, Action.DROP_COLUMN, op.column.name)]


@impacts.register
def _rename_column(op: RenameColumn, before: Schema) -> list[Impact]:
    return [_catalog(op.table, Action.RENAME_COLUMN, op.old_name)]


@impacts.register
def _alter_foreign_key(op: AlterForeignKey, before: Schema) -> list[Impact]:
    # Measured on PostgreSQL 15 and 16: ACCESS EXCLUSIVE on the table, no row read.
    return [_catalog(op.table, Action.ALTER_FOREIGN_KEY, op.name)]


@impacts.register
def _drop_constraint(op: DropConstraint, before: Schema) -> list[Impact]:
    return [_catalog(op.table, Action.DROP_CONSTRAINT, op.constraint.name)]


@impacts.register
def _drop_table(op: DropTable, before: Schema) -> list[Impact]:
    return [_dropped_table(op.table.qualified_name)]


def _dropped_table(table: str) -> Impact:
    return Impact(table, Lock.ACCESS_EXCLUSIVE, note="drops every row", action=Action.DROP_TABLE)


def _created_table(references: set[str]) -> list[Impact]:
    # A new table is invisible to others until commit; only referenced tables are locked.
    return [
        Impact(ref, Lock.SHARE_ROW_EXCLUSIVE, note="referenced table", action=Action.REFERENCED)
        for ref in sorted(references)
    ]


@impacts.register
def _create_table(op: CreateTable, before: Schema) -> list[Impact]:
    refs = {fk.ref_table for fk in op.table.foreign_keys if fk.ref_key != op.table.key}
    return _created_table(refs)


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
    # The type is rebuilt: every column of it is converted, its table rewritten.
    return [
        _altered(table, c.name, Hazard.TYPE_REWRITE, f"{c.type} rebuilt without {op.label!r}")
        for table, c in op.users
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


def statement_impacts(fact: StatementFact, before: Schema) -> list[Impact]:
    """Return the impacts of one classified statement of ``run_sql`` on ``before``.

    The locks are those of the equivalent operation; an unclassified statement is opaque.
    """
    what = _STATEMENTS.get(fact.effect)
    found = None if what is None else what(fact, before)
    if found is None:
        text = fact.statement
        return [opaque_impact(f"{text[:60]}{'...' if len(text) > 60 else ''}" or "run SQL")]
    return found


def _subject(fact: StatementFact) -> str:
    return fact.name or ""


def _table(fact: StatementFact) -> str:
    return fact.tables[0]


def _losing(fact: StatementFact, before: Schema) -> list[Impact]:
    if fact.effect is Effect.DROPS_TABLE:
        return [_dropped_table(t) for t in fact.tables]
    if fact.effect is Effect.TRUNCATES:
        return [
            Impact(t, Lock.ACCESS_EXCLUSIVE, note="removes every row", action=Action.TRUNCATE)
            for t in fact.tables
        ]
    # DELETE takes ROW EXCLUSIVE, which blocks no reader or writer, and reads every row.
    return [
        Impact(
            t,
            Lock.ROW_EXCLUSIVE,
            scans=True,
            note="deletes every row",
            action=Action.DELETE_ALL,
        )
        for t in fact.tables
    ]


def _writes(fact: StatementFact, before: Schema) -> list[Impact]:
    return [Impact(_table(fact), Lock.ROW_EXCLUSIVE, note="row locks", action=Action.WRITE_ROWS)]


def _creates(fact: StatementFact, before: Schema) -> list[Impact]:
    return _created_table(set(fact.references))


def _column_type(before: Schema, table: str, column: str) -> str | None:
    found = before.get(table)
    current = found.column(column) if found is not None else None
    return None if current is None else current.type


def _alters_type(fact: StatementFact, before: Schema) -> list[Impact]:
    old = _column_type(before, _table(fact), _subject(fact))
    new = canonical_type(fact.type or "")
    # A USING expression, or a column the specs do not know, is assumed to rewrite.
    rewrites = fact.using or old is None or type_change_rewrites(old, new)
    hazards = Hazard.TYPE_REWRITE if rewrites else Hazard.NONE
    return [_altered(_table(fact), _subject(fact), hazards, f"{old or '?'} -> {new}")]


def _sets_not_null(fact: StatementFact, before: Schema) -> list[Impact]:
    proven = not_null_proven(before, _table(fact), _subject(fact))
    hazards = Hazard.NONE if proven else Hazard.SETS_NOT_NULL
    return [_altered(_table(fact), _subject(fact), hazards, "")]


def _adds_column(fact: StatementFact, before: Schema) -> list[Impact]:
    return [
        _added(
            _table(fact),
            _subject(fact),
            default=fact.default,
            nullable=not fact.not_null,
            generated=fact.generated,
            identity=fact.identity,
        )
    ]


def _drops_index(fact: StatementFact, before: Schema) -> list[Impact] | None:
    owner = _index_owner(before, _subject(fact))
    if owner is None:
        return None
    name = as_key(_subject(fact))[1]
    return [_index_drop(owner.qualified_name, name, fact.concurrently)]


def _index_owner(before: Schema, index: str) -> Table | None:
    schema_name, name = as_key(index)
    return next(
        (t for t in before if t.schema == schema_name and any(i.name == name for i in t.indexes)),
        None,
    )


def _adds_constraint_index(fact: StatementFact, before: Schema) -> list[Impact]:
    table = _table(fact)
    action = Action.ADD_UNIQUE if fact.effect is Effect.ADDS_UNIQUE else Action.ADD_PRIMARY_KEY
    scans = fact.using_index is None
    if not scans and action is Action.ADD_PRIMARY_KEY:
        # USING INDEX adopts the index; a primary key still scans for NULLs unless its
        # columns are NOT NULL already.
        found = before.get(table)
        index = (
            next((i for i in found.indexes if i.name == fact.using_index), None) if found else None
        )
        columns = [found.column(c) for c in index.columns] if found and index else [None]
        scans = any(c is None or c.nullable for c in columns)
    return [_builds_constraint_index(table, _subject(fact), action, scans)]


def _catalog_only(action: Action) -> StatementRule:
    def rule(fact: StatementFact, before: Schema) -> list[Impact]:
        return [_catalog(t, action, _subject(fact)) for t in fact.tables]

    return rule


def _creates_index(fact: StatementFact, before: Schema) -> list[Impact]:
    return [_index_build(_table(fact), _subject(fact), fact.concurrently)]


def _adds_foreign_key(fact: StatementFact, before: Schema) -> list[Impact]:
    return _foreign_key(_table(fact), _subject(fact), fact.references[0], fact.validated)


def _adds_check(fact: StatementFact, before: Schema) -> list[Impact]:
    return [_check(_table(fact), _subject(fact), fact.validated)]


def _validates(fact: StatementFact, before: Schema) -> list[Impact]:
    return [_validate(_table(fact), _subject(fact))]


_STATEMENTS: dict[Effect, StatementRule] = {
    Effect.DROPS_TABLE: _losing,
    Effect.TRUNCATES: _losing,
    Effect.DELETES_ALL: _losing,
    Effect.WRITES_ROWS: _writes,
    Effect.CREATES_TABLE: _creates,
    Effect.RENAMES_TABLE: _catalog_only(Action.RENAME_TABLE),
    Effect.ADDS_COLUMN: _adds_column,
    Effect.DROPS_COLUMN: _catalog_only(Action.DROP_COLUMN),
    Effect.ALTERS_TYPE: _alters_type,
    Effect.SETS_NOT_NULL: _sets_not_null,
    Effect.ALTERS_COLUMN: _catalog_only(Action.ALTER_COLUMN),
    Effect.RENAMES_COLUMN: _catalog_only(Action.RENAME_COLUMN),
    Effect.CREATES_INDEX: _creates_index,
    Effect.DROPS_INDEX: _drops_index,
    Effect.ADDS_FOREIGN_KEY: _adds_foreign_key,
    Effect.ADDS_CHECK: _adds_check,
    Effect.ADDS_UNIQUE: _adds_constraint_index,
    Effect.ADDS_PRIMARY_KEY: _adds_constraint_index,
    Effect.VALIDATES_CONSTRAINT: _validates,
    Effect.DROPS_CONSTRAINT: _catalog_only(Action.DROP_CONSTRAINT),
}
"""How each classified statement effect locks, through the same helpers as the operations."""


def existing(table: str, before: Schema) -> bool:
    """Return whether ``table`` exists before the migration (so live rows may be affected)."""
    return as_key(table) in before
