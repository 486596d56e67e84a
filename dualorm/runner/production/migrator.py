"""The production run itself: :class:`ProductionMigrator` checks what refuses a run, plans it,
has it confirmed, backs the database up, migrates under the downtime budget, and on failure
undoes what it did (the data flow: :mod:`dualorm.runner.production`).

Each step is a method named for what it does; :meth:`ProductionMigrator.run` reads as the
sequence of them. The budget is :mod:`dualorm.runner.production.budget`, the backup and the
undoing :mod:`dualorm.runner.production.safeguards`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NoReturn

from dualorm.audit import RunContext, log
from dualorm.db import connect, redact, resolve_url
from dualorm.errors import (
    ConfirmationRequired,
    LintRefused,
    MigrationFailed,
    ProductionFailed,
    ReplicaLagging,
)
from dualorm.notify import Notifier
from dualorm.replicas import ReplicaStatus, wait_for_replicas
from dualorm.runner import ledger
from dualorm.runner.history import check_history
from dualorm.runner.pipeline import RunSettings, Selection, down_ids
from dualorm.runner.plan import MigrationPlan, create_migration_plan, create_rollback_plan
from dualorm.runner.production.budget import (
    DEFAULT_RETRIES,
    budget_options,
    check_budget,
    check_deadline,
    run_deadline,
    with_statement_timeout,
)
from dualorm.runner.production.result import Confirm, ProductionResult
from dualorm.runner.production.safeguards import (
    take_backup,
    undo_rollback,
    undo_run,
)
from dualorm.runner.schedule import Event, MigrationOutcome, Progress, plan_specs
from dualorm.runner.session import run_context
from dualorm.runner.specs import load_project_specs

if TYPE_CHECKING:
    from dualorm.backup.api import Backup
    from dualorm.config import Config
    from dualorm.runner.session import LockWait
    from dualorm.runner.specs import ProjectSpecs

__all__ = ["ProductionMigrator"]


@dataclass(frozen=True)
class _Request:
    """One production run as it was asked for: what every step reads."""

    direction: str
    specs: ProjectSpecs
    selection: Selection
    url: str
    context: RunContext
    notifier: Notifier
    started: float
    dry_run: bool
    backup_before_migration: bool
    max_downtime: float | None
    rollback_on_failure: bool
    no_wait: bool
    on_lock_wait: LockWait | None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


@dataclass
class _Watch:
    """The progress callback of the run: it runs nothing that was not confirmed, announces
    each migration applied, and stops the run at its deadline."""

    request: _Request
    confirmed: tuple[str, ...]
    deadline: float | None
    progress: Progress | None
    applied: list[str] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        if event.kind == "migration_start" and event.migration_id not in self.confirmed:
            # The history moved between the confirmed plan and the lock: run nothing that
            # was not shown.
            raise MigrationFailed(
                event.migration_id,
                None,
                "not in the confirmed plan (another runner changed the history since); "
                "plan and confirm again",
            )
        if self.progress is not None:
            self.progress(event)
        if event.kind == "migration_done":
            self.applied.append(event.migration_id)
            self.request.notifier.post(
                "migration_applied",
                migration=event.migration_id,
                direction=self.request.direction,
                duration_ms=round(event.duration_ms or 0.0, 3),
            )
        check_deadline(self.deadline, event)


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
        url = resolve_url(self.config)
        context = run_context(self.config, f"migrate {direction}", None)
        notifier = self._notifier(notification_webhook, context, url, direction)
        request = _Request(
            direction=direction,
            specs=specs,
            selection=selection if selection is not None else Selection(),
            url=url,
            context=context,
            notifier=notifier,
            started=started,
            dry_run=dry_run,
            backup_before_migration=backup_before_migration,
            max_downtime=max_downtime,
            rollback_on_failure=rollback_on_failure,
            no_wait=no_wait,
            on_lock_wait=on_lock_wait,
        )
        try:
            return self._run(request)
        finally:
            # After the run, outside any lock and any budget; bounded by notifier.budget.
            notifier.close()

    def _run(self, run: _Request) -> ProductionResult:
        plan = self._preflight(run)
        result = self._planned(run, plan)
        self._refuse_lint_errors(run, plan)
        if not result.planned:
            return replace(result, duration_ms=run.elapsed_ms())
        self._confirmed(plan, run.direction)
        if run.dry_run:
            return self._rehearsed(run, result)
        backup = self._backup(run)
        result = self._started(run, result, backup)
        watch = _Watch(
            run,
            confirmed=result.planned,
            deadline=run_deadline(run.max_downtime, self.retries, len(result.planned)),
            progress=self.progress,
        )
        try:
            outcomes = self._migrate(run, watch)
        except MigrationFailed as failure:
            self._failed(failure, run, result, tuple(watch.applied), backup)
        return self._succeeded(run, result, tuple(watch.applied), outcomes)

    # -- the steps, in the order they run ------------------------------------------------------

    def _notifier(
        self, webhook: str | None, context: RunContext, url: str, direction: str
    ) -> Notifier:
        return Notifier(
            webhook or self.config.webhook_url,
            secret=self.config.webhook_secret,
            base={
                "environment": context.environment,
                "correlation_id": context.correlation_id,
                "database": redact(url),
                "direction": direction,
            },
            budget=self.notify_budget,
        )

    def _preflight(self, run: _Request) -> MigrationPlan:
        """Check what refuses a run, read-only, and plan it: before any backup or statement."""
        specs = run.specs
        with connect(run.url, autocommit=True) as conn:
            ledger.check_environment(conn, self.config.environment)
            applied = set(check_history(conn, specs, self.config))
        if run.direction == "up":
            return create_migration_plan(self.config, specs=specs, pending=specs.pending(applied))
        ids = down_ids(specs, applied, run.selection)
        plan_specs(specs, ids, "down", applied)  # an irreversible one refuses here, before the plan
        return create_rollback_plan(self.config, specs, applied, ids)

    def _planned(self, run: _Request, plan: MigrationPlan) -> ProductionResult:
        """Announce the plan; the result so far holds what it will run."""
        pending = tuple(m.id for m in plan.migrations)
        run.notifier.post("plan", dry_run=run.dry_run, plan=plan.to_dict())
        context = run.context
        return ProductionResult(
            context.correlation_id, context.environment, redact(run.url), run.dry_run, pending
        )

    def _refuse_lint_errors(self, run: _Request, plan: MigrationPlan) -> None:
        """Going up, refuse the plan while it has unacknowledged lint errors."""
        blocking = plan.blocking_findings if run.direction == "up" else ()
        if blocking:
            error = LintRefused(blocking)
            migrations = [m.id for m in plan.migrations]
            run.notifier.post("failed", stage="lint", error=str(error), migrations=migrations)
            raise error

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

    def _rehearsed(self, run: _Request, result: ProductionResult) -> ProductionResult:
        """A dry run: rehearse going up (or script going down), and stop there."""
        correlation_id = run.context.correlation_id
        if run.direction == "up":
            options = budget_options(run.max_downtime, self.retries)
            settings = RunSettings(
                dry_run=True, progress=self.progress, options=options, correlation_id=correlation_id
            )
            rehearsed = settings.up(self.config, run.specs)
        else:
            # A rollback's dry run is its script; nothing is executed.
            settings = RunSettings(dry_run=True, correlation_id=correlation_id)
            rehearsed = settings.down(self.config, run.specs, run.selection)
        return replace(
            result,
            rehearsal=rehearsed.rehearsal,
            script=rehearsed.script,
            duration_ms=run.elapsed_ms(),
        )

    def _backup(self, run: _Request) -> Backup | None:
        if not run.backup_before_migration:
            return None
        return take_backup(self.config, run.url, run.notifier)

    def _started(
        self, run: _Request, result: ProductionResult, backup: Backup | None
    ) -> ProductionResult:
        """Announce the run about to start, with the backup it took."""
        if backup is not None:
            result = replace(result, backup=str(backup.path))
        run.notifier.post(
            "started",
            migrations=list(result.planned),
            max_downtime_s=run.max_downtime,
            backup=result.backup,
            rollback_on_failure=run.rollback_on_failure,
        )
        return result

    def _migrate(self, run: _Request, watch: _Watch) -> tuple[MigrationOutcome, ...]:
        """Apply the confirmed plan under the budget, one migration at a time."""
        config = self.config
        if run.max_downtime is not None:
            config = config.with_(database_url=with_statement_timeout(run.url, run.max_downtime))
        settings = RunSettings(
            no_wait=run.no_wait,
            progress=watch,
            on_lock_wait=run.on_lock_wait,
            options=budget_options(run.max_downtime, self.retries),
            correlation_id=run.context.correlation_id,
        )
        if run.direction == "up":
            result = settings.up(config, run.specs)
        else:
            result = settings.down(config, run.specs, run.selection)
        return result.outcomes

    def _succeeded(
        self,
        run: _Request,
        result: ProductionResult,
        applied: tuple[str, ...],
        outcomes: tuple[MigrationOutcome, ...],
    ) -> ProductionResult:
        """Wait for the replicas, announce the success, and return what the run did."""
        result = replace(result, applied=applied, outcomes=outcomes, duration_ms=run.elapsed_ms())
        result = replace(result, replicas=self._replicas(run.url))
        run.notifier.post(
            "succeeded",
            migrations=list(result.applied),
            duration_ms=round(result.duration_ms, 3),
            replicas=[r.to_dict() for r in result.replicas],
        )
        return result

    def _replicas(self, url: str) -> tuple[ReplicaStatus, ...]:
        if not self.config.replica_urls:
            return ()
        try:
            return tuple(
                wait_for_replicas(url, self.config.replica_urls, timeout=self.replica_timeout)
            )
        except ReplicaLagging as lagging:
            return lagging.statuses

    def _failed(
        self,
        failure: MigrationFailed,
        run: _Request,
        result: ProductionResult,
        applied: tuple[str, ...],
        backup: Backup | None,
    ) -> NoReturn:
        """Announce the failure, undo the run if asked to, and raise what it did."""
        run.notifier.post(
            "failed",
            stage="migrate",
            migration=failure.migration_id,
            statement=failure.statement,
            error=str(failure),
            applied=list(applied),
            duration_ms=round(run.elapsed_ms(), 3),
        )
        result = replace(result, applied=applied, error=str(failure))
        if run.rollback_on_failure:
            result = self._undo(run, result, applied, backup)
        raise ProductionFailed(failure, replace(result, duration_ms=run.elapsed_ms()))

    def _undo(
        self,
        run: _Request,
        result: ProductionResult,
        applied: tuple[str, ...],
        backup: Backup | None,
    ) -> ProductionResult:
        """Leave the database as it was before the run, and say how."""
        if run.direction == "up":
            method, undone, detail = undo_run(self.config, applied, backup)
        else:
            method, undone, detail = undo_rollback(self.config, applied, backup)
        result = replace(result, rollback=method, rolled_back=undone)
        run.notifier.post(
            "rolled_back",
            method=method,
            migrations=list(undone),
            detail=detail,
            backup=result.backup,
            duration_ms=round(run.elapsed_ms(), 3),
        )
        log(
            logging.WARNING,
            f"production run rolled back ({method})",
            correlation_id=result.correlation_id,
            detail=detail,
        )
        return result
