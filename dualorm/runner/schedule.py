"""What the runner's loop is handed and what it hands back: a plan of :class:`Planned`
migrations (made by :func:`plan_migration`, for a project's specs by :func:`plan_specs`), the
:class:`RunOptions` it runs them with, the :class:`Event` values it reports and the
:class:`MigrationOutcome` of each migration.

The loop (:mod:`dualorm.runner.runner`) and the sinks it hands statements to
(:mod:`dualorm.runner.sinks`) both read these types, so they live apart from both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dualorm.emit.sql import migration_steps
from dualorm.errors import SpecError
from dualorm.spec.model import Direction, Migration, Step

if TYPE_CHECKING:
    from dualorm.runner.specs import ProjectSpecs

__all__ = [
    "Event",
    "EventKind",
    "Link",
    "MigrationOutcome",
    "Planned",
    "Progress",
    "RunOptions",
    "StatementTiming",
    "plan_migration",
    "plan_specs",
]

EventKind = Literal[
    "migration_start",
    "statement",
    "step_skipped",
    "invalid_index_dropped",
    "lock_timeout_retry",
    "migration_done",
    "migration_failed",
    "seeded_rows_dropped",
]


@dataclass(frozen=True)
class Event:
    """Something the runner reports while it works (Django's ``progress_callback``)."""

    kind: EventKind
    migration_id: str
    direction: Direction
    statement: str | None = None
    duration_ms: float | None = None
    detail: str | None = None


Progress = Callable[[Event], None]


@dataclass(frozen=True)
class RunOptions:
    """How DDL waits for locks, and where Django rows and python steps come from.

    Attributes:
        lock_timeout_ms: ``lock_timeout`` for every statement (0 disables it).
        retries: how many times a migration that hit ``lock_timeout`` is retried.
        backoff_s: the first pause before a retry; it doubles each time.
        django_app_label: the app label of the ``django_migrations`` rows.
        django_apps: per spec id, the apps it has ``django_migrations`` rows in, where not
            just ``django_app_label`` (a spec with files in several apps).
        python_root: put on ``sys.path`` while ``RunPython`` functions are imported.
        chain: at most this many consecutive migrations go to the database at once, each in
            its own transaction; 1 runs every migration on its own, so each one is reported
            (and may be stopped by the progress callback) before the next begins.
    """

    lock_timeout_ms: int = 5000
    retries: int = 3
    backoff_s: float = 0.5
    django_app_label: str = "django_app"
    django_apps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    python_root: Path | None = None
    chain: int = 64


@dataclass(frozen=True)
class Planned:
    """One migration of a plan, the direction it goes and the steps that carry it out."""

    migration: Migration
    direction: Direction
    steps: tuple[Step, ...]
    also: tuple[Migration, ...] = ()
    """The migrations recorded (or removed) with this one: those a squash replaces, when it
    runs in their place (:mod:`dualorm.spec.squash`)."""

    @property
    def transactional(self) -> bool:
        return all(step.transactional for step in self.steps)


@dataclass(frozen=True)
class Link:
    """One migration of a chain, with the applied sets before and after it."""

    planned: Planned
    before: frozenset[str]
    after: frozenset[str]


@dataclass(frozen=True)
class StatementTiming:
    """How long a statement took; ``None`` when it was not measured (its chain failed later)."""

    statement: str
    duration_ms: float | None


@dataclass(frozen=True)
class MigrationOutcome:
    """What running one planned migration took."""

    migration_id: str
    direction: Direction
    duration_ms: float | None
    attempts: int
    statements: tuple[StatementTiming, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.migration_id,
            "direction": self.direction,
            "duration_ms": _rounded(self.duration_ms),
            "attempts": self.attempts,
            "statements": [
                {"statement": s.statement, "duration_ms": _rounded(s.duration_ms)}
                for s in self.statements
            ],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def plan_migration(migration: Migration, direction: Direction) -> Planned:
    """Return ``migration``'s steps for ``direction``, refusing a mixed non-transactional one.

    Raises :class:`~dualorm.errors.IrreversibleError` going down through an irreversible
    operation, and :class:`~dualorm.errors.SpecError` when a ``CREATE INDEX CONCURRENTLY``
    shares its migration with anything else (it cannot run inside the migration's
    transaction, so the two could not succeed or fail together).
    """
    steps = tuple(migration_steps(migration, direction))
    if len(steps) > 1 and not all(step.transactional for step in steps):
        raise SpecError(
            str(migration.path or migration.id),
            None,
            f"{migration.id} mixes a non-transactional step (CONCURRENTLY) with other "
            "operations; put it in a migration of its own",
        )
    return Planned(migration, direction, steps)


def plan_specs(
    specs: ProjectSpecs, ids: Sequence[str], direction: Direction, applied: Set[str]
) -> list[Planned]:
    """Return the runner's plan for ``ids`` of ``specs`` (from
    :meth:`~dualorm.runner.specs.ProjectSpecs.pending` or a rollback's list).

    A squash runs its operations, recording every migration it replaces, only going up in
    their place; otherwise it is recorded or removed alone, with no DDL (its replaced
    migrations built, or remove, the schema one by one).
    """
    planned = []
    for i in ids:
        migration = specs.by_id[i]
        replaced = specs.squashes.get(i)
        if replaced is None:
            planned.append(plan_migration(migration, direction))
        elif direction == "up" and not (set(replaced) & (set(applied) | set(ids))):
            whole = plan_migration(migration, "up")
            also = tuple(specs.by_id[r] for r in replaced)
            planned.append(Planned(migration, "up", whole.steps, also))
        else:
            planned.append(Planned(migration, direction, ()))
    return planned
