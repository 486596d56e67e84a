"""``dualorm fleet up``: the one ``migrate up`` pipeline run over many databases.

Each database is migrated by :func:`dualorm.api.migrate_up` with its own config (the
database's URL), so every rule of a single run holds per database: its migration lock, its
label and checksum checks, its ledgers, and in production the lint refusal, the confirmation
(``assume_yes``), the verified backup, the downtime budget and the rollback. The fleet adds
only the order: at most ``parallel`` databases at a time (one migration connection and one lock
connection each), the ``canary`` databases first (the rest untouched when one of them fails),
and stopping at the first failure unless ``continue_on_error``. No database is started once the
run stops; those already running finish their migrations (a migration is never cut).

A rerun is the resume: every database's ledgers say where it is, so a rerun applies what each
still lacks, and a database at head costs one round trip and no lock wait. Two fleet runs at
once serialise per database on its lock, and each migration is applied once.

A target may be one tenant schema of a database (:mod:`dualorm.fleet.targets`,
:mod:`dualorm.runner.tenancy`): the same pipeline runs with the tenant's ``search_path``, its
own three ledgers and its own lock, so the tenants of one database migrate side by side, up to
``parallel`` at once, and each tenant is one line of the report. In production a tenant's
run takes no backup: a backup and its restore cover the whole database, every tenant's, so
``backup`` must be off (a failed tenant is still rolled back by its down steps).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dualorm.api import migrate_up
from dualorm.audit import new_correlation_id
from dualorm.config import Config, Environment
from dualorm.db import password_forms, scrub
from dualorm.errors import DualormError, SafetyError, UsageError, exit_code
from dualorm.fleet.targets import Target, expand_tenants
from dualorm.runner.specs import load_project_specs

if TYPE_CHECKING:
    from dualorm.runner.schedule import Event

__all__ = [
    "DatabaseResult",
    "FleetEvent",
    "FleetProgress",
    "FleetReport",
    "check_counts",
    "fleet_up",
]

Result = Literal["ok", "failed", "refused", "skipped"]


@dataclass(frozen=True)
class DatabaseResult:
    """What ``fleet up`` did to one database."""

    name: str
    result: Result
    applied: tuple[str, ...] = ()
    """The migrations applied in this run (before a failure too: they stay committed)."""
    seconds: float = 0.0
    error: str | None = None
    """Why it failed or was refused, without any password."""
    exit_code: int = 0
    canary: bool = False
    tenant: str | None = None
    """The tenant schema migrated, ``None`` for a whole database."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tenant": self.tenant,
            "result": self.result,
            "applied": list(self.applied),
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "exit_code": self.exit_code,
            "canary": self.canary,
        }


@dataclass(frozen=True)
class FleetEvent:
    """Progress of a fleet run: a database ``started``, a ``migration_done`` on it, ``finished``."""

    kind: Literal["started", "migration_done", "finished"]
    target: str
    migration_id: str | None = None
    result: DatabaseResult | None = None


FleetProgress = Callable[[FleetEvent], None]


@dataclass(frozen=True)
class FleetReport:
    """One report for the whole run: every database in the order listed."""

    correlation_id: str
    results: tuple[DatabaseResult, ...]
    seconds: float
    stopped: str | None = None
    """Why databases were left untouched (a canary or another database failed)."""

    @property
    def ok(self) -> bool:
        return all(r.result == "ok" for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 when every database is ok, else the exit code of the first that is not."""
        for r in self.results:
            if r.result in ("failed", "refused"):
                return r.exit_code
        return 0 if self.ok else 1

    def count(self, result: Result) -> int:
        return sum(1 for r in self.results if r.result == result)

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "fleet up",
            "correlation_id": self.correlation_id,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "counts": {k: self.count(k) for k in ("ok", "failed", "refused", "skipped")},
            "databases": [r.to_dict() for r in self.results],
        }


@dataclass
class _Run:
    """The state the workers of one fleet run share."""

    config: Config
    correlation_id: str
    progress: FleetProgress
    continue_on_error: bool
    up_options: dict[str, Any]
    stop: threading.Event = field(default_factory=threading.Event)
    reason: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def halt(self, why: str) -> None:
        with self.lock:
            if not self.reason:
                self.reason.append(why)
        self.stop.set()


def fleet_up(
    config: Config,
    targets: Sequence[Target],
    *,
    parallel: int = 1,
    canary: int = 0,
    continue_on_error: bool = False,
    to: str | None = None,
    progress: FleetProgress | None = None,
    no_wait: bool = False,
    assume_yes: bool = False,
    max_downtime: float | None = None,
    backup: bool = True,
    correlation_id: str | None = None,
) -> FleetReport:
    """Migrate every database of ``targets`` up (to ``to``), and report each.

    Args:
        parallel: databases migrated at once (at least 1).
        canary: migrate the first ``canary`` databases first; if any of them fails or is
            refused, no other database is touched (whatever ``continue_on_error`` says).
        continue_on_error: go on with the other databases after one fails; by default no
            database is started after the first failure.
        to, no_wait, assume_yes, max_downtime, backup: as :func:`dualorm.api.migrate_up`, for
            every database. In production no confirmation is asked per database: without
            ``assume_yes`` each is refused as a single run without ``--yes`` is.

    Raises:
        UsageError: a bad option, or a spec that does not load (exit 2), before any database
            is touched.
        ConfigError: a tenant pattern matching no schema (exit 2), before any database is
            touched; DatabaseUnreachable when a database cannot be reached to match one.
        SafetyError: production tenant targets with ``backup`` on (exit 3), nothing touched.
    """
    targets = expand_tenants(targets)
    check_counts(parallel, canary, len(targets))
    _check_tenant_backup(config, targets, backup)
    # Loaded once here: a bad spec is refused before any database is reached, and the cache
    # the workers read is written by one thread.
    specs = load_project_specs(config)
    if to is not None:
        specs.require(to)
    run = _Run(
        config,
        correlation_id or new_correlation_id(),
        progress or (lambda event: None),
        continue_on_error,
        {
            "to": to,
            "no_wait": no_wait,
            "assume_yes": assume_yes,
            "max_downtime": max_downtime,
            "backup": backup,
        },
    )
    return _in_waves(run, targets, parallel, canary)


def _in_waves(run: _Run, targets: Sequence[Target], parallel: int, canary: int) -> FleetReport:
    """Migrate the ``canary`` first targets, then the others, and report on all of them."""
    started = time.monotonic()
    results = _wave(run, targets[:canary], parallel, canary=True) if canary else []
    results += _wave(run, targets[canary:], parallel, canary=False)
    return FleetReport(
        run.correlation_id,
        tuple(results),
        time.monotonic() - started,
        stopped=run.reason[0] if run.reason else None,
    )


def _check_tenant_backup(config: Config, targets: Sequence[Target], backup: bool) -> None:
    tenants = [t.name for t in targets if t.tenant is not None]
    if tenants and backup and config.environment is Environment.PRODUCTION:
        raise SafetyError(
            f"{tenants[0]} is a tenant schema: a production backup and its restore cover the "
            "whole database, every tenant's; pass --no-backup (a failed tenant is rolled back "
            "by its down steps)"
        )


def check_counts(parallel: int, canary: int, count: int) -> None:
    """Refuse (exit 2) a ``--parallel`` below 1 or a ``--canary`` the fleet cannot hold."""
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise UsageError(f"--parallel must be a whole number of at least 1, not {parallel}")
    if isinstance(canary, bool) or not isinstance(canary, int) or canary < 0:
        raise UsageError(f"--canary must be a whole number of at least 0, not {canary}")
    if canary > count:
        raise UsageError(f"--canary {canary} is more than the {count} target(s) of the fleet")


def _wave(
    run: _Run, targets: Sequence[Target], parallel: int, canary: bool
) -> list[DatabaseResult]:
    if not targets:
        return []
    workers = min(parallel, len(targets))
    if workers == 1:
        return [_one(run, t, canary) for t in targets]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dualorm-fleet") as pool:
        futures = [pool.submit(_one, run, t, canary) for t in targets]
        try:
            return [f.result() for f in futures]
        except BaseException:
            # Interrupted: start nothing more; the migrations running finish (never cut).
            run.halt("interrupted")
            raise


def _one(run: _Run, target: Target, canary: bool) -> DatabaseResult:
    if run.stop.is_set():
        skipped = DatabaseResult(target.name, "skipped", canary=canary, tenant=target.tenant)
        run.progress(FleetEvent("finished", target.name, result=skipped))
        return skipped
    run.progress(FleetEvent("started", target.name))
    applied: list[str] = []

    def on_event(event: Event) -> None:
        if event.kind == "migration_done":
            applied.append(event.migration_id)
            run.progress(FleetEvent("migration_done", target.name, event.migration_id))

    begin = time.monotonic()
    result = _migrate(run, target, on_event, canary)
    result = DatabaseResult(
        target.name,
        result.result,
        result.applied or tuple(applied),
        time.monotonic() - begin,
        result.error,
        result.exit_code,
        canary,
        target.tenant,
    )
    if result.result in ("failed", "refused"):
        if canary:
            run.halt(f"the canary {target.name} {result.result}: no other database was touched")
        elif not run.continue_on_error:
            run.halt(f"{target.name} {result.result}: the databases after it were not started")
    run.progress(FleetEvent("finished", target.name, result=result))
    return result


def _migrate(
    run: _Run, target: Target, on_event: Callable[[Event], None], canary: bool
) -> DatabaseResult:
    # The replicas of DATABASE_REPLICA_URLS belong to one database, not to every one.
    config = run.config.with_(database_url=target.url, replica_urls=())
    try:
        done = migrate_up(
            config,
            progress=on_event,
            correlation_id=run.correlation_id,
            **run.up_options,
        )
    except Exception as error:
        message = scrub(str(error), password_forms(target.url))
        if not isinstance(error, DualormError):
            message = f"internal error {type(error).__name__}: {message} (a bug of dualorm)"
        refused = isinstance(error, SafetyError)
        return DatabaseResult(
            target.name,
            "refused" if refused else "failed",
            error=message,
            exit_code=exit_code(error),
            canary=canary,
        )
    if not done.ok:
        return DatabaseResult(
            target.name,
            "failed",
            done.done,
            error="a replica did not catch up",
            exit_code=1,
            canary=canary,
        )
    return DatabaseResult(target.name, "ok", done.done, canary=canary)
