"""Lint of dangerous DDL: rules over the facts of each operation, with acknowledgements.

Each :class:`Rule` has a name, a severity, the reason it matters on a live database and the
safe alternative. A rule looks at one operation with its :class:`Context`: the impacts
:mod:`dualorm.runner.impact` computed for it (the lock, rewrite, scan and data loss per table;
for ``run_sql`` read statement by statement from PostgreSQL's parse tree, never from patterns),
the schema just before the operation, the tables that existed before the migration started
(only those can hold live rows and live traffic), and the model schema, when known, for "still
used by code".

A spec acknowledges a finding per operation::

    - create_index:
        {name: ..., table: ..., columns: [...],
         acknowledge: [{rule: require-concurrent-index, reason: "table has 40 rows"}]}

``migrate lint`` exits 1 while an unacknowledged finding of severity error remains; in
production ``migrate up`` refuses such migrations (exit 3).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dualorm.runner.impact import impacts
from dualorm.runner.impact_model import Action, Hazard, Impact, Lock
from dualorm.schema import Schema, Table, as_key
from dualorm.spec.model import Migration
from dualorm.spec.ops import AddEnumValue, CreateEnum, Operation
from dualorm.spec.replay import start_of
from dualorm.spec.sqltext import quote_literal


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Context:
    """What a rule may look at besides the operation itself."""

    migration: Migration
    before: Schema
    """The schema just before this operation (earlier operations of the migration applied)."""
    preexisting: frozenset[tuple[str, str]]
    """Tables that existed before the migration started: they may hold rows and traffic."""
    models: Schema | None
    lock_timeout_ms: int | None
    impacts: tuple[Impact, ...] = ()
    """What the operation does to each table (:func:`dualorm.runner.impact.impacts`)."""

    def existing(self, table: str) -> bool:
        return as_key(table) in self.preexisting

    def may_hold_rows(self, table: str) -> bool:
        """Whether ``table`` may hold rows: it existed before the migration, or the specs do
        not know it (made by hand-written SQL, so assume it does)."""
        return self.existing(table) or as_key(table) not in self.before


Check = Callable[[Operation, Context], str | None]


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity
    reason: str
    alternative: str
    check: Check = field(repr=False, compare=False)


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    migration: str
    operation: str
    message: str
    reason: str
    alternative: str
    path: str | None = None
    line: int | None = None
    acknowledged: bool = False
    acknowledgement: str | None = None

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.ERROR and not self.acknowledged

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, enum.Enum) else v) for k, v in asdict(self).items()}


# -- the rules ---------------------------------------------------------------------------------
#
# A rule reads the facts runner/impact.py computed for the operation (``ctx.impacts``): what it
# does to each table, under which lock, and what makes it dangerous. A hand-written statement
# of run_sql has the same facts as the operation it is equivalent to, so it meets the same rules.


def _on_existing(ctx: Context, action: Action) -> Iterator[Impact]:
    return (i for i in ctx.impacts if i.action is action and ctx.existing(i.table))


def _first(found: Iterable[str]) -> str | None:
    return next(iter(found), None)


def _index_not_concurrent(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"CREATE INDEX {i.subject} on {i.table} blocks writes while it builds"
        for i in _on_existing(ctx, Action.BUILD_INDEX)
        if i.lock.blocks_writes
    )


def _drop_index_not_concurrent(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"DROP INDEX {i.subject} takes ACCESS EXCLUSIVE on {i.table}"
        for i in _on_existing(ctx, Action.DROP_INDEX)
        if i.lock is Lock.ACCESS_EXCLUSIVE
    )


def _fk_validated(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"{i.subject} validates every row of {i.table} while blocking writes"
        for i in _on_existing(ctx, Action.ADD_FOREIGN_KEY)
        if i.scans
    )


def _check_validated(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"{i.subject} scans {i.table} under {i.lock.label}"
        for i in _on_existing(ctx, Action.ADD_CHECK)
        if i.scans
    )


def _hazard(ctx: Context, hazard: Hazard) -> Iterator[Impact]:
    return (i for i in ctx.impacts if hazard in i.hazards and ctx.existing(i.table))


def _set_not_null(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"SET NOT NULL on {i.table}.{i.subject} scans the table under {i.lock.label}"
        for i in _hazard(ctx, Hazard.SETS_NOT_NULL)
    )


def _rewriting_type(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"{i.table}.{i.subject} {i.note} under {i.lock.label}"
        for i in _hazard(ctx, Hazard.TYPE_REWRITE)
    )


def _volatile_default(op: Operation, ctx: Context) -> str | None:
    return _first(f"{i.table}.{i.subject}: {i.note}" for i in _hazard(ctx, Hazard.VOLATILE_DEFAULT))


def _generated_column(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"{i.table}.{i.subject} is generated (STORED): adding it computes every row "
        "and rewrites the table"
        for i in _hazard(ctx, Hazard.GENERATED)
    )


def _not_null_without_default(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"{i.table}.{i.subject} is NOT NULL without a default: fails on any row"
        for i in _hazard(ctx, Hazard.FAILS_ON_ROWS)
    )


def _drop_column_in_use(op: Operation, ctx: Context) -> str | None:
    if ctx.models is None:
        return None
    for i in ctx.impacts:
        model = ctx.models.get(i.table) if i.action is Action.DROP_COLUMN else None
        if model is not None and model.column(i.subject) is not None:
            return f"{i.table}.{i.subject} is still declared by the models"
    return None


def _drop_table_in_use(op: Operation, ctx: Context) -> str | None:
    if ctx.models is None:
        return None
    return _first(
        f"{i.table} is still declared by the models"
        for i in ctx.impacts
        if i.action is Action.DROP_TABLE and as_key(i.table) in ctx.models
    )


def _rename_column(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"renaming {i.table}.{i.subject} breaks code still reading the old name"
        for i in _on_existing(ctx, Action.RENAME_COLUMN)
    )


def _rename_table(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"renaming {i.table} breaks code still reading the old name"
        for i in _on_existing(ctx, Action.RENAME_TABLE)
    )


def _unique_without_index(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"{i.subject} builds its index under {i.lock.label} on {i.table}"
        for i in _on_existing(ctx, Action.ADD_UNIQUE)
        if i.scans
    )


def _primary_key_on_existing(op: Operation, ctx: Context) -> str | None:
    return _first(
        f"{i.subject or 'the primary key'} builds its index under {i.lock.label} on {i.table}"
        for i in _on_existing(ctx, Action.ADD_PRIMARY_KEY)
        if i.scans
    )


def _locks_live(ctx: Context, impact: Impact) -> bool:
    return impact.opaque or ctx.existing(impact.table)


def _exclusive_then_more(op: Operation, ctx: Context) -> str | None:
    ops = ctx.migration.operations
    position = next((i for i, o in enumerate(ops) if o is op), None)
    if position is None or position == len(ops) - 1:
        return None
    for impact in ctx.impacts:
        if impact.lock is Lock.ACCESS_EXCLUSIVE and _locks_live(ctx, impact):
            later = len(ops) - position - 1
            return (
                f"ACCESS EXCLUSIVE on {impact.table} is held while {later} more "
                "operation(s) of the migration run"
            )
    return None


def _lock_timeout(op: Operation, ctx: Context) -> str | None:
    if ctx.lock_timeout_ms:
        return None
    if any(i.lock >= Lock.SHARE and _locks_live(ctx, i) for i in ctx.impacts):
        return "no lock_timeout: a blocked ALTER queues every later query behind it"
    return None


def _raw_sql(op: Operation, ctx: Context) -> str | None:
    if op.opaque:
        return f"{op.describe()} cannot be checked by the lint"
    return None


def _irreversible(op: Operation, ctx: Context) -> str | None:
    return None if op.reversible else f"{op.describe()} cannot be rolled back"


def _destructive(op: Operation, ctx: Context) -> str | None:
    lost = [i.describe() for i in ctx.impacts if i.loses_data and ctx.may_hold_rows(i.table)]
    if not lost and not (op.destructive and not ctx.impacts):
        return None
    details = [d for d in lost if d != op.describe()]
    said = f" ({', '.join(details)})" if details else ""
    return f"{op.describe()} loses data{said}; a backup is the only way back"


def _concurrent_not_alone(op: Operation, ctx: Context) -> str | None:
    if not op.transactional and len(ctx.migration.operations) > 1:
        return "a concurrent index build must be the only operation of its migration"
    return None


def _expressions(t: Table) -> Iterator[str]:
    for c in t.columns:
        yield from (text for text in (c.default, c.generated) if text is not None)
    yield from (c.expression for c in t.checks)
    for i in t.indexes:
        yield from i.columns
        if i.where is not None:
            yield i.where


def _label_used_where_added(op: Operation, ctx: Context) -> str | None:
    ops = ctx.migration.operations
    position = next((i for i, o in enumerate(ops) if o is op), len(ops))
    created = {o.enum.key for o in ops[:position] if isinstance(o, CreateEnum)}
    added = [
        (o.enum, o.label)
        for o in ops[:position]
        if isinstance(o, AddEnumValue) and o.enum.key not in created
    ]
    if not added:
        return None
    # The label's constant as the server spells it in a default, a check or a predicate.
    spelled = {f"{quote_literal(label)}::{enum.reference}": label for enum, label in added}
    old = {text for t in ctx.before for text in _expressions(t)}
    new = {text for t in op.apply(ctx.before) for text in _expressions(t)} - old
    for text in sorted(new):
        for constant, label in spelled.items():
            if constant in text:
                return f"{op.describe()} uses label {label!r}, added earlier in this migration"
    return None


RULES: tuple[Rule, ...] = (
    Rule(
        "require-concurrent-index",
        Severity.ERROR,
        "CREATE INDEX takes a SHARE lock: every INSERT/UPDATE/DELETE waits for the build.",
        "create_index with concurrently: true, alone in its migration.",
        _index_not_concurrent,
    ),
    Rule(
        "require-concurrent-index-drop",
        Severity.WARNING,
        "DROP INDEX takes ACCESS EXCLUSIVE: reads and writes wait.",
        "drop_index with concurrently: true, alone in its migration.",
        _drop_index_not_concurrent,
    ),
    Rule(
        "foreign-key-not-valid",
        Severity.ERROR,
        "Adding a validated foreign key scans the table while blocking writes on both tables.",
        "add_foreign_key with not_valid: true, then validate_constraint in a later migration.",
        _fk_validated,
    ),
    Rule(
        "check-not-valid",
        Severity.ERROR,
        "Adding a validated CHECK scans the whole table under ACCESS EXCLUSIVE.",
        "add_check with not_valid: true, then validate_constraint in a later migration.",
        _check_validated,
    ),
    Rule(
        "set-not-null",
        Severity.ERROR,
        "SET NOT NULL scans the table under ACCESS EXCLUSIVE unless a validated "
        "CHECK (col IS NOT NULL) already proves it.",
        "add_check (col IS NOT NULL) not_valid, validate_constraint, then alter_column "
        "nullable: false, then drop the check.",
        _set_not_null,
    ),
    Rule(
        "rewriting-type-change",
        Severity.ERROR,
        "This type change rewrites every row and every index under ACCESS EXCLUSIVE.",
        "add a new column, backfill in batches, switch reads, drop the old column.",
        _rewriting_type,
    ),
    Rule(
        "volatile-default",
        Severity.ERROR,
        "A volatile default is evaluated per row: ADD COLUMN rewrites the table.",
        "add the column without a default (or with a constant), backfill in batches, "
        "then set the default.",
        _volatile_default,
    ),
    Rule(
        "generated-column",
        Severity.ERROR,
        "Adding a stored generated column computes it for every row: the table is rewritten "
        "under ACCESS EXCLUSIVE.",
        "add a plain nullable column, backfill it in batches and keep it current from the "
        "application or a trigger; or acknowledge the rewrite for a small table.",
        _generated_column,
    ),
    Rule(
        "not-null-without-default",
        Severity.ERROR,
        "A NOT NULL column without a default cannot be added to a table that has rows.",
        "add it nullable or with a constant default; backfill; then SET NOT NULL safely.",
        _not_null_without_default,
    ),
    Rule(
        "drop-column-in-use",
        Severity.ERROR,
        "The models still declare this column: running code will fail on its next query.",
        "remove the column from both model sets and deploy first; drop it in a later release.",
        _drop_column_in_use,
    ),
    Rule(
        "drop-table-in-use",
        Severity.ERROR,
        "The models still declare this table: running code will fail on its next query.",
        "remove the model from both model sets and deploy first; drop it in a later release.",
        _drop_table_in_use,
    ),
    Rule(
        "rename-column",
        Severity.ERROR,
        "Code deployed before the migration still uses the old name.",
        "expand and contract: add the new column, write both, backfill, switch, drop the old.",
        _rename_column,
    ),
    Rule(
        "rename-table",
        Severity.ERROR,
        "Code deployed before the migration still uses the old name.",
        "create the new table (or a view with the old name) and move in steps.",
        _rename_table,
    ),
    Rule(
        "unique-without-index",
        Severity.ERROR,
        "ADD CONSTRAINT UNIQUE builds its index under ACCESS EXCLUSIVE.",
        "create_index unique: true, concurrently: true; then add the constraint USING INDEX.",
        _unique_without_index,
    ),
    Rule(
        "primary-key-on-existing",
        Severity.ERROR,
        "ADD PRIMARY KEY builds its index under ACCESS EXCLUSIVE.",
        "create a unique index concurrently, then add the primary key USING INDEX.",
        _primary_key_on_existing,
    ),
    Rule(
        "exclusive-lock-held",
        Severity.WARNING,
        "An ACCESS EXCLUSIVE lock is held until commit: later statements of the same "
        "migration extend the outage.",
        "put the locking operation last, or in a migration of its own.",
        _exclusive_then_more,
    ),
    Rule(
        "missing-lock-timeout",
        Severity.ERROR,
        "Without lock_timeout, an ALTER waiting behind a long transaction blocks every "
        "query queued after it.",
        "keep the runner's lock_timeout (default 5s) with retries.",
        _lock_timeout,
    ),
    Rule(
        "raw-sql",
        Severity.WARNING,
        "Raw SQL and Python steps are opaque to the lint and the plan.",
        "prefer declarative operations; acknowledge with the reason it is safe.",
        _raw_sql,
    ),
    Rule(
        "irreversible",
        Severity.WARNING,
        "This migration cannot be rolled back with migrate down.",
        "give run_sql a reverse_sql and run_python a reverse function.",
        _irreversible,
    ),
    Rule(
        "destructive",
        Severity.ERROR,
        "This deletes rows (drops a table or a column, truncates, deletes every row), whether "
        "written as an operation or in run_sql; only a backup brings them back.",
        "keep the data until it is verified unused, take a backup (production runs do), and "
        "acknowledge this rule with the reason the data may go.",
        _destructive,
    ),
    Rule(
        "enum-label-used-where-added",
        Severity.ERROR,
        "PostgreSQL refuses to use a label ALTER TYPE ... ADD VALUE added until that "
        "transaction commits (unsafe use of new value): the migration fails.",
        "use the new label (in a default, a check, an index predicate) in a later spec.",
        _label_used_where_added,
    ),
    Rule(
        "concurrent-not-alone",
        Severity.ERROR,
        "A concurrent index build cannot run inside a transaction with other operations.",
        "move it into a migration of its own.",
        _concurrent_not_alone,
    ),
)

RULES_BY_NAME = {rule.name: rule for rule in RULES}


def lint_migration(
    migration: Migration,
    before: Schema,
    *,
    models: Schema | None = None,
    lock_timeout_ms: int | None = 5000,
    rules: Sequence[Rule] = RULES,
) -> tuple[list[Finding], Schema]:
    """Lint one migration applied on top of ``before``; return findings and the schema after."""
    findings: list[Finding] = []
    preexisting = frozenset(before.keys())
    state = before
    for op in migration.operations:
        found = tuple(impacts(op, state))
        ctx = Context(migration, state, preexisting, models, lock_timeout_ms, found)
        accepted = {ack.rule: ack.reason for ack in op.acknowledge}
        for rule in rules:
            message = rule.check(op, ctx)
            if message is None:
                continue
            findings.append(
                Finding(
                    rule=rule.name,
                    severity=rule.severity,
                    migration=migration.id,
                    operation=op.describe(),
                    message=message,
                    reason=rule.reason,
                    alternative=rule.alternative,
                    path=str(migration.path) if migration.path else None,
                    line=op.line,
                    acknowledged=rule.name in accepted,
                    acknowledgement=accepted.get(rule.name),
                )
            )
        state = op.apply(state)
    return findings, state


def lint(
    migrations: Iterable[Migration],
    *,
    only: Iterable[str] | None = None,
    models: Schema | None = None,
    lock_timeout_ms: int | None = 5000,
) -> list[Finding]:
    """Lint ``migrations`` (in apply order); with ``only``, report just those ids.

    Every migration is replayed, from the tables other owners create, so that each one is
    judged against the schema it will meet.
    """

    migrations = list(migrations)
    wanted = None if only is None else set(only)
    state = start_of(migrations)
    findings: list[Finding] = []
    before: dict[str, Schema] = {}
    for migration in migrations:
        before[migration.id] = state
        if migration.replaces and migration.replaces[0] in before:
            # A squash is judged on the schema it meets where it runs, in place of the specs
            # it replaces; after it the schema is theirs (dualorm.spec.squash).
            base = before[migration.replaces[0]]
            found, _ = lint_migration(
                migration, base, models=models, lock_timeout_ms=lock_timeout_ms
            )
        else:
            found, state = lint_migration(
                migration, state, models=models, lock_timeout_ms=lock_timeout_ms
            )
        if wanted is None or migration.id in wanted:
            findings.extend(found)
    return findings


def unknown_acknowledgements(migrations: Iterable[Migration]) -> list[str]:
    """Return ``"<id>:<line>: <rule>"`` for every acknowledgement naming no known rule."""
    return [
        f"{m.id}:{op.line}: {ack.rule}"
        for m in migrations
        for op in m.operations
        for ack in op.acknowledge
        if ack.rule not in RULES_BY_NAME
    ]
