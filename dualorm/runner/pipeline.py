"""The pipelines of ``migrate up`` and ``migrate down`` without the environment's policy:
lock, check the history, plan, then apply the plan (or, dry, rehearse it and roll it back).

:class:`RunSettings` holds how a run goes (dry or not, waiting for the lock or not, its
progress callback, options and correlation id) and runs :func:`run_up` or :func:`run_down` with
it. :mod:`dualorm.api` chooses the policy and hands its settings either to those or to the
production migrator (:mod:`dualorm.runner.production`), which runs them for its steps.
Neither SQLAlchemy nor Django is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from dualorm.audit import record_run
from dualorm.errors import DependentsExist, SafetyError
from dualorm.runner import ledger
from dualorm.runner.history import check_history
from dualorm.runner.runner import run
from dualorm.runner.schedule import Event, MigrationOutcome, Progress, RunOptions, plan_specs
from dualorm.runner.session import LockWait, locked_run, reporter, run_context, run_options
from dualorm.runner.sinks import DatabaseSink, ScriptSink
from dualorm.runner.specs import ProjectSpecs, load_project_specs
from dualorm.schema import Schema
from dualorm.spec import foreign as foreign_tables

if TYPE_CHECKING:
    from dualorm.config import Config
    from dualorm.runner.production.result import ProductionResult
    from dualorm.runner.rehearsal import Rehearsal
    from dualorm.spec.model import Migration

__all__ = [
    "MigrateResult",
    "RunSettings",
    "Selection",
    "down_ids",
    "rehearse",
    "run_down",
    "run_up",
]


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

    @classmethod
    def of_production(cls, direction: str, produced: ProductionResult) -> MigrateResult:
        """What a production run going ``direction`` did, as ``migrate up|down`` reports it."""
        return cls(
            direction,
            produced.correlation_id,
            produced.environment,
            produced.planned,
            produced.outcomes,
            script=produced.script,
            rehearsal=produced.rehearsal,
            production=produced,
        )

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
class RunSettings:
    """How one run of ``migrate up`` or ``down`` goes, whatever it selects and whatever the
    environment's policy: what :func:`run_up` and :func:`run_down` take besides the selection.
    """

    dry_run: bool = False
    no_wait: bool = False
    progress: Progress | None = None
    on_lock_wait: LockWait | None = None
    options: RunOptions | None = None
    correlation_id: str | None = None

    def up(self, config: Config, specs: ProjectSpecs, to: str | None = None) -> MigrateResult:
        """Run :func:`run_up` with these settings."""
        return run_up(
            config,
            specs,
            to,
            dry_run=self.dry_run,
            no_wait=self.no_wait,
            progress=self.progress,
            on_lock_wait=self.on_lock_wait,
            options=self.options,
            correlation_id=self.correlation_id,
        )

    def down(self, config: Config, specs: ProjectSpecs, selection: Selection) -> MigrateResult:
        """Run :func:`run_down` with these settings."""
        return run_down(
            config,
            specs,
            selection,
            dry_run=self.dry_run,
            no_wait=self.no_wait,
            progress=self.progress,
            on_lock_wait=self.on_lock_wait,
            options=self.options,
            correlation_id=self.correlation_id,
        )


@dataclass(frozen=True)
class Selection:
    """Which applied migrations ``down`` rolls back (at most one of the three is set)."""

    migration_id: str | None = None
    to: str | None = None
    steps: int | None = None
    cascade: bool = False


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
    context = run_context(config, command, correlation_id)
    opts = run_options(config, options, specs)
    report = reporter(context, progress)
    with locked_run(
        config,
        context,
        no_wait=no_wait,
        on_lock_wait=on_lock_wait,
        label=not dry_run,
        audit=not dry_run,
    ) as conn:
        applied = check_history(conn, specs, config)
        ids = specs.pending(set(applied), to)
        plan = plan_specs(specs, ids, "up", set(applied))
        _require_foreign_tables(conn, config, [specs.by_id[i] for i in ids])
        if dry_run:
            script = ScriptSink(lock_timeout_ms=opts.lock_timeout_ms)
            run(plan, script, set(applied), options=opts)
            # Imported for a dry run: a real run needs no rehearsal (nor its lock model).
            from dualorm.runner.rehearsal import rehearse_plan

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
    # Imported when a rollback runs: the seeding package (its manager, discovery and
    # reports, about 4 ms) and the impact rules are not loaded by `migrate up`.
    from dualorm.runner.impact import impacts
    from dualorm.seeding.ledger import seeded_tables

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
    context = run_context(config, "migrate down", correlation_id)
    opts = run_options(config, options, specs)
    report = reporter(context, progress)
    with locked_run(
        config,
        context,
        no_wait=no_wait,
        on_lock_wait=on_lock_wait,
        label=False,
        audit=not dry_run,
    ) as conn:
        applied = check_history(conn, specs, config)
        ids = down_ids(specs, set(applied), selection)
        plan = plan_specs(specs, ids, "down", set(applied))
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


def rehearse(
    config: Config,
    to: str | None = None,
    *,
    options: RunOptions | None = None,
    progress: Progress | None = None,
    correlation_id: str | None = None,
) -> Rehearsal:
    """Run the pending migrations (or those ``to`` needs) for real, then roll all back.

    The same pipeline as ``migrate up`` (:func:`run_up`): the migration lock (so no
    real run interleaves), the environment label, the checksums and the ledgers' agreement,
    and the same plan; raises :class:`~dualorm.errors.MigrationFailed` when a migration would
    fail (after rolling back).
    """
    specs = load_project_specs(config)
    if to is not None:
        specs.require(to)
    result = run_up(
        config,
        specs,
        to,
        dry_run=True,
        options=options,
        progress=progress,
        correlation_id=correlation_id,
    )
    assert result.rehearsal is not None
    return result.rehearsal
