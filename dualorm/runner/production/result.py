"""What a production run returns (:class:`ProductionResult`), how a failed one was undone
(:data:`RollbackMethod`), and the confirmation it asks for (:data:`Confirm`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dualorm.runner.schedule import MigrationOutcome

if TYPE_CHECKING:
    from dualorm.replicas import ReplicaStatus
    from dualorm.runner.plan import MigrationPlan
    from dualorm.runner.rehearsal import Rehearsal

__all__ = ["Confirm", "ProductionResult", "RollbackMethod"]

Confirm = Callable[["MigrationPlan"], bool]

# How a failed run was undone: "none" (nothing to undo: the failing migration's transaction
# rolled back and nothing earlier was applied by this run), "down" (applied migrations rolled
# back with their down steps), "restore" (the backup restored: down was impossible),
# "incomplete" (the database is not as it was; the detail says what remains).
RollbackMethod = str


@dataclass(frozen=True)
class ProductionResult:
    """What a production run did; ``rollback`` is set when it failed and was undone."""

    correlation_id: str
    environment: str
    database: str
    dry_run: bool
    planned: tuple[str, ...]
    applied: tuple[str, ...] = ()
    outcomes: tuple[MigrationOutcome, ...] = ()
    backup: str | None = None
    rollback: RollbackMethod | None = None
    rolled_back: tuple[str, ...] = ()
    error: str | None = None
    duration_ms: float = 0.0
    replicas: tuple[ReplicaStatus, ...] = ()
    rehearsal: Rehearsal | None = None
    script: str | None = None
    """A dry run's SQL script."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "correlation_id": self.correlation_id,
            "environment": self.environment,
            "database": self.database,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "planned": list(self.planned),
            "applied": list(self.applied),
            "migrations": [o.to_dict() for o in self.outcomes],
            "backup": self.backup,
            "rollback": self.rollback,
            "rolled_back": list(self.rolled_back),
            "error": self.error,
            "duration_ms": round(self.duration_ms, 3),
            "replicas": [r.to_dict() for r in self.replicas],
            "rehearsal": self.rehearsal.to_dict() if self.rehearsal else None,
        }
