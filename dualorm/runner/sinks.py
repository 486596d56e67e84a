"""Where the runner's loop sends each migration: the :class:`Sink` protocol and its two sinks.

:class:`DatabaseSink` executes: each migration in its own transaction, its
``dualorm.migrations`` row and the ``alembic_version`` / ``django_migrations`` stamps written in
that same transaction. :class:`ScriptSink` writes the same thing out as a psql script. A sink
asks the loop (:func:`dualorm.runner.runner.run`) for a retry by raising :class:`LockTimeout`.

Most migrations take one round trip on the database, or less: BEGIN, their statements, one
call writing all three ledgers (:mod:`dualorm.runner.record`, every row count checked by the
server) and COMMIT go out as one query, several consecutive migrations' transactions in one
query when the runner chains them; PostgreSQL stops at the first error, so nothing of a failed
migration is committed, and nothing after it runs. Python steps, ``run_sql``, the first
ledger write of a run, and a batch that failed (run again to name the failing statement) go
step by step, one statement per round trip.

A migration holding a non-transactional step (``CREATE INDEX CONCURRENTLY``) must hold
nothing else: the step runs on its own, outside a transaction, and only then is the ledger
written. An INVALID index left by an earlier failure is dropped before the build is retried,
and an index already built by a run killed before its ledger write counts as built, so a
re-run always converges.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Sequence, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from psycopg import errors

from dualorm.db import redact_text
from dualorm.emit.script import Script
from dualorm.errors import ConfigError, DualormError, LedgerError, MigrationFailed
from dualorm.importpath import resolve_function
from dualorm.runner import foreign, ledger
from dualorm.runner.record import ELAPSED_MS, ledger_write
from dualorm.runner.schedule import Link, Planned, RunOptions
from dualorm.runner.tenancy import SHARED_OBJECTS_KEY, ledger_of
from dualorm.schema import DEFAULT_SCHEMA, as_key
from dualorm.spec.ops import CreateIndex, DropIndex
from dualorm.spec.sqlcheck import shared_use
from dualorm.spec.sqltext import quote_qualified

if TYPE_CHECKING:
    from dualorm.audit import RunContext
    from dualorm.runner.record import LedgerWrite
    from dualorm.spec.graph import MigrationGraph
    from dualorm.spec.model import Step

__all__ = ["DatabaseSink", "LockTimeout", "ScriptSink", "Sink"]


class LockTimeout(Exception):
    """A statement gave up waiting for a lock (``lock_timeout``); the migration may retry."""

    def __init__(self, statement: str, cause: str) -> None:
        self.statement = statement
        self.cause = cause
        super().__init__(cause)


class Sink(Protocol):
    """Where the loop sends each migration: a database, a script, a rolled-back dry run.

    For every planned migration the loop calls, in order: :meth:`transaction` around the
    transactional steps and the ledger write, :meth:`execute` per transactional step,
    :meth:`execute_alone` for a non-transactional step (outside any transaction, before the
    ledger transaction), and :meth:`record` inside the transaction. :meth:`execute` and
    :meth:`execute_alone` return the step's duration in ms, or ``None`` when it was skipped;
    they raise :class:`LockTimeout` to ask for a retry, or
    :class:`~dualorm.errors.MigrationFailed`.

    Before that, :meth:`execute_batch` may do all of it at once: the transaction, ``steps``
    (the transactional ones) and the ledger write, returning each step's duration in ms; it
    returns ``None`` (having done nothing) when the migration needs the step-by-step calls.
    :meth:`execute_chain` does the same for several consecutive migrations at once, each in
    its own transaction, and returns the step durations of those it committed (a prefix).
    After the last migration, whether the run succeeded or not, :meth:`finish` makes what
    was committed durable.
    """

    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def execute(self, step: Step, planned: Planned) -> float | None: ...

    def execute_alone(self, step: Step, planned: Planned) -> float | None: ...

    def record(
        self, planned: Planned, before: Set[str], after: Set[str], duration_ms: int
    ) -> None: ...

    def execute_batch(
        self,
        planned: Planned,
        steps: Sequence[Step],
        before: Set[str],
        after: Set[str],
        started: float,
    ) -> list[float] | None: ...

    def execute_chain(self, links: Sequence[Link]) -> list[list[float | None]]: ...

    def finish(self) -> None: ...


# -- executing against the database ----------------------------------------------------------------


class DatabaseSink:
    """Execute on ``conn`` (autocommit; the sink opens each transaction) and write the ledgers.

    Args:
        conn: the migration connection, in autocommit mode.
        graph: every known migration, to compute Alembic's heads.
        context: the run (who, correlation id) recorded in each ledger row.
        options: lock timeout, Django app label, python root.
    """

    def __init__(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        graph: MigrationGraph,
        context: RunContext,
        options: RunOptions | None = None,
    ) -> None:
        self.conn = conn
        self.graph = graph
        self.context = context
        self.options = options or RunOptions()
        self._foreign_ready = False
        self._stamped = False
        self._unflushed = False
        self.ledger = ledger_of(conn)
        current, params = ledger.record_current(self.ledger)
        row = conn.execute(
            f"SELECT set_config('lock_timeout', %s, false), {current}",
            (f"{self.options.lock_timeout_ms}ms", *params),
        ).fetchone()
        # A ledger made by an older dualorm has no record_migration function, or one that
        # times a chained migration from the start of the whole chain, until the next
        # `migrate up` replaces it; until then every migration goes step by step.
        self._checks_ready = bool(row and row[1])

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._transaction()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield
        # Committed: the foreign ledger tables this transaction made (if any) now exist.
        self._foreign_ready = self._foreign_ready or self._stamped

    def execute(self, step: Step, planned: Planned) -> float | None:
        started = time.perf_counter()
        if step.python is not None:
            self._call(step.python, planned)
        elif step.sql is not None:
            if self.ledger.tenant is not None and step.operation.opaque:
                self._share(step.sql, planned)
            self._sql(step.sql, planned)
        return (time.perf_counter() - started) * 1000

    def execute_alone(self, step: Step, planned: Planned) -> float | None:
        op = step.operation
        if isinstance(op, CreateIndex | DropIndex):
            valid = self._index_state(op.table, op.index.name)
            if isinstance(op, CreateIndex) and valid is False:
                # A failed or killed CREATE INDEX CONCURRENTLY leaves an INVALID index behind;
                # it must go before the build is retried.
                self._sql(f"DROP INDEX CONCURRENTLY IF EXISTS {self._index_ref(op)}", planned)
            elif isinstance(op, CreateIndex) and valid:
                return None
            elif isinstance(op, DropIndex) and valid is None:
                return None
        # A concurrent build blocks no writer, so a downtime budget's statement_timeout must
        # not cancel it half-way (leaving an INVALID index); it still waits under lock_timeout.
        self.conn.execute("SET statement_timeout = 0")
        try:
            return self.execute(step, planned)
        finally:
            self.conn.execute("RESET statement_timeout")

    def record(self, planned: Planned, before: Set[str], after: Set[str], duration_ms: int) -> None:
        for migration in (*planned.also, planned.migration):
            if planned.direction == "up":
                ledger.record_applied(
                    self.conn,
                    migration,
                    duration_ms=duration_ms if migration is planned.migration else 0,
                    applied_by=self.context.applied_by,
                    correlation_id=self.context.correlation_id,
                )
            else:
                ledger.record_removed(self.conn, migration.id)
        foreign.stamp(
            self.conn,
            self.graph,
            before,
            after,
            foreign.DjangoApps(self.options.django_app_label, self.options.django_apps),
            tables_exist=self._foreign_ready,
        )
        self._stamped = True

    def finish(self) -> None:
        """Wait until every migration this sink committed is on disk.

        Batched migrations commit without waiting for the WAL flush. A transaction that
        writes WAL and commits synchronously flushes it through its own commit record, so
        through every commit before it: here the one record is a transactional logical
        message (prefix ``dualorm``), which changes no table.
        """

        if not self._unflushed or self.conn.closed:
            return
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return
        with self.conn.transaction():
            self.conn.execute("SET LOCAL synchronous_commit = on")
            self.conn.execute(
                "SELECT pg_logical_emit_message(true, 'dualorm', %s)",
                (f"run {self.context.correlation_id} durable",),
            )
        self._unflushed = False

    def execute_batch(
        self,
        planned: Planned,
        steps: Sequence[Step],
        before: Set[str],
        after: Set[str],
        started: float,
    ) -> list[float] | None:
        """Run the migration's transaction in one round trip, COMMIT included.

        BEGIN, every statement (each followed by a read of the transaction's clock, which
        gives its duration; the last one's is read by the ledger write), the one statement
        writing all three ledgers (a call of ``dualorm.record_migration``, which checks
        each row count and raises on a wrong one) and COMMIT go out as one query (values
        bound by psycopg). PostgreSQL skips the rest of the query after an error, so COMMIT
        only runs when everything before it succeeded. When the batch fails it is rolled
        back and ``None`` is returned, so the step-by-step path runs the migration again and
        names the failing statement (a lock timeout of a one-statement migration is named at
        once; a wrong ledger count is a :class:`~dualorm.errors.LedgerError` at once). Python
        steps and ``run_sql`` (which may hold several statements), the first ledger write of
        a run (the foreign tables may not exist yet), a ledger without
        ``dualorm.record_migration``, and a connection already in a transaction (a
        rehearsal) go step by step.
        """

        offset_ms = int((time.perf_counter() - started) * 1000)
        unit = self._unit(planned, steps, before, after, offset_ms) if self._ready() else None
        if unit is None:
            return None
        try:
            clocks = self._send([unit])
        except errors.Error as exc:
            if exc.sqlstate == ledger.LEDGER_SQLSTATE:
                raise LedgerError(_cause(exc, sqlstate=False)) from None
            if isinstance(exc, errors.LockNotAvailable) and len(steps) == 1:
                raise LockTimeout(redact_text(steps[0].sql or ""), _cause(exc)) from None
            return None
        return _durations(clocks[0], len(steps))

    def execute_chain(self, links: Sequence[Link]) -> list[list[float | None]]:
        """Run consecutive migrations in one round trip, each in its own transaction.

        Every migration goes as in :meth:`execute_batch` (BEGIN, statements, ledger write,
        COMMIT), one after the other in one query; PostgreSQL commits each in turn and
        skips the rest of the query at the first error. Returns the step durations of the
        migrations committed, a prefix of ``links``: all of them, those before the first
        that cannot be batched, or, when one failed, those the ledger shows committed before
        it (their durations unmeasured, ``None``). The one that failed is rolled back and
        left to the caller, which runs it on its own to name the failure or retry it.
        """

        if not self._ready():
            return []
        units = []
        for link in links:
            # A non-transactional step must run alone, outside any transaction, first.
            if not link.planned.transactional:
                break
            unit = self._unit(link.planned, link.planned.steps, link.before, link.after, 0)
            if unit is None:
                break
            units.append(unit)
        if not units:
            return []
        try:
            clocks = self._send(units)
        except psycopg.Error:
            return self._committed(links[: len(units)])
        return [
            list(_durations(c, len(link.planned.steps)))
            for c, link in zip(clocks, links, strict=False)
        ]

    # -- helpers

    def _ready(self) -> bool:

        return (
            self._foreign_ready
            and self._checks_ready
            and self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        )

    def _unit(
        self,
        planned: Planned,
        steps: Sequence[Step],
        before: Set[str],
        after: Set[str],
        offset_ms: int,
    ) -> tuple[Sequence[Step], LedgerWrite] | None:
        """The steps and ledger write of one batched transaction, or ``None`` if it cannot be."""
        # A squash recording what it replaces writes several ledger rows: step by step.
        if planned.also or any(s.sql is None or s.operation.opaque for s in steps):
            return None
        write = ledger_write(
            planned.migration,
            planned.direction,
            self.graph,
            before,
            after,
            apps=foreign.DjangoApps(self.options.django_app_label, self.options.django_apps),
            applied_by=self.context.applied_by,
            correlation_id=self.context.correlation_id,
            offset_ms=offset_ms,
            lg=self.ledger,
        )
        return None if write is None else (steps, write)

    def _send(self, units: Sequence[tuple[Sequence[Step], LedgerWrite]]) -> list[list[object]]:
        """Send each unit's BEGIN, statements with a clock read after each, ledger write and
        COMMIT, all in one query; return each unit's clock values (the ledger write's last).

        A failure is rolled back and raised (everything before it in the query committed).
        """

        # Statements are separated by a newline before the semicolon, so a trailing line
        # comment cannot swallow it. Only the ledger calls carry values, bound one by one,
        # so the statements go out exactly as written. The COMMIT does not wait for its WAL
        # to reach disk; :meth:`finish` makes the whole run durable at once (a crash of the
        # server before then loses whole migrations, ledger rows with them, never part of one).
        binder = psycopg.ClientCursor(self.conn)
        parts: list[str] = []
        wanted: dict[int, int] = {}
        for number, (steps, write) in enumerate(units):
            # Each transaction's own start: now() is the same for all of them (see ledger).
            parts += [
                "BEGIN",
                f"SELECT set_config('synchronous_commit', 'off', true), {ledger.START_CLOCK}",
            ]
            for index, step in enumerate(steps):
                parts.append(step.sql or "")
                if index < len(steps) - 1:
                    wanted[len(parts)] = number
                    parts.append(f"SELECT {ELAPSED_MS}")
            wanted[len(parts)] = number
            parts.append(binder.mogrify(write.sql, write.params))
            parts.append("COMMIT")
        cursor = self.conn.cursor()
        try:
            cursor.execute("\n;\n".join(parts).encode())
        except BaseException:
            # Whatever stopped the query (an error, an interrupt) stopped it before the
            # COMMIT of the transaction it was in; the ones before it are committed.
            self._rollback()
            raise
        # Committed. One result per part, in order: keep the clock reads and ledger rows.
        self._stamped = True
        self._unflushed = True
        clocks: list[list[object]] = [[] for _ in units]
        index = 0
        while True:
            if index in wanted:
                row = cursor.fetchone()
                clocks[wanted[index]].append(row[0] if row else None)
            index += 1
            if not cursor.nextset():
                break
        return clocks

    def _committed(self, links: Sequence[Link]) -> list[list[float | None]]:
        """The prefix of ``links`` the ledger shows committed, durations unmeasured.

        When even that cannot be read (the connection is gone), nothing is reported: the
        next migration, run on its own, fails on the same connection and says why.
        """

        try:
            found = self.conn.execute(
                f"SELECT id FROM {self.ledger.migrations} WHERE id = ANY(%s)",
                ([link.planned.migration.id for link in links],),
            ).fetchall()
        except psycopg.Error:
            return []
        present = {str(row[0]) for row in found}
        done: list[list[float | None]] = []
        for link in links:
            if (link.planned.migration.id in present) != (link.planned.direction == "up"):
                break
            done.append([None] * len(link.planned.steps))
        if done:
            self._stamped = self._unflushed = True
        return done

    def _rollback(self) -> None:

        # The error that ended the batch is the one to report, never the rollback's.
        with contextlib.suppress(psycopg.Error):
            if not self.conn.closed and self.conn.info.transaction_status != (
                psycopg.pq.TransactionStatus.IDLE
            ):
                self.conn.execute(b"ROLLBACK")

    def _sql(self, text: str, planned: Planned) -> None:

        try:
            self.conn.execute(text.encode())
        except errors.LockNotAvailable as exc:
            raise LockTimeout(redact_text(text), _cause(exc)) from None
        except psycopg.Error as exc:
            raise MigrationFailed(planned.migration.id, redact_text(text), _cause(exc)) from None

    def _share(self, text: str, planned: Planned) -> None:
        """Before a tenant's statements on shared objects, wait for the other tenants' ones.

        See :mod:`dualorm.runner.tenancy`: the lock is held until this migration commits.
        """

        use = shared_use(text)
        if use.unplaced:
            raise MigrationFailed(
                planned.migration.id,
                redact_text(use.unplaced[0]),
                f"the tenant {self.ledger.tenant!r} would get the extension in its own schema, "
                "where the other tenants do not see it; name the schema (SCHEMA public)",
            )
        if use.statements:
            self._sql(f"SELECT pg_advisory_xact_lock({SHARED_OBJECTS_KEY})", planned)

    def _call(self, target: str, planned: Planned) -> None:
        root = self.options.python_root
        added = root is not None and str(root) not in sys.path
        if added:
            sys.path.insert(0, str(root))
        try:
            resolve_function(target)(self.conn)
        except ConfigError as exc:
            raise MigrationFailed(planned.migration.id, f"python {target}", str(exc)) from None
        except DualormError:
            raise
        except Exception as exc:
            if isinstance(exc, errors.LockNotAvailable):
                raise LockTimeout(f"python {target}", _cause(exc)) from None
            cause = (
                _cause(exc) if isinstance(exc, psycopg.Error) else f"{type(exc).__name__}: {exc}"
            )
            raise MigrationFailed(planned.migration.id, f"python {target}", cause) from None
        finally:
            if added:
                sys.path.remove(str(root))

    def _home(self, schema_name: str) -> str:
        """The schema an unqualified (``public``) name of a spec lands in on this target."""
        tenant = self.ledger.tenant
        return tenant if tenant is not None and schema_name == DEFAULT_SCHEMA else schema_name

    def _index_state(self, table: str, name: str) -> bool | None:
        schema_name = self._home(as_key(table)[0])
        row = self.conn.execute(
            "SELECT i.indisvalid FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE n.nspname = %s AND c.relname = %s",
            (schema_name, name),
        ).fetchone()
        return None if row is None else bool(row[0])

    def _index_ref(self, op: Any) -> str:
        return quote_qualified(self._home(as_key(op.table)[0]), op.index.name)


def _cause(exc: BaseException, *, sqlstate: bool = True) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    lines = str(exc).strip().splitlines()
    text = primary or (lines[0] if lines else type(exc).__name__)
    state = getattr(exc, "sqlstate", None) if sqlstate else None
    return redact_text(f"{text} (SQLSTATE {state})" if state else text)


def _durations(clocks: Sequence[object], count: int) -> list[float]:
    """Each statement's duration from the clock read after it (ms since BEGIN)."""
    durations, previous = [], 0.0
    for value in clocks[-count:] if count else []:
        elapsed = float(value) if isinstance(value, float | int) else previous
        durations.append(max(elapsed - previous, 0.0))
        previous = elapsed
    return durations


# -- writing a script ------------------------------------------------------------------------------


@dataclass
class ScriptSink:
    """Write the run as a psql script instead of executing it; the ledgers appear as comments.

    Nothing touches a database: :attr:`text` is what ``psql -f`` would run, written by the one
    script writer (:class:`dualorm.emit.script.Script`).
    """

    lock_timeout_ms: int = 5000
    script: Script = field(default_factory=Script)

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._transaction()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.script.begin(self.lock_timeout_ms)
        yield
        self.script.commit()

    def execute(self, step: Step, planned: Planned) -> float | None:
        self.script.step(step)
        return 0.0

    def execute_alone(self, step: Step, planned: Planned) -> float | None:
        self.script.comment(f"{planned.migration.id}: runs outside a transaction")
        return self.execute(step, planned)

    def record(self, planned: Planned, before: Set[str], after: Set[str], duration_ms: int) -> None:
        verb = "record" if planned.direction == "up" else "remove"
        ids = ", ".join(m.id for m in (*planned.also, planned.migration))
        self.script.comment(
            f"{verb} {ids} in dualorm.migrations, alembic_version and django_migrations"
        )

    def execute_batch(
        self,
        planned: Planned,
        steps: Sequence[Step],
        before: Set[str],
        after: Set[str],
        started: float,
    ) -> list[float] | None:
        return None

    def execute_chain(self, links: Sequence[Link]) -> list[list[float | None]]:
        return []

    def finish(self) -> None:
        return None

    @property
    def text(self) -> str:
        return self.script.text
