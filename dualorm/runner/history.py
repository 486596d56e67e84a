"""What a database has applied, read against the project's specs: :func:`check_history`
(which refuses a history that cannot be planned on) and :func:`migrate_status` with the
:class:`StatusReport` it returns (``dualorm migrate status``).

Neither SQLAlchemy nor Django is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from dualorm.db import connect, resolve_url
from dualorm.errors import ChecksumMismatch, LedgersDisagree
from dualorm.runner import foreign, ledger
from dualorm.runner.locks import LockHolder, lock_holder
from dualorm.runner.specs import ProjectSpecs, load_project_specs

if TYPE_CHECKING:
    from dualorm.config import Config

__all__ = [
    "MigrationStatus",
    "StatusReport",
    "check_history",
    "migrate_status",
    "verify_checksums",
]


@dataclass(frozen=True)
class MigrationStatus:
    """One migration as ``status`` shows it.

    ``state`` is ``applied``, ``pending``, or ``unknown`` (applied, but no spec has its id);
    ``checksum`` is ``ok`` or ``changed`` for applied ones (``None`` otherwise).
    """

    id: str
    name: str
    state: str
    checksum: str | None = None
    applied_at: datetime | None = None
    duration_ms: int | None = None
    applied_by: str | None = None
    correlation_id: str | None = None
    outcome: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "checksum": self.checksum,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "duration_ms": self.duration_ms,
            "applied_by": self.applied_by,
            "correlation_id": self.correlation_id,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class StatusReport:
    """Every migration's state, the environment label and the lock holder, if any."""

    migrations: tuple[MigrationStatus, ...]
    environment: str | None
    lock_holder: LockHolder | None
    ledgers_agree: bool = True
    ledger_problem: str | None = None

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.migrations if m.state == "pending")

    @property
    def applied(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.migrations if m.state != "pending")

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.migrations if m.checksum == "changed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "lock_holder": self.lock_holder.to_dict() if self.lock_holder else None,
            "ledgers_agree": self.ledgers_agree,
            "ledger_problem": self.ledger_problem,
            "applied": len(self.applied),
            "pending": len(self.pending),
            "changed": list(self.changed),
            "migrations": [m.to_dict() for m in self.migrations],
        }


def verify_checksums(specs: ProjectSpecs, applied: dict[str, ledger.AppliedMigration]) -> None:
    """Refuse (:class:`~dualorm.errors.ChecksumMismatch`) an applied spec edited since."""
    for migration in specs.migrations:
        row = applied.get(migration.id)
        if row is not None and row.checksum != migration.checksum:
            raise ChecksumMismatch(migration.id, row.checksum, migration.checksum)


def check_history(
    conn: psycopg.Connection[tuple[object, ...]], specs: ProjectSpecs, config: Config
) -> dict[str, ledger.AppliedMigration]:
    """Return the applied migrations, refusing (exit 3) a history that cannot be planned on.

    Refused: an applied migration whose spec is gone, an applied spec edited since (its
    checksum), and ``alembic_version``/``django_migrations`` disagreeing with the ledger.
    """
    applied = ledger.applied_migrations(conn)
    specs.require_applied_known(set(applied), str(config.migrations_path))
    verify_checksums(specs, applied)
    foreign.check_agreement(
        conn, specs.graph, set(applied), specs.django_apps(config.django_app_label)
    )
    return applied


def migrate_status(config: Config) -> StatusReport:
    """Report every migration (applied, pending, edited since), the label and the lock holder.

    Read-only: takes no lock and creates nothing.
    """
    specs = load_project_specs(config)
    with connect(resolve_url(config), autocommit=True) as conn:
        applied = ledger.applied_migrations(conn)
        label = ledger.environment_label(conn)
        holder = lock_holder(conn)
        problem = None
        try:
            foreign.check_agreement(
                conn, specs.graph, set(applied), specs.django_apps(config.django_app_label)
            )
        except LedgersDisagree as exc:
            problem = str(exc)
    rows = []
    # What a squash runs in place of (no ledger row, not pending either) is not listed, as
    # Django's showmigrations lists only the squash then.
    pending = set(specs.pending(set(applied))) if specs.squashes else None
    for migration_id in specs.graph.forwards_plan():
        migration = specs.by_id[migration_id]
        row = applied.get(migration_id)
        if row is None and pending is not None and migration_id not in pending:
            continue
        if row is None:
            rows.append(MigrationStatus(migration.id, migration.name, "pending"))
            continue
        state = "ok" if row.checksum == migration.checksum else "changed"
        rows.append(_status_row(row, migration.name, "applied", state))
    for row in applied.values():
        if row.id not in specs.by_id and row.id not in specs.replaced:
            rows.append(_status_row(row, row.name, "unknown", None))
    return StatusReport(
        migrations=tuple(rows),
        environment=label.value if label else None,
        lock_holder=holder,
        ledgers_agree=problem is None,
        ledger_problem=problem,
    )


def _status_row(
    row: ledger.AppliedMigration, name: str, state: str, checksum: str | None
) -> MigrationStatus:
    return MigrationStatus(
        id=row.id,
        name=name,
        state=state,
        checksum=checksum,
        applied_at=row.applied_at,
        duration_ms=row.duration_ms,
        applied_by=row.applied_by,
        correlation_id=row.correlation_id,
        outcome=row.outcome,
    )
