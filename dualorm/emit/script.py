"""The one psql script writer: statements, transaction blocks and comments, for ``psql -f``.

Both scripts dualorm prints are written with a :class:`Script`: a migration's own
(:func:`dualorm.emit.sql.render_migration_sql`, for ``migrate plan --sql``) and a whole run's
(:class:`dualorm.runner.sinks.ScriptSink`, for ``migrate up --dry-run``). A Python step cannot
run under psql: it appears as a comment saying so. A script never writes dualorm's ledgers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dualorm.spec.model import Step

__all__ = ["Script"]


@dataclass
class Script:
    """A psql script being written, one line at a time."""

    lines: list[str] = field(default_factory=list)

    def comment(self, text: str) -> None:
        """Write ``-- text``."""
        self.lines.append(f"-- {text}")

    def begin(self, lock_timeout_ms: int = 0) -> None:
        """Open a transaction block, under ``lock_timeout`` when it is not zero."""
        self.lines.append("BEGIN;")
        if lock_timeout_ms:
            self.lines.append(f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms';")

    def commit(self) -> None:
        """Close the transaction block."""
        self.lines.append("COMMIT;")

    def step(self, step: Step) -> None:
        """Write one runner step: its statement, or the comment standing for a Python step."""
        if step.python is not None:
            self.comment(f"run python {step.python}: called by dualorm migrate, not by psql")
        elif step.sql is not None:
            self.lines.append(f"{step.sql};")

    @property
    def text(self) -> str:
        """The script, each line ending in a newline."""
        return "\n".join(self.lines) + ("\n" if self.lines else "")
