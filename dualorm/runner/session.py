"""The plumbing every mutating command shares: the run's audit context, its options and
progress reporter, and :func:`locked_run` (the migration lock, the migration connection and the
environment label check, and the audit row of a run that fails).

Neither SQLAlchemy nor Django is imported here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import psycopg

from dualorm.audit import RunContext, log, record_run
from dualorm.db import connect, resolve_url
from dualorm.environment import may_label
from dualorm.errors import DualormError, SafetyError
from dualorm.runner import ledger
from dualorm.runner.locks import LockHolder, MigrationLock, claim_session
from dualorm.runner.schedule import Event, Progress, RunOptions

if TYPE_CHECKING:
    from dualorm.config import Config
    from dualorm.runner.specs import ProjectSpecs

__all__ = ["LockWait", "locked_run", "reporter", "run_context", "run_options"]

LockWait = Callable[[LockHolder | None], None]


def run_options(config: Config, options: RunOptions | None, specs: ProjectSpecs) -> RunOptions:
    """Return ``options`` (or the defaults) with the project's Django apps and Python root."""
    base = options or RunOptions()
    apps = specs.django_apps(config.django_app_label)
    return replace(
        base, django_app_label=apps.default, django_apps=apps.of, python_root=config.root
    )


def reporter(context: RunContext, progress: Progress | None) -> Progress:
    """Return a progress callback that logs each event under the run's correlation id, then
    hands it on to ``progress``."""

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


@contextlib.contextmanager
def locked_run(
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
    # The audit row of a failed run must never hide why it failed.
    with contextlib.suppress(psycopg.Error, DualormError):
        if not conn.closed and ledger.ledger_exists(conn):
            record_run(conn, context, outcome, detail)


def run_context(config: Config, command: str, correlation_id: str | None) -> RunContext:
    """The audit context of one run of ``command``, under ``correlation_id`` or a fresh one."""
    if correlation_id is None:
        return RunContext(command=command, environment=config.environment.value)
    return RunContext(
        command=command, environment=config.environment.value, correlation_id=correlation_id
    )
