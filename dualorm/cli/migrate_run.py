"""``dualorm migrate up|down|status|baseline``: the runner's commands on the ``migrate`` app.

They call :mod:`dualorm.api` and render its results as plain text or JSON. Rendering is plain
(no rich) on purpose: ``status`` and ``up`` start as fast as a Python process can, which the
migrate benchmark holds them to. The render functions take a ``write`` callable, so
``manage.py dualmigrate`` prints exactly the same lines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dualorm.cli.migrate import app

if TYPE_CHECKING:
    from dualorm.api import BaselineResult, MigrateResult, StatusReport
    from dualorm.config import Config
    from dualorm.runner.locks import LockHolder
    from dualorm.runner.runner import Event

Write = Callable[[str], None]

LogFormatOption = Annotated[
    str,
    typer.Option("--log-format", help="Log records on stderr as text or one JSON object a line."),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log every migration and statement.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Exit 3 at once if another runner holds the lock.")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Change nothing; print the SQL that would run.")
]


# -- rendering (shared with manage.py dualmigrate) -------------------------------------------


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
            write(f"{verb} {event.migration_id} ({event.duration_ms or 0:.0f} ms)")
        elif event.kind == "lock_timeout_retry":
            write(f"{event.migration_id}: lock_timeout ({event.detail}); retrying")
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
            from dualorm.cli.migrate_safety import rehearsal_lines

            for line in rehearsal_lines(result.rehearsal):
                write(line)
        return
    if not result.planned:
        write("nothing to apply" if result.command == "up" else "nothing to roll back")
        return
    verb = "applied" if result.command == "up" else "rolled back"
    total = sum(o.duration_ms for o in result.outcomes)
    write(f"{verb} {len(result.outcomes)} migration(s) in {total:.0f} ms")


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


# -- commands ---------------------------------------------------------------------------------


def _out(text: str) -> None:
    typer.echo(text)


def _err(text: str) -> None:
    typer.echo(text, err=True)


def _config() -> Config:
    from dualorm.config import Config

    return Config.load()


@app.command()
def up(
    to: Annotated[str | None, typer.Option("--to", help="Stop once this id is applied.")] = None,
    dry_run: DryRunOption = False,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
    log_format: LogFormatOption = "text",
    verbose: VerboseOption = False,
    env: Annotated[
        str | None, typer.Option("--env", help="The environment (default DUALORM_ENV).")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Production: the plan is reviewed and confirmed.")
    ] = False,
    max_downtime: Annotated[
        float | None,
        typer.Option("--max-downtime", help="Production: seconds any writer may be blocked."),
    ] = None,
    backup: Annotated[
        bool, typer.Option("--backup/--no-backup", help="Production: verified backup first.")
    ] = True,
) -> None:
    """Apply pending migrations, each in its own transaction with its ledger rows."""
    from dualorm.api import migrate_up
    from dualorm.cli.migrate_safety import production_config, production_up

    configure(log_format, verbose)
    config = production_config(_config(), env, to)
    if config.environment == "production":
        production_up(
            config,
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
            max_downtime=max_downtime,
            backup=backup,
        )
        return
    result = migrate_up(
        config,
        to,
        dry_run=dry_run,
        no_wait=no_wait,
        progress=None if as_json else progress_printer(_err),
        on_lock_wait=lock_waiter(_err),
    )
    render_migrate(result, _out, as_json)


@app.command()
def down(
    migration_id: Annotated[
        str | None, typer.Option("--id", help="Roll back this migration.")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Roll back everything after this id.")
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", help="Roll back the last N (default 1).")
    ] = None,
    cascade: Annotated[
        bool, typer.Option("--cascade", help="With --id, roll back its dependents first.")
    ] = False,
    dry_run: DryRunOption = False,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
    log_format: LogFormatOption = "text",
    verbose: VerboseOption = False,
) -> None:
    """Roll back applied migrations in reverse order (by default the last one)."""
    from dualorm.api import migrate_down

    configure(log_format, verbose)
    result = migrate_down(
        _config(),
        migration_id=migration_id,
        to=to,
        steps=steps,
        cascade=cascade,
        dry_run=dry_run,
        no_wait=no_wait,
        progress=None if as_json else progress_printer(_err),
        on_lock_wait=lock_waiter(_err),
    )
    render_migrate(result, _out, as_json)


@app.command()
def status(
    as_json: JsonOption = False,
    log_format: LogFormatOption = "text",
    verbose: VerboseOption = False,
) -> None:
    """Show applied and pending migrations, edited specs, and the lock holder."""
    from dualorm.api import migrate_status

    configure(log_format, verbose)
    render_status(migrate_status(_config()), _out, as_json)


@app.command()
def baseline(
    migration_id: Annotated[
        str | None, typer.Option("--id", help="Re-record this applied spec's checksum.")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Adopt this id and what it needs as applied.")
    ] = None,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
    log_format: LogFormatOption = "text",
    verbose: VerboseOption = False,
) -> None:
    """Adopt a database managed by Alembic or Django, or re-record an edited spec."""
    from dualorm.api import baseline as run_baseline

    configure(log_format, verbose)
    result = run_baseline(
        _config(),
        migration_id=migration_id,
        to=to,
        no_wait=no_wait,
        on_lock_wait=lock_waiter(_err),
    )
    render_baseline(result, _out, as_json)
