"""SQL inside specs is parsed with PostgreSQL's own parser: an expression field holds exactly one
expression, an index method is an access-method name, and run_sql holds no transaction control.
A refusal names file:line, exits 2 and leaves the database untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualorm.cli import main
from dualorm.errors import SpecError, exit_code
from dualorm.spec.load import load_specs
from tests.project_files import project
from tests.runner_specs import applied_ids, snapshot, table_ops, write_spec

SESSIONS = table_ops("sessions")

HOSTILE_EXPRESSIONS = [
    "'x'; DROP TABLE sessions CASCADE",
    "1 -- ",
    "'unbalanced",
    "1) , (2",
    "1) FROM sessions --",
    "1); DROP TABLE sessions; SELECT (1",
    "1) UNION SELECT (2",
]


def _field_specs(expression: str) -> list[str]:
    quoted = expression.replace('"', '\\"')
    return [
        "  - add_column: {table: sessions, name: note, type: text, "
        f'server_default: "{quoted}"}}\n',
        f'  - alter_column: {{table: sessions, name: label, server_default: "{quoted}"}}\n',
        f'  - add_check: {{table: sessions, name: c1, expression: "{quoted}"}}\n',
        "  - create_index: {table: sessions, columns: [label], name: i1, "
        f'where: "{quoted}", concurrently: true}}\n',
        f'  - add_column: {{table: sessions, name: g, type: text, generated: "{quoted}"}}\n',
        f'  - alter_column: {{table: sessions, name: label, type: integer, using: "{quoted}"}}\n',
    ]


@pytest.mark.parametrize("expression", HOSTILE_EXPRESSIONS)
def test_every_expression_field_refuses_anything_but_one_expression(
    tmp_path: Path, expression: str
) -> None:
    project(tmp_path, "postgresql://unused")
    write_spec(tmp_path, "0001_base", [], SESSIONS)
    for operation in _field_specs(expression):
        path = write_spec(tmp_path, "0002_next", ["0001_base"], operation)
        with pytest.raises(SpecError) as caught:
            load_specs(tmp_path / "migrations")
        assert caught.value.path == str(path) and caught.value.line == 6, operation
        assert exit_code(caught.value) == 2


def test_plain_expressions_still_load(tmp_path: Path) -> None:
    project(tmp_path, "postgresql://unused")
    write_spec(tmp_path, "0001_base", [], SESSIONS)
    write_spec(
        tmp_path,
        "0002_next",
        ["0001_base"],
        "  - add_column: {table: sessions, name: note, type: text, "
        "server_default: \"'hello :world 100%'\"}\n"
        "  - add_check: {table: sessions, name: c1, expression: \"label <> ''\"}\n"
        "  - create_index: {table: sessions, columns: [label], name: i1, method: hash, "
        "where: 'id > 0'}\n",
    )
    (_, second) = load_specs(tmp_path / "migrations")
    assert len(second.operations) == 3


@pytest.mark.parametrize("method", ["btree; DROP TABLE sessions", "gin (label)", "hash --"])
def test_index_method_must_be_an_access_method_name(tmp_path: Path, method: str) -> None:
    project(tmp_path, "postgresql://unused")
    write_spec(tmp_path, "0001_base", [], SESSIONS)
    path = write_spec(
        tmp_path,
        "0002_next",
        ["0001_base"],
        f'  - create_index: {{table: sessions, columns: [label], name: i1, method: "{method}"}}\n',
    )
    with pytest.raises(SpecError, match="access-method name") as caught:
        load_specs(tmp_path / "migrations")
    assert caught.value.path == str(path) and caught.value.line == 6


@pytest.fixture
def applied(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose first spec (a sessions table) is applied to the test database."""
    project(tmp_path, database_url)
    write_spec(tmp_path, "0001_base", [], SESSIONS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name in ("DUALORM_ENV", "DATABASE_REPLICA_URLS", "DUALORM_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["migrate", "up"]) == 0
    return tmp_path


def test_a_statement_smuggled_into_a_default_is_refused_and_drops_nothing(
    applied: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    before = snapshot(database_url)
    write_spec(
        applied,
        "0002_next",
        ["0001_base"],
        "  - add_column: {table: sessions, name: note, type: text, "
        "server_default: \"'x'; DROP TABLE sessions CASCADE\"}\n",
    )
    for command in (["migrate", "lint"], ["migrate", "plan"], ["migrate", "up"]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert "0002_next.yaml:6" in err and "server_default" in err
    assert snapshot(database_url) == before
    assert applied_ids(database_url) == ["0001_base"]


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN; CREATE TABLE leak (id int); COMMIT;",
        "CREATE TABLE leak (id int); COMMIT;",
        "SAVEPOINT s; CREATE TABLE leak (id int)",
        "START TRANSACTION",
        "CREATE TABLE leak (id int); END",
        "ROLLBACK",
    ],
)
def test_run_sql_with_transaction_control_is_refused_at_load(
    applied: Path, database_url: str, sql: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    before = snapshot(database_url)
    write_spec(applied, "0002_next", ["0001_base"], f'  - run_sql: {{sql: "{sql}"}}\n')
    for command in (["migrate", "up", "--dry-run"], ["migrate", "up"]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert "0002_next.yaml:6" in err and "transaction control" in err
    assert snapshot(database_url) == before


def test_run_sql_that_does_not_parse_is_refused_at_load(tmp_path: Path) -> None:
    project(tmp_path, "postgresql://unused")
    write_spec(tmp_path, "0001_base", [], SESSIONS)
    write_spec(tmp_path, "0002_next", ["0001_base"], '  - run_sql: {sql: "CREAT TABLE x ()"}\n')
    with pytest.raises(SpecError, match="not valid SQL") as caught:
        load_specs(tmp_path / "migrations")
    assert caught.value.line == 6
