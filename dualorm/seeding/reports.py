"""What the seed manager reports: its progress events and the results of each command."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dualorm.seeding.discovery import SeedModule

Progress = Callable[["SeedEvent"], None]


@dataclass(frozen=True)
class SeedEvent:
    """A progress event: ``seed_start``, ``seed_done``, ``seed_skip``, ``rows``,
    ``rollback_start``, ``rollback_done``, and ``log`` (a record of the seed's ``ctx.logger``:
    ``level``, ``message``)."""

    kind: str
    seed_id: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedResult:
    """What ``run`` did with one seed: ``applied``, ``reapplied`` (``reason`` says why: it
    changed, or its data was gone) or ``skipped``."""

    id: str
    action: str
    duration_ms: int = 0
    row_counts: Mapping[str, int] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class SeedStatus:
    """One line of ``status``: ``applied``, ``pending``, ``changed``, ``stale`` (applied, but
    its data is gone; ``reason`` says where), ``missing`` (applied but its module is gone) or
    ``not-for-environment``."""

    id: str
    name: str
    state: str
    environments: tuple[str, ...]
    dependencies: tuple[str, ...]
    applied_at: datetime | None = None
    duration_ms: int | None = None
    row_counts: Mapping[str, int] = field(default_factory=dict)
    checksum: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "environments": list(self.environments),
            "dependencies": list(self.dependencies),
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "duration_ms": self.duration_ms,
            "row_counts": dict(self.row_counts),
            "checksum": self.checksum,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RollbackResult:
    """The seeds rolled back, in order, with the rows removed per table."""

    removed: Mapping[str, Mapping[str, int]]


def status_line(
    seed_id: str,
    name: str,
    state: str,
    seed: SeedModule | None,
    row: Mapping[str, Any] | None,
    reason: str | None = None,
) -> SeedStatus:
    """Return the :class:`SeedStatus` of one seed from its module and its ledger row."""
    return SeedStatus(
        id=seed_id,
        name=name,
        state=state,
        reason=reason,
        environments=tuple(sorted(e.value for e in seed.environments)) if seed else (),
        dependencies=seed.dependencies if seed else tuple(row["dependencies"] if row else ()),
        applied_at=row["applied_at"] if row else None,
        duration_ms=row["duration_ms"] if row else None,
        row_counts=dict(row["row_counts"]) if row else {},
        checksum=str(row["checksum"]) if row else None,
    )
