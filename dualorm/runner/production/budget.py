"""The downtime budget of a production run: what it accepts, the session timeouts it sets and
the deadline of the run as a whole.

The budget ``max_downtime`` (seconds) bounds every statement: ``statement_timeout`` is the
budget (PostgreSQL counts the lock wait in it too), so no writer queued behind a statement
waits longer than the budget because of it; ``lock_timeout`` is half the budget, so a
migration stuck behind a long transaction gives up early (writers queue behind it meanwhile)
and retries, a bounded number of times. The run as a whole stops before a migration or a retry
that would start after its deadline (the budget times the attempts, per pending migration).
"""

from __future__ import annotations

import math
import time

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dualorm.errors import MigrationFailed, UsageError
from dualorm.runner.schedule import Event, RunOptions

__all__ = [
    "DEFAULT_RETRIES",
    "budget_options",
    "check_budget",
    "check_deadline",
    "run_deadline",
    "with_statement_timeout",
]

DEFAULT_RETRIES = 3


def check_budget(max_downtime: float | None) -> None:
    """Refuse (exit 2) a downtime budget that is not a finite number of seconds above zero."""
    if max_downtime is None:
        return
    if not isinstance(max_downtime, int | float) or isinstance(max_downtime, bool):
        raise UsageError(f"--max-downtime must be a number of seconds, not {max_downtime!r}")
    if not math.isfinite(max_downtime) or max_downtime <= 0:
        raise UsageError(
            f"--max-downtime must be a finite number of seconds above zero, not {max_downtime}"
        )


def budget_options(max_downtime: float | None, retries: int) -> RunOptions:
    """The runner's options under the budget: ``lock_timeout`` half of it, ``retries`` tries."""
    # One migration at a time (chain=1): each is reported, announced and checked against
    # the run's deadline before the next one starts.
    if max_downtime is None:
        return RunOptions(retries=retries, chain=1)
    half = max(1, int(max_downtime * 500))
    return RunOptions(lock_timeout_ms=half, retries=retries, backoff_s=0.1, chain=1)


def with_statement_timeout(url: str, max_downtime: float) -> str:
    """Return ``url`` whose sessions start with ``statement_timeout`` at the budget.

    Any ``options`` the URL already carries are kept; URL and keyword forms both work.
    """
    budget = max(1, int(max_downtime * 1000))
    existing = str(conninfo_to_dict(url).get("options") or "")
    options = f"{existing} -c statement_timeout={budget}".strip()
    return make_conninfo(url, options=options)


def run_deadline(max_downtime: float | None, retries: int, pending: int) -> float | None:
    """The monotonic time after which no migration or retry starts; ``None`` without a budget."""
    if max_downtime is None:
        return None
    return time.monotonic() + max_downtime * (retries + 1) * pending


class _Deadline(MigrationFailed):
    """The run's time budget ran out before a migration or a retry could start."""


def check_deadline(deadline: float | None, event: Event) -> None:
    """Stop the run (a :class:`~dualorm.errors.MigrationFailed`) when ``event`` starts a
    migration or a retry after ``deadline``."""
    if event.kind not in ("migration_start", "lock_timeout_retry"):
        return
    if deadline is not None and time.monotonic() > deadline:
        raise _Deadline(
            event.migration_id,
            event.statement,
            "the run's time budget (max_downtime) is spent",
        )
