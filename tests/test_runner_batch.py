"""The runner's batched path (statements, ledger write and COMMIT in one round trip).

Every migration after the first of a run goes through it, so these tests fail a later one.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import psycopg
import pytest
from project_files import project
from runner_specs import applied_ids, chain, snapshot, write_spec

from dualorm import api
from dualorm.db import connection
from dualorm.errors import LedgerError, MigrationFailed
from dualorm.runner import ledger
from dualorm.runner.foreign import heads_of, moved_heads
from dualorm.runner.schedule import Event, RunOptions
from dualorm.spec.graph import MigrationGraph


def test_the_heads_a_ledger_write_moves_are_those_of_the_whole_applied_sets() -> None:
    # A diamond, a second root, and an applied id no spec knows (it always stays a head).
    graph = MigrationGraph({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []})
    ids = ["a", "b", "c", "d", "e", "zz"]
    for size in range(len(ids) + 1):
        for chosen in combinations(ids, size):
            before = set(chosen)
            for node in ids:
                after = before ^ {node}
                old, new = heads_of(before, graph), heads_of(after, graph)
                assert moved_heads(before, after, graph) == (old - new, new - old)


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


def test_a_wrong_ledger_count_in_a_batch_is_a_ledger_error_and_changes_nothing(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 3)
    api.migrate_up(config, to=ids[0])
    # The third migration's django_migrations row silently goes nowhere: its count is 0.
    with connection(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION skip_row() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN IF NEW.name = '{ids[2]}' THEN RETURN NULL; END IF; RETURN NEW; END $$; "
            "CREATE TRIGGER skip_row BEFORE INSERT ON django_migrations "
            "FOR EACH ROW EXECUTE FUNCTION skip_row()"
        )
    with pytest.raises(LedgerError, match=f"adding django_app.{ids[2]} to django_migrations"):
        api.migrate_up(config)
    state = snapshot(database_url)
    assert [r[0] for r in state["dualorm"]] == ids[:2]
    assert state["alembic"] == [(ids[1],)]
    assert state["django"] == [("django_app", ids[0]), ("django_app", ids[1])]
    assert "t3" not in {t.name for t in state["catalog"]}


def test_a_ledger_made_before_record_migration_works_and_up_adds_it(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 4)
    api.migrate_up(config, to=ids[2])

    def drop_or_check() -> bool:
        with connection(database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT to_regprocedure(%s) IS NOT NULL", (ledger.RECORD_MIGRATION,)
            ).fetchone()
            conn.execute(f"DROP FUNCTION IF EXISTS {ledger.RECORD_MIGRATION}")
        return bool(row and row[0])

    assert drop_or_check()
    # down never changes the ledger's shape: without the function it goes step by step.
    assert api.migrate_down(config, steps=2).done == (ids[2], ids[1])
    assert applied_ids(database_url) == ids[:1]
    assert api.migrate_up(config).done == tuple(ids[1:])
    assert applied_ids(database_url) == ids
    assert api.migrate_status(config).ledgers_agree
    assert drop_or_check()


def test_a_record_function_of_an_older_dualorm_is_replaced_by_up(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 4)
    api.migrate_up(config, to=ids[2])

    def function() -> tuple[str, str | None]:
        with connection(database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_get_functiondef(to_regprocedure(%s)), "
                "obj_description(to_regprocedure(%s), 'pg_proc')",
                (ledger.RECORD_MIGRATION, ledger.RECORD_MIGRATION),
            ).fetchone()
        assert row is not None
        return str(row[0]), row[1]

    # The function as an older dualorm made it: timed from now(), without the comment.
    definition, comment = function()
    assert comment == ledger.RECORD_REVISION
    assert ledger.STARTED in definition
    with connection(database_url, autocommit=True) as conn:
        conn.execute(definition.replace(ledger.STARTED, "extract(epoch FROM now())").encode())
        conn.execute(f"COMMENT ON FUNCTION {ledger.RECORD_MIGRATION} IS NULL")
    assert ledger.STARTED not in function()[0]
    assert api.migrate_down(config, steps=2).done == (ids[2], ids[1])
    assert applied_ids(database_url) == ids[:1]
    assert api.migrate_up(config).done == tuple(ids[1:])
    assert applied_ids(database_url) == ids
    assert api.migrate_status(config).ledgers_agree
    definition, comment = function()
    assert comment == ledger.RECORD_REVISION
    assert ledger.STARTED in definition


def test_a_django_row_another_writer_adds_between_two_records_is_refused(
    tmp_path: Path, database_url: str
) -> None:
    # record_migration skips the search for a duplicate row while the newest row of
    # django_migrations is the one its session added last; a row from anyone else ends that.
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 3)
    api.migrate_up(config, to=ids[0])
    call = (
        f"SELECT {ledger.RECORD_MIGRATION.split('(')[0]}('up', %s, 'n', '', %s, 0, 'me', "
        "gen_random_uuid(), %s::text[], %s::text[], '{}'::text[], '{}'::text[], "
        "'{django_app}'::text[], %s::text[])"
    )

    def record(conn: psycopg.Connection[tuple[object, ...]], previous: str, new: str) -> None:
        conn.execute(call, (new, "0" * 64, [previous], [new], [new]))

    with (
        connection(database_url, autocommit=True) as mine,
        connection(database_url, autocommit=True) as other,
    ):
        record(mine, ids[0], ids[1])
        other.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES ('django_app', %s, now())",
            (ids[2],),
        )
        refused = f"adding django_app.{ids[2]} to django_migrations"
        with pytest.raises(psycopg.Error, match=refused) as failure:
            record(mine, ids[1], ids[2])
        assert failure.value.sqlstate == ledger.LEDGER_SQLSTATE
        rows = other.execute(
            "SELECT count(*) FROM django_migrations WHERE name = %s", (ids[2],)
        ).fetchone()
        assert rows == (1,)
        # Without another writer the same session records on: the skip holds its checks.
        other.execute("DELETE FROM django_migrations WHERE name = %s", (ids[2],))
        record(mine, ids[1], ids[2])
    state = snapshot(database_url)
    assert [r[0] for r in state["dualorm"]] == ids
    assert state["django"] == [("django_app", i) for i in ids]
