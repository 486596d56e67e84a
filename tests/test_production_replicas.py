"""A production run against a real streaming replica: the plan reports the replica, the run
waits until it has replayed the migration with the primary's catalog, and a replica that stops
replaying is reported as lagging after the bounded wait without failing the migration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from project_files import spec_project

from dualorm.config import Config, Environment
from dualorm.db import connect
from dualorm.replicas import compare_replicas, schema_fingerprint, wait_for_replicas
from dualorm.runner.production.migrator import ProductionMigrator
from dualorm.testing import streaming_pair

BASE = """\
id: "0001_base"
name: base
dependencies: []
operations:
  - create_table:
      name: ledger_entries
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: amount, type: "numeric(12,2)", nullable: false}
"""

NOTE = """\
id: "0002_note"
name: note
dependencies: ["0001_base"]
operations:
  - add_column: {table: ledger_entries, name: note, type: text}
"""


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[str, str]]:
    with streaming_pair() as urls:
        yield urls


def project(root: Path, primary: str, replica: str, *specs: tuple[str, str]) -> Config:
    """A production project holding ``specs`` whose primary streams to ``replica``."""
    return spec_project(
        root, primary, *specs, environment=Environment.PRODUCTION, replica_urls=(replica,)
    )


def has_column(url: str, table: str, column: str) -> bool:
    with connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = %s",
            (table, column),
        ).fetchone()
    return row == (1,)


def test_production_run_waits_for_the_replica_then_lagging_replica_is_reported(
    tmp_path: Path, pair: tuple[str, str]
) -> None:
    primary, replica = pair
    config = project(tmp_path, primary, replica, ("0001_base", BASE))
    migrator = ProductionMigrator(config, assume_yes=True, replica_timeout=30)

    plan = migrator.create_migration_plan()
    (seen,) = plan.replicas
    assert seen.reachable and seen.in_recovery

    result = migrator.execute_production_migration(backup_before_migration=False)
    assert result.applied == ("0001_base",)
    (status,) = result.replicas
    assert status.caught_up
    with connect(primary, autocommit=True) as conn:
        assert status.fingerprint == schema_fingerprint(conn)
    assert has_column(replica, "ledger_entries", "amount")

    # The replica stops replaying: the next run applies, waits its bounded time, and reports.
    with connect(replica, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        project(tmp_path, primary, replica, ("0002_note", NOTE))
        slow = ProductionMigrator(config, assume_yes=True, replica_timeout=1)
        result = slow.execute_production_migration(backup_before_migration=False)
        assert result.applied == ("0002_note",)
        (status,) = result.replicas
        assert status.reachable and not status.caught_up
        assert status.lag_bytes is not None and status.lag_bytes > 0
        assert has_column(primary, "ledger_entries", "note")
        assert not has_column(replica, "ledger_entries", "note")
    finally:
        with connect(replica, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    # Once replaying again it catches up with the primary's catalog.
    assert [s.caught_up for s in wait_for_replicas(primary, [replica], timeout=30)] == [True]
    assert [s.caught_up for s in compare_replicas(primary, [replica])] == [True]
    assert has_column(replica, "ledger_entries", "note")
