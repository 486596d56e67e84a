"""Read replicas on a real streaming pair: lag, catching up after DDL, fingerprints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dualorm.db import connect
from dualorm.errors import ReplicaLagging
from dualorm.replicas import (
    check_replicas,
    compare_replicas,
    wait_for_replicas,
)
from dualorm.testing import streaming_pair


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[str, str]]:
    with streaming_pair() as urls:
        yield urls


def test_replica_is_reachable_and_in_recovery(pair: tuple[str, str]) -> None:
    primary, replica = pair
    (status,) = check_replicas(primary, [replica])
    assert status.reachable and status.in_recovery
    assert status.lag_bytes is not None


def test_wait_sees_ddl_replayed_with_equal_catalog(pair: tuple[str, str]) -> None:
    primary, replica = pair
    with connect(primary, autocommit=True) as conn:
        conn.execute("CREATE TABLE replicated (id bigint PRIMARY KEY, note text)")
    (status,) = wait_for_replicas(primary, [replica], timeout=30)
    assert status.caught_up
    with connect(replica, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('replicated') IS NOT NULL").fetchone() == (True,)
    (compared,) = compare_replicas(primary, [replica])
    assert compared.caught_up and compared.fingerprint == status.fingerprint


def test_unreachable_replica_is_reported_without_password(pair: tuple[str, str]) -> None:
    primary, _ = pair
    gone = "postgresql://postgres:hunter2@127.0.0.1:9/postgres"
    (status,) = check_replicas(primary, [gone])
    assert not status.reachable
    assert "hunter2" not in repr(status)
    with pytest.raises(ReplicaLagging) as info:
        wait_for_replicas(primary, [gone], timeout=1)
    assert "hunter2" not in str(info.value)
