"""Durability: what a run reports applied survives a crash of the server right after it.

Batched migrations commit without waiting for their WAL flush; the runner flushes once at the
end of the run (``Sink.finish``), on success and on failure. A private server with a slow WAL
writer is stopped the way a power cut would stop it (``pg_ctl -m immediate``) right after the
run returns; after WAL replay, every migration the run committed is there, ledgers included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from project_files import project
from runner_specs import applied_ids, chain, snapshot, write_spec

from dualorm import api
from dualorm.errors import MigrationFailed
from dualorm.runner import pipeline
from dualorm.testing import Cluster, private_cluster

COUNT = 30


@pytest.fixture
def server() -> Iterator[Cluster]:
    # The WAL writer would otherwise write the last commits out within 200 ms by itself.
    with private_cluster("wal_writer_delay = 10s\n") as cluster:
        yield cluster


@pytest.fixture
def without_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    """No audit row after the run: its synchronous commit would flush the WAL too."""
    monkeypatch.setattr(pipeline, "record_run", lambda *args, **kwargs: None)


def test_every_migration_of_a_run_survives_a_crash_right_after_it(
    tmp_path: Path, server: Cluster, without_audit: None
) -> None:
    config = project(tmp_path, server.url)
    ids = chain(tmp_path, COUNT)
    assert api.migrate_up(config).done == tuple(ids)
    server.crash()
    server.start()
    assert applied_ids(server.url) == ids
    state = snapshot(server.url)
    assert {t.name for t in state["catalog"]} == {f"t{i}" for i in range(1, COUNT + 1)}
    assert state["alembic"] == [(ids[-1],)]
    assert [name for _, name in state["django"]] == ids


def test_what_a_failed_run_committed_survives_a_crash_right_after_it(
    tmp_path: Path, server: Cluster, without_audit: None
) -> None:
    config = project(tmp_path, server.url)
    ids = chain(tmp_path, COUNT)
    failing = "  - run_sql: {sql: 'SELECT 1 / 0', reverse_sql: 'SELECT 1'}\n"
    write_spec(tmp_path, "9999_bad", [ids[-1]], failing)
    with pytest.raises(MigrationFailed, match="division by zero"):
        api.migrate_up(config)
    server.crash()
    server.start()
    assert applied_ids(server.url) == ids
    assert [name for _, name in snapshot(server.url)["django"]] == ids


def test_a_rollback_run_survives_a_crash_right_after_it(
    tmp_path: Path, server: Cluster, without_audit: None
) -> None:
    config = project(tmp_path, server.url)
    ids = chain(tmp_path, COUNT)
    api.migrate_up(config)
    assert api.migrate_down(config, steps=COUNT - 1).done == tuple(reversed(ids[1:]))
    server.crash()
    server.start()
    assert applied_ids(server.url) == ids[:1]
