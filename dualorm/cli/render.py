"""Rendering of the runner's results as plain text or JSON, shared by ``dualorm migrate`` and
``manage.py dualmigrate``.

Plain on purpose (neither rich nor typer is imported here): ``status`` and ``up`` start as fast
as a Python process can, which the migrate benchmark holds them to. Every function takes a
``write`` callable, so both front ends print exactly the same lines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dualorm.api import BaselineResult, MigrateResult, StatusReport
    from dualorm.runner.locks import LockHolder
    from dualorm.runner.schedule import Event

__all__ = [
    "Write",
    "configure",
    "lock_waiter",
    "progress_printer",
    "render_baseline",
    "render_migrate",
    "render_status",
]

Write = Callable[[str], None]


def configure(log_format: str, verbose: bool) -> None:
    """Route the library's log records to stderr in the chosen format."""
    from dualorm.audit import configure_logging
    from dualorm.errors import UsageError

    if log_format not in ("text", "json"):
        raise UsageError(f"--log-format must be text or json, not {log_format!r}")
    # Text mode prints progress lines and the error already; its log records are for
    # --verbose. JSON mode is for machines and logs every migration.
    if log_format == "json":
        level = logging.DEBUG if verbose else logging.INFO
    else:
        level = logging.DEBUG if verbose else logging.CRITICAL + 1
    configure_logging("json" if log_format == "json" else "text", level=level)


def progress_printer(write: Write) -> Callable[[Event], None]:
    """Return a progress callback that writes one line per finished migration."""

    def show(event: Event) -> None:
        verb = "applied" if event.direction == "up" else "rolled back"
        if event.kind == "migration_done":
            took = "" if event.duration_ms is None else f" ({event.duration_ms:.0f} ms)"
            write(f"{verb} {event.migration_id}{took}")
        elif event.kind == "lock_timeout_retry":
            write(f"{event.migration_id}: lock_timeout ({event.detail}); retrying")
        elif event.kind == "seeded_rows_dropped":
            write(f"warning: {event.migration_id}: {event.detail}")
        elif event.kind == "step_skipped":
            write(f"{event.migration_id}: already done, skipped: {event.statement}")

    return show


def lock_waiter(write: Write) -> Callable[[LockHolder | None], None]:
    def waiting(holder: LockHolder | None) -> None:
        who = holder.describe() if holder else "another runner"
        write(f"waiting for the migration lock held by {who}")

    return waiting


def render_migrate(result: MigrateResult, write: Write, as_json: bool) -> None:
    if as_json:
        data = result.to_dict()
        if result.script is not None:
            data["sql"] = result.script
        write(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    if result.script is not None:
        write(result.script.rstrip("\n") or "-- nothing to do")
        if result.rehearsal is not None:
            from dualorm.cli.plan_view import rehearsal_lines

            for line in rehearsal_lines(result.rehearsal):
                write(line)
        return
    if not result.planned:
        write("nothing to apply" if result.command == "up" else "nothing to roll back")
        return
    produced = result.production
    if produced is not None and produced.backup:
        write(f"verified backup: {produced.backup}")
    verb = "applied" if result.command == "up" else "rolled back"
    total = sum(o.duration_ms or 0.0 for o in result.outcomes)
    write(f"{verb} {len(result.outcomes)} migration(s) in {total:.0f} ms")
    for replica in produced.replicas if produced is not None else ():
        state = (
            "caught up" if replica.caught_up else f"lagging ({replica.error or replica.lag_bytes})"
        )
        write(f"replica {replica.url}: {state}")


def _when(report_value: Any) -> str:
    return report_value.strftime("%Y-%m-%d %H:%M:%S") if report_value else ""


def render_status(report: StatusReport, write: Write, as_json: bool) -> None:
    if as_json:
        write(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str))
        return
    rows = [("id", "state", "checksum", "applied at", "ms", "by")]
    for m in report.migrations:
        rows.append(
            (
                m.id,
                m.state,
                m.checksum or "",
                _when(m.applied_at),
                "" if m.duration_ms is None else str(m.duration_ms),
                m.applied_by or "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    write(
        f"{len(report.applied)} applied, {len(report.pending)} pending; "
        f"environment: {report.environment or 'unlabelled'}"
    )
    for mid in report.changed:
        write(
            f"warning: {mid} was edited after it was applied; restore it or run "
            f"`dualorm migrate baseline --id {mid}`"
        )
    if report.ledger_problem:
        write(f"warning: {report.ledger_problem}")
    if report.lock_holder:
        write(f"lock held by {report.lock_holder.describe()}")


def render_baseline(result: BaselineResult, write: Write, as_json: bool) -> None:
    if as_json:
        write(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return
    if result.adopted:
        write(f"adopted {len(result.adopted)} migration(s) from {result.source}:")
        for mid in result.adopted:
            write(f"  {mid}")
    for mid in result.rebaselined:
        write(f"re-recorded the checksum of {mid}")
    if not result.adopted and not result.rebaselined:
        write("nothing to record: the ledgers already match")
