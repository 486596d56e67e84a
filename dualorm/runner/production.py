"""Production migrations: the plan shown and confirmed, lint enforced, a verified backup, a
downtime budget, rollback on failure, signed webhooks and replicas waited for.

Data flow of :meth:`ProductionMigrator.execute_production_migration`::

    plan (webhook "plan") -> refuse unacknowledged lint errors (LintRefused, exit 3)
      -> confirmation (ConfirmationRequired, exit 3) -> [dry run: rehearse, stop]
      -> backup create + verify (nothing runs unless it succeeds) -> webhook "started"
      -> migrate_up under lock_timeout / statement_timeout / run deadline
         (webhook "migration_applied" per migration)
      -> success: wait for replicas, webhook "succeeded"
      -> failure: webhook "failed"; with rollback_on_failure the failing migration's
         transaction is already rolled back, migrations applied by this run go down
         (newest first), and only when that is impossible the backup is restored;
         webhook "rolled_back" says which happened; ProductionFailed (exit 1).

The downtime budget ``max_downtime`` (seconds) bounds every statement: ``statement_timeout``
is the budget (PostgreSQL counts the lock wait in it too), so no writer queued behind a
statement waits longer than the budget because of it; ``lock_timeout`` is half the budget, so
a migration stuck behind a long transaction gives up early (writers queue behind it meanwhile)
and retries, a bounded number of times. The run as a whole stops before a migration or a retry
that would start after its deadline (the budget times the attempts, per pending migration).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from dualorm.audit import RunContext, log
from dualorm.db import connect, redact, redact_text, resolve_url
from dualorm.errors import (
    ConfirmationRequired,
    DualormError,
    LintRefused,
    MigrationFailed,
    ProductionFailed,
    ReplicaLagging,
)
from dualorm.notify import Notifier
from dualorm.runner import ledger
from dualorm.runner.history import check_history
from dualorm.runner.pipeline import (
    MigrateResult,
    Selection,
    check_budget,
    down_ids,
    run_down,
    run_up,
)
from dualorm.runner.plan import create_migration_plan, create_rollback_plan
from dualorm.runner.schedule import Event, MigrationOutcome, Progress, RunOptions, plan_specs
from dualorm.runner.specs import load_project_specs

if TYPE_CHECKING:
    from dualorm.backup.api import Backup
    from dualorm.config import Config
    from dualorm.replicas import ReplicaStatus
    from dualorm.runner.plan import MigrationPlan
    from dualorm.runner.rehearsal import Rehearsal
    from dualorm.runner.session import LockWait
    from dualorm.runner.specs import ProjectSpecs

__all__ = [
    "Confirm",
    "ProductionMigrator",
    "ProductionResult",
    "RollbackMethod",
]

Confirm = Callable[["MigrationPlan"], bool]

# How a failed run was undone: "none" (nothing to undo: the failing migration's transaction
# rolled back and nothing earlier was applied by this run), "down" (applied migrations rolled
# back with their down steps), "restore" (the backup restored: down was impossible),
# "incomplete" (the database is not as it was; the detail says what remains).
RollbackMethod = str

DEFAULT_RETRIES = 3


@dataclass(frozen=True)
class ProductionResult:
    """What a production run did; ``rollback`` is set when it failed and was undone."""

    correlation_id: str
    environment: str
    database: str
    dry_run: bool
    planned: tuple[str, ...]
    applied: tuple[str, ...] = ()
    outcomes: tuple[MigrationOutcome, ...] = ()
    backup: str | None = None
    rollback: RollbackMethod | None = None
    rolled_back: tuple[str, ...] = ()
    error: str | None = None
    duration_ms: float = 0.0
    replicas: tuple[ReplicaStatus, ...] = ()
    rehearsal: Rehearsal | None = None
    script: str | None = None
    """A dry run's SQL script."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "correlation_id": self.correlation_id,
            "environment": self.environment,
            "database": self.database,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "planned": list(self.planned),
            "applied": list(self.applied),
            "migrations": [o.to_dict() for o in self.outcomes],
            "backup": self.backup,
            "rollback": self.rollback,
            "rolled_back": list(self.rolled_back),
            "error": self.error,
            "duration_ms": round(self.duration_ms, 3),
            "replicas": [r.to_dict() for r in self.replicas],
            "rehearsal": self.rehearsal.to_dict() if self.rehearsal else None,
        }


class _Deadline(MigrationFailed):
    """The run's time budget ran out before a migration or a retry could start."""


@dataclass
class _Run:
    """What the progress callback learns while migrate_up works."""

    deadline: float | None
    applied: list[str] = field(default_factory=list)
    outcomes: list[MigrationOutcome] = field(default_factory=list)


class ProductionMigrator:
    """Plan and run migrations with production's safety rules.

    Args:
        config: the project; its ``environment`` is what the database must be labelled.
        assume_yes: the plan counts as confirmed (``--yes``, for automation).
        confirm: asked with the plan when ``assume_yes`` is false; ``None`` (no terminal)
            refuses with :class:`~dualorm.errors.ConfirmationRequired`.
        progress: called with every runner event.
        retries: lock-timeout retries per migration.
        replica_timeout: how long to wait for replicas after migrating (seconds).
        notify_budget: how long, in all, the run waits for webhook deliveries once it is
            over (seconds); a run never waits for a receiver while it migrates.
    """

    def __init__(
        self,
        config: Config,
        *,
        assume_yes: bool = False,
        confirm: Confirm | None = None,
        progress: Progress | None = None,
        retries: int = DEFAULT_RETRIES,
        replica_timeout: float = 60.0,
        notify_budget: float = 10.0,
    ) -> None:
        self.config = config
        self.assume_yes = assume_yes
        self.confirm = confirm
        self.progress = progress
        self.retries = retries
        self.replica_timeout = replica_timeout
        self.notify_budget = notify_budget

    def create_migration_plan(self) -> MigrationPlan:
        """Plan every pending migration (statements, locks, sizes, lint, risk, replicas)."""
        return create_migration_plan(self.config)

    def execute_production_migration(
        self,
        dry_run: bool = False,
        backup_before_migration: bool = True,
        max_downtime: float | None = None,
        rollback_on_failure: bool = True,
        notification_webhook: str | None = None,
    ) -> ProductionResult:
        """Run the pending migrations with every production safeguard (``migrate up``).

        Args:
            dry_run: rehearse (execute in one transaction and roll back) instead of applying.
            backup_before_migration: create and verify a backup before any DDL.
            max_downtime: seconds; bounds each lock wait plus statement, and the run.
            rollback_on_failure: leave the database as it was when a migration fails.
            notification_webhook: POST signed events here (default ``DUALORM_WEBHOOK_URL``).

        Raises:
            LintRefused, ConfirmationRequired, EnvironmentMismatch: refused, nothing changed.
            ProductionFailed: a migration failed; ``.result`` says what was undone.
        """
        return self.run(
            "up",
            dry_run=dry_run,
            backup_before_migration=backup_before_migration,
            max_downtime=max_downtime,
            rollback_on_failure=rollback_on_failure,
            notification_webhook=notification_webhook,
        )

    def run(
        self,
        direction: str,
        *,
        specs: ProjectSpecs | None = None,
        selection: Selection | None = None,
        dry_run: bool = False,
        backup_before_migration: bool = True,
        max_downtime: float | None = None,
        rollback_on_failure: bool = True,
        notification_webhook: str | None = None,
        no_wait: bool = False,
        on_lock_wait: LockWait | None = None,
    ) -> ProductionResult:
        """Run ``migrate up`` or ``migrate down`` (``direction``) the production way.

        Every refusal (a bad budget, the environment label, a lost or edited applied spec,
        disagreeing ledgers, lint errors going up, no confirmation) comes before the backup
        and before any statement. Going down, the lint findings are shown in the plan but do
        not refuse: a rollback drops what its migrations created by design, which is why it
        is confirmed and backed up first.
        """
        check_budget(max_downtime)
        started = time.perf_counter()
        specs = specs if specs is not None else load_project_specs(self.config)
        selection = selection if selection is not None else Selection()
        url = resolve_url(self.config)
        context = RunContext(
            command=f"migrate {direction}", environment=self.config.environment.value
        )
        notifier = Notifier(
            notification_webhook or self.config.webhook_url,
            secret=self.config.webhook_secret,
            base={
                "environment": context.environment,
                "correlation_id": context.correlation_id,
                "database": redact(url),
                "direction": direction,
            },
            budget=self.notify_budget,
        )
        try:
            return self._run(
                direction,
                specs,
                selection,
                url,
                context,
                notifier,
                started,
                dry_run,
                backup_before_migration,
                max_downtime,
                rollback_on_failure,
                no_wait,
                on_lock_wait,
            )
        finally:
            # After the run, outside any lock and any budget; bounded by notifier.budget.
            notifier.close()

    def _run(
        self,
        direction: str,
        specs: ProjectSpecs,
        selection: Selection,
        url: str,
        context: RunContext,
        notifier: Notifier,
        started: float,
        dry_run: bool,
        backup_before_migration: bool,
        max_downtime: float | None,
        rollback_on_failure: bool,
        no_wait: bool,
        on_lock_wait: LockWait | None,
    ) -> ProductionResult:
        plan = self._preflight(direction, specs, selection, url)
        pending = tuple(m.id for m in plan.migrations)
        notifier.post("plan", dry_run=dry_run, plan=plan.to_dict())
        result = ProductionResult(
            context.correlation_id, context.environment, redact(url), dry_run, pending
        )
        blocking = plan.blocking_findings if direction == "up" else ()
        if blocking:
            error = LintRefused(blocking)
            notifier.post("failed", stage="lint", error=str(error), migrations=list(pending))
            raise error
        if not pending:
            return replace(result, duration_ms=_ms(started))
        self._confirmed(plan, direction)
        if dry_run:
            rehearsed = self._rehearse(direction, specs, selection, context, max_downtime)
            return replace(
                result,
                rehearsal=rehearsed.rehearsal,
                script=rehearsed.script,
                duration_ms=_ms(started),
            )
        backup = self._backup(url, notifier) if backup_before_migration else None
        if backup is not None:
            result = replace(result, backup=str(backup.path))
        notifier.post(
            "started",
            migrations=list(pending),
            max_downtime_s=max_downtime,
            backup=result.backup,
            rollback_on_failure=rollback_on_failure,
        )
        state = _Run(
            deadline=None
            if max_downtime is None
            else time.monotonic() + max_downtime * (self.retries + 1) * len(pending)
        )
        try:
            self._migrate(
                direction,
                specs,
                selection,
                url,
                context,
                max_downtime,
                state,
                notifier,
                no_wait,
                on_lock_wait,
                pending,
            )
        except MigrationFailed as failure:
            return self._failed(
                failure, direction, result, state, rollback_on_failure, backup, notifier, started
            )
        result = replace(
            result,
            applied=tuple(state.applied),
            outcomes=tuple(state.outcomes),
            duration_ms=_ms(started),
        )
        result = replace(result, replicas=self._replicas(url))
        notifier.post(
            "succeeded",
            migrations=list(result.applied),
            duration_ms=round(result.duration_ms, 3),
            replicas=[r.to_dict() for r in result.replicas],
        )
        return result

    def _preflight(
        self, direction: str, specs: ProjectSpecs, selection: Selection, url: str
    ) -> MigrationPlan:
        """Check what refuses a run, read-only, and plan it: before any backup or statement."""
        with connect(url, autocommit=True) as conn:
            ledger.check_environment(conn, self.config.environment)
            applied = set(check_history(conn, specs, self.config))
        if direction == "up":
            return create_migration_plan(self.config, specs=specs, pending=specs.pending(applied))
        ids = down_ids(specs, applied, selection)
        plan_specs(specs, ids, "down", applied)  # an irreversible one refuses here, before the plan
        return create_rollback_plan(self.config, specs, applied, ids)

    def _rehearse(
        self,
        direction: str,
        specs: ProjectSpecs,
        selection: Selection,
        context: RunContext,
        max_downtime: float | None,
    ) -> MigrateResult:
        if direction == "up":
            return run_up(
                self.config,
                specs,
                dry_run=True,
                options=self._options(max_downtime),
                progress=self.progress,
                correlation_id=context.correlation_id,
            )
        # A rollback's dry run is its script; nothing is executed.
        return run_down(
            self.config, specs, selection, dry_run=True, correlation_id=context.correlation_id
        )

    # -- the steps -----------------------------------------------------------------------------

    def _confirmed(self, plan: MigrationPlan, direction: str) -> None:
        if self.assume_yes:
            return
        what = "migration" if direction == "up" else "rollback"
        if self.confirm is None:
            raise ConfirmationRequired(
                f"a production {what} needs its plan confirmed: run it from a terminal, "
                "or pass --yes once the plan (`dualorm migrate plan`) has been reviewed"
            )
        if not self.confirm(plan):
            raise ConfirmationRequired(f"the {what} plan was not confirmed; nothing was run")

    def _options(self, max_downtime: float | None) -> RunOptions:
        # One migration at a time (chain=1): each is reported, announced and checked against
        # the run's deadline before the next one starts.
        if max_downtime is None:
            return RunOptions(retries=self.retries, chain=1)
        half = max(1, int(max_downtime * 500))
        return RunOptions(lock_timeout_ms=half, retries=self.retries, backoff_s=0.1, chain=1)

    def _backup(self, url: str, notifier: Notifier) -> Backup:
        from dualorm.backup.api import create_backup, verify_backup

        try:
            backup = create_backup(url=url, config=self.config)
            verify_backup(backup.path, config=self.config)
        except DualormError as exc:
            notifier.post("failed", stage="backup", error=redact_text(str(exc)))
            raise
        return backup

    def _migrate(
        self,
        direction: str,
        specs: ProjectSpecs,
        selection: Selection,
        url: str,
        context: RunContext,
        max_downtime: float | None,
        state: _Run,
        notifier: Notifier,
        no_wait: bool,
        on_lock_wait: LockWait | None,
        confirmed: tuple[str, ...],
    ) -> None:
        config = self.config
        if max_downtime is not None:
            config = config.with_(database_url=_with_statement_timeout(url, max_downtime))

        def watch(event: Event) -> None:
            if event.kind == "migration_start" and event.migration_id not in confirmed:
                # The history moved between the confirmed plan and the lock: run nothing
                # that was not shown.
                raise MigrationFailed(
                    event.migration_id,
                    None,
                    "not in the confirmed plan (another runner changed the history since); "
                    "plan and confirm again",
                )
            if self.progress is not None:
                self.progress(event)
            if event.kind == "migration_done":
                state.applied.append(event.migration_id)
                notifier.post(
                    "migration_applied",
                    migration=event.migration_id,
                    direction=direction,
                    duration_ms=round(event.duration_ms or 0.0, 3),
                )
            elif event.kind in ("migration_start", "lock_timeout_retry"):
                if state.deadline is not None and time.monotonic() > state.deadline:
                    raise _Deadline(
                        event.migration_id,
                        event.statement,
                        "the run's time budget (max_downtime) is spent",
                    )

        if direction == "up":
            result = run_up(
                config,
                specs,
                no_wait=no_wait,
                on_lock_wait=on_lock_wait,
                progress=watch,
                options=self._options(max_downtime),
                correlation_id=context.correlation_id,
            )
        else:
            result = run_down(
                config,
                specs,
                selection,
                no_wait=no_wait,
                on_lock_wait=on_lock_wait,
                progress=watch,
                options=self._options(max_downtime),
                correlation_id=context.correlation_id,
            )
        state.outcomes = list(result.outcomes)

    def _failed(
        self,
        failure: MigrationFailed,
        direction: str,
        result: ProductionResult,
        state: _Run,
        rollback_on_failure: bool,
        backup: Backup | None,
        notifier: Notifier,
        started: float,
    ) -> ProductionResult:
        applied = tuple(state.applied)
        notifier.post(
            "failed",
            stage="migrate",
            migration=failure.migration_id,
            statement=failure.statement,
            error=str(failure),
            applied=list(applied),
            duration_ms=round(_ms(started), 3),
        )
        result = replace(result, applied=applied, error=str(failure))
        if rollback_on_failure:
            if direction == "up":
                method, undone, detail = self._undo(applied, backup)
            else:
                method, undone, detail = self._undo_rollback(applied, backup)
            result = replace(result, rollback=method, rolled_back=undone)
            notifier.post(
                "rolled_back",
                method=method,
                migrations=list(undone),
                detail=detail,
                backup=result.backup,
                duration_ms=round(_ms(started), 3),
            )
            log(
                logging.WARNING,
                f"production run rolled back ({method})",
                correlation_id=result.correlation_id,
                detail=detail,
            )
        raise ProductionFailed(failure, replace(result, duration_ms=_ms(started)))

    def _undo(
        self, applied: tuple[str, ...], backup: Backup | None
    ) -> tuple[RollbackMethod, tuple[str, ...], str]:
        """Undo what this run applied: down steps newest first, else the backup."""
        if not applied:
            return "none", (), "the failing migration's transaction rolled back"
        specs = load_project_specs(self.config)
        irreversible = [i for i in applied if not specs.by_id[i].reversible]
        undone: list[str] = []
        problem = ""
        if not irreversible:
            try:
                for migration_id in reversed(applied):
                    run_down(self.config, specs, Selection(migration_id=migration_id))
                    undone.append(migration_id)
                return "down", tuple(undone), f"rolled back {', '.join(undone)}"
            except DualormError as exc:
                problem = redact_text(str(exc))
        else:
            problem = f"{', '.join(irreversible)} cannot go down"
        return self._restore(applied, undone, backup, problem)

    def _undo_rollback(
        self, rolled_back: tuple[str, ...], backup: Backup | None
    ) -> tuple[RollbackMethod, tuple[str, ...], str]:
        """Undo a rollback that failed part-way: what it dropped only the backup holds."""
        if not rolled_back:
            return "none", (), "the failing migration's transaction rolled back"
        return self._restore(
            rolled_back, [], backup, f"{', '.join(rolled_back)} were rolled back before it failed"
        )

    def _restore(
        self,
        changed: tuple[str, ...],
        undone: list[str],
        backup: Backup | None,
        problem: str,
    ) -> tuple[RollbackMethod, tuple[str, ...], str]:
        if backup is None:
            return (
                "incomplete",
                tuple(undone),
                f"{problem}; no backup was taken, so "
                f"{', '.join(i for i in changed if i not in undone)} stay as they are",
            )
        from dualorm.backup.restore import restore_backup

        try:
            restore_backup(backup.path, resolve_url(self.config), confirm=True, config=self.config)
        except DualormError as exc:
            return (
                "incomplete",
                tuple(undone),
                f"{problem}; restore failed: {redact_text(str(exc))}",
            )
        return "restore", changed, f"{problem}; restored the backup {backup.path.name}"

    def _replicas(self, url: str) -> tuple[ReplicaStatus, ...]:
        from dualorm.replicas import wait_for_replicas

        if not self.config.replica_urls:
            return ()
        try:
            return tuple(
                wait_for_replicas(url, self.config.replica_urls, timeout=self.replica_timeout)
            )
        except ReplicaLagging as lagging:
            return lagging.statuses


def _with_statement_timeout(url: str, max_downtime: float) -> str:
    """Return ``url`` whose sessions start with ``statement_timeout`` at the budget.

    Any ``options`` the URL already carries are kept; URL and keyword forms both work.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    budget = max(1, int(max_downtime * 1000))
    existing = str(conninfo_to_dict(url).get("options") or "")
    options = f"{existing} -c statement_timeout={budget}".strip()
    return make_conninfo(url, options=options)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
