"""Read replicas: reachability, replay lag, catching up after a migration, schema fingerprints.

``DATABASE_REPLICA_URLS`` names streaming replicas of the primary (URLs or keyword connection
strings, split as :func:`dualorm.config.split_replica_urls` says: a comma inside a password
stays in it). Before a production run the plan reports each replica's state; after
migrating, :func:`wait_for_replicas` waits (bounded) until every replica has replayed past the
primary's WAL position at the end of the migration and its catalog fingerprint equals the
primary's. ``dualorm validate --replicas`` uses :func:`compare_replicas` at any time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from dualorm.db import connect, redact
from dualorm.errors import DualormError, ReplicaLagging
from dualorm.target_catalog import load_target

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class ReplicaStatus:
    """What one replica looked like when asked. ``url`` is always redacted."""

    url: str
    reachable: bool
    in_recovery: bool | None = None
    replay_lsn: str | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    fingerprint: str | None = None
    caught_up: bool | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def schema_fingerprint(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """Return a sha256 over the catalog as dualorm reads it (tables, columns, indexes...);
    a tenant's connection reads its tenant schema (:mod:`dualorm.target_catalog`)."""

    return hashlib.sha256(repr(load_target(conn)).encode()).hexdigest()


def _lsn(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def replica_status(
    url: str, *, target_lsn: str | None = None, fingerprint: bool = False
) -> ReplicaStatus:
    """Ask one replica where it is; an unreachable replica is reported, not raised."""
    try:
        conn = connect(url, autocommit=True)
    except DualormError as exc:
        return ReplicaStatus(url=redact(url), reachable=False, error=str(exc))
    with conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
            "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, "
            "CASE WHEN %(t)s::text IS NULL THEN NULL "
            "ELSE pg_wal_lsn_diff(%(t)s::pg_lsn, pg_last_wal_replay_lsn())::bigint END",
            {"t": target_lsn},
        ).fetchone()
        assert row is not None
        in_recovery, replay_lsn, lag_seconds, lag_bytes = row
        lag = int(str(lag_bytes)) if lag_bytes is not None else None
        return ReplicaStatus(
            url=redact(url),
            reachable=True,
            in_recovery=bool(in_recovery),
            replay_lsn=str(replay_lsn) if replay_lsn is not None else None,
            lag_bytes=lag,
            lag_seconds=float(str(lag_seconds)) if lag_seconds is not None else None,
            fingerprint=schema_fingerprint(conn) if fingerprint else None,
            caught_up=None if lag is None else lag <= 0,
        )


def check_replicas(primary_url: str, urls: Sequence[str]) -> list[ReplicaStatus]:
    """Report every replica's reachability and lag against the primary's current WAL."""
    with connect(primary_url, autocommit=True) as primary:
        target = _lsn(primary)
    return [replica_status(url, target_lsn=target) for url in urls]


def wait_for_replicas(
    primary_url: str, urls: Sequence[str], *, timeout: float = 60.0, poll: float = 0.1
) -> list[ReplicaStatus]:
    """Wait until each replica replays past the primary's current WAL and matches its catalog.

    Raises ``ReplicaLagging`` naming the replicas that were not there when ``timeout`` ran out
    (a reachable replica is waited for; an unreachable one fails at once).
    """
    with connect(primary_url, autocommit=True) as primary:
        target = _lsn(primary)
        expected = schema_fingerprint(primary)
    deadline = time.monotonic() + timeout
    pending = list(urls)
    done: list[ReplicaStatus] = []
    while True:
        still: list[str] = []
        lagging: list[ReplicaStatus] = []
        for url in pending:
            status = replica_status(url, target_lsn=target)
            if status.reachable and status.caught_up:
                status = replica_status(url, target_lsn=target, fingerprint=True)
                if status.fingerprint == expected:
                    done.append(status)
                    continue
            if not status.reachable:
                raise ReplicaLagging([status])
            still.append(url)
            lagging.append(status)
        if not still:
            return done
        if time.monotonic() >= deadline:
            raise ReplicaLagging(lagging)
        pending = still
        time.sleep(poll)


def compare_replicas(primary_url: str, urls: Sequence[str]) -> list[ReplicaStatus]:
    """Return each replica's status with ``caught_up`` meaning "catalog equals the primary's"."""
    with connect(primary_url, autocommit=True) as primary:
        target = _lsn(primary)
        expected = schema_fingerprint(primary)
    result = []
    for url in urls:
        status = replica_status(url, target_lsn=target, fingerprint=True)
        if status.reachable:
            status = ReplicaStatus(
                **{**status.to_dict(), "caught_up": status.fingerprint == expected}
            )
        result.append(status)
    return result
