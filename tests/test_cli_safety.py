"""``dualorm migrate lint|plan``, ``migrate up --env production`` refusals and
``validate --replicas``, run through the CLI entry point against real databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from project_files import ACCOUNTS_SPEC, NO_MODELS, use_project, write_project

from dualorm.cli import main
from dualorm.db import connect
from dualorm.testing import streaming_pair

UNSAFE = """\
id: "0002_index"
name: index
dependencies: ["0001_base"]
operations:
  - create_index: {name: accounts_balance_idx, table: accounts, columns: [balance]}
"""

ACKNOWLEDGED = """\
id: "0002_index"
name: index
dependencies: ["0001_base"]
operations:
  - create_index:
      name: accounts_balance_idx
      table: accounts
      columns: [balance]
      acknowledge: [{rule: require-concurrent-index, reason: "40 rows, built in a blink"}]
"""


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_project(tmp_path, ACCOUNTS_SPEC, settings=NO_MODELS)
    return use_project(monkeypatch, tmp_path, database_url)


def spec(project: Path, text: str) -> None:
    (project / "migrations" / "0002_index.yaml").write_text(text)


def test_lint_exits_1_on_an_unacknowledged_error_and_0_once_acknowledged(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec(project, UNSAFE)
    assert main(["migrate", "lint"]) == 1
    out = capsys.readouterr().out
    assert "require-concurrent-index" in out and "migrations/0002_index.yaml:5" in out
    assert "concurrently: true" in out  # the safe alternative

    assert main(["migrate", "lint", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False and document["errors"] == 1
    (finding,) = [f for f in document["findings"] if f["severity"] == "error"]
    assert finding["rule"] == "require-concurrent-index" and finding["line"] == 5
    assert finding["alternative"] and finding["reason"] and finding["acknowledged"] is False

    spec(project, ACKNOWLEDGED)
    assert main(["migrate", "lint", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    assert [f["acknowledgement"] for f in document["findings"] if f["acknowledged"]] == [
        "40 rows, built in a blink"
    ]


def test_lint_of_an_unknown_acknowledged_rule_is_bad_input(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec(project, ACKNOWLEDGED.replace("require-concurrent-index", "no-such-rule"))
    assert main(["migrate", "lint"]) == 2
    assert "no-such-rule" in capsys.readouterr().err


def test_plan_as_table_json_and_sql(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "up"]) == 0
    spec(project, UNSAFE)
    capsys.readouterr()
    assert main(["migrate", "plan"]) == 0
    out = capsys.readouterr().out
    assert "0002_index" in out and "SHARE accounts" in out and "overall risk" in out

    assert main(["migrate", "plan", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["format"] == 1 and document["pending"] == ["0002_index"]
    assert document["migrations"][0]["statements"][0]["locks"][0]["lock"] == "SHARE"

    assert main(["migrate", "plan", "--sql"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("BEGIN;") and 'CREATE INDEX "accounts_balance_idx"' in script


def test_production_up_without_yes_and_without_a_terminal_is_refused(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "up", "--env", "production", "--no-backup"]) == 3
    assert "--yes" in capsys.readouterr().err
    with connect(database_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('accounts')").fetchone() == (None,)


def test_production_up_with_lint_errors_is_refused(
    project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUALORM_ENV", "production")
    assert main(["migrate", "up", "--yes", "--no-backup"]) == 0
    spec(project, UNSAFE)
    assert main(["migrate", "up", "--yes", "--no-backup"]) == 3
    with connect(database_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('accounts_balance_idx')").fetchone() == (None,)
    spec(project, ACKNOWLEDGED)
    assert main(["migrate", "up", "--yes", "--no-backup", "--max-downtime", "5", "--json"]) == 0


def test_validate_replicas(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["validate", "--replicas"]) == 2
    with streaming_pair() as (primary, replica):
        monkeypatch.setenv("DATABASE_URL", primary)
        monkeypatch.setenv("DATABASE_REPLICA_URLS", replica)
        assert main(["migrate", "up", "--env", "production", "--yes", "--no-backup"]) == 0
        assert main(["validate", "--replicas", "--json"]) == 0
        monkeypatch.setenv(
            "DATABASE_REPLICA_URLS", f"{replica},postgresql://postgres@127.0.0.1:1/x"
        )
        assert main(["validate", "--replicas"]) == 1


def test_dry_run_prints_the_script_then_timings_and_locks(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "up"]) == 0
    spec(project, ACKNOWLEDGED)
    capsys.readouterr()
    assert main(["migrate", "up", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert 'CREATE INDEX "accounts_balance_idx"' in out
    assert "-- dry run: executed and rolled back" in out
    assert "locks SHARE on accounts" in out
    with connect(database_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('accounts_balance_idx')").fetchone() == (None,)
