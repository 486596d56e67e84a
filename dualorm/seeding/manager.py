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
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from dualorm.config import Config, Environment
from dualorm.db import connect, redact_text, resolve_url, sqlalchemy_url
from dualorm.environment import check_request, require_label
from dualorm.errors import (
    ConfirmationRequired,
    DependentsExist,
    DualormError,
    SafetyError,
    SeedError,
)
from dualorm.runner.locks import LockWait, claim_session, command_lock
from dualorm.seeding import ledger as seed_ledger
from dualorm.seeding.discovery import SeedModule, closure, discover, topological
from dualorm.seeding.reports import (
    Progress,
    RollbackResult,
    SeedEvent,
    SeedResult,
    SeedStatus,
    status_line,
)
from dualorm.seeding.seed import DjangoBinding, SeedContext
from dualorm.seeding.template import write_seed_file

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy.engine import Connection as SAConnection
    from sqlalchemy.engine import Engine


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
        log_level: what a seed logs on ``ctx.logger`` at this level and up reaches
            ``progress`` as ``log`` events (``level``, ``message``).
    """

    def __init__(
        self,
        config: Config,
        database_url: str | None = None,
        *,
        progress: Progress | None = None,
        on_lock_wait: LockWait | None = None,
        no_wait: bool = False,
        log_level: int = logging.INFO,
    ) -> None:
        self.config = config
        self._url = database_url
        self._progress = progress
        self._on_lock_wait = on_lock_wait
        self._no_wait = no_wait
        self._log_level = log_level

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

        Applied seeds whose source is unchanged are skipped, unless they are stale (their data
        is gone, see :func:`~dualorm.seeding.ledger.stale_tables`); changed and stale ones run
        again (seeds are idempotent). Each seed commits on its own; the first failure stops
        the run. A failure after earlier seeds committed is a ``DualormError`` (exit 1) naming
        them, whatever the failing seed's error: the run changed the database.
        """
        env = environment or self.config.environment
        seeds = self.discover()
        plan = self._plan(seeds, env, only)
        with self._locked() as conn:
            self._check_label(conn, env)
            seed_ledger.ensure(conn)
            conn.commit()
            applied = seed_ledger.applied(conn)
            stale = seed_ledger.stale_tables(conn, {s: applied[s] for s in plan if s in applied})
            results: list[SeedResult] = []
            with self._orm_access(conn) as (sa_connection, django):
                for seed_id in plan:
                    seed = seeds[seed_id]
                    previous = applied.get(seed_id)
                    if previous is None:
                        reason = None
                    elif previous["checksum"] != seed.checksum:
                        reason = "changed"
                    elif seed_id in stale:
                        reason = "; ".join(t.describe() for t in stale[seed_id])
                    else:
                        self._emit("seed_skip", seed_id)
                        results.append(SeedResult(seed_id, "skipped"))
                        continue
                    try:
                        result = self._apply(
                            conn, seed, env, reason, stale.get(seed_id, ()), sa_connection, django
                        )
                    except DualormError as exc:
                        _raise_after_commits(exc, results)
                    results.append(result)
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
        reason: str | None,
        stale: Sequence[seed_ledger.StaleTable],
        sa_connection: Callable[[], SAConnection],
        django: Callable[[], DjangoBinding],
    ) -> SeedResult:
        """Run one seed in its own transaction; ``reason`` says why it runs again, if it does."""
        self._emit("seed_start", seed.id, {"name": seed.name, "reason": reason})
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
            with self._seed_logs(ctx):
                seed_ledger.forget_rows(conn, seed.id, [t.table for t in stale if t.why != "empty"])
                seed.seed.execute(ctx)
                ctx.finish()
            seed_ledger.record_rows(conn, seed.id, ctx.added)
            duration = int((time.perf_counter() - started) * 1000)
            counts = seed_ledger.row_counts(conn, seed.id)
            seed_ledger.write(conn, seed, env, duration, counts, ctx.written)
            conn.commit()
        except BaseException as exc:
            ctx.close()
            conn.rollback()
            if type(exc) in (SeedError, DualormError):
                raise type(exc)(f"seed {seed.id}: {exc}") from exc
            if isinstance(exc, Exception) and not isinstance(exc, DualormError):
                raise DualormError(f"seed {seed.id} failed: {type(exc).__name__}: {exc}") from exc
            raise
        action = "applied" if reason is None else "reapplied"
        result = SeedResult(seed.id, action, duration, counts, dict(ctx.secrets), reason)
        self._emit("seed_done", seed.id, {"duration_ms": duration, "row_counts": counts})
        return result

    # -- status ----------------------------------------------------------------------------

    def status(self, environment: Environment | None = None) -> list[SeedStatus]:
        """Report every seed: applied, pending, changed since applied, stale (applied, but
        its data is gone: ``seed run`` applies it again), missing, or not for
        ``environment``. Reads only; takes no lock."""
        env = environment or self.config.environment
        seeds = self.discover()
        with contextlib.closing(connect(self.database_url)) as conn:
            applied = seed_ledger.applied(conn)
            stale = seed_ledger.stale_tables(conn, applied)
            conn.rollback()
        lines = []
        for seed_id in topological(seeds):
            seed = seeds[seed_id]
            row = applied.get(seed_id)
            reason = None
            if row is None:
                state = "pending" if seed.runs_in(env) else "not-for-environment"
            elif row["checksum"] != seed.checksum:
                state = "changed"
            elif seed_id in stale:
                state, reason = "stale", "; ".join(t.describe() for t in stale[seed_id])
            else:
                state = "applied"
            lines.append(status_line(seed_id, seed.name, state, seed, row, reason))
        for seed_id in sorted(set(applied) - set(seeds)):
            row = applied[seed_id]
            lines.append(status_line(seed_id, str(row["name"]), "missing", None, row))
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
            applied = seed_ledger.applied(conn)
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

        check_request(self.config, environment, "seed clear")
        seeds = discover(self.config.seeds_path)
        with self._locked() as conn:
            self._check_label(conn, environment)
            applied = seed_ledger.applied(conn)
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
                        with self._seed_logs(ctx):
                            if seed_id in seeds:
                                seeds[seed_id].seed.rollback(ctx)
                            else:
                                ctx.remove_added()
                            ctx.finish()
                    finally:
                        ctx.close()
                    # The rows deleted, not the ledger's counts: rows deleted by hand since,
                    # or a table dropped since, are not reported as removed.
                    removed[seed_id] = dict(ctx.removed)
                    seed_ledger.forget(conn, seed_id)
                    self._emit("rollback_done", seed_id, {"row_counts": removed[seed_id]})
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return RollbackResult(removed)

    # -- new -------------------------------------------------------------------------------

    def new(self, name: str) -> Path:
        """Create ``seeds/NNNN_<name>.py`` from a template and return its path."""
        return write_seed_file(self.config.seeds_path, name)

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

        try:
            require_label(conn, self.config, env, f"seeding {env.value} data")
        finally:
            conn.rollback()

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

    @contextlib.contextmanager
    def _seed_logs(self, ctx: SeedContext) -> Iterator[None]:
        """Hand what the seed logs on ``ctx.logger`` (``log_level`` and up) to ``progress``
        as ``log`` events while it runs; the records still reach any handler configured above.
        """
        if self._progress is None:
            yield
            return
        logger = ctx.logger
        handler = _EventHandler(
            lambda level, text: self._emit("log", ctx.seed_id, {"level": level, "message": text})
        )
        handler.setLevel(self._log_level)
        level = logger.level
        # Unconfigured, the logger inherits the root's WARNING and drops INFO records before
        # any handler sees them.
        if logger.getEffectiveLevel() > self._log_level:
            logger.setLevel(self._log_level)
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)

    def _emit(self, kind: str, seed_id: str, detail: Mapping[str, Any] | None = None) -> None:
        if self._progress is not None:
            self._progress(SeedEvent(kind, seed_id, dict(detail or {})))


class _EventHandler(logging.Handler):
    """A logging handler that passes each record, as ``(level, text)``, to a callback."""

    def __init__(self, send: Callable[[str, str], None]) -> None:
        super().__init__()
        self._send = send
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send(record.levelname.lower(), redact_text(self.format(record)))
        except Exception:
            self.handleError(record)


def _raise_after_commits(error: DualormError, results: Sequence[SeedResult]) -> NoReturn:
    """Re-raise ``error``; once earlier seeds of the run committed, as a failure naming them.

    Bad input in a later seed is not "nothing changed" (exit 2) when earlier seeds committed.
    """
    committed = [r for r in results if r.action != "skipped"]
    if not committed:
        raise error
    done = ", ".join(
        f"{r.id} ({r.action}"
        + "".join(f", {table}={n}" for table, n in sorted(r.row_counts.items()))
        + ")"
        for r in committed
    )
    raise DualormError(
        f"{error}; committed before it failed, and kept: {done}; "
        "fix the failing seed and run `dualorm seed run` again"
    ) from error


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
