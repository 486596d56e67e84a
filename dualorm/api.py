"""Plain functions behind ``dualorm migrate up|down|status`` (Alembic's ``command.py``), their
result values, and the plumbing every mutating command shares (lock, environment check, audit).

Each takes a :class:`~dualorm.config.Config`, does its work and returns a result value; progress
goes to an optional callback and nothing is printed. The CLI and ``manage.py dualmigrate``
render these results, so both behave the same and exit the same way. ``migrate baseline``
(:func:`baseline`, :class:`BaselineResult`) lives in :mod:`dualorm.runner.adopt` and is re-exported
here.

Every mutating command takes the migration lock first, then checks the environment label,
the checksums of applied specs and the agreement of the three ledgers, and only then plans;
any refusal happens before a statement runs. Each run leaves one ``dualorm.audit`` row.
Neither SQLAlchemy nor Django is imported on these paths.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dualorm.audit import RunContext, log, record_run
from dualorm.environment import may_label
from dualorm.errors import (
    ChecksumMismatch,
    DependentsExist,
    DualormError,
    GraphError,
    LedgerError,
    SafetyError,
    UsageError,
)
from dualorm.runner import foreign, ledger
from dualorm.runner.adopt import BaselineResult, baseline
from dualorm.runner.locks import LockHolder, MigrationLock, claim_session, lock_holder
from dualorm.runner.runner import (
    DatabaseSink,
    Event,
    MigrationOutcome,
    Progress,
    RunOptions,
    ScriptSink,
    plan_migration,
    run,
)

if TYPE_CHECKING:
    import psycopg

    from dualorm.config import Config
    from dualorm.runner.rehearsal import Rehearsal
    from dualorm.spec.graph import MigrationGraph
    from dualorm.spec.model import Migration

__all__ = [
    "BaselineResult",
    "MigrateResult",
    "MigrationStatus",
    "StatusReport",
    "baseline",
    "migrate_down",
    "migrate_status",
    "migrate_up",
]

LockWait = Callable[[LockHolder | None], None]


@dataclass(frozen=True)
class MigrateResult:
    """What ``migrate up`` or ``migrate down`` did (or, dry, would do)."""

    command: str
    correlation_id: str
    environment: str
    planned: tuple[str, ...]
    outcomes: tuple[MigrationOutcome, ...] = ()
    script: str | None = None
    rehearsal: Rehearsal | None = None
    """A dry run's real execution, rolled back: per-statement timings and locks observed."""

    @property
    def done(self) -> tuple[str, ...]:
        return tuple(o.migration_id for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "command": self.command,
            "correlation_id": self.correlation_id,
            "environment": self.environment,
            "planned": list(self.planned),
            "migrations": [o.to_dict() for o in self.outcomes],
            "dry_run": self.script is not None,
        }
        if self.rehearsal is not None:
            data["rehearsal"] = self.rehearsal.to_dict()
        return data


@dataclass(frozen=True)
class MigrationStatus:
    """One migration as ``status`` shows it.

    ``state`` is ``applied``, ``pending``, or ``unknown`` (applied, but no spec has its id);
    ``checksum`` is ``ok`` or ``changed`` for applied ones (``None`` otherwise).
    """

    id: str
    name: str
    state: str
    checksum: str | None = None
    applied_at: datetime | None = None
    duration_ms: int | None = None
    applied_by: str | None = None
    correlation_id: str | None = None
    outcome: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "checksum": self.checksum,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "duration_ms": self.duration_ms,
            "applied_by": self.applied_by,
            "correlation_id": self.correlation_id,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class StatusReport:
    """Every migration's state, the environment label and the lock holder, if any."""

    migrations: tuple[MigrationStatus, ...]
    environment: str | None
    lock_holder: LockHolder | None
    ledgers_agree: bool = True
    ledger_problem: str | None = None

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.migrations if m.state == "pending")

    @property
    def applied(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.migrations if m.state != "pending")

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.migrations if m.checksum == "changed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "lock_holder": self.lock_holder.to_dict() if self.lock_holder else None,
            "ledgers_agree": self.ledgers_agree,
            "ledger_problem": self.ledger_problem,
            "applied": len(self.applied),
            "pending": len(self.pending),
            "changed": list(self.changed),
            "migrations": [m.to_dict() for m in self.migrations],
        }


# -- shared plumbing -------------------------------------------------------------------------


@dataclass
class _Specs:
    migrations: list[Migration]
    by_id: dict[str, Migration] = field(init=False)
    graph: MigrationGraph = field(init=False)

    def __post_init__(self) -> None:
        from dualorm.spec.graph import MigrationGraph
        from dualorm.spec.make import chain_parents

        self.by_id = {m.id: m for m in self.migrations}
        # The emitted Alembic and Django files run each migration after the one before it
        # (one head for both tools); planning over that same chain keeps the three ledgers
        # able to record exactly what was applied.
        self.graph = MigrationGraph(chain_parents(self.migrations))

    def require(self, migration_id: str) -> None:
        if migration_id not in self.by_id:
            raise GraphError(f"unknown migration {migration_id}: no spec has that id")


def _load(config: Config) -> _Specs:
    # Unchanged specs come back from the state directory's cache: deploys run status and up
    # on the same directory every time, and parsing and replaying them is most of the work.
    from dualorm.spec.cache import cached_specs

    return _Specs(cached_specs(config.migrations_path, config.state_dir / "cache"))


def _options(config: Config, options: RunOptions | None) -> RunOptions:
    from dataclasses import replace

    base = options or RunOptions()
    return replace(base, django_app_label=config.django_app_label, python_root=config.root)


def _reporter(context: RunContext, progress: Progress | None) -> Progress:
    def report(event: Event) -> None:
        fields: dict[str, Any] = {"event": event.kind, "migration": event.migration_id}
        fields["direction"] = event.direction
        if event.statement is not None:
            fields["statement"] = event.statement
        if event.duration_ms is not None:
            fields["duration_ms"] = round(event.duration_ms, 3)
        if event.detail is not None:
            fields["detail"] = event.detail
        level = logging.ERROR if event.kind == "migration_failed" else logging.INFO
        if event.kind == "statement":
            level = logging.DEBUG
        log(
            level,
            f"{event.kind} {event.migration_id}",
            correlation_id=context.correlation_id,
            **fields,
        )
        if progress is not None:
            progress(event)

    return report


def _verify_checksums(specs: _Specs, applied: dict[str, ledger.AppliedMigration]) -> None:
    for migration in specs.migrations:
        row = applied.get(migration.id)
        if row is not None and row.checksum != migration.checksum:
            raise ChecksumMismatch(migration.id, row.checksum, migration.checksum)


@contextlib.contextmanager
def _locked_run(
    config: Config,
    context: RunContext,
    *,
    no_wait: bool,
    on_lock_wait: LockWait | None,
    label: bool,
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """Hold the lock, open the migration connection and check the environment label.

    A run that ends in a ``DualormError`` leaves its audit row here (``refused`` for a safety
    rule, ``failed`` otherwise); a successful run writes its own ``ok`` row.
    """
    from dualorm.db import connect, resolve_url

    url = resolve_url(config)
    with MigrationLock(
        url, context.correlation_id, context.host, wait=not no_wait, on_wait=on_lock_wait
    ):
        log(
            logging.INFO,
            "lock acquired",
            correlation_id=context.correlation_id,
            command=context.command,
        )
        conn = connect(url, autocommit=True)
        try:
            claim_session(conn)
            with conn.transaction():
                if label:
                    ledger.ensure_ledger(conn)
                # Only an explicit environment (or the embedded server) writes the label.
                writes = label and may_label(config)
                ledger.check_environment(conn, config.environment, label=writes)
            yield conn
        except DualormError as error:
            outcome = "refused" if isinstance(error, SafetyError) else "failed"
            _audit_quietly(conn, context, outcome, {"error": str(error)})
            raise
        finally:
            conn.close()


def _audit_quietly(
    conn: psycopg.Connection[tuple[object, ...]],
    context: RunContext,
    outcome: str,
    detail: dict[str, Any],
) -> None:
    import psycopg

    # The audit row of a failed run must never hide why it failed.
    with contextlib.suppress(psycopg.Error, DualormError):
        if not conn.closed and ledger.ledger_exists(conn):
            record_run(conn, context, outcome, detail)


def _context(config: Config, command: str, correlation_id: str | None) -> RunContext:
    if correlation_id is None:
        return RunContext(command=command, environment=config.environment.value)
    return RunContext(
        command=command, environment=config.environment.value, correlation_id=correlation_id
    )


def _prepare(
    conn: psycopg.Connection[tuple[object, ...]], specs: _Specs, config: Config
) -> dict[str, ledger.AppliedMigration]:
    applied = ledger.applied_migrations(conn)
    _verify_checksums(specs, applied)
    foreign.check_agreement(conn, specs.graph, set(applied), config.django_app_label)
    return applied


# -- up ----------------------------------------------------------------------------------------


def migrate_up(
    config: Config,
    to: str | None = None,
    *,
    dry_run: bool = False,
    no_wait: bool = False,
    progress: Progress | None = None,
    on_lock_wait: LockWait | None = None,
    options: RunOptions | None = None,
    correlation_id: str | None = None,
) -> MigrateResult:
    """Apply every pending migration (or those ``to`` needs), each in its own transaction.

    Args:
        config: project configuration; the database is ``config.database_url`` or the
            embedded server.
        to: stop once this migration (and what it depends on) is applied.
        dry_run: change nothing: run the pending migrations in one transaction and roll it
            back (``rehearsal``: timings, locks observed), and return the script too.
        no_wait: refuse with :class:`~dualorm.errors.LockHeld` when another runner is busy.
        progress: called with each runner :class:`~dualorm.runner.runner.Event`.
        on_lock_wait: called with the holder while waiting for the lock.
        options: lock timeout, retries and backoff.
        correlation_id: use this id instead of a fresh one.

    Raises:
        EnvironmentMismatch, ChecksumMismatch, LockHeld: refused (exit 3), nothing changed.
        MigrationFailed: a migration failed and was rolled back; earlier ones stay applied.
    """
    specs = _load(config)
    if to is not None:
        specs.require(to)
    context = _context(config, "migrate up", correlation_id)
    opts = _options(config, options)
    if dry_run:
        return _dry_up(config, specs, to, context, opts)
    report = _reporter(context, progress)
    with _locked_run(
        config, context, no_wait=no_wait, on_lock_wait=on_lock_wait, label=True
    ) as conn:
        applied = _prepare(conn, specs, config)
        ids = [i for i in specs.graph.forwards_plan(to) if i not in applied]
        plan = [plan_migration(specs.by_id[i], "up") for i in ids]
        sink = DatabaseSink(conn, specs.graph, context, opts)
        outcomes = run(plan, sink, set(applied), options=opts, progress=report)
        record_run(conn, context, "ok", {"applied": ids, "to": to})
    return MigrateResult(
        "up", context.correlation_id, context.environment, tuple(ids), tuple(outcomes)
    )


def _dry_up(
    config: Config, specs: _Specs, to: str | None, context: RunContext, opts: RunOptions
) -> MigrateResult:
    from dualorm.db import connect, resolve_url

    with connect(resolve_url(config), autocommit=True) as conn:
        ledger.check_environment(conn, config.environment)
        applied = _prepare(conn, specs, config)
    ids = [i for i in specs.graph.forwards_plan(to) if i not in applied]
    plan = [plan_migration(specs.by_id[i], "up") for i in ids]
    sink = ScriptSink(lock_timeout_ms=opts.lock_timeout_ms)
    run(plan, sink, set(applied), options=opts)
    from dualorm.runner.rehearsal import rehearse

    rehearsal = rehearse(config, to, options=opts, correlation_id=context.correlation_id)
    return MigrateResult(
        "up",
        context.correlation_id,
        context.environment,
        tuple(ids),
        script=sink.text,
        rehearsal=rehearsal,
    )


# -- down --------------------------------------------------------------------------------------


def migrate_down(
    config: Config,
    *,
    migration_id: str | None = None,
    to: str | None = None,
    steps: int | None = None,
    cascade: bool = False,
    dry_run: bool = False,
    no_wait: bool = False,
    progress: Progress | None = None,
    on_lock_wait: LockWait | None = None,
    options: RunOptions | None = None,
    correlation_id: str | None = None,
) -> MigrateResult:
    """Roll back applied migrations, dependents first; by default the last one applied.

    Args:
        migration_id: roll back this migration; refused with
            :class:`~dualorm.errors.DependentsExist` while applied migrations depend on it,
            unless ``cascade`` (which rolls those back first).
        to: roll back everything applied that ``to`` does not need; ``to`` stays applied.
        steps: roll back the last ``steps`` migrations applied.

    At most one of ``migration_id``, ``to`` and ``steps``. Going down through an irreversible
    operation raises :class:`~dualorm.errors.IrreversibleError` before anything runs.
    """
    chosen = [x for x in (migration_id, to, steps) if x is not None]
    if len(chosen) > 1:
        raise UsageError("give at most one of --id, --to and --steps")
    if steps is not None and steps < 1:
        raise UsageError(f"--steps must be at least 1, not {steps}")
    specs = _load(config)
    for named in (migration_id, to):
        if named is not None:
            specs.require(named)
    context = _context(config, "migrate down", correlation_id)
    opts = _options(config, options)
    report = _reporter(context, progress)
    with _locked_run(
        config, context, no_wait=no_wait, on_lock_wait=on_lock_wait, label=False
    ) as conn:
        applied = _prepare(conn, specs, config)
        ids = _down_ids(specs, set(applied), migration_id, to, steps, cascade)
        plan = [plan_migration(specs.by_id[i], "down") for i in ids]
        if dry_run:
            sink = ScriptSink(lock_timeout_ms=opts.lock_timeout_ms)
            run(plan, sink, set(applied), options=opts)
            return MigrateResult(
                "down", context.correlation_id, context.environment, tuple(ids), script=sink.text
            )
        db_sink = DatabaseSink(conn, specs.graph, context, opts)
        outcomes = run(plan, db_sink, set(applied), options=opts, progress=report)
        if ledger.ledger_exists(conn):
            record_run(conn, context, "ok", {"rolled_back": ids})
    return MigrateResult(
        "down", context.correlation_id, context.environment, tuple(ids), tuple(outcomes)
    )


def _down_ids(
    specs: _Specs,
    applied: set[str],
    migration_id: str | None,
    to: str | None,
    steps: int | None,
    cascade: bool,
) -> list[str]:
    graph = specs.graph
    if migration_id is not None:
        if migration_id not in applied:
            return []
        order = [i for i in graph.backwards_plan(migration_id) if i in applied]
        dependents = [i for i in order if i != migration_id]
        if dependents and not cascade:
            raise DependentsExist(migration_id, dependents)
        return order
    everything = [i for i in graph.backwards_plan() if i in applied]
    if to is not None:
        keep = graph.ancestors(to)
        return [i for i in everything if i not in keep]
    return everything[: steps if steps is not None else 1]


# -- status ------------------------------------------------------------------------------------


def migrate_status(config: Config) -> StatusReport:
    """Report every migration (applied, pending, edited since), the label and the lock holder.

    Read-only: takes no lock and creates nothing.
    """
    from dualorm.db import connect, resolve_url

    specs = _load(config)
    with connect(resolve_url(config), autocommit=True) as conn:
        applied = ledger.applied_migrations(conn)
        label = ledger.environment_label(conn)
        holder = lock_holder(conn)
        problem = None
        try:
            foreign.check_agreement(conn, specs.graph, set(applied), config.django_app_label)
        except LedgerError as exc:
            problem = str(exc)
    rows = []
    for migration_id in specs.graph.forwards_plan():
        migration = specs.by_id[migration_id]
        row = applied.get(migration_id)
        if row is None:
            rows.append(MigrationStatus(migration.id, migration.name, "pending"))
            continue
        state = "ok" if row.checksum == migration.checksum else "changed"
        rows.append(_status_row(row, migration.name, "applied", state))
    for row in applied.values():
        if row.id not in specs.by_id:
            rows.append(_status_row(row, row.name, "unknown", None))
    return StatusReport(
        migrations=tuple(rows),
        environment=label.value if label else None,
        lock_holder=holder,
        ledgers_agree=problem is None,
        ledger_problem=problem,
    )


def _status_row(
    row: ledger.AppliedMigration, name: str, state: str, checksum: str | None
) -> MigrationStatus:
    return MigrationStatus(
        id=row.id,
        name=name,
        state=state,
        checksum=checksum,
        applied_at=row.applied_at,
        duration_ms=row.duration_ms,
        applied_by=row.applied_by,
        correlation_id=row.correlation_id,
        outcome=row.outcome,
    )
