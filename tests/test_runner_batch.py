"""The runner's batched path (statements and ledger write in one round trip) on a real server.

Every migration after the first of a run goes through it, so these tests fail a later one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from runner_specs import applied_ids, chain, project, snapshot, write_spec

from dualorm import api
from dualorm.db import connection
from dualorm.errors import MigrationFailed
from dualorm.runner.runner import Event, RunOptions


def test_a_failing_statement_in_a_later_migration_is_named_and_changes_nothing(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 1)
    api.migrate_up(config)
    with connection(database_url, autocommit=True) as conn:
        conn.execute("CREATE INDEX t1_label_idx ON t1 (label)")
    write_spec(tmp_path, "0002_col", [ids[0]], "  - add_column: {table: t1, name: x, type: text}\n")
    write_spec(
        tmp_path,
        "0003_idx",
        ["0002_col"],
        "  - add_column: {table: t1, name: y, type: text}\n"
        "  - create_index: {name: t1_label_idx, table: t1, columns: [label]}\n",
    )
    with pytest.raises(MigrationFailed) as failure:
        api.migrate_up(config)
    assert failure.value.statement.startswith('CREATE INDEX "t1_label_idx"')
    assert "already exists" in str(failure.value)
    state = snapshot(database_url)
    assert [r[0] for r in state["dualorm"]] == [ids[0], "0002_col"]
    assert state["alembic"] == [("0002_col",)]
    assert state["django"] == [("django_app", ids[0]), ("django_app", "0002_col")]
    t1 = next(t for t in state["catalog"] if t.name == "t1")
    assert t1.column("x") is not None and t1.column("y") is None
    assert api.migrate_status(config).ledgers_agree


def test_statements_of_a_batched_migration_report_their_durations(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    chain(tmp_path, 3)
    events: list[Event] = []
    api.migrate_up(config, progress=events.append)
    statements = [e for e in events if e.kind == "statement"]
    assert {e.migration_id for e in statements} == {e.migration_id for e in events}
    assert all(e.duration_ms is not None and e.duration_ms >= 0 for e in statements)
    rows = snapshot(database_url)["dualorm"]
    assert len(rows) == 3


def test_lock_timeout_in_a_later_migration_is_retried_then_fails(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 1)
    api.migrate_up(config)
    write_spec(
        tmp_path,
        "0002_free",
        [ids[0]],
        "  - create_table: {name: t9, columns: [{name: id, type: bigint, primary_key: true}]}\n",
    )
    write_spec(
        tmp_path, "0003_col", ["0002_free"], "  - add_column: {table: t1, name: x, type: text}\n"
    )
    options = RunOptions(lock_timeout_ms=100, retries=1, backoff_s=0.01)
    events: list[str] = []
    with connection(database_url) as blocker:
        blocker.execute("LOCK TABLE t1 IN ACCESS SHARE MODE")
        with pytest.raises(MigrationFailed, match="lock_timeout 100 ms, 2 attempts") as failure:
            api.migrate_up(config, options=options, progress=lambda e: events.append(e.kind))
        blocker.rollback()
    assert failure.value.statement.startswith('ALTER TABLE "t1" ADD COLUMN "x"')
    assert events.count("lock_timeout_retry") == 1
    assert applied_ids(database_url) == [ids[0], "0002_free"]
    api.migrate_up(config, options=options)
    assert applied_ids(database_url) == [ids[0], "0002_free", "0003_col"]


def test_an_early_failure_in_a_long_batch_is_named_and_nothing_else_is_reported(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 2)
    api.migrate_up(config, to=ids[0])
    with connection(database_url, autocommit=True) as conn:
        conn.execute("CREATE INDEX t1_early_idx ON t1 (label)")
    columns = "".join(
        f"  - add_column: {{table: t1, name: c{i}, type: text}}\n" for i in range(400)
    )
    write_spec(
        tmp_path,
        "0003_long",
        [ids[1]],
        "  - create_index: {name: t1_early_idx, table: t1, columns: [label]}\n" + columns,
    )
    with pytest.raises(MigrationFailed) as failure:
        api.migrate_up(config)
    assert failure.value.statement.startswith('CREATE INDEX "t1_early_idx"')
    assert not [r for r in caplog.records if r.name.startswith("psycopg")]
    assert applied_ids(database_url) == ids


def test_a_percent_sign_in_a_batched_statement_reaches_the_server_unchanged(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 2)
    write_spec(
        tmp_path,
        "0003_check",
        [ids[1]],
        "  - add_check: {table: t1, name: t1_label_like, expression: \"label LIKE '%a%'\"}\n",
    )
    assert api.migrate_up(config).done == (*ids, "0003_check")
    with connection(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 't1_label_like'"
        ).fetchone()
    assert row is not None and "'%a%'" in str(row[0])
