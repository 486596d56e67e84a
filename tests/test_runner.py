"""The migration runner on a real server: up, down, status, checksums, environments, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from project_files import project
from reference import REFERENCE_MIGRATIONS
from runner_specs import applied_ids, chain, snapshot, table_ops, write_spec

from dualorm import api
from dualorm.cli import main
from dualorm.config import Environment
from dualorm.db import connection
from dualorm.errors import (
    ChecksumMismatch,
    DependentsExist,
    EnvironmentMismatch,
    IrreversibleError,
    MigrationFailed,
    SpecError,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli_project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory as the working directory, DATABASE_URL pointing at a fresh DB."""
    project(tmp_path, database_url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DUALORM_ENV", raising=False)
    return tmp_path


def test_up_applies_everything_once_and_the_three_ledgers_agree(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 4)
    result = api.migrate_up(config)
    assert result.done == tuple(ids)
    state = snapshot(database_url)
    assert [r[0] for r in state["dualorm"]] == ids
    assert state["alembic"] == [(ids[-1],)]
    assert state["django"] == [("django_app", i) for i in ids]
    assert {t.name for t in state["catalog"]} == {"t1", "t2", "t3", "t4"}
    assert api.migrate_up(config).done == ()
    report = api.migrate_status(config)
    assert report.pending == () and report.applied == tuple(ids)
    # Development only by default, so nothing chose a label for this server.
    assert report.environment is None and report.ledgers_agree


def test_up_to_stops_at_the_target_and_status_shows_the_rest_pending(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 3)
    assert api.migrate_up(config, to=ids[1]).done == tuple(ids[:2])
    assert api.migrate_status(config).pending == (ids[2],)


def test_reference_specs_leave_alembic_and_django_nothing_to_do(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("DUALORM_ENV", None)
    assert main_in(ROOT, env, "migrate", "up").returncode == 0
    before = snapshot(database_url)
    current = run(ROOT, env, "alembic", "-c", "migrations/alembic.ini", "current")
    assert f"{REFERENCE_MIGRATIONS[-1]} (head)" in current.stdout
    assert (
        run(ROOT, env, "alembic", "-c", "migrations/alembic.ini", "upgrade", "head").returncode == 0
    )
    django = run(ROOT, env, sys.executable, "manage.py", "migrate")
    assert django.returncode == 0 and "No migrations to apply" in django.stdout
    shown = run(ROOT, env, sys.executable, "manage.py", "showmigrations")
    assert "[ ]" not in shown.stdout
    assert shown.stdout.count("[X]") == len(REFERENCE_MIGRATIONS)
    assert snapshot(database_url) == before


def run(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def main_in(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from dualorm.cli import main; sys.exit(main(sys.argv[1:]))"
    return run(cwd, env, sys.executable, "-c", code, *argv)


def test_a_failing_second_statement_changes_nothing(
    cli_project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = chain(cli_project, 2)
    assert main(["migrate", "up"]) == 0
    write_spec(
        cli_project,
        "0003_broken",
        [ids[-1]],
        table_ops("t3")
        + '  - run_sql: {sql: "INSERT INTO missing_table VALUES (1)", reverse_sql: "SELECT 1"}\n',
    )
    before = snapshot(database_url)
    capsys.readouterr()
    assert main(["migrate", "up"]) == 1
    err = capsys.readouterr().err
    assert "0003_broken failed" in err and "INSERT INTO missing_table" in err
    assert "missing_table" in err.split("INSERT INTO missing_table VALUES (1)")[1]
    assert snapshot(database_url) == before


def test_edited_applied_spec_is_flagged_refused_and_rebaselined(
    cli_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = chain(cli_project, 2)
    assert main(["migrate", "up"]) == 0
    path = cli_project / "migrations" / f"{ids[0]}.yaml"
    path.write_text(path.read_text().replace("name: label", "name: caption"))
    write_spec(cli_project, "0003_m3", [ids[-1]], table_ops("t3"))
    capsys.readouterr()
    assert main(["migrate", "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["changed"] == [ids[0]]
    assert main(["migrate", "up"]) == 3
    assert "was edited after it was applied" in capsys.readouterr().err
    assert main(["migrate", "baseline", "--id", ids[0]]) == 0
    assert main(["migrate", "up"]) == 0
    assert "0003_m3" in applied_ids(os.environ["DATABASE_URL"])


def test_checksum_refusal_raises_before_anything_runs(tmp_path: Path, database_url: str) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 1)
    api.migrate_up(config)
    path = tmp_path / "migrations" / f"{ids[0]}.yaml"
    path.write_text(path.read_text().replace("bigint", "integer"))
    before = snapshot(database_url)
    with pytest.raises(ChecksumMismatch) as caught:
        api.migrate_up(config)
    assert caught.value.migration_id == ids[0]
    assert snapshot(database_url) == before


def test_down_by_id_refuses_while_dependents_are_applied(
    cli_project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = chain(cli_project, 3)
    assert main(["migrate", "up"]) == 0
    capsys.readouterr()
    assert main(["migrate", "down", "--id", ids[1]]) == 3
    err = capsys.readouterr().err
    assert ids[2] in err and "--cascade" in err
    assert applied_ids(database_url) == ids
    assert main(["migrate", "down", "--id", ids[1], "--cascade"]) == 0
    assert applied_ids(database_url) == ids[:1]
    state = snapshot(database_url)
    assert state["alembic"] == [(ids[0],)] and state["django"] == [("django_app", ids[0])]
    assert {t.name for t in state["catalog"]} == {"t1"}


def test_down_to_and_steps(tmp_path: Path, database_url: str) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 4)
    api.migrate_up(config)
    assert api.migrate_down(config).done == (ids[3],)
    assert api.migrate_down(config, steps=2).done == (ids[2], ids[1])
    api.migrate_up(config)
    assert api.migrate_down(config, to=ids[0]).done == (ids[3], ids[2], ids[1])
    assert api.migrate_down(config, to=ids[0]).done == ()
    with pytest.raises(DependentsExist):
        api.migrate_up(config)
        api.migrate_down(config, migration_id=ids[0])
    assert api.migrate_down(config, migration_id=ids[0], cascade=True).done == tuple(reversed(ids))
    state = snapshot(database_url)
    assert len(state["catalog"]) == 0 and state["alembic"] == [] and state["django"] == []


def test_irreversible_migration_refuses_to_go_down(tmp_path: Path, database_url: str) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 1)
    write_spec(tmp_path, "0002_data", [ids[0]], '  - run_sql: {sql: "SELECT 1"}\n')
    api.migrate_up(config)
    before = snapshot(database_url)
    with pytest.raises(IrreversibleError, match="0002_data"):
        api.migrate_down(config, steps=2)
    assert snapshot(database_url) == before


def test_environment_is_labelled_on_first_up_and_a_mismatch_is_refused(
    cli_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    chain(cli_project, 1)
    monkeypatch.setenv("DUALORM_ENV", "staging")
    assert main(["migrate", "up"]) == 0
    monkeypatch.setenv("DUALORM_ENV", "development")
    capsys.readouterr()
    assert main(["migrate", "up"]) == 3
    err = capsys.readouterr().err
    assert "'staging'" in err and "'development'" in err


def test_environment_mismatch_through_the_api(tmp_path: Path, database_url: str) -> None:
    config = project(tmp_path, database_url, env="testing")
    chain(tmp_path, 1)
    api.migrate_up(config)
    with pytest.raises(EnvironmentMismatch):
        api.migrate_down(config.with_(environment=Environment.PRODUCTION))


def test_concurrent_index_runs_alone_and_an_invalid_leftover_is_rebuilt(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 1)
    with connection(database_url, autocommit=True) as conn:
        api.migrate_up(config)
        conn.execute("INSERT INTO t1 (id, label) VALUES (1, 'x'), (2, 'x')")
    write_spec(
        tmp_path,
        "0002_index",
        [ids[0]],
        "  - create_index: {name: t1_label_key, table: t1, columns: [label], unique: true, "
        "concurrently: true}\n",
    )
    with pytest.raises(MigrationFailed, match="CONCURRENTLY"):
        api.migrate_up(config)
    with connection(database_url, autocommit=True) as conn:
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't1_label_key'::regclass"
        ).fetchone()
        assert valid == (False,)
        conn.execute("DELETE FROM t1 WHERE id = 2")
    events: list[str] = []
    api.migrate_up(config, progress=lambda e: events.append(e.kind))
    with connection(database_url, autocommit=True) as conn:
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't1_label_key'::regclass"
        ).fetchone()
    assert valid == (True,)
    assert applied_ids(database_url) == [ids[0], "0002_index"]
    api.migrate_down(config)
    assert snapshot(database_url)["catalog"].get("t1").indexes == ()  # type: ignore[union-attr]


def test_concurrent_index_mixed_with_other_operations_is_refused(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 1)
    write_spec(
        tmp_path,
        "0002_mixed",
        [ids[0]],
        "  - add_column: {table: t1, name: extra, type: text}\n"
        "  - create_index: {name: t1_extra_idx, table: t1, columns: [extra], concurrently: true}\n",
    )
    with pytest.raises(SpecError, match="own"):
        api.migrate_up(config)
    assert snapshot(database_url)["dualorm"] == []


def test_lock_timeout_is_retried_with_backoff_then_fails(tmp_path: Path, database_url: str) -> None:
    from dualorm.runner.schedule import RunOptions

    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 1)
    api.migrate_up(config)
    write_spec(tmp_path, "0002_col", [ids[0]], "  - add_column: {table: t1, name: x, type: text}\n")
    options = RunOptions(lock_timeout_ms=100, retries=2, backoff_s=0.01)
    events: list[str] = []
    with connection(database_url) as blocker:
        blocker.execute("LOCK TABLE t1 IN ACCESS SHARE MODE")
        with pytest.raises(MigrationFailed, match="lock_timeout 100 ms, 3 attempts"):
            api.migrate_up(config, options=options, progress=lambda e: events.append(e.kind))
        blocker.rollback()
    assert events.count("lock_timeout_retry") == 2
    api.migrate_up(config, options=options)
    assert applied_ids(database_url) == [ids[0], "0002_col"]


def test_audit_rows_logs_and_ledger_carry_the_correlation_id_and_no_password(
    cli_project: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Trust authentication accepts any password, so one can be put in the URL to hunt for it.
    secret_url = database_url.replace("postgres@", "postgres:hunter2secret@")
    monkeypatch.setenv("DATABASE_URL", secret_url)
    chain(cli_project, 2)
    assert main(["migrate", "up", "--log-format", "json", "--verbose"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    assert records and all("correlation_id" in r for r in records)
    assert any(r.get("event") == "statement" and "duration_ms" in r for r in records)
    cid = records[0]["correlation_id"]
    with connection(database_url, autocommit=True) as conn:
        audit = conn.execute(
            "SELECT correlation_id::text, outcome, detail::text, command FROM dualorm.audit"
        ).fetchall()
        ledger = conn.execute("SELECT DISTINCT correlation_id::text FROM dualorm.migrations")
        assert ledger.fetchall() == [(cid,)]
    assert audit[0][:2] == (cid, "ok")
    write_spec(
        cli_project,
        "0003_bad",
        ["0002_m2"],
        f"  - run_sql: {{sql: \"SELECT '{secret_url}'::int\"}}\n",
    )
    assert main(["migrate", "up", "--log-format", "json"]) == 1
    captured = capsys.readouterr()
    with connection(database_url, autocommit=True) as conn:
        everything = str(conn.execute("SELECT * FROM dualorm.audit").fetchall())
    assert "failed" in everything
    for text in (everything, captured.err, captured.out):
        assert "hunter2secret" not in text


def test_baseline_adopts_a_database_migrated_by_alembic(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("DUALORM_ENV", None)
    assert (
        run(ROOT, env, "alembic", "-c", "migrations/alembic.ini", "upgrade", "head").returncode == 0
    )
    status = main_in(ROOT, env, "migrate", "up", "--no-wait")
    assert status.returncode == 3 and "ledgers disagree" in status.stderr
    adopted = main_in(ROOT, env, "migrate", "baseline", "--json")
    assert adopted.returncode == 0, adopted.stderr
    assert json.loads(adopted.stdout)["adopted"] == list(REFERENCE_MIGRATIONS)
    again = main_in(ROOT, env, "migrate", "up")
    assert again.returncode == 0 and "nothing to apply" in again.stdout
    shown = run(ROOT, env, sys.executable, "manage.py", "showmigrations")
    assert shown.stdout.count("[X]") == len(REFERENCE_MIGRATIONS)


def test_baseline_refuses_a_catalog_that_does_not_match(tmp_path: Path, database_url: str) -> None:
    from dualorm.errors import DriftDetected

    config = project(tmp_path, database_url)
    ids = chain(tmp_path, 2)
    with connection(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t1 (id bigint PRIMARY KEY, label text)")
    with pytest.raises(DriftDetected):
        api.baseline(config, to=ids[1])
    assert snapshot(database_url)["dualorm"] == []
    result = api.baseline(config, to=ids[0])
    assert result.adopted == (ids[0],)
    assert api.migrate_up(config).done == (ids[1],)
