"""``dualorm seed run|status|rollback|clear|new``: render what :class:`SeedManager` returns."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dualorm.cli.output import print_json
from dualorm.cli.render import lock_waiter
from dualorm.config import Config, Environment
from dualorm.seeding import RollbackResult, SeedEvent, SeedManager

app = typer.Typer(help="Environment-specific seed data, with both ORMs.", no_args_is_help=True)

EnvOption = Annotated[
    str | None, typer.Option("--env", help="development | testing | staging | production")
]
NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Exit 3 at once if another runner holds the lock.")
]

_err = Console(stderr=True, highlight=False)
_out = Console(highlight=False)


def _show(event: SeedEvent) -> None:
    if event.kind == "seed_start":
        again = f" again ({event.detail['reason']})" if event.detail.get("reason") else ""
        _write_err(f"seeding {event.seed_id}{again} ...")
    elif event.kind == "rows":
        _err.print(f"  {event.detail['table']}: {event.detail['count']:,} rows loaded")
    elif event.kind == "rollback_start":
        _err.print(f"rolling back {event.seed_id} ...")
    elif event.kind == "log":
        level = event.detail["level"]
        prefix = "" if level == "info" else f"{level}: "
        _write_err(f"  {event.seed_id}: {prefix}{event.detail['message']}")


def _write_err(line: str) -> None:
    _err.print(line, markup=False, soft_wrap=True)


def _setup(env: str | None, *, no_wait: bool = False) -> tuple[SeedManager, Environment]:
    config = Config.load()
    environment = Environment.parse(env, origin="--env") if env else config.environment
    manager = SeedManager(
        config, progress=_show, on_lock_wait=lock_waiter(_write_err), no_wait=no_wait
    )
    return manager, environment


def _counts(counts: dict[str, int] | object) -> str:
    items = counts.items() if isinstance(counts, dict) else ()
    return ", ".join(f"{table}={n:,}" for table, n in items) or "-"


@app.command()
def run(
    env: EnvOption = None,
    seed_id: Annotated[
        str | None, typer.Option("--id", help="Run this seed (and its needs)")
    ] = None,
    no_wait: NoWaitOption = False,
) -> None:
    """Apply pending and changed seeds, dependencies first."""
    manager, environment = _setup(env, no_wait=no_wait)
    results = manager.run(environment, only=seed_id)
    table = Table("seed", "action", "ms", "rows added", title=f"seed run ({environment.value})")
    for result in results:
        action = f"{result.action} ({result.reason})" if result.reason else result.action
        table.add_row(result.id, action, str(result.duration_ms), _counts(result.row_counts))
    _out.print(table)
    for result in results:
        for label, value in result.secrets.items():
            # Shown once, here; the ledger and the logs never see it.
            _out.print(f"{label}: {value}  (shown once: store it now)", markup=False)


@app.command()
def status(
    env: EnvOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """List every seed as applied, pending, changed, stale, missing or not for the environment."""

    manager, environment = _setup(env)
    lines = manager.status(environment)
    if as_json:
        print_json([line.to_dict() for line in lines])
        return
    table = Table("seed", "state", "applied at", "rows", title=f"seeds ({environment.value})")
    for line in lines:
        when = line.applied_at.isoformat(timespec="seconds") if line.applied_at else "-"
        state = f"{line.state} ({line.reason})" if line.reason else line.state
        table.add_row(line.id, state, when, _counts(dict(line.row_counts)))
    _out.print(table)


def _removed(result: RollbackResult) -> None:
    for seed_id, counts in result.removed.items():
        _out.print(f"rolled back {seed_id}: removed {_counts(dict(counts))}")
    if not result.removed:
        _out.print("no seeds applied: nothing to remove")


@app.command()
def rollback(
    seed_id: Annotated[str, typer.Option("--id", help="The seed to roll back")],
    cascade: Annotated[bool, typer.Option(help="Roll back applied dependents first")] = False,
    confirm: Annotated[bool, typer.Option(help="Required in production")] = False,
    env: EnvOption = None,
    no_wait: NoWaitOption = False,
) -> None:
    """Remove exactly the rows a seed added."""
    manager, environment = _setup(env, no_wait=no_wait)
    _removed(manager.rollback(seed_id, cascade=cascade, confirm=confirm, environment=environment))


@app.command()
def clear(
    env: Annotated[str, typer.Option("--env", help="The environment to clear")],
    confirm: Annotated[bool, typer.Option(help="Required: this removes seeded data")] = False,
    no_wait: NoWaitOption = False,
) -> None:
    """Remove all seeded data of ENV (refused in production)."""
    manager, environment = _setup(env, no_wait=no_wait)
    _removed(manager.clear(environment, confirm=confirm))


@app.command()
def new(name: Annotated[str, typer.Argument(help="What the seed adds, e.g. 'demo teams'")]) -> None:
    """Create seeds/NNNN_<name>.py from a template."""
    manager, _ = _setup(None)
    _out.print(f"created {manager.new(name)}")
