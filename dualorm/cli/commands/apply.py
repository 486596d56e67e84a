"""The verbs that apply and record migrations: ``migrate up``, ``down``, ``status`` and
``baseline``, each declared beside its handler.

Handlers call :mod:`dualorm.api` and render what it returns (:mod:`dualorm.cli.render`); the
library is imported when a handler runs, so the CLI starts without it.
"""

from __future__ import annotations

import json
from typing import Any

from dualorm.cli.render import (
    lock_waiter,
    progress_printer,
    render_baseline,
    render_migrate,
    render_status,
)
from dualorm.cli.verbs import DRY_RUN, LOGGING, NO_WAIT, POLICY, Invocation, Option, Verb, logged
from dualorm.errors import DriftDetected

__all__ = ["BASELINE", "DOWN", "STATUS", "UP"]


def _run_options(run: Invocation, direction: str) -> dict[str, Any]:
    """What ``up`` and ``down`` hand the library besides their selection: the run's options
    and the confirmation production's policy asks through."""
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.cli.plan_view import terminal_confirm

    return {
        "dry_run": run["dry_run"],
        "no_wait": run["no_wait"],
        "progress": None if run["json"] else progress_printer(run.err),
        "on_lock_wait": lock_waiter(run.err),
        "confirm": terminal_confirm(direction),
        "assume_yes": run["yes"],
        "max_downtime": run["max_downtime"],
        "backup": run["backup"],
    }


def _up(run: Invocation) -> int:
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.api import migrate_up

    logged(run)
    result = migrate_up(run.config(), run["to"], **_run_options(run, "up"))
    render_migrate(result, run.out, run["json"])
    return 0 if result.ok else 1


UP = Verb(
    "up",
    "Apply pending migrations, each in its own transaction with its ledger rows.",
    _up,
    (
        Option("--to", "to", "Stop once this id is applied (not in production)."),
        DRY_RUN,
        NO_WAIT,
        *LOGGING,
        *POLICY,
    ),
    fast=True,
)


def _down(run: Invocation) -> int:
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.api import migrate_down

    logged(run)
    result = migrate_down(
        run.config(),
        migration_id=run["migration_id"],
        to=run["to"],
        steps=run["steps"],
        cascade=run["cascade"],
        **_run_options(run, "down"),
    )
    render_migrate(result, run.out, run["json"])
    return 0 if result.ok else 1


DOWN = Verb(
    "down",
    "Roll back applied migrations in reverse order (by default the last one).",
    _down,
    (
        Option("--id", "migration_id", "Roll back this migration."),
        Option("--to", "to", "Roll back everything after this id."),
        Option("--steps", "steps", "Roll back the last N (default 1).", int),
        Option("--cascade", "cascade", "With --id, roll back its dependents first.", bool, False),
        DRY_RUN,
        NO_WAIT,
        *LOGGING,
        *POLICY,
    ),
)


def _status(run: Invocation) -> int:
    # Imported when the verb runs, from its own module rather than dualorm.api: status reads
    # the ledgers and the cached specs, and loads none of what applies or plans migrations.
    from dualorm.runner.history import migrate_status

    logged(run)
    render_status(migrate_status(run.config()), run.out, run["json"])
    return 0


STATUS = Verb(
    "status",
    "Show applied and pending migrations, edited specs, and the lock holder.",
    _status,
    LOGGING,
    fast=True,
)


def _baseline(run: Invocation) -> int:
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.api import baseline

    logged(run)
    try:
        result = baseline(
            run.config(),
            migration_id=run["migration_id"],
            to=run["to"],
            no_wait=run["no_wait"],
            on_lock_wait=lock_waiter(run.err),
        )
    except DriftDetected as drift:
        # The refusal's stderr line comes from the one error mapping; --json adds every
        # difference, structured, on stdout.
        if run["json"]:
            differences = [d.to_dict() for d in drift.differences]
            document = {"ok": False, "error": str(drift), "differences": differences}
            run.out(json.dumps(document, indent=2, sort_keys=True))
        raise
    render_baseline(result, run.out, run["json"])
    return 0


BASELINE = Verb(
    "baseline",
    "Adopt a database managed by Alembic or Django, or re-record an edited spec.",
    _baseline,
    (
        Option("--id", "migration_id", "Re-record this applied spec's checksum."),
        Option("--to", "to", "Adopt this id and what it needs as applied."),
        NO_WAIT,
        *LOGGING,
    ),
)
