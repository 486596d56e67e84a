"""``dualorm migrate plan|lint`` and the terminal side of production's confirmation.

``plan`` renders :class:`~dualorm.runner.plan.MigrationPlan` (a rich table per migration, the
JSON documented in ``docs/plan.md``, or the psql script with ``--sql``); ``lint`` prints every
finding and exits 1 while an unacknowledged error remains. :func:`production_up` is what
``migrate up --env production`` runs: the plan shown and confirmed, then
:class:`~dualorm.runner.production.ProductionMigrator`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from dualorm.cli.migrate import app
from dualorm.cli.output import fail, print_json

if TYPE_CHECKING:
    from rich.console import Console

    from dualorm.config import Config
    from dualorm.runner.lint import Finding
    from dualorm.runner.plan import MigrationPlan
    from dualorm.runner.production import Confirm
    from dualorm.runner.rehearsal import Rehearsal

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _console(err: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if err else sys.stdout
    # Piped or captured output gets a wide table rather than rich's 80-column fallback.
    return Console(file=stream, width=None if stream.isatty() else 160)


@app.command()
def plan(
    as_json: JsonOption = False,
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the psql script `migrate up` would run.")
    ] = False,
) -> None:
    """Show each pending statement's lock, rewrite or scan, table size, lint and risk."""
    from dualorm.config import Config

    config = Config.load()
    if sql:
        typer.echo(script(config).rstrip("\n") or "-- nothing to do")
        return
    from dualorm.runner.plan import create_migration_plan

    result = create_migration_plan(config)
    if as_json:
        print_json(result.to_dict())
        return
    render_plan(result, _console())


@app.command()
def lint(as_json: JsonOption = False) -> None:
    """Lint every change spec for dangerous DDL; exit 1 while an error is unacknowledged."""
    from dualorm.config import Config
    from dualorm.errors import SpecError
    from dualorm.runner.lint import lint as run_lint
    from dualorm.runner.lint import unknown_acknowledgements
    from dualorm.runner.plan import _models
    from dualorm.spec.load import load_specs

    config = Config.load()
    migrations = load_specs(config.migrations_path)
    unknown = unknown_acknowledgements(migrations)
    if unknown:
        raise SpecError(
            str(config.migrations_path), None, f"acknowledgement of an unknown rule: {unknown[0]}"
        )
    findings = run_lint(migrations, models=_models(config))
    blocking = [f for f in findings if f.blocking]
    if as_json:
        print_json(
            {
                "ok": not blocking,
                "errors": len(blocking),
                "findings": [f.to_dict() for f in findings],
            }
        )
    else:
        render_findings(findings, _console(), config)
    if blocking:
        raise fail(1)


def script(config: Config) -> str:
    """Return the psql script of the pending migrations (what ``up`` runs), reading only."""
    from dualorm.api import migrate_status
    from dualorm.runner.runner import ScriptSink, plan_migration, run
    from dualorm.spec.load import load_specs

    status = migrate_status(config)
    by_id = {m.id: m for m in load_specs(config.migrations_path)}
    sink = ScriptSink()
    run([plan_migration(by_id[i], "up") for i in status.pending], sink, set(status.applied))
    return sink.text


# -- rendering ---------------------------------------------------------------------------------

_RISK_STYLE = {"low": "green", "medium": "yellow", "high": "red"}


def render_plan(result: MigrationPlan, console: Console) -> None:
    """Print a table per pending migration, the replicas, and the overall risk."""
    from rich.markup import escape
    from rich.table import Table

    console.print(f"database {escape(result.database)} ({result.environment})")
    if not result.migrations:
        console.print("nothing to apply")
    for migration in result.migrations:
        risk = str(migration.risk)
        table = Table(
            title=f"{migration.id}: {escape(migration.name)} [{_RISK_STYLE[risk]}]{risk}[/]",
            title_justify="left",
        )
        for name in ("statement", "lock", "rewrites/scans", "rows", "risk"):
            table.add_column(name, overflow="fold")
        for statement in migration.statements:
            locks = "\n".join(f"{i.lock.label} {i.table}" for i in statement.locks) or "-"
            work = "\n".join(
                "rewrites" if i.rewrites else "scans" if i.scans else "-" for i in statement.locks
            )
            rows = "\n".join(
                "?"
                if i.table not in statement.sizes or statement.sizes[i.table].rows is None
                else f"{statement.sizes[i.table].rows:,}"
                for i in statement.locks
            )
            style = _RISK_STYLE[str(statement.risk)]
            table.add_row(
                escape(statement.sql),
                locks,
                work or "-",
                rows or "-",
                f"[{style}]{statement.risk}[/]: {escape(statement.why)}",
            )
        console.print(table)
        for finding in migration.findings:
            state = "acknowledged" if finding.acknowledged else str(finding.severity)
            console.print(f"  lint {finding.rule} ({state}): {escape(finding.message)}")
    for replica in result.replicas:
        lag = "?" if replica.lag_bytes is None else f"{replica.lag_bytes} bytes behind"
        state = lag if replica.reachable else f"unreachable: {replica.error}"
        console.print(f"replica {escape(replica.url)}: {escape(state)}")
    risk = str(result.risk)
    console.print(f"overall risk: [{_RISK_STYLE[risk]}]{risk}[/]")


def render_findings(findings: Sequence[Finding], console: Console, config: Config) -> None:
    """Print one block per finding: where, rule, message, reason, alternative, acknowledgement."""
    from rich.markup import escape

    if not findings:
        console.print("[green]no findings[/]")
        return
    for f in findings:
        style = "red" if f.blocking else "yellow" if f.severity == "warning" else "dim"
        ack = f"acknowledged: {f.acknowledgement}" if f.acknowledged else "not acknowledged"
        where = escape(_where(f, config))
        head = f"{where}: [{style}]{f.severity}[/] [bold]{f.rule}[/] ({escape(ack)})"
        console.print(head, soft_wrap=True)
        console.print(f"  {escape(f.message)}", soft_wrap=True)
        console.print(f"  why: {escape(f.reason)}", soft_wrap=True)
        console.print(f"  instead: {escape(f.alternative)}", soft_wrap=True)
    errors = sum(1 for f in findings if f.blocking)
    console.print(
        f"{len(findings)} finding(s), "
        + (f"[red]{errors} unacknowledged error(s)[/]" if errors else "[green]no open errors[/]")
    )


def _where(finding: Finding, config: Config) -> str:
    from pathlib import Path

    if finding.path is None:
        return finding.migration
    path = Path(finding.path)
    shown = path.relative_to(config.root) if path.is_relative_to(config.root) else path
    return f"{shown}:{finding.line}" if finding.line else str(shown)


# -- production -----------------------------------------------------------------------------


def terminal_confirm(direction: str = "up") -> Confirm | None:
    """The confirmation a face supplies: the plan on stderr, then a yes/no question.

    ``None`` without a terminal: the library then refuses unless ``--yes`` was given.
    """
    if not sys.stdin.isatty():
        return None

    def confirm(result: MigrationPlan) -> bool:
        render_plan(result, _console(err=True))
        question = "apply these migrations" if direction == "up" else "roll these back"
        sys.stderr.write(f"{question} on production? [y/N] ")
        sys.stderr.flush()
        return sys.stdin.readline().strip().lower() in ("y", "yes")

    return confirm


def validate_replicas(config: Config, *, as_json: bool) -> None:
    """``dualorm validate --replicas``: every replica's catalog fingerprint against the primary's.

    Exit 1 when a replica is unreachable or its catalog differs, 2 when none is configured.
    """
    from dualorm.db import resolve_url
    from dualorm.errors import ConfigError
    from dualorm.replicas import compare_replicas

    if not config.replica_urls:
        raise ConfigError("--replicas needs DATABASE_REPLICA_URLS (comma-separated)")
    statuses = compare_replicas(resolve_url(config), config.replica_urls)
    valid = all(s.reachable and s.caught_up for s in statuses)
    if as_json:
        print_json({"valid": valid, "replicas": [s.to_dict() for s in statuses]})
    else:
        console = _console()
        for s in statuses:
            if not s.reachable:
                state = f"[red]unreachable[/]: {s.error}"
            elif s.caught_up:
                state = "[green]matches the primary[/]"
            else:
                state = f"[red]catalog differs[/] (replay lag {s.lag_bytes} bytes)"
            console.print(f"replica {s.url}: {state}")
    if not valid:
        raise fail(1)


def rehearsal_lines(rehearsal: Rehearsal) -> list[str]:
    """Return a dry run's report as SQL comments: per statement, its time and locks taken."""
    lines = [f"-- dry run: executed and rolled back in {rehearsal.duration_ms:.0f} ms"]
    for s in rehearsal.statements:
        locks = ", ".join(f"{lock.lock.label} on {lock.relation}" for lock in s.locks) or "none"
        first = s.statement.splitlines()[0] if s.statement else ""
        lines.append(f"-- {s.migration_id}: {s.duration_ms:.1f} ms, locks {locks}: {first}")
        if s.rehearsed_as:
            lines.append(f"--   rehearsed as {s.rehearsed_as}")
    return lines
