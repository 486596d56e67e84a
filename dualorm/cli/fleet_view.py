"""``dualorm fleet``'s display: live progress while databases migrate, then one report.

The progress bar (rich) counts databases and migrations and names the databases running; a
line is printed above it as each database finishes, so a log of a non-interactive run holds
every database too. The report, the status table and the version matrix go to stdout.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from dualorm.fleet import FleetEvent, FleetReport, FleetStatus

__all__ = ["FleetProgressView", "render_report", "render_status", "target_kind"]

_STYLE = {"ok": "green", "failed": "red", "refused": "red", "skipped": "yellow"}


def target_kind(tenants: Sequence[str | None]) -> str:
    """What the fleet's rows are: ``database``, ``tenant`` (all tenant schemas) or ``target``."""
    kinds = {tenant is not None for tenant in tenants}
    if kinds == {True}:
        return "tenant"
    return "target" if len(kinds) > 1 else "database"


class FleetProgressView:
    """A :data:`~dualorm.fleet.FleetProgress` callback that draws a live progress bar."""

    def __init__(self, console: Console, total: int, kind: str = "database") -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._console = console
        self._progress: Progress = Progress(
            TextColumn(f"{kind}s"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[migrations]} migration(s)  {task.fields[running]}"),
            console=console,
            transient=True,
        )
        self._task: TaskID = self._progress.add_task("fleet", total=total, migrations=0, running="")
        self._running: list[str] = []
        self._migrations = 0
        self._lock = threading.Lock()

    def __enter__(self) -> FleetProgressView:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def __call__(self, event: FleetEvent) -> None:
        from rich.markup import escape

        with self._lock:
            if event.kind == "started":
                self._running.append(event.target)
            elif event.kind == "migration_done":
                self._migrations += 1
            elif event.result is not None:
                if event.target in self._running:
                    self._running.remove(event.target)
                result = event.result
                if result.result != "skipped":
                    style = _STYLE[result.result]
                    self._console.print(
                        f"[{style}]{result.result}[/] {escape(result.name)}: "
                        f"{len(result.applied)} applied in {result.seconds:.2f} s"
                    )
                self._progress.advance(self._task)
            shown = ", ".join(self._running[:4]) + (" ..." if len(self._running) > 4 else "")
            self._progress.update(self._task, migrations=self._migrations, running=shown)


def render_report(report: FleetReport, console: Console) -> None:
    """The one report of ``fleet up``: per database what was applied, how long, the result."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"fleet up {report.correlation_id}", title_justify="left")
    kind = target_kind([r.tenant for r in report.results])
    for name in (kind, "result", "applied", "seconds", "detail"):
        table.add_column(name, overflow="fold")
    for r in report.results:
        detail = r.error or (f"to {r.applied[-1]}" if r.applied else "up to date")
        if r.result == "skipped":
            detail = "not started"
        name = f"{r.name} (canary)" if r.canary else r.name
        table.add_row(
            escape(name),
            f"[{_STYLE[r.result]}]{r.result}[/]",
            str(len(r.applied)),
            f"{r.seconds:.2f}",
            escape(detail),
        )
    console.print(table)
    counts = ", ".join(
        f"{report.count(k)} {k}" for k in ("ok", "failed", "refused", "skipped") if report.count(k)
    )
    applied = sum(len(r.applied) for r in report.results)
    console.print(f"{counts}; {applied} migration(s) applied in {report.seconds:.2f} s")
    if report.stopped:
        console.print(f"[yellow]stopped[/]: {escape(report.stopped)}; rerun to go on")


def render_status(status: FleetStatus, console: Console, *, plan: bool = False) -> None:
    """``fleet status`` (or ``plan``): a row per database, then the version matrix and drift."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"fleet {'plan' if plan else 'status'} (head {status.head or '-'})")
    kind = target_kind([d.tenant for d in status.databases])
    columns = [kind, "version", "applied", "pending", "environment"]
    columns += ["would apply" if plan else "fingerprint", "note"]
    for name in columns:
        table.add_column(name, overflow="fold")
    for d in status.databases:
        note = d.error or ("" if d.ledgers_agree else "ledgers disagree")
        if d.drift:
            note = "[red]drift[/]: catalog differs from the others at this version"
        elif d.changed:
            note = f"edited since applied: {', '.join(d.changed)}"
        extra = ", ".join(d.pending) if plan else (d.fingerprint or "")[:12]
        table.add_row(
            escape(d.name),
            escape(d.version or "(empty)"),
            str(d.applied),
            str(len(d.pending)),
            d.environment or "-",
            escape(extra or "-"),
            note if d.drift else escape(note),
        )
    console.print(table)
    matrix = Table(title="versions", title_justify="left")
    for name in ("version", f"{kind}s", "names"):
        matrix.add_column(name, overflow="fold")
    for version, names in status.versions.items():
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if names[8:] else "")
        matrix.add_row(escape(version), str(len(names)), escape(shown))
    console.print(matrix)
    if status.drifted:
        console.print(f"[red]drift across the fleet[/]: {escape(', '.join(status.drifted))}")
