"""The project's ``[tool.dualorm]`` table: nothing defaults to the reference app.

A command reads the keys it needs: without a table it exits 2 pointing at ``dualorm init``;
with one, only a key the command reads is required; a value of the wrong TOML type is exit 2
naming the key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from runner_specs import table_ops, write_spec

from dualorm.cli import main
from dualorm.config import Config


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    """A directory with no pyproject.toml (nor any above it naming dualorm)."""
    assert Config.load(tmp_path).unconfigured, "a pyproject above the test directory names dualorm"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DUALORM_ENV", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (["validate"], "sa_metadata"),
        (["validate", "--sources", "django,database"], "django_settings"),
        (["migrate", "status"], "migrations_dir"),
        (["migrate", "up"], "migrations_dir"),
        (["migrate", "make"], "migrations_dir"),
        (["seed", "status"], "seeds_dir"),
    ],
)
def test_without_a_table_a_project_command_exits_2_pointing_at_init(
    empty: Path, args: list[str], missing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert missing in err and "[tool.dualorm]" in err and "`dualorm init`" in err
    assert "Traceback" not in err


def test_without_a_table_the_database_commands_and_help_still_run(
    empty: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    assert main(["db", "url"]) == 0
    assert capsys.readouterr().out.strip().startswith("postgresql://")
    assert main(["db", "label", "testing"]) == 0
    assert "labelled testing" in capsys.readouterr().out
    assert main(["--help"]) == 0


def write(root: Path, body: str) -> None:
    (root / "pyproject.toml").write_text("[tool.dualorm]\n" + body, encoding="utf-8")


def test_a_key_is_required_only_by_the_commands_that_read_it(
    empty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (empty / "migrations").mkdir()
    write_spec(empty, "0001_t", [], table_ops("t"))
    write(empty, 'migrations_dir = "migrations"\ndjango_app_label = "notes"\n')
    # migrate never imports the models: no sa_metadata, no django_settings needed.
    assert main(["migrate", "up"]) == 0
    assert main(["migrate", "status"]) == 0
    capsys.readouterr()
    assert main(["validate", "--sources", "sqlalchemy,database"]) == 2
    err = capsys.readouterr().err
    assert "pyproject.toml: [tool.dualorm] sa_metadata is not set" in err
    assert "`dualorm init`" in err
    assert main(["validate", "--sources", "django,database"]) == 2
    assert "[tool.dualorm] django_settings is not set" in capsys.readouterr().err


def test_migrate_needs_the_django_app_label_it_records(
    empty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (empty / "migrations").mkdir()
    write(empty, 'migrations_dir = "migrations"\n')
    assert main(["migrate", "up"]) == 2
    assert "[tool.dualorm] default_app is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('django_app_label = ["catalog", "orders"]\n', "django_app_label must be a non-empty"),
        ('default_app = ["catalog", "orders"]\n', "default_app must be a non-empty"),
        ('default_app = "a"\ndjango_app_label = "b"\n', "both default_app and django_app_label"),
        ("sa_metadata = 7\n", "sa_metadata must be a non-empty string"),
        ("migrations_dir = { path = 'x' }\n", "migrations_dir must be a non-empty string"),
        ('tables = ["users"]\n', "[tool.dualorm.tables] must be a table"),
        ("tables = { users = 1 }\n", "[tool.dualorm.tables] 'users' = 1: expected one of"),
        ("tables = { users = { owner = 1 } }\n", "[tool.dualorm.tables] 'users'"),
        ('tables = { users = "nobody" }\n', "'users' = 'nobody' is not one of"),
    ],
)
def test_a_value_of_the_wrong_type_is_exit_2_naming_the_key(
    empty: Path, body: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write(empty, body)
    for args in (["migrate", "status"], ["validate"]):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert named in err and "Traceback" not in err and "internal error" not in err


def test_a_tool_dualorm_that_is_not_a_table_is_exit_2(
    empty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (empty / "pyproject.toml").write_text('[tool]\ndualorm = "yes"\n', encoding="utf-8")
    assert main(["migrate", "status"]) == 2
    assert "[tool.dualorm] must be a table" in capsys.readouterr().err


MODELS = """
from sqlalchemy import BigInteger, Column, MetaData, Table, Text

metadata = MetaData()
Table(
    "notes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("body", Text),
)
"""


def test_the_project_folder_goes_first_on_sys_path_for_the_installed_cli(
    tmp_path: Path, database_url: str
) -> None:
    from dualorm.db import connection

    write(tmp_path, 'sa_metadata = "notes_models:metadata"\n')
    (tmp_path / "notes_models.py").write_text(MODELS, encoding="utf-8")
    inside = tmp_path / "deploy" / "scripts"
    inside.mkdir(parents=True)
    with connection(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id bigint PRIMARY KEY, body text)")
    env = {k: v for k, v in os.environ.items() if k != "DUALORM_ENV"}
    env["DATABASE_URL"] = database_url
    assert str(tmp_path) not in env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-m", "dualorm.cli", "validate", "--sources", "sqlalchemy,database"],
        cwd=inside,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "notes_models" not in done.stderr
