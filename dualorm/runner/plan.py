"""The migration plan: for each pending migration, every statement with its lock, rewrite or
scan, the size of what it touches, the lint findings and an estimated risk.

Data flow::

    specs + dualorm.migrations -> pending ids -> per operation: emit.sql.statements,
    impact.impacts (lock/rewrite/scan), table sizes (one catalog query), lint findings
    -> MigrationPlan -> ``migrate plan [--json]`` / ProductionMigrator.create_migration_plan()

The JSON form (``MigrationPlan.to_dict``) is stable and documented in ``docs/plan.md``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from dualorm.db import connect, redact, resolve_url
from dualorm.emit.sql import statements
from dualorm.errors import DualormError
from dualorm.replicas import check_replicas
from dualorm.runner.history import migrate_status
from dualorm.runner.impact import impacts
from dualorm.runner.impact_model import OPAQUE_TABLE, Impact
from dualorm.runner.ledger import applied_migrations
from dualorm.runner.lint import Finding, lint_migration
from dualorm.runner.specs import load_project_specs
from dualorm.runner.tenancy import ledger_of
from dualorm.schema import DEFAULT_SCHEMA, Schema, as_key
from dualorm.spec.replay import replay, start_of

if TYPE_CHECKING:
    import psycopg

    from dualorm.config import Config
    from dualorm.replicas import ReplicaStatus
    from dualorm.runner.specs import ProjectSpecs
    from dualorm.spec.model import Migration

PLAN_FORMAT = 1

# A table this large makes a blocking scan or rewrite last long enough to be an outage.
LARGE_ROWS = 100_000
LARGE_BYTES = 256 * 1024 * 1024


class Risk(enum.IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class TableSize:
    """The planner's row estimate (None before the first ANALYZE) and the total size."""

    rows: int | None
    bytes: int
    heap_bytes: int

    @property
    def populated(self) -> bool:
        return self.rows > 0 if self.rows is not None else self.heap_bytes > 0

    @property
    def large(self) -> bool:
        return (self.rows or 0) >= LARGE_ROWS or self.bytes >= LARGE_BYTES

    def describe(self) -> str:
        rows = "~? rows" if self.rows is None else f"~{self.rows:,} rows"
        return f"({rows}, {self.bytes / 1048576:.1f} MiB)"


@dataclass(frozen=True)
class PlannedStatement:
    sql: str
    operation: str
    transactional: bool
    locks: tuple[Impact, ...]
    sizes: dict[str, TableSize]
    risk: Risk
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "operation": self.operation,
            "transactional": self.transactional,
            "locks": [
                {
                    "table": i.table,
                    "lock": i.lock.label,
                    "blocks_reads": i.lock.blocks_reads,
                    "blocks_writes": i.lock.blocks_writes,
                    "rewrites": i.rewrites,
                    "scans": i.scans,
                    "rows": self.sizes[i.table].rows if i.table in self.sizes else None,
                    "bytes": self.sizes[i.table].bytes if i.table in self.sizes else None,
                    "note": i.note,
                }
                for i in self.locks
            ],
            "risk": str(self.risk),
            "why": self.why,
        }


@dataclass(frozen=True)
class PlannedMigration:
    id: str
    name: str
    checksum: str
    statements: tuple[PlannedStatement, ...]
    findings: tuple[Finding, ...]

    @property
    def risk(self) -> Risk:
        levels = [s.risk for s in self.statements]
        if any(f.blocking for f in self.findings):
            levels.append(Risk.HIGH)
        return max(levels, default=Risk.LOW)

    @property
    def blocking_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.blocking)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "checksum": self.checksum,
            "risk": str(self.risk),
            "statements": [s.to_dict() for s in self.statements],
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class MigrationPlan:
    environment: str
    database: str
    migrations: tuple[PlannedMigration, ...]
    replicas: tuple[ReplicaStatus, ...] = field(default=())

    @property
    def risk(self) -> Risk:
        return max((m.risk for m in self.migrations), default=Risk.LOW)

    @property
    def blocking_findings(self) -> tuple[Finding, ...]:
        return tuple(f for m in self.migrations for f in m.blocking_findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "environment": self.environment,
            "database": self.database,
            "risk": str(self.risk),
            "pending": [m.id for m in self.migrations],
            "migrations": [m.to_dict() for m in self.migrations],
            "replicas": [r.to_dict() for r in self.replicas],
        }


def table_sizes(
    conn: psycopg.Connection[tuple[object, ...]], tables: Iterable[str]
) -> dict[str, TableSize]:
    """Return the planner's row estimate and total size of each existing table, in one query.

    A tenant's unqualified tables are its tenant schema's (:mod:`dualorm.runner.tenancy`).
    """
    names = sorted({t for t in tables if t != OPAQUE_TABLE})
    if not names:
        return {}
    home = ledger_of(conn).tenant or DEFAULT_SCHEMA
    keys = [(home if s == DEFAULT_SCHEMA else s, t) for s, t in map(as_key, names)]
    rows = conn.execute(
        "SELECT n.nspname, c.relname, "
        "CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END, "
        "pg_total_relation_size(c.oid), pg_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN unnest(%s::text[], %s::text[]) AS k(s, t) ON k.s = n.nspname AND k.t = c.relname "
        "WHERE c.relkind IN ('r', 'p')",
        ([k[0] for k in keys], [k[1] for k in keys]),
    ).fetchall()
    sizes = {}
    for schema_name, table, reltuples, total, heap in rows:
        label = str(table) if schema_name == home else f"{schema_name}.{table}"
        estimate = None if reltuples is None else int(str(reltuples))
        sizes[label] = TableSize(rows=estimate, bytes=int(str(total)), heap_bytes=int(str(heap)))
    return sizes


def _risk(locks: Sequence[Impact], sizes: dict[str, TableSize]) -> tuple[Risk, str]:
    """Rate the statement: high when it loses the data of a table with rows, or blocks writes
    while rewriting or scanning a large table; medium for such work on a smaller table (or
    anything it cannot see into); else low."""
    worst = (Risk.LOW, "takes no lock that blocks writes on a table with rows")
    for impact in locks:
        size = sizes.get(impact.table)
        populated = size is not None and size.populated
        if impact.loses_data and size is not None and populated:
            candidate = (Risk.HIGH, f"{impact.describe()} loses {size.describe()}")
        elif not impact.lock.blocks_writes or not (impact.opaque or populated):
            continue
        else:
            candidate = _blocking_risk(impact, size)
        if candidate[0] > worst[0] or worst[0] is Risk.LOW and candidate[0] is Risk.LOW:
            worst = candidate
    return worst


def _blocking_risk(impact: Impact, size: TableSize | None) -> tuple[Risk, str]:
    work = "rewrites" if impact.rewrites else "scans" if impact.scans else None
    where = f"{impact.lock.label} on {impact.table}"
    if impact.opaque:
        return (Risk.MEDIUM, f"{where}: {impact.note}")
    if work and size is not None and size.large:
        return (Risk.HIGH, f"{where} while it {work} {size.describe()}")
    if work:
        return (Risk.MEDIUM, f"{where} while it {work} {size.describe() if size else ''}")
    return (Risk.LOW, f"brief {where}, bounded by lock_timeout")


def plan_migrations(
    migrations: Sequence[Migration],
    pending: Iterable[str],
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    models: Schema | None = None,
    lock_timeout_ms: int | None = 5000,
    start: Schema | None = None,
) -> list[PlannedMigration]:
    """Plan the ``pending`` ids of ``migrations`` (all of them, in apply order).

    ``start`` is the schema before the first of ``migrations`` (by default the tables other
    owners create, :func:`~dualorm.spec.replay.start_of`).
    """
    wanted = set(pending)
    state = start if start is not None else start_of(migrations)
    planned: list[tuple[Migration, list[tuple[str, str, bool, list[Impact]]], list[Finding]]] = []
    touched: set[str] = set()
    before: dict[str, Schema] = {}
    for migration in migrations:
        before[migration.id] = state
        if migration.replaces and migration.replaces[0] in before:
            # A squash after the specs it replaces builds what they built: its DDL runs only
            # in their place, on a database holding none of them (dualorm.spec.squash).
            if migration.id in wanted:
                whole = _runs_whole(migration, wanted, conn)
                base = before[migration.replaces[0]]
                planned.append(_planned(migration, base, models, lock_timeout_ms, touched, whole))
            continue
        if migration.id not in wanted:
            for op in migration.operations:
                state = op.apply(state)
            continue
        planned.append(_planned(migration, state, models, lock_timeout_ms, touched, True))
        for op in migration.operations:
            state = op.apply(state)
    sizes = table_sizes(conn, touched)
    result = []
    for migration, rows, findings in planned:
        stmts = []
        for sql, description, transactional, locks in rows:
            risk, why = _risk(locks, sizes)
            mine = {i.table: sizes[i.table] for i in locks if i.table in sizes}
            stmts.append(
                PlannedStatement(sql, description, transactional, tuple(locks), mine, risk, why)
            )
        result.append(
            PlannedMigration(
                migration.id, migration.name, migration.checksum, tuple(stmts), tuple(findings)
            )
        )
    return result


def _runs_whole(
    squash: Migration, wanted: Set[str], conn: psycopg.Connection[tuple[object, ...]]
) -> bool:
    """Whether a pending squash runs its operations: none it replaces is applied or pending."""
    replaced = set(squash.replaces)
    return not (replaced & wanted or replaced & set(applied_migrations(conn)))


def _planned(
    migration: Migration,
    state: Schema,
    models: Schema | None,
    lock_timeout_ms: int | None,
    touched: set[str],
    runs: bool,
) -> tuple[Migration, list[tuple[str, str, bool, list[Impact]]], list[Finding]]:
    """One migration's statements and lint findings on ``state`` (none when it only records)."""
    if not runs:
        return migration, [], []
    findings, _ = lint_migration(migration, state, models=models, lock_timeout_ms=lock_timeout_ms)
    rows = []
    for op in migration.operations:
        locks = impacts(op, state)
        touched.update(i.table for i in locks)
        for sql in statements(op):
            rows.append((sql, op.describe(), op.transactional, locks))
        state = op.apply(state)
    return migration, rows, findings


def create_migration_plan(
    config: Config,
    *,
    replicas: bool = True,
    specs: ProjectSpecs | None = None,
    pending: Sequence[str] | None = None,
) -> MigrationPlan:
    """Plan every pending migration of ``config``'s database (read-only; takes no lock).

    ``specs`` and ``pending`` are what the caller already loaded and checked (the production
    path plans exactly what it then confirms and applies); by default both are read here.
    """
    url = resolve_url(config)
    specs = specs if specs is not None else load_project_specs(config)
    if pending is None:
        pending = migrate_status(config).pending
    with connect(url, autocommit=True) as conn:
        planned = plan_migrations(specs.migrations, pending, conn, models=model_schema(config))
    return _plan(config, url, planned, replicas)


def create_rollback_plan(
    config: Config,
    specs: ProjectSpecs,
    applied: Set[str],
    ids: Sequence[str],
    *,
    replicas: bool = True,
) -> MigrationPlan:
    """Plan rolling back ``ids`` (in that order) from the schema the ``applied`` ones build.

    Each migration is planned as its reverse operations, newest first, so a rollback that
    drops a table or a column shows the lock and the risk of that drop.
    """
    url = resolve_url(config)
    # A squash whose replaced specs are there is only un-recorded; they are rolled back.
    undone = [
        replace(
            m,
            operations=()
            if m.id in specs.squashes
            else tuple(op.reverse() for op in reversed(m.operations)),
        )
        for m in (specs.by_id[i] for i in ids)
    ]
    start = replay([m for m in specs.migrations if m.id in applied], start_of(specs.migrations))
    with connect(url, autocommit=True) as conn:
        planned = plan_migrations(undone, ids, conn, models=model_schema(config), start=start)
    return _plan(config, url, planned, replicas)


def _plan(
    config: Config, url: str, planned: list[PlannedMigration], replicas: bool
) -> MigrationPlan:
    states: tuple[ReplicaStatus, ...] = ()
    if replicas and config.replica_urls:
        states = tuple(check_replicas(url, config.replica_urls))
    return MigrationPlan(
        environment=config.environment.value,
        database=redact(url),
        migrations=tuple(planned),
        replicas=states,
    )


def model_schema(config: Config) -> Schema | None:
    """The SQLAlchemy model schema, for the "still used by code" rules; None if unavailable."""
    try:
        # Imported here: the runner and the CLI start without SQLAlchemy unless models are read.
        from dualorm.sources import sqlalchemy as sa_source

        return sa_source.load(sa_source.resolve_metadata(config.sa_metadata))
    except (DualormError, ImportError):
        return None
