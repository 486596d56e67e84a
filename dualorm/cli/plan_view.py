"""The plan, the lint findings and a dry run's report, for people: rich tables and text.

Shared by ``dualorm migrate plan|lint|up`` and ``manage.py dualmigrate``: both render with
these functions, so both print the same. rich is imported only inside the functions that draw
with it; :func:`terminal_confirm` is the confirmation a face hands the library's production
policy (the plan on stderr, then a yes/no question).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from dualorm.cli.render import Write
    from dualorm.config import Config
    from dualorm.runner.lint import Finding
    from dualorm.runner.plan import MigrationPlan
    from dualorm.runner.production.result import Confirm
    from dualorm.runner.rehearsal import Rehearsal


def console(stream: IO[str] | None = None, *, err: bool = False) -> Console:
    """A rich console on ``stream`` (default stdout, or stderr with ``err``)."""
    from rich.console import Console

    out = stream if stream is not None else (sys.stderr if err else sys.stdout)
    # Piped or captured output gets a wide table rather than rich's 80-column fallback.
    return Console(file=out, width=None if out.isatty() else 160)


def print_json(data: Any, write: Write) -> None:
    write(json.dumps(data, indent=2, sort_keys=True, default=str))


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


def terminal_confirm(direction: str = "up") -> Confirm | None:
    """The confirmation a face supplies: the plan on stderr, then a yes/no question.

    ``None`` without a terminal: the library then refuses unless ``--yes`` was given.
    """
    if not sys.stdin.isatty():
        return None

    def confirm(result: MigrationPlan) -> bool:
        render_plan(result, console(err=True))
        question = "apply these migrations" if direction == "up" else "roll these back"
        sys.stderr.write(f"{question} on production? [y/N] ")
        sys.stderr.flush()
        return sys.stdin.readline().strip().lower() in ("y", "yes")

    return confirm


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
