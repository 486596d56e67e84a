"""The migration lock: a session-level advisory lock on a dedicated connection.

Only one runner migrates, seeds or resets a database at a time: ``migrate``, ``seed`` and
``reset`` all take this one lock (:func:`command_lock` for the commands other than migrate),
so they wait for each other the same way, name each other while waiting, and refuse the same
way under ``--no-wait``. The lock is taken with
``pg_try_advisory_lock`` in a loop rather than a blocking ``pg_advisory_lock``: a blocked
lock request is a waiting transaction, and ``CREATE INDEX CONCURRENTLY`` run by the holder
waits for every older transaction to end, so a blocking waiter would deadlock against it (the
failure Flyway, goose and golang-migrate ran into). Between attempts the waiting connection is
idle, outside any transaction.

The lock lives on its own autocommit connection whose ``application_name`` carries the
command, the run's correlation id and host (``dualorm-seed <id> <host>``), so
:func:`lock_holder` can name the holder from ``pg_locks`` and ``pg_stat_activity``. A killed
runner's lock dies with its connection: there is no lock row to go stale.

The keys are the ledger's (:class:`~dualorm.runner.tenancy.Ledger`): one fixed key for a
single database, a key per ledger schema for a tenant schema, so tenants of one database
migrate at once and each tenant is migrated by one runner at a time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

import psycopg

from dualorm.audit import current_host, new_correlation_id
from dualorm.db import connect
from dualorm.errors import LockHeld
from dualorm.runner.ledger import ADVISORY_LOCK_KEY
from dualorm.runner.tenancy import Ledger, ledger_for, ledger_of, tenant_of

__all__ = [
    "APPLICATION_PREFIX",
    "LockHolder",
    "LockWait",
    "MigrationLock",
    "claim_session",
    "command_lock",
    "lock_holder",
]

APPLICATION_PREFIX = "dualorm-migrate"
# Every lock connection's application_name starts with this and the command's name.
_COMMAND_PREFIX = "dualorm-"
# Held by a runner's migration connection for as long as it lives (see claim_session);
# the single database's (a tenant's: its Ledger.session_key).
SESSION_LOCK_KEY = ADVISORY_LOCK_KEY + 2
# PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes.
_APPLICATION_NAME_MAX = 63


def _lock_ids(key: int) -> tuple[int, int]:
    """pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32
    bits), with objsubid 1."""
    return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF


_HOLDER_SQL = """
SELECT a.pid, a.application_name, host(a.client_addr), a.usename, a.backend_start
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s AND l.objid = %s AND l.objsubid = 1
LIMIT 1
"""


@dataclass(frozen=True)
class LockHolder:
    """The runner holding the migration lock, as the server sees it.

    ``command`` is the dualorm command holding it (``migrate``, ``seed``, ``reset``), or
    ``None`` for a connection that is not a dualorm lock connection.
    """

    pid: int
    correlation_id: str | None
    host: str | None
    user: str | None
    since: datetime | None
    application_name: str
    command: str | None = None

    def describe(self) -> str:
        parts = [f"pid {self.pid}"]
        if self.command:
            parts.append(f"dualorm {self.command}")
        if self.host:
            parts.append(f"host {self.host}")
        if self.user:
            parts.append(f"user {self.user}")
        if self.correlation_id:
            parts.append(f"correlation id {self.correlation_id}")
        if self.since:
            parts.append(f"since {self.since.isoformat(timespec='seconds')}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "correlation_id": self.correlation_id,
            "host": self.host,
            "user": self.user,
            "since": self.since.isoformat() if self.since else None,
            "application_name": self.application_name,
            "command": self.command,
        }


LockWait = Callable[[LockHolder | None], None]
"""Called with the holder (``None`` when it vanished) each time it changes while waiting."""


def application_name(correlation_id: str, host: str, command: str = "migrate") -> str:
    """Return the ``application_name`` of a lock connection: command, correlation id, host."""
    return f"{_COMMAND_PREFIX}{command} {correlation_id} {host}"[:_APPLICATION_NAME_MAX]


def lock_holder(conn: psycopg.Connection[tuple[object, ...]]) -> LockHolder | None:
    """Return who holds the migration lock of ``conn``'s target (database or tenant)."""
    row = conn.execute(_HOLDER_SQL, _lock_ids(ledger_of(conn).lock_key)).fetchone()
    if row is None:
        return None
    pid, app, client_addr, user, started = row
    app_name = str(app or "")
    correlation_id = host = command = None
    words = app_name.split(" ")
    if len(words) >= 2 and words[0].startswith(_COMMAND_PREFIX):
        command = words[0].removeprefix(_COMMAND_PREFIX) or None
        correlation_id = words[1]
        host = words[2] if len(words) > 2 else None
    return LockHolder(
        pid=int(pid),  # type: ignore[call-overload]
        correlation_id=correlation_id,
        host=host or (str(client_addr) if client_addr else "local socket"),
        user=str(user) if user else None,
        since=started if isinstance(started, datetime) else None,
        application_name=app_name,
        command=command,
    )


class MigrationLock:
    """Hold the migration lock for a ``with`` block.

    Args:
        url: the database to lock (a tenant's URL locks that tenant only).
        correlation_id: the run's id, shown to other runners through ``application_name``.
        host: this machine's name, shown with it.
        wait: keep trying until the lock is free; ``False`` raises
            :class:`~dualorm.errors.LockHeld` at once when another runner holds it.
        on_wait: called with the holder whenever it changes while this runner waits.
        timeout: give up waiting after this many seconds (``LockHeld``); ``None`` waits on.
        poll: first pause between attempts; it doubles up to ``max_poll``.
        command: the dualorm command taking it, shown to the others (``migrate``, ``seed``).
    """

    def __init__(
        self,
        url: str,
        correlation_id: str,
        host: str,
        *,
        wait: bool = True,
        on_wait: LockWait | None = None,
        timeout: float | None = None,
        poll: float = 0.05,
        max_poll: float = 1.0,
        command: str = "migrate",
    ) -> None:
        self.url = url
        self.correlation_id = correlation_id
        self.host = host
        self.wait = wait
        self.on_wait = on_wait
        self.timeout = timeout
        self.poll = poll
        self.max_poll = max_poll
        self.command = command
        self.ledger: Ledger = ledger_for(tenant_of(url))
        self.conn: psycopg.Connection[tuple[object, ...]] | None = None

    def acquire(self) -> None:
        """Take the lock, waiting (polling) or refusing as configured."""
        conn = connect(
            self.url,
            autocommit=True,
            application_name=application_name(self.correlation_id, self.host, self.command),
        )
        try:
            self._loop(conn)
        except BaseException:
            conn.close()
            raise
        self.conn = conn

    def _loop(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        pause = self.poll
        reported: int | None = -1
        while True:
            if _try_lock(conn, self.ledger.lock_key):
                return
            holder = lock_holder(conn)
            if not self.wait or (deadline is not None and time.monotonic() >= deadline):
                raise LockHeld(holder.describe() if holder else "a runner that just finished")
            pid = holder.pid if holder else None
            if pid != reported and self.on_wait is not None:
                self.on_wait(holder)
            reported = pid
            time.sleep(pause)
            pause = min(pause * 2, self.max_poll)

    def release(self) -> None:
        """Release the lock and close its connection (closing alone would release it too)."""
        conn, self.conn = self.conn, None
        if conn is None:
            return

        # A broken connection has lost the lock already; its error must not hide the one
        # that ended the run.
        with contextlib.suppress(psycopg.Error):
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.ledger.lock_key,))
        conn.close()

    def __enter__(self) -> MigrationLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def command_lock(
    url: str, command: str, *, wait: bool = True, on_wait: LockWait | None = None
) -> MigrationLock:
    """Return the migration lock for ``command`` (``seed``, ``reset``) under a fresh id.

    The commands that write outside the migration runner take the same lock the same way:
    polled, so a waiting seed never holds a transaction (or a snapshot) open that a
    concurrent ``CREATE INDEX CONCURRENTLY`` of the holder would wait for (issue 12).
    """

    return MigrationLock(
        url, new_correlation_id(), current_host(), wait=wait, on_wait=on_wait, command=command
    )


def claim_session(
    conn: psycopg.Connection[tuple[object, ...]], *, poll: float = 0.02, max_poll: float = 0.5
) -> None:
    """Take the migration connection's own lock, waiting while an earlier one still holds it.

    A runner killed in the middle of a query loses the migration lock at once (its lock
    connection closes with it), but the server finishes (or fails) the query the killed
    runner's migration connection sent, several migrations long when they were chained, before
    it notices the client is gone. The next runner must not start beside it: every migration
    connection holds this session lock while it lives, and a new one waits for it. Taken with
    ``pg_try_advisory_lock`` in a loop, for the reason the migration lock is.
    """
    pause = poll
    key = ledger_of(conn).session_key
    while not _try_lock(conn, key):
        time.sleep(pause)
        pause = min(pause * 2, max_poll)


def _try_lock(conn: psycopg.Connection[tuple[object, ...]], key: int) -> bool:
    """One ``pg_try_advisory_lock``: a session lock, never a waiting transaction."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])
