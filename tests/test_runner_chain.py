"""Chained runs: consecutive migrations sent together, each in its own transaction.

A long run goes to the database a chain at a time; these tests fail a migration inside a
chain, hold a lock one of its migrations needs, stop a run from its progress callback with
chaining off, and leave a killed runner's query running when the next runner starts.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from project_files import project
from runner_specs import applied_ids, chain, snapshot, table_ops, write_spec

from dualorm import api
from dualorm.db import connection
from dualorm.errors import MigrationFailed
from dualorm.runner.locks import SESSION_LOCK_KEY
from dualorm.runner.schedule import Event, RunOptions

COUNT = 40


def test_every_migration_of_a_chained_run_is_reported_in_order_with_its_durations(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, COUNT)
    events: list[Event] = []
    result = api.migrate_up(config, progress=events.append)
    assert result.done == tuple(ids)
    assert [e.migration_id for e in events if e.kind == "migration_start"] == ids
    done = [e for e in events if e.kind == "migration_done"]
    assert [e.migration_id for e in done] == ids
    assert all(e.duration_ms is not None and e.duration_ms >= 0 for e in done)
    assert all(o.duration_ms is not None and o.statements for o in result.outcomes)
    state = snapshot(database_url)
    assert [r[0] for r in state["dualorm"]] == ids
    assert state["alembic"] == [(ids[-1],)]
    assert [name for _, name in state["django"]] == ids
    assert api.migrate_status(config).ledgers_agree
    # ... and back down, chained the same way.
    assert api.migrate_down(config, to=ids[0]).done == tuple(reversed(ids[1:]))
    assert applied_ids(database_url) == ids[:1]
    assert api.migrate_status(config).ledgers_agree


def test_a_failure_inside_a_chain_keeps_what_came_before_and_names_the_statement(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, COUNT)
    with connection(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t25 (id bigint)")
    with pytest.raises(MigrationFailed) as failure:
        api.migrate_up(config)
    assert failure.value.migration_id == ids[24]
    assert failure.value.statement.startswith('CREATE TABLE "t25"')
    assert "already exists" in str(failure.value)
    assert applied_ids(database_url) == ids[:24]
    state = snapshot(database_url)
    assert {t.name for t in state["catalog"]} == {f"t{i}" for i in range(1, 26)}
    assert state["alembic"] == [(ids[23],)]
    assert [name for _, name in state["django"]] == ids[:24]
    with connection(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE t25")
    assert api.migrate_up(config).done == tuple(ids[24:])


def test_a_lock_held_on_a_chained_migration_is_waited_for_alone_and_retried(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, COUNT)
    api.migrate_up(config)
    names = [f"{i + 100:04d}_col{i}" for i in range(1, 21)]
    for index, name in enumerate(names):
        table = "t1" if index == 9 else f"t{index + 2}"
        write_spec(
            tmp_path,
            name,
            [names[index - 1] if index else ids[-1]],
            f"  - add_column: {{table: {table}, name: extra, type: text}}\n",
        )
    events: list[str] = []
    options = RunOptions(lock_timeout_ms=100, retries=1, backoff_s=0.01)
    with connection(database_url) as blocker:
        blocker.execute("LOCK TABLE t1 IN ACCESS SHARE MODE")
        with pytest.raises(MigrationFailed, match="lock_timeout 100 ms, 2 attempts") as failure:
            api.migrate_up(config, options=options, progress=lambda e: events.append(e.kind))
        blocker.rollback()
    assert failure.value.migration_id == names[9]
    assert events.count("lock_timeout_retry") == 1
    assert applied_ids(database_url) == [*ids, *names[:9]]
    assert api.migrate_up(config, options=options).done == tuple(names[9:])
    assert api.migrate_status(config).ledgers_agree


def test_without_chaining_a_progress_callback_stops_the_run_before_the_next_migration(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 12)

    class Stop(Exception):
        pass

    def stop_at_eighth(event: Event) -> None:
        if event.kind == "migration_start" and event.migration_id == ids[7]:
            raise Stop

    with pytest.raises(Stop):
        api.migrate_up(config, options=RunOptions(chain=1), progress=stop_at_eighth)
    assert applied_ids(database_url) == ids[:7]


def test_a_runner_waits_while_a_killed_runners_query_still_runs(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 3)
    outcome: list[object] = []
    # What a killed runner leaves behind: its migration connection, still holding its lock.
    with connection(database_url, autocommit=True) as orphan:
        orphan.execute("SELECT pg_advisory_lock(%s)", (SESSION_LOCK_KEY,))
        runner = threading.Thread(target=lambda: outcome.append(api.migrate_up(config)))
        runner.start()
        runner.join(timeout=1.0)
        assert runner.is_alive()
        assert snapshot(database_url)["dualorm"] == []
    runner.join(timeout=60)
    assert not runner.is_alive()
    assert applied_ids(database_url) == ids


def test_each_chained_migration_is_timed_from_its_own_start(
    tmp_path: Path, database_url: str
) -> None:
    # A chain goes out as one query, where now() is the same for every transaction in it:
    # the migration after a slow one must not be charged with the slow one's time.
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 2)
    api.migrate_up(config, to=ids[0])
    with connection(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO t1 (id, label) VALUES (1, 'one')")
        conn.execute(
            "CREATE FUNCTION slow_true() RETURNS boolean LANGUAGE sql "
            "AS 'SELECT true FROM pg_sleep(0.3)'"
        )
    # The run's first migration goes on its own; the slow check and the next one are chained.
    write_spec(
        tmp_path,
        "0003_slow",
        [ids[1]],
        "  - add_check: {table: t1, name: t1_slow, expression: slow_true()}\n",
    )
    write_spec(tmp_path, "0004_after", ["0003_slow"], table_ops("t4"))
    events: list[Event] = []
    result = api.migrate_up(config, progress=events.append)
    assert result.done == (ids[1], "0003_slow", "0004_after")
    reported = {e.migration_id: e.duration_ms for e in events if e.kind == "migration_done"}
    with connection(database_url, autocommit=True) as conn:
        recorded = dict(conn.execute("SELECT id, duration_ms FROM dualorm.migrations").fetchall())
    assert recorded["0003_slow"] >= 250
    assert reported["0003_slow"] is not None and reported["0003_slow"] >= 250
    assert recorded["0004_after"] < 200
    assert reported["0004_after"] is not None and reported["0004_after"] < 200
