"""The seed manager: discover seeds, order them, run, report, roll back and clear.

Invariant: a row in ``dualorm.seeds`` means that seed is applied in this database, and it is
written in the seed's own transaction, together with ``dualorm.seed_rows`` (the primary key of
every row the seed added). A failing seed leaves neither its data nor its rows behind.

Every command that writes takes the migration lock of :mod:`dualorm.runner.locks` first, so
seeds and migrations never interleave, and checks the database's environment label before it
changes anything. The lock is polled on its own autocommit connection: a seed waiting for a
migration holds no transaction open, which a ``CREATE INDEX CONCURRENTLY`` of that migration
would otherwise wait for until it timed out and left an INVALID index (issue 12).
"""

from __future__ import annotations

import contextlib
import graphlib
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from dualorm.config import Config, Environment
from dualorm.db import connect, resolve_url, sqlalchemy_url
from dualorm.errors import (
    ConfirmationRequired,
    DependentsExist,
    DualormError,
    LedgerError,
    SafetyError,
    SeedError,
)
from dualorm.runner import ledger
from dualorm.runner.locks import LockWait, claim_session, command_lock
from dualorm.seeding.discovery import SEED_FILE, SeedModule, closure, discover, topological
from dualorm.seeding.seed import DjangoBinding, SeedContext

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy.engine import Connection as SAConnection
    from sqlalchemy.engine import Engine

SEEDS_DDL = """
CREATE TABLE IF NOT EXISTS dualorm.seeds (
    id text PRIMARY KEY,
    name text NOT NULL,
    version text NOT NULL,
    environment text NOT NULL,
    checksum char(64) NOT NULL,
    dependencies text[] NOT NULL DEFAULT '{}',
    applied_at timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL,
    row_counts jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE TABLE IF NOT EXISTS dualorm.seed_rows (
    seed_id text NOT NULL,
    table_name text NOT NULL,
    ordinal integer NOT NULL,
    key text[] NOT NULL
);
CREATE INDEX IF NOT EXISTS seed_rows_seed_id_table_name_idx
    ON dualorm.seed_rows (seed_id, table_name);
"""

Progress = Callable[["SeedEvent"], None]


@dataclass(frozen=True)
class SeedEvent:
    """A progress event: ``seed_start``, ``seed_done``, ``seed_skip``, ``rows``,
    ``rollback_start``, ``rollback_done``."""

    kind: str
    seed_id: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedResult:
    """What ``run`` did with one seed: ``applied``, ``reapplied`` (changed) or ``skipped``."""

    id: str
    action: str
    duration_ms: int = 0
    row_counts: Mapping[str, int] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedStatus:
    """One line of ``status``: ``applied``, ``pending``, ``changed``, ``missing`` (applied but
    its module is gone) or ``not-for-environment``."""

    id: str
    name: str
    state: str
    environments: tuple[str, ...]
    dependencies: tuple[str, ...]
    applied_at: datetime | None = None
    duration_ms: int | None = None
    row_counts: Mapping[str, int] = field(default_factory=dict)
    checksum: str | None = None

    def as_dict(self) -> dict[str, Any]:
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
        }


@dataclass(frozen=True)
class RollbackResult:
    """The seeds rolled back, in order, with the rows removed per table."""

    removed: Mapping[str, Mapping[str, int]]


class SeedManager:
    """Run, report, roll back and clear the seeds of ``config.seeds_path`` on one database.

    Args:
        config: the project configuration (seeds directory, Django settings, environment).
        database_url: the database; ``None`` resolves it from the configuration.
        progress: called with a :class:`SeedEvent` as work proceeds.
        on_lock_wait: called with the holder of the migration lock while waiting for it
            (the callback ``migrate`` takes).
        no_wait: refuse with :class:`~dualorm.errors.LockHeld` (exit 3), naming the holder,
            when another runner holds the lock, instead of waiting.
    """

    def __init__(
        self,
        config: Config,
        database_url: str | None = None,
        *,
        progress: Progress | None = None,
        on_lock_wait: LockWait | None = None,
        no_wait: bool = False,
    ) -> None:
        self.config = config
        self._url = database_url
        self._progress = progress
        self._on_lock_wait = on_lock_wait
        self._no_wait = no_wait

    @property
    def database_url(self) -> str:
        if self._url is None:
            self._url = resolve_url(self.config)
        return self._url

    def discover(self) -> dict[str, SeedModule]:
        """Return the seeds under the seeds directory, validated as a dependency graph."""
        seeds = discover(self.config.seeds_path)
        topological(seeds)
        return seeds

    # -- run -------------------------------------------------------------------------------

    def run(
        self, environment: Environment | None = None, only: str | None = None
    ) -> list[SeedResult]:
        """Apply the seeds of ``environment`` (or ``only`` and what it needs), in order.

        Applied seeds whose source is unchanged are skipped; changed ones run again (seeds
        are idempotent). Each seed commits on its own; the first failure stops the run.
        """
        env = environment or self.config.environment
        seeds = self.discover()
        plan = self._plan(seeds, env, only)
        with self._locked() as conn:
            self._check_label(conn, env)
            self._ensure_ledger(conn)
            applied = self._applied(conn)
            with self._orm_access(conn) as (sa_connection, django):
                results = []
                for seed_id in plan:
                    seed = seeds[seed_id]
                    previous = applied.get(seed_id)
                    if previous is not None and previous["checksum"] == seed.checksum:
                        self._emit("seed_skip", seed_id)
                        results.append(SeedResult(seed_id, "skipped"))
                        continue
                    results.append(
                        self._apply(conn, seed, env, previous is not None, sa_connection, django)
                    )
        return results

    def _plan(
        self, seeds: Mapping[str, SeedModule], env: Environment, only: str | None
    ) -> list[str]:
        order = topological(seeds)
        if only is not None:
            if only not in seeds:
                raise SeedError(f"unknown seed {only!r} (not under {self.config.seeds_path})")
            needed = closure(seeds, only)
            plan = [s for s in order if s in needed]
        else:
            plan = [s for s in order if seeds[s].runs_in(env)]
        for seed_id in plan:
            seed = seeds[seed_id]
            if not seed.runs_in(env):
                needed_by = "" if seed_id == only else " (a dependency)"
                allowed = ", ".join(sorted(e.value for e in seed.environments))
                if env is Environment.PRODUCTION:
                    raise SafetyError(
                        f"production refuses seed {seed_id}{needed_by}: it is not marked for "
                        f"production (it runs in {allowed})"
                    )
                raise SeedError(
                    f"seed {seed_id}{needed_by} does not run in {env.value} ({allowed})"
                )
        return plan

    def _apply(
        self,
        conn: psycopg.Connection[Any],
        seed: SeedModule,
        env: Environment,
        again: bool,
        sa_connection: Callable[[], SAConnection],
        django: Callable[[], DjangoBinding],
    ) -> SeedResult:
        self._emit("seed_start", seed.id, {"name": seed.name})
        started = time.perf_counter()
        ctx = SeedContext(
            seed.id,
            env,
            conn,
            sa_connection=sa_connection,
            django=django,
            progress=lambda kind, detail: self._emit(kind, seed.id, detail),
        )
        try:
            seed.seed.execute(ctx)
            ctx.finish()
            self._record_rows(conn, seed.id, ctx)
            duration = int((time.perf_counter() - started) * 1000)
            counts = self._row_counts(conn, seed.id)
            self._write_ledger(conn, seed, env, duration, counts)
            conn.commit()
        except BaseException as exc:
            ctx.close()
            conn.rollback()
            if type(exc) in (SeedError, DualormError):
                raise type(exc)(f"seed {seed.id}: {exc}") from exc
            if isinstance(exc, Exception) and not isinstance(exc, DualormError):
                raise DualormError(f"seed {seed.id} failed: {type(exc).__name__}: {exc}") from exc
            raise
        result = SeedResult(
            seed.id, "reapplied" if again else "applied", duration, counts, dict(ctx.secrets)
        )
        self._emit("seed_done", seed.id, {"duration_ms": duration, "row_counts": counts})
        return result

    @staticmethod
    def _record_rows(conn: psycopg.Connection[Any], seed_id: str, ctx: SeedContext) -> None:
        if not ctx.added:
            return
        start = conn.execute(
            "SELECT coalesce(max(ordinal), 0) FROM dualorm.seed_rows WHERE seed_id = %s",
            (seed_id,),
        ).fetchone()
        base = int(start[0]) if start else 0
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY dualorm.seed_rows (seed_id, table_name, ordinal, key) FROM STDIN "
                "(FORMAT binary)"
            ) as copy,
        ):
            copy.set_types(["text", "text", "int4", "text[]"])
            for ordinal, (table, keys) in enumerate(ctx.added.items(), base + 1):
                for key in keys:
                    copy.write_row((seed_id, table, ordinal, [str(v) for v in key]))

    @staticmethod
    def _row_counts(conn: psycopg.Connection[Any], seed_id: str) -> dict[str, int]:
        rows = conn.execute(
            "SELECT table_name, count(*) FROM dualorm.seed_rows WHERE seed_id = %s "
            "GROUP BY table_name ORDER BY table_name",
            (seed_id,),
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    @staticmethod
    def _write_ledger(
        conn: psycopg.Connection[Any],
        seed: SeedModule,
        env: Environment,
        duration: int,
        counts: Mapping[str, int],
    ) -> None:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO dualorm.seeds (id, name, version, environment, checksum, "
                "dependencies, duration_ms, row_counts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
                "version = EXCLUDED.version, environment = EXCLUDED.environment, "
                "checksum = EXCLUDED.checksum, dependencies = EXCLUDED.dependencies, "
                "applied_at = now(), duration_ms = EXCLUDED.duration_ms, "
                "row_counts = EXCLUDED.row_counts",
                (
                    seed.id,
                    seed.name,
                    seed.version,
                    env.value,
                    seed.checksum,
                    list(seed.dependencies),
                    duration,
                    Jsonb(dict(counts)),
                ),
            )
            if cur.rowcount != 1:
                raise LedgerError(
                    f"writing the ledger row of seed {seed.id} touched {cur.rowcount} rows"
                )

    # -- status ----------------------------------------------------------------------------

    def status(self, environment: Environment | None = None) -> list[SeedStatus]:
        """Report every seed: applied, pending, changed since applied, missing, or not for
        ``environment``. Reads only; takes no lock."""
        env = environment or self.config.environment
        seeds = self.discover()
        with contextlib.closing(connect(self.database_url)) as conn:
            applied = self._applied(conn) if _has_ledger(conn) else {}
            conn.rollback()
        lines = []
        for seed_id in topological(seeds):
            seed = seeds[seed_id]
            row = applied.get(seed_id)
            if row is not None:
                state = "applied" if row["checksum"] == seed.checksum else "changed"
            else:
                state = "pending" if seed.runs_in(env) else "not-for-environment"
            lines.append(_status(seed_id, seed.name, state, seed, row))
        for seed_id in sorted(set(applied) - set(seeds)):
            row = applied[seed_id]
            lines.append(_status(seed_id, str(row["name"]), "missing", None, row))
        return lines

    # -- rollback and clear ----------------------------------------------------------------

    def rollback(
        self,
        seed_id: str,
        *,
        cascade: bool = False,
        confirm: bool = False,
        environment: Environment | None = None,
    ) -> RollbackResult:
        """Remove exactly the rows ``seed_id`` added, and its ledger row.

        Refused (``DependentsExist``) while applied seeds depend on it, unless ``cascade``,
        which rolls those back first. In production ``confirm`` is required.
        """
        env = environment or self.config.environment
        seeds = discover(self.config.seeds_path)
        if env is Environment.PRODUCTION and not confirm:
            raise ConfirmationRequired(
                f"rolling back seed {seed_id} in production removes data; pass --confirm"
            )
        with self._locked() as conn:
            self._check_label(conn, env)
            applied = self._applied(conn) if _has_ledger(conn) else {}
            if seed_id not in applied:
                raise SeedError(f"seed {seed_id!r} is not applied")
            order = _applied_order(applied)
            dependents = _dependents(applied, seed_id)
            if dependents and not cascade:
                raise DependentsExist(seed_id, [s for s in order if s in dependents])
            targets = [s for s in reversed(order) if s in dependents or s == seed_id]
            return self._remove(conn, seeds, env, targets)

    def clear(self, environment: Environment, *, confirm: bool = False) -> RollbackResult:
        """Remove every applied seed's data in ``environment``; refused in production."""
        if environment is Environment.PRODUCTION:
            raise ConfirmationRequired("seed clear is refused in production, whatever the flags")
        if not confirm:
            raise ConfirmationRequired(
                f"seed clear removes all seeded data of {environment.value}; pass --confirm"
            )
        from dualorm.environment import check_request

        check_request(self.config, environment, "seed clear")
        seeds = discover(self.config.seeds_path)
        with self._locked() as conn:
            self._check_label(conn, environment)
            applied = self._applied(conn) if _has_ledger(conn) else {}
            targets = list(reversed(_applied_order(applied)))
            return self._remove(conn, seeds, environment, targets)

    def _remove(
        self,
        conn: psycopg.Connection[Any],
        seeds: Mapping[str, SeedModule],
        env: Environment,
        targets: Sequence[str],
    ) -> RollbackResult:
        removed: dict[str, dict[str, int]] = {}
        with self._orm_access(conn) as (sa_connection, django):
            try:
                for seed_id in targets:
                    self._emit("rollback_start", seed_id)
                    ctx = SeedContext(
                        seed_id, env, conn, sa_connection=sa_connection, django=django
                    )
                    try:
                        before = _counts(conn, seed_id)
                        if seed_id in seeds:
                            seeds[seed_id].seed.rollback(ctx)
                        else:
                            ctx.remove_added()
                        ctx.finish()
                    finally:
                        ctx.close()
                    removed[seed_id] = before
                    _forget(conn, seed_id)
                    self._emit("rollback_done", seed_id, {"row_counts": before})
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return RollbackResult(removed)

    # -- new -------------------------------------------------------------------------------

    def new(self, name: str) -> Path:
        """Create ``seeds/NNNN_<name>.py`` from a template and return its path."""
        slug = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
        if not slug:
            raise SeedError(f"seed name {name!r} has no letters or digits")
        folder = self.config.seeds_path
        folder.mkdir(parents=True, exist_ok=True)
        numbers = [int(p.name[:4]) for p in folder.glob("*.py") if SEED_FILE.match(p.name)]
        path = folder / f"{max(numbers, default=0) + 1:04d}_{slug}.py"
        title = name.strip()
        path.write_text(_TEMPLATE.format(title=title, cls=_class_name(slug)), encoding="utf-8")
        return path

    # -- plumbing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[psycopg.Connection[Any]]:
        """Hold the migration lock; yield a work connection with no transaction open yet."""
        with command_lock(
            self.database_url, "seed", wait=not self._no_wait, on_wait=self._on_lock_wait
        ):
            conn = connect(self.database_url, autocommit=True)
            try:
                # A killed runner's last query may still be running on the server (see
                # claim_session); seeding beside it would be a transaction it waits for.
                claim_session(conn)
                conn.autocommit = False
                yield conn
            finally:
                conn.close()

    def _check_label(self, conn: psycopg.Connection[Any], env: Environment) -> None:
        from dualorm.environment import require_label

        try:
            require_label(conn, self.config, env, f"seeding {env.value} data")
        finally:
            conn.rollback()

    @staticmethod
    def _ensure_ledger(conn: psycopg.Connection[Any]) -> None:
        ledger.ensure_ledger(conn)
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ledger.ADVISORY_LOCK_KEY + 1,))
        conn.execute(SEEDS_DDL)
        conn.commit()

    @staticmethod
    def _applied(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
        from psycopg.rows import dict_row

        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT id, name, checksum, dependencies, applied_at, duration_ms, row_counts "
                "FROM dualorm.seeds ORDER BY applied_at, id"
            )
            return {str(r["id"]): r for r in cur.fetchall()}

    @contextlib.contextmanager
    def _orm_access(
        self, conn: psycopg.Connection[Any]
    ) -> Iterator[tuple[Callable[[], SAConnection], Callable[[], DjangoBinding]]]:
        engine: Engine | None = None
        sa_conn: SAConnection | None = None

        def sa_connection() -> SAConnection:
            nonlocal engine, sa_conn
            if sa_conn is None:
                from sqlalchemy import create_engine
                from sqlalchemy.pool import StaticPool

                # The engine wraps the seed's own connection: SQLAlchemy never opens, resets
                # or commits one itself, so the session lives in the seed's transaction.
                engine = create_engine(
                    sqlalchemy_url(self.database_url),
                    creator=lambda: conn,
                    poolclass=StaticPool,
                    pool_reset_on_return=None,
                )
                sa_conn = engine.connect()
            if not sa_conn.in_transaction():
                sa_conn.begin()
            return sa_conn

        def django() -> DjangoBinding:
            return DjangoBinding(
                self.config.django_settings, self.database_url, self.config.django_app_label
            )

        try:
            yield sa_connection, django
        finally:
            if sa_conn is not None:
                sa_conn.detach()
                sa_conn.close()
            if engine is not None:
                engine.dispose(close=False)

    def _emit(self, kind: str, seed_id: str, detail: Mapping[str, Any] | None = None) -> None:
        if self._progress is not None:
            self._progress(SeedEvent(kind, seed_id, dict(detail or {})))


def _has_ledger(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('dualorm.seeds') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _applied_order(applied: Mapping[str, Mapping[str, Any]]) -> list[str]:
    graph = {
        seed_id: [d for d in row["dependencies"] if d in applied]
        for seed_id, row in applied.items()
    }
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def _dependents(applied: Mapping[str, Mapping[str, Any]], target: str) -> set[str]:
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for seed_id, row in applied.items():
            if seed_id not in found and ({target} | found) & set(row["dependencies"]):
                found.add(seed_id)
                changed = True
    return found


def _counts(conn: psycopg.Connection[Any], seed_id: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT table_name, count(*) FROM dualorm.seed_rows WHERE seed_id = %s "
        "GROUP BY table_name ORDER BY table_name",
        (seed_id,),
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def _forget(conn: psycopg.Connection[Any], seed_id: str) -> None:
    conn.execute("DELETE FROM dualorm.seed_rows WHERE seed_id = %s", (seed_id,))
    with conn.cursor() as cur:
        cur.execute("DELETE FROM dualorm.seeds WHERE id = %s", (seed_id,))
        if cur.rowcount != 1:
            raise LedgerError(f"removing the ledger row of seed {seed_id} touched {cur.rowcount}")


def _status(
    seed_id: str,
    name: str,
    state: str,
    seed: SeedModule | None,
    row: Mapping[str, Any] | None,
) -> SeedStatus:
    return SeedStatus(
        id=seed_id,
        name=name,
        state=state,
        environments=tuple(sorted(e.value for e in seed.environments)) if seed else (),
        dependencies=seed.dependencies if seed else tuple(row["dependencies"] if row else ()),
        applied_at=row["applied_at"] if row else None,
        duration_ms=row["duration_ms"] if row else None,
        row_counts=dict(row["row_counts"]) if row else {},
        checksum=str(row["checksum"]) if row else None,
    )


def _class_name(slug: str) -> str:
    return "".join(part.capitalize() for part in slug.split("_")) + "Seed"


_TEMPLATE = '''"""{title}."""

from __future__ import annotations

from dualorm.seeding import NON_PRODUCTION, Seed, SeedContext


class {cls}(Seed):
    name = "{title}"
    description = ""
    environments = NON_PRODUCTION
    version = "1"
    dependencies: tuple[str, ...] = ()

    def execute(self, ctx: SeedContext) -> None:
        """Write this seed's rows; a second run must add nothing.

        Natural keys make that easy: ``ctx.upsert("roles", rows, key=["name"])``, or
        ``ctx.copy("users", columns, rows)`` for large volumes; ``ctx.session`` (SQLAlchemy)
        and ``ctx.django_model("User")`` (Django) work in the same transaction.
        """
        ctx.logger.info("seed %s has nothing to write yet", "{title}")
'''
