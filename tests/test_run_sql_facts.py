"""Hand-written SQL is linted and planned like the operations: each ``run_sql`` statement is
read from PostgreSQL's parse tree, so a ``DROP TABLE`` there is as destructive as
``drop_table``, a ``CREATE INDEX`` there locks like ``create_index``, and what the parser cannot
classify stays opaque."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from project_files import NO_MODELS, change_spec, use_project, write_project

from dualorm.cli import main
from dualorm.db import connect
from dualorm.emit.sql import statements
from dualorm.runner.impact import impacts
from dualorm.runner.impact_model import Lock
from dualorm.runner.lint import RULES_BY_NAME, lint
from dualorm.schema import Schema
from dualorm.sources import sqlalchemy as sa_source
from dualorm.spec.load import load_specs
from dualorm.spec.model import Migration

BASE = """\
id: "0001_base"
name: base
dependencies: []
operations:
  - create_table:
      name: users
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: email, type: varchar(255)}
        - {name: qty, type: integer}
  - create_table:
      name: ledger
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: user_id, type: bigint}
        - {name: note, type: varchar(20)}
  - create_index: {name: ledger_note_idx, table: ledger, columns: [note]}
"""


def specs(tmp_path: Path, operations: str) -> list[Migration]:
    (tmp_path / "0001_base.yaml").write_text(BASE)
    (tmp_path / "0002_change.yaml").write_text(change_spec(operations))
    return load_specs(tmp_path)


def findings(tmp_path: Path, operations: str, models: Schema | None = None) -> dict[str, bool]:
    """Rule -> blocking, for the findings of the change migration."""
    found = lint(specs(tmp_path, operations), only=["0002_change"], models=models)
    return {f.rule: f.blocking for f in found}


def replayed(migration: Migration) -> Schema:
    state = Schema()
    for op in migration.operations:
        state = op.apply(state)
    return state


def models() -> Schema:
    from sa_models import Base

    return sa_source.load(Base.metadata)


# -- through the CLI ---------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_project(tmp_path, BASE, settings=NO_MODELS)
    return use_project(monkeypatch, tmp_path, database_url)


def write_change(project: Path, operations: str) -> None:
    (project / "migrations" / "0002_change.yaml").write_text(change_spec(operations))


ACKNOWLEDGED_DROP = """
- run_sql:
    sql: "DROP TABLE users"
    acknowledge: [{rule: destructive, reason: "users moved to accounts in 0001"}]
"""


def test_drop_table_in_run_sql_is_a_blocking_lint_error_until_acknowledged(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_change(project, '- run_sql: {sql: "DROP TABLE users"}')
    assert main(["migrate", "lint", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    (error,) = [f for f in document["findings"] if f["severity"] == "error"]
    assert error["rule"] == "destructive" and error["acknowledged"] is False
    assert "drop table users" in error["message"]
    assert error["line"] == 5 and error["path"].endswith("0002_change.yaml")

    # The same drop written as the operation meets the same rules.
    write_change(project, "- drop_table: {name: users}")
    assert main(["migrate", "lint", "--json"]) == 1
    as_operation = json.loads(capsys.readouterr().out)
    assert {(f["rule"], f["severity"]) for f in as_operation["findings"]} == {
        (f["rule"], f["severity"])
        for f in document["findings"]
        if f["rule"] not in ("raw-sql", "irreversible")
    }

    write_change(project, ACKNOWLEDGED_DROP)
    assert main(["migrate", "lint", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    (acknowledged,) = [f for f in document["findings"] if f["acknowledged"]]
    assert acknowledged["acknowledgement"] == "users moved to accounts in 0001"


def test_production_refuses_drop_table_in_run_sql_until_acknowledged(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    production = ["migrate", "up", "--env", "production", "--yes", "--no-backup"]
    assert main(["db", "label", "production"]) == 0
    assert main(production) == 0
    write_change(project, '- run_sql: {sql: "DROP TABLE users"}')
    capsys.readouterr()
    assert main(production) == 3
    assert "unacknowledged lint error" in capsys.readouterr().err
    with connect(database_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('users')").fetchone() == ("users",)
    write_change(project, ACKNOWLEDGED_DROP)
    assert main(production) == 0
    with connect(database_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('users')").fetchone() == (None,)


def test_plan_rates_drop_table_in_run_sql_high_risk(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "up"]) == 0
    with connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users SELECT g, 'u' || g, g FROM generate_series(1, 50) g")
        conn.execute("ANALYZE users")
    write_change(project, '- run_sql: {sql: "DROP TABLE users"}')
    capsys.readouterr()
    assert main(["migrate", "plan", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["risk"] == "high"
    (statement,) = document["migrations"][0]["statements"]
    assert statement["risk"] == "high" and "drop table users" in statement["why"]
    (lock,) = statement["locks"]
    assert lock["table"] == "users" and lock["lock"] == "ACCESS EXCLUSIVE" and lock["rows"] == 50

    # Acknowledged, the drop no longer blocks; the loss of its 50 rows keeps it high risk.
    write_change(project, ACKNOWLEDGED_DROP)
    assert main(["migrate", "plan", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    (migration,) = document["migrations"]
    assert not [
        f for f in migration["findings"] if f["severity"] == "error" and not f["acknowledged"]
    ]
    assert migration["statements"][0]["risk"] == "high" and document["risk"] == "high"


def test_plan_of_a_harmless_run_sql_is_low_risk(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "up"]) == 0
    with connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users SELECT g, 'u' || g, g FROM generate_series(1, 50) g")
        conn.execute("ANALYZE users")
    write_change(
        project,
        """
        - run_sql: {sql: "UPDATE users SET qty = 1 WHERE id = 2"}
        - run_sql:
            sql: "CREATE TABLE archive (id bigint, user_id bigint REFERENCES users (id))"
        """,
    )
    capsys.readouterr()
    assert main(["migrate", "plan", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    update, create = document["migrations"][0]["statements"]
    assert update["risk"] == "low" and create["risk"] == "low"
    assert [(i["table"], i["lock"]) for i in update["locks"]] == [("users", "ROW EXCLUSIVE")]
    assert [(i["table"], i["lock"]) for i in create["locks"]] == [("users", "SHARE ROW EXCLUSIVE")]
    assert document["risk"] == "low"


# -- statements that lose data, and statements that do not ------------------------------------


@pytest.mark.parametrize(
    ("sql", "lost"),
    [
        ("TRUNCATE ledger", "truncate ledger"),
        ("DELETE FROM ledger", "delete every row of ledger"),
        ("ALTER TABLE ledger DROP COLUMN note", "drop column ledger.note"),
        ("DROP TABLE IF EXISTS public.ledger CASCADE", "drop table ledger"),
    ],
)
def test_statements_that_lose_data_are_destructive(tmp_path: Path, sql: str, lost: str) -> None:
    found = lint(specs(tmp_path, f'- run_sql: {{sql: "{sql}"}}'), only=["0002_change"])
    (finding,) = [f for f in found if f.rule == "destructive"]
    assert lost in finding.message


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger SET note = 'x' WHERE id = 2",
        "DELETE FROM ledger WHERE id = 2",
        "INSERT INTO ledger (id, user_id, note) VALUES (1, 1, 'x')",
        "CREATE TABLE archive (id bigint PRIMARY KEY)",
    ],
)
def test_harmless_statements_are_not_destructive(tmp_path: Path, sql: str) -> None:
    rules = findings(tmp_path, f'- run_sql: {{sql: "{sql}", reverse_sql: "SELECT 1"}}')
    assert "destructive" not in rules
    assert not any(rules.values())


def test_drop_column_in_run_sql_of_a_column_the_models_declare(tmp_path: Path) -> None:
    rules = findings(tmp_path, '- run_sql: {sql: "ALTER TABLE users DROP COLUMN email"}', models())
    assert rules["drop-column-in-use"] is True and rules["destructive"] is True
    same = findings(tmp_path, "- drop_column: {table: users, name: email}", models())
    assert same["drop-column-in-use"] is True


# -- lock facts: the same rules as the equivalent operations ---------------------------------

LOCK_RULES = [
    (
        "require-concurrent-index",
        "CREATE INDEX users_email_idx ON users (email)",
        "CREATE TABLE archive (id bigint); CREATE INDEX archive_id_idx ON archive (id)",
    ),
    (
        "not-null-without-default",
        "ALTER TABLE users ADD COLUMN flag boolean NOT NULL",
        "ALTER TABLE users ADD COLUMN flag boolean NOT NULL DEFAULT false",
    ),
    (
        "volatile-default",
        "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid()",
        "ALTER TABLE users ADD COLUMN token uuid",
    ),
    (
        "rewriting-type-change",
        "ALTER TABLE users ALTER COLUMN qty TYPE bigint",
        "ALTER TABLE ledger ALTER COLUMN note TYPE varchar(40)",
    ),
    (
        "set-not-null",
        "ALTER TABLE users ALTER COLUMN qty SET NOT NULL",
        "ALTER TABLE users ALTER COLUMN qty DROP NOT NULL",
    ),
    (
        "foreign-key-not-valid",
        "ALTER TABLE ledger ADD CONSTRAINT ledger_user_fkey FOREIGN KEY (user_id) "
        "REFERENCES users (id)",
        "ALTER TABLE ledger ADD CONSTRAINT ledger_user_fkey FOREIGN KEY (user_id) "
        "REFERENCES users (id) NOT VALID",
    ),
    (
        "check-not-valid",
        "ALTER TABLE users ADD CONSTRAINT users_qty_check CHECK (qty > 0)",
        "ALTER TABLE users ADD CONSTRAINT users_qty_check CHECK (qty > 0) NOT VALID",
    ),
    (
        "unique-without-index",
        "ALTER TABLE ledger ADD CONSTRAINT ledger_note_key UNIQUE (note)",
        "ALTER TABLE ledger ADD CONSTRAINT ledger_note_key UNIQUE USING INDEX ledger_note_idx",
    ),
    (
        "require-concurrent-index-drop",
        "DROP INDEX ledger_note_idx",
        "SELECT 1",
    ),
    (
        "rename-column",
        "ALTER TABLE users RENAME COLUMN email TO mail",
        "ALTER TABLE users ADD COLUMN mail varchar(255)",
    ),
    (
        "rename-table",
        "ALTER TABLE users RENAME TO people",
        "CREATE TABLE people (id bigint)",
    ),
]


@pytest.mark.parametrize(("rule", "dangerous", "safe"), LOCK_RULES, ids=[c[0] for c in LOCK_RULES])
def test_run_sql_meets_the_rules_of_its_operation(
    tmp_path: Path, rule: str, dangerous: str, safe: str
) -> None:
    found = findings(tmp_path, f'- run_sql: {{sql: "{dangerous}"}}')
    assert rule in found
    assert found[rule] is (RULES_BY_NAME[rule].severity == "error")
    assert rule not in findings(tmp_path, f'- run_sql: {{sql: "{safe}"}}')


def test_acknowledging_a_run_sql_finding(tmp_path: Path) -> None:
    rules = findings(
        tmp_path,
        """
        - run_sql:
            sql: "CREATE INDEX users_email_idx ON users (email)"
            reverse_sql: "DROP INDEX users_email_idx"
            acknowledge: [{rule: require-concurrent-index, reason: "users holds ten rows"}]
        """,
    )
    assert rules["require-concurrent-index"] is False
    assert not any(rules.values())


def test_what_the_parser_cannot_classify_stays_opaque(tmp_path: Path) -> None:
    base, migration = specs(
        tmp_path, '- run_sql: {sql: "GRANT SELECT ON users TO PUBLIC; SELECT 1"}'
    )
    (op,) = migration.operations
    found = impacts(op, replayed(base))
    assert [(i.table, i.lock, i.opaque) for i in found] == [("*", Lock.ACCESS_EXCLUSIVE, True)] * 2


RUN_SQL_LOCKS = [
    "CREATE INDEX users_email_idx ON users (email)",
    "ALTER TABLE users ADD COLUMN flag boolean",
    "ALTER TABLE users ALTER COLUMN qty TYPE bigint",
    "ALTER TABLE ledger ADD CONSTRAINT ledger_user_fkey FOREIGN KEY (user_id) "
    "REFERENCES users (id) NOT VALID",
    "ALTER TABLE users ADD CONSTRAINT users_qty_check CHECK (qty > 0) NOT VALID",
    "ALTER TABLE ledger DROP COLUMN note",
    "DROP INDEX ledger_note_idx",
    "TRUNCATE ledger",
    "DELETE FROM ledger",
    "UPDATE users SET qty = 1 WHERE id = 2",
    "CREATE TABLE archive (id bigint, user_id bigint REFERENCES users (id))",
]


@pytest.mark.parametrize("sql", RUN_SQL_LOCKS, ids=lambda s: " ".join(s.split()[:3]))
def test_claimed_lock_of_a_statement_is_the_lock_postgres_takes(
    tmp_path: Path, database_url: str, sql: str
) -> None:
    base, migration = specs(tmp_path, f'- run_sql: {{sql: "{sql}"}}')
    with connect(database_url, autocommit=True) as conn:
        for op in base.operations:
            for text in statements(op):
                conn.execute(text)
    (op,) = migration.operations
    claimed: dict[str, Lock] = {}
    for impact in impacts(op, replayed(base)):
        assert not impact.opaque
        claimed[impact.table] = max(claimed.get(impact.table, Lock.NONE), impact.lock)
    with connect(database_url) as conn:
        for text in statements(op):
            conn.execute(text)
        rows = conn.execute(
            "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = pg_backend_pid() AND c.relkind = 'r'"
        ).fetchall()
        conn.rollback()
    taken: dict[str, Lock] = {}
    for relname, mode in rows:
        taken[str(relname)] = max(taken.get(str(relname), Lock.NONE), Lock.from_pg(str(mode)))
    for table, lock in claimed.items():
        assert taken.get(table) == lock, (table, taken)


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("CREATE INDEX CONCURRENTLY users_email_idx ON users (email)", "CREATE INDEX CONCURRENTLY"),
        ("DROP INDEX CONCURRENTLY ledger_note_idx", "DROP INDEX CONCURRENTLY"),
        ("VACUUM ledger", "VACUUM"),
        ("REINDEX INDEX CONCURRENTLY ledger_note_idx", "REINDEX CONCURRENTLY"),
    ],
)
def test_statements_postgres_refuses_in_a_transaction_are_refused_at_load(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str], sql: str, named: str
) -> None:
    write_change(project, f'- run_sql: {{sql: "{sql}"}}')
    assert main(["migrate", "lint"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "0002_change.yaml:5" in err and named in err
    # The premise: the migration's transaction could never run it.
    with connect(database_url) as conn:
        conn.execute("CREATE TABLE users (email text)")
        conn.execute("CREATE TABLE ledger (note text)")
        conn.execute("CREATE INDEX ledger_note_idx ON ledger (note)")
        with pytest.raises(psycopg.errors.ActiveSqlTransaction):
            conn.execute(sql)
        conn.rollback()
