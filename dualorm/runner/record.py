"""One statement that records a migration in all three ledgers, every row count checked.

Applying or rolling back a migration writes ``dualorm.migrations`` and moves
``alembic_version`` and ``django_migrations`` (see :mod:`dualorm.runner.ledger` and
:mod:`dualorm.runner.foreign`). :func:`ledger_write` builds those writes as data-modifying CTEs
of a single statement that passes how many rows each one changed to ``dualorm.expect_rows``,
which raises (SQLSTATE :data:`~dualorm.runner.ledger.LEDGER_SQLSTATE`) unless it was exactly
one. The statement fails on a wrong count, so the runner sends it in one round trip with the
migration's DDL and the COMMIT: a failure anywhere leaves the transaction uncommitted. Values
are parameters; the table names are the fixed ledger tables.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dualorm.runner.foreign import ALEMBIC_ID_LENGTH, moved_heads

if TYPE_CHECKING:
    from dualorm.spec.graph import MigrationGraph
    from dualorm.spec.model import Direction, Migration

__all__ = ["ELAPSED_MS", "LedgerWrite", "ledger_write"]

# The migration's duration as the server sees it: the milliseconds spent before the
# transaction began (a parameter) plus the time since it began.
_DURATION = "(%s::integer + round(extract(epoch FROM clock_timestamp() - now()) * 1000)::integer)"


# Milliseconds since the transaction began (the runner's per-statement clock).
ELAPSED_MS = "extract(epoch FROM clock_timestamp() - now())::float8 * 1000"


@dataclass(frozen=True)
class LedgerWrite:
    """The statement, its parameters, and what each checked count records.

    The statement returns one row: a count per entry of ``checks`` (each already checked by
    ``dualorm.expect_rows``), then the milliseconds since the transaction began (how long the
    statements before it took).
    """

    sql: str
    params: tuple[object, ...]
    checks: tuple[str, ...]


def ledger_write(
    migration: Migration,
    direction: Direction,
    graph: MigrationGraph,
    before: Set[str],
    after: Set[str],
    *,
    app_label: str,
    applied_by: str,
    correlation_id: str,
    offset_ms: int,
) -> LedgerWrite | None:
    """Return the one statement that moves the three ledgers from ``before`` to ``after``.

    Returns ``None`` when a new Alembic head is longer than Alembic's default column (the
    column may need widening first, which :func:`dualorm.runner.foreign.stamp` does).
    """
    removed, added = moved_heads(before, after, graph)
    added_heads = sorted(added)
    if any(len(h) > ALEMBIC_ID_LENGTH for h in added_heads):
        return None
    parts: list[str] = []
    params: list[object] = []
    checks: list[str] = []

    def cte(sql: str, values: Sequence[object], what: str) -> None:
        parts.append(f"w{len(parts)} AS ({sql} RETURNING 1)")
        params.extend(values)
        checks.append(what)

    if direction == "up":
        cte(
            "INSERT INTO dualorm.migrations "
            "(id, name, version, checksum, duration_ms, applied_by, correlation_id, outcome) "
            f"VALUES (%s, %s, %s, %s, {_DURATION}, %s, %s, 'applied') "
            "ON CONFLICT (id) DO NOTHING",
            (
                migration.id,
                migration.name,
                migration.version,
                migration.checksum,
                offset_ms,
                applied_by,
                correlation_id,
            ),
            f"recording {migration.id} in dualorm.migrations",
        )
    else:
        cte(
            "DELETE FROM dualorm.migrations WHERE id = %s",
            (migration.id,),
            f"removing {migration.id} from dualorm.migrations",
        )
    for head in sorted(removed):
        cte(
            "DELETE FROM alembic_version WHERE version_num = %s",
            (head,),
            f"removing {head} from alembic_version",
        )
    for head in added_heads:
        cte(
            "INSERT INTO alembic_version (version_num) VALUES (%s)",
            (head,),
            f"adding {head} to alembic_version",
        )
    for name in sorted(before - after):
        cte(
            "DELETE FROM django_migrations WHERE app = %s AND name = %s",
            (app_label, name),
            f"removing {app_label}.{name} from django_migrations",
        )
    for name in sorted(after - before):
        cte(
            "INSERT INTO django_migrations (app, name, applied) "
            "SELECT %s, %s, now() WHERE NOT EXISTS "
            "(SELECT 1 FROM django_migrations WHERE app = %s AND name = %s)",
            (app_label, name, app_label, name),
            f"adding {app_label}.{name} to django_migrations",
        )
    counts = ", ".join(
        f"dualorm.expect_rows((SELECT count(*) FROM w{i}), 1, %s)" for i in range(len(parts))
    )
    sql = f"WITH {', '.join(parts)} SELECT {counts}, {ELAPSED_MS}"
    return LedgerWrite(sql, (*params, *checks), tuple(checks))
