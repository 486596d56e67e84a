"""``dualorm migrate up|down|status|baseline``: the runner's commands on the ``migrate`` app.

They call :mod:`dualorm.api` and render its results with :mod:`dualorm.cli.render` (plain
text or JSON, no rich), re-exported here for ``manage.py dualmigrate``. ``dualorm migrate
status`` and a plain ``dualorm migrate up`` usually skip typer altogether
(:mod:`dualorm.cli.fast`); these commands are what every other form, and ``--help``, runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dualorm.cli.migrate import app
from dualorm.cli.render import (
    Write,
    configure,
    lock_waiter,
    progress_printer,
    render_baseline,
    render_migrate,
    render_status,
)

if TYPE_CHECKING:
    from dualorm.config import Config

__all__ = [
    "Write",
    "baseline",
    "configure",
    "down",
    "lock_waiter",
    "progress_printer",
    "render_baseline",
    "render_migrate",
    "render_status",
    "status",
    "up",
]

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


# -- commands ---------------------------------------------------------------------------------


def _out(text: str) -> None:
    typer.echo(text)


def _err(text: str) -> None:
    typer.echo(text, err=True)


def _config(env: str | None = None) -> Config:
    from dualorm.config import Config, Environment

    config = Config.load()
    if env is not None:
        config = config.with_(environment=Environment.parse(env, origin="--env"))
    return config


EnvOption = Annotated[
    str | None, typer.Option("--env", help="The environment (default DUALORM_ENV).")
]
YesOption = Annotated[
    bool, typer.Option("--yes", help="Production: the plan is reviewed and confirmed.")
]
BudgetOption = Annotated[
    float | None,
    typer.Option("--max-downtime", help="Production: seconds any writer may be blocked."),
]
BackupOption = Annotated[
    bool, typer.Option("--backup/--no-backup", help="Production: verified backup first.")
]


@app.command()
def up(
    to: Annotated[str | None, typer.Option("--to", help="Stop once this id is applied.")] = None,
    dry_run: DryRunOption = False,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
    log_format: LogFormatOption = "text",
    verbose: VerboseOption = False,
    env: EnvOption = None,
    yes: YesOption = False,
    max_downtime: BudgetOption = None,
    backup: BackupOption = True,
) -> None:
    """Apply pending migrations, each in its own transaction with its ledger rows."""
    from dualorm.api import migrate_up
    from dualorm.cli.migrate_safety import terminal_confirm
    from dualorm.cli.output import fail

    configure(log_format, verbose)
    result = migrate_up(
        _config(env),
        to,
        dry_run=dry_run,
        no_wait=no_wait,
        progress=None if as_json else progress_printer(_err),
        on_lock_wait=lock_waiter(_err),
        confirm=terminal_confirm("up"),
        assume_yes=yes,
        max_downtime=max_downtime,
        backup=backup,
    )
    render_migrate(result, _out, as_json)
    if not result.ok:
        raise fail(1)


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
    env: EnvOption = None,
    yes: YesOption = False,
    max_downtime: BudgetOption = None,
    backup: BackupOption = True,
) -> None:
    """Roll back applied migrations in reverse order (by default the last one)."""
    from dualorm.api import migrate_down
    from dualorm.cli.migrate_safety import terminal_confirm
    from dualorm.cli.output import fail

    configure(log_format, verbose)
    result = migrate_down(
        _config(env),
        migration_id=migration_id,
        to=to,
        steps=steps,
        cascade=cascade,
        dry_run=dry_run,
        no_wait=no_wait,
        progress=None if as_json else progress_printer(_err),
        on_lock_wait=lock_waiter(_err),
        confirm=terminal_confirm("down"),
        assume_yes=yes,
        max_downtime=max_downtime,
        backup=backup,
    )
    render_migrate(result, _out, as_json)
    if not result.ok:
        raise fail(1)


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
