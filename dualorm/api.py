"""Plain functions behind ``dualorm migrate up|down|status|baseline|lint`` (Alembic's
``command.py``) and the result values they return.

Each takes a :class:`~dualorm.config.Config`, does its work and returns a result value; progress
goes to an optional callback and nothing is printed. The CLI and ``manage.py dualmigrate``
render these results, so both behave the same and exit the same way. This module chooses the
environment's policy: ``migrate up`` and ``down`` check their options, load the specs, and
hand one :class:`~dualorm.runner.pipeline.RunSettings` either to production's policy
(:mod:`dualorm.runner.production`) or to the plain pipeline. The pipelines themselves are
:mod:`dualorm.runner.pipeline`, the shared plumbing (lock, environment check,
audit) :mod:`dualorm.runner.session`, ``status`` :mod:`dualorm.runner.history` and ``baseline``
:mod:`dualorm.runner.adopt`.

Every mutating command takes the migration lock first, then checks the environment label,
the checksums of applied specs and the agreement of the three ledgers, and only then plans;
any refusal happens before a statement runs. Each run leaves one ``dualorm.audit`` row.
Neither SQLAlchemy nor Django is imported on these paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dualorm.config import Environment
from dualorm.db import connect, resolve_url
from dualorm.errors import SpecError, UsageError
from dualorm.runner import ledger
from dualorm.runner.history import MigrationStatus, StatusReport, check_history, migrate_status
from dualorm.runner.pipeline import MigrateResult, RunSettings, Selection
from dualorm.runner.production.budget import check_budget
from dualorm.runner.runner import run
from dualorm.runner.schedule import Progress, RunOptions, plan_specs
from dualorm.runner.sinks import ScriptSink
from dualorm.runner.specs import ProjectSpecs, load_project_specs

if TYPE_CHECKING:
    from dualorm.config import Config
    from dualorm.runner.adopt import BaselineResult, baseline
    from dualorm.runner.lint import Finding
    from dualorm.runner.production.result import Confirm
    from dualorm.runner.session import LockWait

__all__ = [
    "BaselineResult",
    "MigrateResult",
    "MigrationStatus",
    "StatusReport",
    "baseline",
    "migrate_down",
    "migrate_lint",
    "migrate_script",
    "migrate_status",
    "migrate_up",
]


def __getattr__(name: str) -> Any:
    """``baseline`` and :class:`BaselineResult`, loaded with :mod:`dualorm.runner.adopt` on
    first use: adopting compares the specs with the live catalog (the differ, the normaliser,
    the catalog reader), which ``migrate up`` never loads."""
    if name not in ("BaselineResult", "baseline"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Imported on first use: `migrate up` and `down` never adopt.
    from dualorm.runner import adopt

    value = getattr(adopt, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
        progress: called with each runner :class:`~dualorm.runner.schedule.Event`.
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
    specs = _load_specs(config, to)
    if to is not None and config.environment is Environment.PRODUCTION:
        raise UsageError("--to is not available in production: every pending migration runs")
    settings = RunSettings(
        dry_run=dry_run,
        no_wait=no_wait,
        progress=progress,
        on_lock_wait=on_lock_wait,
        options=options,
        correlation_id=correlation_id,
    )
    policy = _Policy(confirm=confirm, assume_yes=assume_yes, downtime=max_downtime, backup=backup)
    return _by_environment(config, specs, "up", Selection(), settings, policy, to)


@dataclass(frozen=True)
class _Policy:
    """What production's policy asks of a run: its confirmation, budget and backup."""

    confirm: Confirm | None
    assume_yes: bool
    downtime: float | None
    backup: bool


def _load_specs(config: Config, *named: str | None) -> ProjectSpecs:
    """Load the project's specs; a ``named`` migration they do not hold is bad input."""
    specs = load_project_specs(config)
    for migration_id in named:
        if migration_id is not None:
            specs.require(migration_id)
    return specs


def _by_environment(
    config: Config,
    specs: ProjectSpecs,
    direction: str,
    selection: Selection,
    settings: RunSettings,
    policy: _Policy,
    to: str | None = None,
) -> MigrateResult:
    """Run the way the environment says: production's policy, or the plain pipeline."""
    if config.environment is Environment.PRODUCTION:
        return _production(config, specs, direction, selection, settings, policy)
    if direction == "up":
        return settings.up(config, specs, to)
    return settings.down(config, specs, selection)


def _production(
    config: Config,
    specs: ProjectSpecs,
    direction: str,
    selection: Selection,
    settings: RunSettings,
    policy: _Policy,
) -> MigrateResult:
    """Production's policy (:mod:`dualorm.runner.production`): planned, linted, confirmed,
    backed up and budgeted."""
    # Imported when production runs: its planner, lint and webhooks (urllib) are not loaded
    # by a development or staging run.
    from dualorm.runner.production.migrator import ProductionMigrator

    migrator = ProductionMigrator(
        config, assume_yes=policy.assume_yes, confirm=policy.confirm, progress=settings.progress
    )
    produced = migrator.run(
        direction,
        specs=specs,
        selection=selection,
        dry_run=settings.dry_run,
        backup_before_migration=policy.backup and not settings.dry_run,
        max_downtime=policy.downtime,
        no_wait=settings.no_wait,
        on_lock_wait=settings.on_lock_wait,
    )
    return MigrateResult.of_production(direction, produced)


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
    specs = _load_specs(config, migration_id, to)
    settings = RunSettings(
        dry_run=dry_run,
        no_wait=no_wait,
        progress=progress,
        on_lock_wait=on_lock_wait,
        options=options,
        correlation_id=correlation_id,
    )
    policy = _Policy(confirm=confirm, assume_yes=assume_yes, downtime=max_downtime, backup=backup)
    return _by_environment(config, specs, "down", selection, settings, policy)


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


# -- plan and lint -------------------------------------------------------------------------------


def migrate_script(config: Config) -> str:
    """Return the psql script of the pending migrations, exactly what ``up`` would run.

    Read-only: takes no lock and changes nothing; refuses (exit 3) like ``up`` a history it
    cannot plan on (a lost or edited applied spec, disagreeing ledgers).
    """
    specs = load_project_specs(config)
    with connect(resolve_url(config), autocommit=True) as conn:
        ledger.check_environment(conn, config.environment)
        applied = set(check_history(conn, specs, config))
    sink = ScriptSink()
    run(plan_specs(specs, specs.pending(applied), "up", applied), sink, applied)
    return sink.text


def migrate_lint(config: Config) -> list[Finding]:
    """Lint every change spec of ``config`` (``dualorm migrate lint``); reads no database.

    An acknowledgement naming a rule that does not exist is bad input (exit 2).
    """
    # Imported when linting: the rules and the model reader are not loaded by `migrate up`.
    from dualorm.runner.lint import lint, unknown_acknowledgements
    from dualorm.runner.plan import model_schema

    migrations = load_project_specs(config).migrations
    unknown = unknown_acknowledgements(migrations)
    if unknown:
        raise SpecError(
            str(config.migrations_path), None, f"acknowledgement of an unknown rule: {unknown[0]}"
        )
    return lint(migrations, models=model_schema(config))
