"""The one exception tree of dualorm, and the exit code each class maps to.

::

    DualormError                      exit 1  an operation failed
    ├── UsageError                    exit 2  bad input: nothing was changed
    │   ├── ConfigError                       pyproject / env var / module path
    │   ├── DatabaseUnreachable               cannot connect (URL shown without password)
    │   ├── SpecError(path, line, message)    malformed change spec
    │   ├── GraphError                        unknown or cyclic dependency
    │   ├── SeedError                         malformed seed module
    │   ├── BackupKeyError                    missing or wrong DUALORM_BACKUP_KEY
    │   └── ExpressionRejected(where, expression, reason)  the server rejects a spec's SQL
    ├── SafetyError                   exit 3  refused by a safety rule
    │   ├── EnvironmentMismatch(database, requested)
    │   ├── ChecksumMismatch(migration_id, expected, actual)
    │   ├── ConfirmationRequired
    │   ├── DependentsExist(target, dependents)
    │   ├── LockHeld(holder)
    │   ├── LintRefused(findings)
    │   ├── LedgersDisagree               alembic_version / django_migrations vs the ledger
    │   └── AppliedSpecMissing            an applied spec was deleted or renamed
    ├── DriftDetected(differences)    exit 1  a check found problems
    ├── IrreversibleError             exit 1  going down through an irreversible operation
    ├── MigrationFailed(migration_id, statement, cause)
    │   └── ProductionFailed(failure, result)  what a production run undid, and how
    ├── ReplicaLagging(statuses)      exit 1  a replica did not catch up in time
    ├── BackupCorrupt(path, reason)   exit 1  tampered or truncated backup
    ├── LedgerError                   exit 1  a ledger write touched an unexpected row count
    └── InternalError                 exit 4  a bug of dualorm (any other exception maps here)

The CLI turns any of these into one line of text and :func:`exit_code`; it never shows a
traceback for a ``DualormError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dualorm.diff.base import Difference
    from dualorm.replicas import ReplicaStatus
    from dualorm.runner.production.result import ProductionResult


class DualormError(Exception):
    """Base of every error dualorm raises on purpose."""

    exit_code = 1


class UsageError(DualormError):
    """Bad input or usage: a flag, a file, a module path. Nothing was changed."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration value (pyproject, environment variable, module path) is wrong."""


class DatabaseUnreachable(UsageError):
    """The database cannot be reached. The message carries the URL without its password."""


class SpecError(UsageError):
    """A change spec is malformed; names the file and the line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class GraphError(UsageError):
    """A dependency names something unknown, or dependencies form a cycle."""


class SeedError(UsageError):
    """A seed module is malformed."""


class BackupKeyError(UsageError):
    """DUALORM_BACKUP_KEY is missing, malformed, or does not open the backup."""


class ExpressionRejected(UsageError):
    """PostgreSQL rejects an expression a spec or model declares (default, check, index).

    Raised where the expression is input to act on (specs being adopted or written);
    ``validate`` reports such an expression as a difference of its object instead.
    """

    def __init__(self, where: str, expression: str, reason: str) -> None:
        self.where = where
        self.expression = expression
        self.reason = reason
        super().__init__(f"{where}: PostgreSQL rejects {expression!r}: {reason}")


class SafetyError(DualormError):
    """Refused by a safety rule; nothing was changed."""

    exit_code = 3


class EnvironmentMismatch(SafetyError):
    """The database is labelled with another environment than the one requested."""

    def __init__(self, database: str, requested: str) -> None:
        self.database = database
        self.requested = requested
        super().__init__(f"the database is labelled {database!r} but this run is for {requested!r}")


class ChecksumMismatch(SafetyError):
    """An applied migration or seed was edited after it was applied."""

    def __init__(self, migration_id: str, expected: str, actual: str) -> None:
        self.migration_id = migration_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{migration_id} was edited after it was applied "
            f"(applied checksum {expected[:12]}, file now {actual[:12]}); restore the file "
            "or re-baseline it"
        )


class ConfirmationRequired(SafetyError):
    """A destructive action needs an explicit --confirm (or is refused outright)."""


class DependentsExist(SafetyError):
    """Something applied still depends on the target of a rollback."""

    def __init__(self, target: str, dependents: Sequence[str]) -> None:
        self.target = target
        self.dependents = tuple(dependents)
        super().__init__(
            f"{target} is needed by applied {', '.join(self.dependents)}; "
            "roll those back first or pass --cascade"
        )


class LockHeld(SafetyError):
    """Another runner holds the advisory lock and --no-wait was given."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        super().__init__(f"another runner holds the migration lock: {holder}")


class LintRefused(SafetyError):
    """Production refuses migrations with unacknowledged lint errors."""

    def __init__(self, findings: Sequence[Any]) -> None:
        self.findings = tuple(findings)
        named = sorted(
            {f"{getattr(f, 'migration', '?')} ({getattr(f, 'rule', '?')})" for f in self.findings}
        )
        super().__init__(
            f"{len(self.findings)} unacknowledged lint error(s): {', '.join(named)}; "
            "run `dualorm migrate lint`, and acknowledge each in its spec once it is safe"
        )


class DriftDetected(DualormError):
    """A comparison found differences of severity error.

    The message names every difference, one a line (its kind, its object and the detail
    sentence that gives both sides' values), the first :attr:`SHOWN` of them and then how
    many more; :attr:`differences` holds them all (``--json`` prints them all).
    """

    SHOWN = 20

    def __init__(self, differences: Sequence[Difference], summary: str | None = None) -> None:
        self.differences = tuple(differences)
        count = len(self.differences)
        head = summary or f"{count} difference(s) found"
        lines = [f"  {_difference_line(d)}" for d in self.differences[: self.SHOWN]]
        if count > self.SHOWN:
            lines.append(f"  and {count - self.SHOWN} more")
        super().__init__("\n".join([f"{head}:" if lines else head, *lines]))


def _difference_line(d: Difference) -> str:
    return f"{d.kind.value} {d.object}: {d.detail}"


class IrreversibleError(DualormError):
    """An operation cannot be reversed; going down through it is refused."""


class MigrationFailed(DualormError):
    """A migration failed; its transaction was rolled back."""

    def __init__(self, migration_id: str, statement: str | None, cause: str) -> None:
        self.migration_id = migration_id
        self.statement = statement
        self.cause = cause
        where = f" at statement: {statement}" if statement else ""
        super().__init__(f"{migration_id} failed{where}: {cause}")


class ProductionFailed(MigrationFailed):
    """A production run failed; ``result`` says what was undone and how (exit 1)."""

    def __init__(self, failure: MigrationFailed, result: ProductionResult) -> None:
        self.result = result
        super().__init__(failure.migration_id, failure.statement, failure.cause)
        undone = {
            "none": "nothing else was applied; the failing transaction rolled back",
            "down": f"rolled back {', '.join(result.rolled_back)} with their down steps",
            "restore": f"restored the backup {result.backup}",
        }.get(result.rollback or "", result.rollback or "not rolled back")
        self.args = (f"{self.args[0]} ({undone})",)


class ReplicaLagging(DualormError):
    """A replica did not replay the migration in time, or its catalog differs."""

    def __init__(self, statuses: Sequence[ReplicaStatus]) -> None:
        self.statuses = tuple(statuses)
        names = ", ".join(s.url for s in self.statuses)
        super().__init__(f"replica(s) not caught up with the primary: {names}")


class BackupCorrupt(DualormError):
    """A backup file does not match its manifest or fails authentication."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class LedgerError(DualormError):
    """A ledger write touched an unexpected number of rows."""


class LedgersDisagree(SafetyError):
    """``alembic_version`` or ``django_migrations`` does not match dualorm's ledger.

    Refused before anything runs: planning on a history the three ledgers tell differently
    would apply twice or skip what one tool believes is there.
    """


class AppliedSpecMissing(SafetyError):
    """The ledger holds a migration no spec file has: deleted or renamed after it was applied."""


class InternalError(DualormError):
    """An error dualorm did not anticipate: a bug (exit 4). ``DUALORM_DEBUG=1`` shows it."""

    exit_code = 4


def exit_code(error: BaseException) -> int:
    """Return the documented process exit code for ``error``: 4 for one dualorm did not raise."""
    if isinstance(error, DualormError):
        return error.exit_code
    return InternalError.exit_code
