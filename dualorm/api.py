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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dualorm.audit import RunContext, log, record_run
from dualorm.config import Environment
from dualorm.environment import may_label
from dualorm.errors import (
    ChecksumMismatch,
    DependentsExist,
    DualormError,
    LedgersDisagree,
    SafetyError,
    UsageError,
)
from dualorm.runner import foreign, ledger
from dualorm.runner.adopt import BaselineResult, baseline
from dualorm.runner.locks import LockHolder, MigrationLock, claim_session, lock_holder
from dualorm.runner.planned import RunOptions
from dualorm.runner.runner import (
    DatabaseSink,
    Event,
    MigrationOutcome,
    Progress,
    ScriptSink,
    run,
)
from dualorm.runner.specs import ProjectSpecs, load_project_specs

if TYPE_CHECKING:
    import psycopg

    from dualorm.config import Config
    from dualorm.runner.lint import Finding
    from dualorm.runner.production import Confirm, ProductionResult
    from dualorm.runner.rehearsal import Rehearsal
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
    production: ProductionResult | None = None
    """In production: the backup taken, the replicas waited for, what a failure undid."""

    @property
    def done(self) -> tuple[str, ...]:
        return tuple(o.migration_id for o in self.outcomes)

    @property
    def ok(self) -> bool:
        """False when a replica did not catch up or could not be reached (exit 1)."""
        if self.production is None:
            return True
        return all(r.reachable and r.caught_up is not False for r in self.production.replicas)

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
        if self.production is not None:
            data = {**self.production.to_dict(), **data}
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


def _options(config: Config, options: RunOptions | None, specs: ProjectSpecs) -> RunOptions:
    from dataclasses import replace

    base = options or RunOptions()
    apps = specs.django_apps(config.django_app_label)
    return replace(
        base, django_app_label=apps.default, django_apps=apps.of, python_root=config.root
    )


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


def _verify_checksums(specs: ProjectSpecs, applied: dict[str, ledger.AppliedMigration]) -> None:
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
    audit: bool = True,
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """Hold the lock, open the migration connection and check the environment label.

    A run that ends in a ``DualormError`` leaves its audit row here (``refused`` for a safety
    rule, ``failed`` otherwise); a successful run writes its own ``ok`` row. A dry run
    (``audit=False``) leaves the database exactly as it was, audit log included.
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
            if audit:
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


def check_history(
    conn: psycopg.Connection[tuple[object, ...]], specs: ProjectSpecs, config: Config
) -> dict[str, ledger.AppliedMigration]:
    """Return the applied migrations, refusing (exit 3) a history that cannot be planned on.

    Refused: an applied migration whose spec is gone, an applied spec edited since (its
    checksum), and ``alembic_version``/``django_migrations`` disagreeing with the ledger.
    """
    applied = ledger.applied_migrations(conn)
    specs.require_applied_known(set(applied), str(config.migrations_path))
    _verify_checksums(specs, applied)
    foreign.check_agreement(
        conn, specs.graph, set(applied), specs.django_apps(config.django_app_label)
    )
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
    confirm: Confirm | None = None,
    assume_yes: bool = False,
    max_downtime: float | None = None,
    backup: bool = True,
) -> MigrateResult:
    """Apply every pending migration (or those ``to`` needs), each in its own transaction.

    The environment's policy is chosen here, for every caller: in production the plan is
    linted (unacknowledged errors refuse), confirmed through ``confirm`` (or ``assume_yes``),
    a verified backup is taken, every statement runs inside the ``max_downtime`` budget, a
    failure is rolled back and webhooks are sent (:mod:`dualorm.runner.production`).

    Args:
        config: project configuration; the database is ``config.database_url`` or the
            embedded server.
        to: stop once this migration (and what it depends on) is applied; not in production.
        dry_run: change nothing: run the pending migrations in one transaction and roll it
            back (``rehearsal``: timings, locks observed), and return the script too.
        no_wait: refuse with :class:`~dualorm.errors.LockHeld` when another runner is busy.
        progress: called with each runner :class:`~dualorm.runner.runner.Event`.
        on_lock_wait: called with the holder while waiting for the lock.
        options: lock timeout, retries and backoff.
        correlation_id: use this id instead of a fresh one.
        confirm: production: asked with the plan; ``None`` refuses unless ``assume_yes``.
        assume_yes: production: the plan was reviewed (``--yes``).
        max_downtime: production: seconds any writer may be blocked (finite, above zero).
        backup: production: take and verify a backup first (default).

    Raises:
        UsageError: a bad option (exit 2), before anything runs.
        EnvironmentMismatch, ChecksumMismatch, LockHeld, LintRefused, ConfirmationRequired:
            refused (exit 3), nothing changed and no backup taken.
        MigrationFailed: a migration failed and was rolled back; earlier ones stay applied
            (in production, this run's are undone too: ``ProductionFailed``).
    """
    check_budget(max_downtime)
    specs = load_project_specs(config)
    if to is not None:
        specs.require(to)
    if config.environment is Environment.PRODUCTION:
        if to is not None:
            raise UsageError("--to is not available in production: every pending migration runs")
        return _production(
            config,
            specs,
            "up",
            Selection(),
            dry_run,
            no_wait,
            progress,
            on_lock_wait,
            confirm,
            assume_yes,
            max_downtime,
            backup,
        )
    return run_up(
        config,
        specs,
        to,
        dry_run=dry_run,
        no_wait=no_wait,
        progress=progress,
        on_lock_wait=on_lock_wait,
        options=options,
        correlation_id=correlation_id,
    )


def check_budget(max_downtime: float | None) -> None:
    """Refuse (exit 2) a downtime budget that is not a finite number of seconds above zero."""
    import math

    if max_downtime is None:
        return
    if not isinstance(max_downtime, int | float) or isinstance(max_downtime, bool):
        raise UsageError(f"--max-downtime must be a number of seconds, not {max_downtime!r}")
    if not math.isfinite(max_downtime) or max_downtime <= 0:
        raise UsageError(
            f"--max-downtime must be a finite number of seconds above zero, not {max_downtime}"
        )


@dataclass(frozen=True)
class Selection:
    """Which applied migrations ``down`` rolls back (at most one of the three is set)."""

    migration_id: str | None = None
    to: str | None = None
    steps: int | None = None
    cascade: bool = False


def _production(
    config: Config,
    specs: ProjectSpecs,
    direction: str,
    selection: Selection,
    dry_run: bool,
    no_wait: bool,
    progress: Progress | None,
    on_lock_wait: LockWait | None,
    confirm: Confirm | None,
    assume_yes: bool,
    max_downtime: float | None,
    backup: bool,
) -> MigrateResult:
    from dualorm.runner.production import ProductionMigrator

    migrator = ProductionMigrator(config, assume_yes=assume_yes, confirm=confirm, progress=progress)
    produced = migrator.run(
        direction,
        specs=specs,
        selection=selection,
        dry_run=dry_run,
        backup_before_migration=backup and not dry_run,
        max_downtime=max_downtime,
        no_wait=no_wait,
        on_lock_wait=on_lock_wait,
    )
    return MigrateResult(
        direction,
        produced.correlation_id,
        produced.environment,
        produced.planned,
        produced.outcomes,
        script=produced.script,
        rehearsal=produced.rehearsal,
        production=produced,
    )


def run_up(
    config: Config,
    specs: ProjectSpecs,
    to: str | None = None,
    *,
    dry_run: bool = False,
    no_wait: bool = False,
    progress: Progress | None = None,
    on_lock_wait: LockWait | None = None,
    options: RunOptions | None = None,
    correlation_id: str | None = None,
) -> MigrateResult:
    """The pipeline of ``migrate up`` without the environment's policy (whose steps call it).

    Lock, check (label, applied specs present, checksums, ledger agreement), plan, then apply
    that plan, or (``dry_run``) rehearse exactly that plan and roll it back.
    """
    command = "migrate up --dry-run" if dry_run else "migrate up"
    context = _context(config, command, correlation_id)
    opts = _options(config, options, specs)
    report = _reporter(context, progress)
    with _locked_run(
        config,
        context,
        no_wait=no_wait,
        on_lock_wait=on_lock_wait,
        label=not dry_run,
        audit=not dry_run,
    ) as conn:
        applied = check_history(conn, specs, config)
        ids = specs.pending(set(applied), to)
        plan = specs.plan(ids, "up", set(applied))
        _require_foreign_tables(conn, config, [specs.by_id[i] for i in ids])
        if dry_run:
            from dualorm.runner.rehearsal import rehearse_plan

            script = ScriptSink(lock_timeout_ms=opts.lock_timeout_ms)
            run(plan, script, set(applied), options=opts)
            rehearsal = rehearse_plan(conn, specs.graph, plan, set(applied), context, opts, report)
            return MigrateResult(
                "up",
                context.correlation_id,
                context.environment,
                tuple(ids),
                script=script.text,
                rehearsal=rehearsal,
            )
        sink = DatabaseSink(conn, specs.graph, context, opts)
        outcomes = run(plan, sink, set(applied), options=opts, progress=report)
        record_run(conn, context, "ok", {"applied": ids, "to": to})
    return MigrateResult(
        "up", context.correlation_id, context.environment, tuple(ids), tuple(outcomes)
    )


def _require_foreign_tables(
    conn: psycopg.Connection[tuple[object, ...]], config: Config, migrations: list[Migration]
) -> None:
    """Refuse (exit 3) before anything runs when a planned FK points at a table another owner
    creates (``foreign_tables.json``) and the database does not hold it yet."""
    from psycopg import sql

    from dualorm.spec import foreign as foreign_tables

    known = foreign_tables.read_snapshot(config.migrations_path)
    if not known:
        return
    operations = [op for m in migrations for op in m.operations]
    wanted = list(foreign_tables.referenced(operations, known))
    if not wanted:
        return
    names = [sql.Identifier(t.table.schema, t.table.name).as_string(conn) for t in wanted]
    # One round trip for all of them: which of the referenced tables are not there yet.
    rows = conn.execute(
        "SELECT n FROM unnest(%s::text[]) WITH ORDINALITY AS u(n, i) "
        "WHERE to_regclass(n) IS NULL ORDER BY i",
        (names,),
    ).fetchall()
    absent = {str(r[0]) for r in rows}
    for table, name in zip(wanted, names, strict=True):
        if name in absent:
            raise SafetyError(
                f"{table.table.qualified_name} (owned by {table.owned_by()}) does not exist "
                f"yet: {foreign_tables.how_to_create(table)}; nothing was applied"
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
    confirm: Confirm | None = None,
    assume_yes: bool = False,
    max_downtime: float | None = None,
    backup: bool = True,
) -> MigrateResult:
    """Roll back applied migrations, dependents first; by default the last one applied.

    Args:
        migration_id: roll back this migration; refused with
            :class:`~dualorm.errors.DependentsExist` while applied migrations depend on it,
            unless ``cascade`` (which rolls those back first).
        to: roll back everything applied that ``to`` does not need; ``to`` stays applied.
        steps: roll back the last ``steps`` migrations applied.
        confirm, assume_yes, max_downtime, backup: production's policy, as for
            :func:`migrate_up`: a rollback drops what the migrations created, so in production
            its plan is confirmed and a verified backup comes first.

    At most one of ``migration_id``, ``to`` and ``steps``. Going down through an irreversible
    operation raises :class:`~dualorm.errors.IrreversibleError` before anything runs.
    """
    selection = _selection(migration_id, to, steps, cascade)
    check_budget(max_downtime)
    specs = load_project_specs(config)
    for named in (migration_id, to):
        if named is not None:
            specs.require(named)
    if config.environment is Environment.PRODUCTION:
        return _production(
            config,
            specs,
            "down",
            selection,
            dry_run,
            no_wait,
            progress,
            on_lock_wait,
            confirm,
            assume_yes,
            max_downtime,
            backup,
        )
    return run_down(
        config,
        specs,
        selection,
        dry_run=dry_run,
        no_wait=no_wait,
        progress=progress,
        on_lock_wait=on_lock_wait,
        options=options,
        correlation_id=correlation_id,
    )


def _selection(
    migration_id: str | None, to: str | None, steps: int | None, cascade: bool
) -> Selection:
    chosen = [x for x in (migration_id, to, steps) if x is not None]
    if len(chosen) > 1:
        raise UsageError("give at most one of --id, --to and --steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise UsageError(f"--steps must be a whole number of at least 1, not {steps}")
    if cascade and migration_id is None:
        raise UsageError("--cascade goes with --id")
    return Selection(migration_id, to, steps, cascade)


def _warn_seeded(
    conn: psycopg.Connection[tuple[object, ...]],
    specs: ProjectSpecs,
    ids: list[str],
    report: Progress,
) -> None:
    """Say, before it happens, which seeded tables a rollback drops or empties.

    The seeds stay in their ledger; ``seed status`` then calls them stale and ``seed run``
    applies them again once the tables are back.
    """
    from dualorm.runner.impact import impacts
    from dualorm.schema import Schema
    from dualorm.seeding import seeded_tables

    seeded = seeded_tables(conn)
    if not seeded:
        return
    # A squash going down is only un-recorded: the specs it replaces drop what they made.
    for migration_id in (i for i in ids if i not in specs.squashes):
        for op in reversed(specs.by_id[migration_id].operations):
            for impact in impacts(op.reverse(), Schema()):
                name = impact.table if "." in impact.table else f"public.{impact.table}"
                if impact.loses_data and name in seeded:
                    report(
                        Event(
                            "seeded_rows_dropped",
                            migration_id,
                            "down",
                            detail=f"{impact.describe()} removes rows seeded by "
                            f"{', '.join(seeded[name])}; `dualorm seed run` seeds them again",
                        )
                    )


def down_ids(specs: ProjectSpecs, applied: set[str], selection: Selection) -> list[str]:
    """The ids ``selection`` rolls back, in the order to roll them back."""
    return _down_ids(
        specs, applied, selection.migration_id, selection.to, selection.steps, selection.cascade
    )


def run_down(
    config: Config,
    specs: ProjectSpecs,
    selection: Selection,
    *,
    dry_run: bool = False,
    no_wait: bool = False,
    progress: Progress | None = None,
    on_lock_wait: LockWait | None = None,
    options: RunOptions | None = None,
    correlation_id: str | None = None,
) -> MigrateResult:
    """The pipeline of ``migrate down`` without the environment's policy (as :func:`run_up`)."""
    context = _context(config, "migrate down", correlation_id)
    opts = _options(config, options, specs)
    report = _reporter(context, progress)
    with _locked_run(
        config,
        context,
        no_wait=no_wait,
        on_lock_wait=on_lock_wait,
        label=False,
        audit=not dry_run,
    ) as conn:
        applied = check_history(conn, specs, config)
        ids = down_ids(specs, set(applied), selection)
        plan = specs.plan(ids, "down", set(applied))
        if dry_run:
            sink = ScriptSink(lock_timeout_ms=opts.lock_timeout_ms)
            run(plan, sink, set(applied), options=opts)
            return MigrateResult(
                "down", context.correlation_id, context.environment, tuple(ids), script=sink.text
            )
        _warn_seeded(conn, specs, ids, report)
        db_sink = DatabaseSink(conn, specs.graph, context, opts)
        outcomes = run(plan, db_sink, set(applied), options=opts, progress=report)
        if ledger.ledger_exists(conn):
            record_run(conn, context, "ok", {"rolled_back": ids})
    return MigrateResult(
        "down", context.correlation_id, context.environment, tuple(ids), tuple(outcomes)
    )


def _down_ids(
    specs: ProjectSpecs,
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


# -- plan and lint -----------------------------------------------------------------------------


def migrate_script(config: Config) -> str:
    """Return the psql script of the pending migrations, exactly what ``up`` would run.

    Read-only: takes no lock and changes nothing; refuses (exit 3) like ``up`` a history it
    cannot plan on (a lost or edited applied spec, disagreeing ledgers).
    """
    from dualorm.db import connect, resolve_url

    specs = load_project_specs(config)
    with connect(resolve_url(config), autocommit=True) as conn:
        ledger.check_environment(conn, config.environment)
        applied = set(check_history(conn, specs, config))
    sink = ScriptSink()
    run(specs.plan(specs.pending(applied), "up", applied), sink, applied)
    return sink.text


def migrate_lint(config: Config) -> list[Finding]:
    """Lint every change spec of ``config`` (``dualorm migrate lint``); reads no database.

    An acknowledgement naming a rule that does not exist is bad input (exit 2).
    """
    from dualorm.errors import SpecError
    from dualorm.runner.lint import lint, unknown_acknowledgements
    from dualorm.runner.plan import _models

    migrations = load_project_specs(config).migrations
    unknown = unknown_acknowledgements(migrations)
    if unknown:
        raise SpecError(
            str(config.migrations_path), None, f"acknowledgement of an unknown rule: {unknown[0]}"
        )
    return lint(migrations, models=_models(config))


# -- status ------------------------------------------------------------------------------------


def migrate_status(config: Config) -> StatusReport:
    """Report every migration (applied, pending, edited since), the label and the lock holder.

    Read-only: takes no lock and creates nothing.
    """
    from dualorm.db import connect, resolve_url

    specs = load_project_specs(config)
    with connect(resolve_url(config), autocommit=True) as conn:
        applied = ledger.applied_migrations(conn)
        label = ledger.environment_label(conn)
        holder = lock_holder(conn)
        problem = None
        try:
            foreign.check_agreement(
                conn, specs.graph, set(applied), specs.django_apps(config.django_app_label)
            )
        except LedgersDisagree as exc:
            problem = str(exc)
    rows = []
    # What a squash runs in place of (no ledger row, not pending either) is not listed, as
    # Django's showmigrations lists only the squash then.
    pending = set(specs.pending(set(applied))) if specs.squashes else None
    for migration_id in specs.graph.forwards_plan():
        migration = specs.by_id[migration_id]
        row = applied.get(migration_id)
        if row is None and pending is not None and migration_id not in pending:
            continue
        if row is None:
            rows.append(MigrationStatus(migration.id, migration.name, "pending"))
            continue
        state = "ok" if row.checksum == migration.checksum else "changed"
        rows.append(_status_row(row, migration.name, "applied", state))
    for row in applied.values():
        if row.id not in specs.by_id and row.id not in specs.replaced:
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
