"""One call that records a migration in all three ledgers, every row count checked.

Applying or rolling back a migration writes ``dualorm.migrations`` and moves
``alembic_version`` and ``django_migrations`` (see :mod:`dualorm.runner.ledger` and
:mod:`dualorm.runner.foreign`). :func:`ledger_write` builds one call of the ledger's
``dualorm.record_migration`` function, which makes those writes and raises (SQLSTATE
:data:`~dualorm.runner.ledger.LEDGER_SQLSTATE`) unless each changed exactly one row. The call
fails on a wrong count, so the runner sends it in one round trip with the migration's DDL and
the COMMIT: a failure anywhere leaves the transaction uncommitted. The function's statements
are planned once per connection (PL/pgSQL caches their plans), where a statement sent as text
would be parsed and planned again for every migration. Values are parameters.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dualorm.runner.foreign import ALEMBIC_ID_LENGTH, DjangoApps, moved_heads
from dualorm.runner.ledger import STARTED
from dualorm.runner.tenancy import DEFAULT_LEDGER, Ledger

if TYPE_CHECKING:
    from dualorm.spec.graph import MigrationGraph
    from dualorm.spec.model import Direction, Migration

__all__ = ["ELAPSED_MS", "LedgerWrite", "ledger_write"]

# Milliseconds since the transaction began (the runner's per-statement clock): since the clock
# read its BEGIN is followed by (ledger.START_CLOCK), not now(), which is the same for every
# transaction of a chain.
ELAPSED_MS = f"((extract(epoch FROM clock_timestamp()) - {STARTED}) * 1000)::float8"

_ARGUMENTS = (
    "(%s, %s, %s, %s, %s, %s, %s, %s::uuid, "
    "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
)


@dataclass(frozen=True)
class LedgerWrite:
    """The statement and its parameters.

    The statement returns one row of one value: the milliseconds since the transaction began
    when the ledger write started (how long the statements before it took).
    """

    sql: str
    params: tuple[object, ...]


def ledger_write(
    migration: Migration,
    direction: Direction,
    graph: MigrationGraph,
    before: Set[str],
    after: Set[str],
    *,
    apps: DjangoApps,
    applied_by: str,
    correlation_id: str,
    offset_ms: int,
    lg: Ledger = DEFAULT_LEDGER,
) -> LedgerWrite | None:
    """Return the one statement that moves the three ledgers from ``before`` to ``after``.

    ``lg`` is the ledger whose function is called (the connection's, see
    :func:`~dualorm.runner.tenancy.ledger_of`).

    Returns ``None`` when a new Alembic head is longer than Alembic's default column (the
    column may need widening first, which :func:`dualorm.runner.foreign.stamp` does).
    """
    removed, added = moved_heads(before, after, graph)
    if any(len(h) > ALEMBIC_ID_LENGTH for h in added):
        return None
    params = (
        direction,
        migration.id,
        migration.name,
        migration.version,
        migration.checksum,
        offset_ms,
        applied_by,
        correlation_id,
        sorted(removed),
        sorted(added),
        *_columns(apps.rows(before - after)),
        *_columns(apps.rows(after - before)),
    )
    return LedgerWrite(f"SELECT {lg.table('record_migration')}{_ARGUMENTS}", params)


def _columns(rows: Set[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """``django_migrations`` rows as the function's two parallel arrays (apps, names)."""
    ordered = sorted(rows)
    return [app for app, _ in ordered], [name for _, name in ordered]
