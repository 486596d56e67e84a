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
from urllib.parse import quote

from dualorm.audit import RunContext, log
from dualorm.db import redact, redact_text, resolve_url
from dualorm.errors import (
    ConfirmationRequired,
    DualormError,
    LintRefused,
    MigrationFailed,
)
from dualorm.notify import Notifier
from dualorm.runner.runner import Event, MigrationOutcome, Progress, RunOptions

if TYPE_CHECKING:
    from dualorm.backup.api import Backup
    from dualorm.config import Config
    from dualorm.replicas import ReplicaStatus
    from dualorm.runner.plan import MigrationPlan
    from dualorm.runner.rehearsal import Rehearsal

__all__ = [
    "Confirm",
    "ProductionFailed",
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


class ProductionFailed(MigrationFailed):
    """A production run failed; ``result`` says what was undone and how (exit 1)."""

    def __init__(self, failure: MigrationFailed, result: ProductionResult) -> None:
        self.result = result
        super().__init__(failure.migration_id, failure.statement, failure.cause)
        undone = {
            "none": "nothing else was applied; the failing transaction rolled back",
            "down": f"rolled back {', '.join(result.rolled_back)} with their down steps",
            "restore": f"restored the backup {result.backup}",
        }.get(result.rollback or "", result.rollback or "not rolled back")
        self.args = (f"{self.args[0]} ({undone})",)


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
    ) -> None:
        self.config = config
        self.assume_yes = assume_yes
        self.confirm = confirm
        self.progress = progress
        self.retries = retries
        self.replica_timeout = replica_timeout

    def create_migration_plan(self) -> MigrationPlan:
        """Plan every pending migration (statements, locks, sizes, lint, risk, replicas)."""
        from dualorm.runner.plan import create_migration_plan

        return create_migration_plan(self.config)

    def execute_production_migration(
        self,
        dry_run: bool = False,
        backup_before_migration: bool = True,
        max_downtime: float | None = None,
        rollback_on_failure: bool = True,
        notification_webhook: str | None = None,
    ) -> ProductionResult:
        """Run the pending migrations with every production safeguard.

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
        started = time.perf_counter()
        url = resolve_url(self.config)
        context = RunContext(command="migrate up", environment=self.config.environment.value)
        notifier = Notifier(
            notification_webhook or self.config.webhook_url,
            secret=self.config.webhook_secret,
            base={
                "environment": context.environment,
                "correlation_id": context.correlation_id,
                "database": redact(url),
            },
        )
        plan = self.create_migration_plan()
        pending = tuple(m.id for m in plan.migrations)
        notifier.send("plan", dry_run=dry_run, plan=plan.to_dict())
        result = ProductionResult(
            context.correlation_id, context.environment, redact(url), dry_run, pending
        )
        blocking = plan.blocking_findings
        if blocking:
            error = LintRefused(blocking)
            notifier.send("failed", stage="lint", error=str(error), migrations=list(pending))
            raise error
        if not pending:
            return replace(result, duration_ms=_ms(started))
        self._confirmed(plan)
        if dry_run:
            from dualorm.runner.rehearsal import rehearse

            rehearsal = rehearse(
                self.config,
                options=self._options(max_downtime),
                progress=self.progress,
                correlation_id=context.correlation_id,
            )
            return replace(result, rehearsal=rehearsal, duration_ms=_ms(started))
        backup = self._backup(url, notifier) if backup_before_migration else None
        if backup is not None:
            result = replace(result, backup=str(backup.path))
        notifier.send(
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
            self._migrate(url, context, max_downtime, state, notifier)
        except MigrationFailed as failure:
            return self._failed(
                failure, result, state, rollback_on_failure, backup, notifier, started
            )
        result = replace(
            result,
            applied=tuple(state.applied),
            outcomes=tuple(state.outcomes),
            duration_ms=_ms(started),
        )
        result = replace(result, replicas=self._replicas(url))
        notifier.send(
            "succeeded",
            migrations=list(result.applied),
            duration_ms=round(result.duration_ms, 3),
            replicas=[r.to_dict() for r in result.replicas],
        )
        return result

    # -- the steps -----------------------------------------------------------------------------

    def _confirmed(self, plan: MigrationPlan) -> None:
        if self.assume_yes:
            return
        if self.confirm is None:
            raise ConfirmationRequired(
                "a production migration needs its plan confirmed: run it from a terminal, "
                "or pass --yes once the plan (`dualorm migrate plan`) has been reviewed"
            )
        if not self.confirm(plan):
            raise ConfirmationRequired("the migration plan was not confirmed; nothing was run")

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
            notifier.send("failed", stage="backup", error=redact_text(str(exc)))
            raise
        return backup

    def _migrate(
        self,
        url: str,
        context: RunContext,
        max_downtime: float | None,
        state: _Run,
        notifier: Notifier,
    ) -> None:
        from dualorm.api import migrate_up

        config = self.config
        if max_downtime is not None:
            config = config.with_(database_url=_with_statement_timeout(url, max_downtime))

        def watch(event: Event) -> None:
            if self.progress is not None:
                self.progress(event)
            if event.kind == "migration_done":
                state.applied.append(event.migration_id)
                notifier.send(
                    "migration_applied",
                    migration=event.migration_id,
                    duration_ms=round(event.duration_ms or 0.0, 3),
                )
            elif event.kind in ("migration_start", "lock_timeout_retry"):
                if state.deadline is not None and time.monotonic() > state.deadline:
                    raise _Deadline(
                        event.migration_id,
                        event.statement,
                        "the run's time budget (max_downtime) is spent",
                    )

        result = migrate_up(
            config,
            progress=watch,
            options=self._options(max_downtime),
            correlation_id=context.correlation_id,
        )
        state.outcomes = list(result.outcomes)

    def _failed(
        self,
        failure: MigrationFailed,
        result: ProductionResult,
        state: _Run,
        rollback_on_failure: bool,
        backup: Backup | None,
        notifier: Notifier,
        started: float,
    ) -> ProductionResult:
        applied = tuple(state.applied)
        notifier.send(
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
            method, undone, detail = self._undo(applied, backup)
            result = replace(result, rollback=method, rolled_back=undone)
            notifier.send(
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
        from dualorm.api import migrate_down
        from dualorm.spec.load import load_specs

        if not applied:
            return "none", (), "the failing migration's transaction rolled back"
        by_id = {m.id: m for m in load_specs(self.config.migrations_path)}
        irreversible = [i for i in applied if not by_id[i].reversible]
        undone: list[str] = []
        problem = ""
        if not irreversible:
            try:
                for migration_id in reversed(applied):
                    migrate_down(self.config, migration_id=migration_id)
                    undone.append(migration_id)
                return "down", tuple(undone), f"rolled back {', '.join(undone)}"
            except DualormError as exc:
                problem = redact_text(str(exc))
        else:
            problem = f"{', '.join(irreversible)} cannot go down"
        if backup is None:
            return (
                "incomplete",
                tuple(undone),
                f"{problem}; no backup was taken, so "
                f"{', '.join(i for i in applied if i not in undone)} stay applied",
            )
        from dualorm.backup.api import restore_backup

        try:
            restore_backup(backup.path, resolve_url(self.config), confirm=True, config=self.config)
        except DualormError as exc:
            return "incomplete", tuple(undone), f"{problem}; restore failed: {exc}"
        return "restore", applied, f"{problem}; restored the backup {backup.path.name}"

    def _replicas(self, url: str) -> tuple[ReplicaStatus, ...]:
        from dualorm.replicas import ReplicaLagging, wait_for_replicas

        if not self.config.replica_urls:
            return ()
        try:
            return tuple(
                wait_for_replicas(url, self.config.replica_urls, timeout=self.replica_timeout)
            )
        except ReplicaLagging as lagging:
            return lagging.statuses


def _with_statement_timeout(url: str, max_downtime: float) -> str:
    """Return ``url`` whose sessions start with ``statement_timeout`` at the budget."""
    budget = max(1, int(max_downtime * 1000))
    option = quote(f"-c statement_timeout={budget}", safe="")
    return f"{url}{'&' if '?' in url else '?'}options={option}"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
