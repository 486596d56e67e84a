"""A real dry run: execute the pending migrations inside one transaction, then roll back.

``migrate up --dry-run`` runs the same loop as ``migrate up`` (:func:`dualorm.runner.runner.run`)
through :class:`RehearsalSink`: one outer transaction holds the whole run, each migration is a
savepoint inside it, every statement is timed and followed by a look at ``pg_locks`` for this
backend, and the ledger writes happen too (so their constraints are exercised). At the end the
outer transaction is rolled back, so the catalog and every ledger are exactly as before.

A non-transactional step (``CREATE``/``DROP INDEX CONCURRENTLY``) cannot run inside a
transaction: it is rehearsed in its transactional form (the same statement without
``CONCURRENTLY``) and the result says so. Its timing and the lock observed are then those of
the blocking form, an upper bound for the concurrent one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence, Set
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dualorm.emit.sql import statements
from dualorm.runner.impact_model import Lock
from dualorm.runner.ledger import ensure_ledger
from dualorm.runner.runner import run
from dualorm.runner.schedule import Planned, Progress, RunOptions
from dualorm.runner.sinks import DatabaseSink
from dualorm.spec.model import Step

if TYPE_CHECKING:
    import psycopg

    from dualorm.audit import RunContext
    from dualorm.spec.graph import MigrationGraph
    from dualorm.spec.ops import Operation

__all__ = [
    "ObservedLock",
    "Rehearsal",
    "RehearsalSink",
    "RehearsedStatement",
    "observed_locks",
]

# Relation locks this backend holds, strongest per relation; the catalog's own relations and
# the temporary-object schemas are not what a migration is judged by.
_LOCKS_SQL = """
SELECT n.nspname, c.relname, c.relkind::text, l.mode
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp%%' AND n.nspname NOT LIKE 'pg_toast_temp%%'
"""


@dataclass(frozen=True, order=True)
class ObservedLock:
    """A lock PostgreSQL granted on one relation (``kind`` is ``table``, ``index``...)."""

    relation: str
    kind: str
    lock: Lock

    def to_dict(self) -> dict[str, Any]:
        return {
            "relation": self.relation,
            "kind": self.kind,
            "lock": self.lock.label,
            "blocks_reads": self.lock.blocks_reads,
            "blocks_writes": self.lock.blocks_writes,
        }


_KINDS = {
    "r": "table",
    "p": "table",
    "i": "index",
    "I": "index",
    "S": "sequence",
    "v": "view",
    "m": "view",
}


def observed_locks(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, ObservedLock]:
    """Return the strongest relation lock this connection's backend holds, per relation."""
    strongest: dict[str, ObservedLock] = {}
    for schema_name, name, kind, mode in conn.execute(_LOCKS_SQL).fetchall():
        label = str(name) if schema_name == "public" else f"{schema_name}.{name}"
        lock = ObservedLock(label, _KINDS.get(str(kind), "relation"), Lock.from_pg(str(mode)))
        if label not in strongest or lock.lock > strongest[label].lock:
            strongest[label] = lock
    return strongest


@dataclass(frozen=True)
class RehearsedStatement:
    """One statement as the rehearsal ran it.

    ``locks`` are the relation locks this statement took (granted after it and not held, or
    held weaker, before it); ``rehearsed_as`` is set when the statement could only be run in
    its transactional form.
    """

    migration_id: str
    statement: str
    duration_ms: float
    locks: tuple[ObservedLock, ...]
    rehearsed_as: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "migration": self.migration_id,
            "statement": self.statement,
            "duration_ms": round(self.duration_ms, 3),
            "locks": [lock.to_dict() for lock in self.locks],
            "rehearsed_as": self.rehearsed_as,
        }


@dataclass(frozen=True)
class Rehearsal:
    """What a dry run did before it rolled everything back."""

    correlation_id: str
    environment: str
    planned: tuple[str, ...]
    statements: tuple[RehearsedStatement, ...]
    duration_ms: float
    rolled_back: bool = True

    def for_migration(self, migration_id: str) -> tuple[RehearsedStatement, ...]:
        return tuple(s for s in self.statements if s.migration_id == migration_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "correlation_id": self.correlation_id,
            "environment": self.environment,
            "planned": list(self.planned),
            "duration_ms": round(self.duration_ms, 3),
            "rolled_back": self.rolled_back,
            "statements": [s.to_dict() for s in self.statements],
        }


class RehearsalSink(DatabaseSink):
    """Execute inside the caller's open transaction; each migration is a savepoint.

    Everything :class:`~dualorm.runner.sinks.DatabaseSink` does happens, ledger writes
    included; the caller rolls the outer transaction back.
    """

    def __init__(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        graph: MigrationGraph,
        context: RunContext,
        options: RunOptions | None = None,
    ) -> None:
        super().__init__(conn, graph, context, options)
        self.statements: list[RehearsedStatement] = []
        self._held = observed_locks(conn)

    def execute(self, step: Step, planned: Planned) -> float | None:
        form = step.operation.transactional_form()
        if form == step.operation:
            return self._observed(step, planned, None)
        # A label ADD VALUE adds is unusable until commit: later migrations, in this same
        # transaction here, could not use it.
        return self._as(step, planned, form, "a label it adds is usable in this transaction")

    def execute_alone(self, step: Step, planned: Planned) -> float | None:
        op = step.operation
        if op.transactional:
            return self.execute(step, planned)
        reason = "CONCURRENTLY cannot run in a transaction"
        return self._as(step, planned, op.transactional_form(), reason)

    def _as(self, step: Step, planned: Planned, form: Operation, reason: str) -> float:
        """Execute ``form``, the transactional form of ``step``'s operation, in its place."""

        total = 0.0
        for sql in statements(form):
            took = self._observed(
                Step(operation=form, sql=sql),
                planned,
                f"{sql} (the transactional form: {reason})",
                shown=step.sql,
            )
            total += took or 0.0
        return total

    def record(self, planned: Planned, before: Set[str], after: Set[str], duration_ms: int) -> None:
        super().record(planned, before, after, duration_ms)
        # The ledger's own locks are not the migration's: do not charge them to the next one.
        self._held = observed_locks(self.conn)

    def _observed(
        self, step: Step, planned: Planned, rehearsed_as: str | None, shown: str | None = None
    ) -> float | None:
        took = super().execute(step, planned)
        now = observed_locks(self.conn)
        taken = tuple(
            sorted(
                lock
                for name, lock in now.items()
                if name not in self._held or lock.lock > self._held[name].lock
            )
        )
        self._held = now
        text = shown or step.sql or f"python {step.python}"
        self.statements.append(
            RehearsedStatement(planned.migration.id, text, took or 0.0, taken, rehearsed_as)
        )
        return took


def rehearse_plan(
    conn: psycopg.Connection[tuple[object, ...]],
    graph: MigrationGraph,
    plan: Sequence[Planned],
    applied: Set[str],
    context: RunContext,
    options: RunOptions,
    progress: Progress | None = None,
) -> Rehearsal:
    """Execute ``plan`` on ``conn`` (the locked migration connection) and roll it all back."""
    started = time.perf_counter()
    with conn.transaction(force_rollback=True):
        ensure_ledger(conn)
        sink = RehearsalSink(conn, graph, context, options)
        # Retrying a lock wait inside one transaction would only queue again behind the
        # same holder: a rehearsal reports the wait instead.
        run(plan, sink, set(applied), options=replace(options, retries=0), progress=progress)
    return Rehearsal(
        correlation_id=context.correlation_id,
        environment=context.environment,
        planned=tuple(p.migration.id for p in plan),
        statements=tuple(sink.statements),
        duration_ms=(time.perf_counter() - started) * 1000,
    )
