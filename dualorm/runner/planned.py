"""What the runner's loop is handed: planned migrations, chains of them, and how to run them.

A :class:`Planned` is one migration of a plan with its direction and the steps that carry it
out (:func:`dualorm.runner.runner.plan_migration` makes it); a :class:`Link` is one migration
of a chain with the applied sets around it; :class:`RunOptions` says how DDL waits for locks
and where the Django rows and Python steps come from. The loop (:mod:`dualorm.runner.runner`)
and the sinks (:mod:`dualorm.runner.sinks`) both read these, so they live apart from both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dualorm.spec.model import Direction, Migration, Step

__all__ = ["Link", "Planned", "RunOptions"]


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
