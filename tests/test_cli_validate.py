"""``dualorm validate`` end to end on a real database: clean, drifted by hand, data, bad input."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from dualorm.cli import main
from dualorm.db import connection, sqlalchemy_url
from sa_models.models import Base


@pytest.fixture
def reference_db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database holding ``create_all`` of sa_models, named by DATABASE_URL."""
    engine = create_engine(sqlalchemy_url(database_url))
    Base.metadata.create_all(engine)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", database_url)
    yield database_url


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["validate", "--json", "--sources", "sqlalchemy,database", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def execute(url: str, statements: str) -> None:
    with connection(url, autocommit=True) as conn:
        conn.execute(statements)  # type: ignore[arg-type]


def test_create_all_is_clean(reference_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys)
    assert report["errors"] == []
    assert report["valid"] is True
    assert set(report) == {"valid", "errors", "warnings"}
    assert code == 0


DRIFT = [
    (
        "drop_index",
        "DROP INDEX users_created_at_idx",
        "missing_index",
        "users.users_created_at_idx",
    ),
    (
        "change_type",
        "ALTER TABLE users ALTER COLUMN name TYPE varchar(100)",
        "type_mismatch",
        "users.name",
    ),
    ("drop_column", "ALTER TABLE users DROP COLUMN image", "missing_column", "users.image"),
    ("add_table", "CREATE TABLE legacy_reports (id int)", "extra_table", "legacy_reports"),
    (
        "drop_foreign_key",
        "ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey",
        "missing_constraint",
        "sessions.sessions_user_id_fkey",
    ),
    (
        "change_default",
        "ALTER TABLE roles ALTER COLUMN is_system SET DEFAULT true",
        "default_mismatch",
        "roles.is_system",
    ),
    (
        "drop_not_null",
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL",
        "nullability_mismatch",
        "users.email",
    ),
    (
        "change_fk_action",
        "ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey;"
        " ALTER TABLE sessions ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id)"
        " REFERENCES users (id) ON DELETE SET NULL",
        "fk_action_mismatch",
        "sessions.sessions_user_id_fkey",
    ),
    (
        "drop_unique",
        "ALTER TABLE users DROP CONSTRAINT users_email_key",
        "missing_constraint",
        "users.users_email_key",
    ),
    (
        "change_check",
        "ALTER TABLE api_keys DROP CONSTRAINT api_keys_rate_limit_check;"
        " ALTER TABLE api_keys ADD CONSTRAINT api_keys_rate_limit_check CHECK (rate_limit > 10)",
        "constraint_mismatch",
        "api_keys.api_keys_rate_limit_check",
    ),
    (
        "identity_to_serial",
        "ALTER TABLE roles ALTER COLUMN id DROP IDENTITY;"
        " CREATE SEQUENCE roles_id_seq OWNED BY roles.id;"
        " ALTER TABLE roles ALTER COLUMN id SET DEFAULT nextval('roles_id_seq')",
        "identity_mismatch",
        "roles.id",
    ),
    ("add_column", "ALTER TABLE roles ADD COLUMN color text", "extra_column", "roles.color"),
    (
        "add_index",
        "CREATE INDEX roles_description_idx ON roles (description)",
        "extra_index",
        "roles.roles_description_idx",
    ),
    (
        "change_collation",
        'ALTER TABLE roles ALTER COLUMN description TYPE text COLLATE "C"',
        "collation_mismatch",
        "roles.description",
    ),
    ("add_enum", "CREATE TYPE legacy_state AS ENUM ('a', 'b')", "extra_enum", "legacy_state"),
]


@pytest.mark.parametrize(
    ("statements", "kind", "obj"), [d[1:] for d in DRIFT], ids=[d[0] for d in DRIFT]
)
def test_drift_is_named_and_fails(
    reference_db: str, capsys: pytest.CaptureFixture[str], statements: str, kind: str, obj: str
) -> None:
    execute(reference_db, statements)
    code, report = run_json(capsys)
    assert code == 1
    assert report["valid"] is False
    assert (kind, obj) in {(e["kind"], e["object"]) for e in report["errors"]}, report["errors"]
    item = next(e for e in report["errors"] if e["kind"] == kind)
    assert (item["source"], item["target"], item["severity"]) == ("sqlalchemy", "database", "error")
    assert item["detail"]


def test_identity_against_serial_says_so(
    reference_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    execute(reference_db, next(d[1] for d in DRIFT if d[0] == "identity_to_serial"))
    _, report = run_json(capsys)
    (item,) = [e for e in report["errors"] if e["kind"] == "identity_mismatch"]
    assert "identity column" in item["detail"] and "serial" in item["detail"]


def test_all_drift_at_once(reference_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    for _, statements, _, _ in DRIFT[:5]:
        execute(reference_db, statements)
    code, report = run_json(capsys)
    found = {(e["kind"], e["object"]) for e in report["errors"]}
    assert {(kind, obj) for _, _, kind, obj in DRIFT[:5]} <= found
    assert code == 1


def test_as_a_process_the_exit_code_and_the_whole_report_survive_the_exit(
    reference_db: str,
) -> None:
    # The command skips the collector's walk over the models at exit; what a CI gate reads
    # (the code, every line of the report, the stderr of a bad input) must not change.
    def process(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dualorm", "validate", *args],
            env={**os.environ, "DATABASE_URL": reference_db},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    clean = process("--json", "--sources", "sqlalchemy,database")
    assert (clean.returncode, json.loads(clean.stdout)["errors"]) == (0, [])
    for _, statements, _, _ in DRIFT[:5]:
        execute(reference_db, statements)
    drifted = process("--json", "--sources", "sqlalchemy,database")
    found = {(e["kind"], e["object"]) for e in json.loads(drifted.stdout)["errors"]}
    assert drifted.returncode == 1
    assert {(kind, obj) for _, _, kind, obj in DRIFT[:5]} <= found
    table = process("--sources", "sqlalchemy,database")
    assert table.returncode == 1 and table.stdout.rstrip().splitlines()[-1].startswith("invalid")
    bad = process("--sources", "sqlalchemy,nowhere")
    assert bad.returncode == 2 and "nowhere" in bad.stderr


LOOSEN_AND_BREAK = """
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users DROP CONSTRAINT users_email_key;
ALTER TABLE users ALTER COLUMN name TYPE text;
ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey;
INSERT INTO users (id, email, name) VALUES
    ('00000000-0000-0000-0000-000000000001', 'dup@example.org', repeat('n', 300)),
    ('00000000-0000-0000-0000-000000000002', 'dup@example.org', 'ok'),
    ('00000000-0000-0000-0000-000000000003', NULL, 'ok');
INSERT INTO accounts (id, user_id, type, provider, provider_account_id) VALUES
    ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001',
     'carrier-pigeon', 'github', '42');
INSERT INTO sessions (id, session_token, user_id, expires_at) VALUES
    ('00000000-0000-0000-0000-0000000000b1', 'tok', '00000000-0000-0000-0000-0000000000ff',
     now());
"""


def test_data_finds_each_violation_kind(
    reference_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    execute(reference_db, LOOSEN_AND_BREAK)
    code, report = run_json(capsys, "--data")
    data = {(e["kind"], e["object"]): e for e in report["errors"] if "count" in e}
    assert set(data) == {
        ("null_violation", "users.email"),
        ("length_violation", "users.name"),
        ("choice_violation", "accounts.type"),
        ("orphan", "sessions.sessions_user_id_fkey"),
        ("duplicate", "users.users_email_key"),
    }
    assert data[("orphan", "sessions.sessions_user_id_fkey")]["samples"] == [
        "00000000-0000-0000-0000-0000000000b1"
    ]
    assert data[("duplicate", "users.users_email_key")]["count"] == 2
    assert "dup@example.org" not in json.dumps(report)
    assert code == 1


def test_plain_output_groups_by_pair_and_detailed_adds_warnings(
    reference_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    execute(reference_db, "ALTER INDEX users_created_at_idx RENAME TO ix_users_created")
    assert main(["validate", "--sources", "sqlalchemy,database"]) == 0
    plain = capsys.readouterr().out
    assert "sqlalchemy vs database" in plain and "name_mismatch" not in plain
    assert "--detailed" in plain
    assert main(["validate", "--sources", "sqlalchemy,database", "--detailed"]) == 0
    detailed = capsys.readouterr().out
    assert "name_mismatch" in detailed and "users_created_at_idx" in detailed

    execute(reference_db, "ALTER TABLE users DROP COLUMN image")
    assert main(["validate", "--sources", "database,sqlalchemy"]) == 1
    drifted = capsys.readouterr().out
    assert "missing_column" in drifted and "users.image" in drifted and "invalid" in drifted


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--sources", "sqlalchemy,mongo"], "mongo"),
        (["--sources", "database"], "at least two"),
        (["--sources", ""], "at least two"),
        (["--sa-metadata", "no_such_module_xyz:metadata"], "no_such_module_xyz"),
        (["--sa-metadata", "sa_models:NoSuchAttr"], "NoSuchAttr"),
        (
            ["--django-settings", "no_such_settings_xyz", "--sources", "django,database"],
            "no_such_settings_xyz",
        ),
        (["--frobnicate"], "--frobnicate"),
    ],
    ids=[
        "unknown-source",
        "one-source",
        "no-source",
        "unknown-module",
        "unknown-attribute",
        "unknown-settings",
        "unknown-flag",
    ],
)
def test_bad_input_exits_2_with_one_clear_line(
    reference_db: str, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    assert main(["validate", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err


def test_unreachable_database_exits_2_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cr3t-pw@127.0.0.1:1/auth")
    assert main(["validate", "--json", "--sources", "sqlalchemy,database"]) == 2
    captured = capsys.readouterr()
    assert "s3cr3t-pw" not in captured.out + captured.err
    assert "127.0.0.1" in captured.err and "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_a_django_only_project_validates_django_against_the_database(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No sa_metadata configured: django,database still compares (the empty database lacks
    every table of the Django models) instead of asking for the SQLAlchemy metadata."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dualorm]\ndjango_settings = "django_app.settings"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    code = main(["validate", "--json", "--sources", "django,database"])
    captured = capsys.readouterr()
    assert "sa_metadata" not in captured.err
    report = json.loads(captured.out)
    kinds = {(e["kind"], e["object"]) for e in report["errors"]}
    assert ("missing_table", "users") in kinds
    assert code == 1


def test_an_internal_error_while_normalising_is_exit_4_in_one_line(
    reference_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The server refuses the batch but, as far as dualorm can tell, none of its pieces: a
    # bug of dualorm, not drift (1) and not bad input (2).
    normalize = importlib.import_module("dualorm.normalize")
    monkeypatch.setattr(normalize, "_plan", _broken_plan(normalize._plan))
    monkeypatch.setattr(normalize, "_refused", lambda conn, plan: [])
    monkeypatch.delenv("DUALORM_DEBUG", raising=False)
    assert main(["validate", "--sources", "sqlalchemy,database"]) == 4
    err = capsys.readouterr().err
    assert "internal error" in err and "normalising" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def _broken_plan(plan: Any) -> Any:
    def broken(schema: Any, skip: Any) -> Any:
        planned = plan(schema, skip)
        planned.statements.append("SELECT no_such_function()")
        return planned

    return broken


def test_models_that_fail_while_loading_are_bad_input(
    reference_db: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "broken_models_xyz.py").write_text("metadata = undefined_name\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["validate", "--sources", "sqlalchemy,database", "--sa-metadata"]
    assert main([*args, "broken_models_xyz:metadata"]) == 2
    err = capsys.readouterr().err
    assert "broken_models_xyz" in err and "NameError" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_changed_comment_is_a_warning(
    reference_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    execute(reference_db, "COMMENT ON TABLE roles IS 'set by hand'")
    code, report = run_json(capsys)
    assert code == 0 and report["errors"] == []
    (found,) = [w for w in report["warnings"] if w["kind"] == "comment_mismatch"]
    assert (found["object"], found["from"], found["to"]) == ("roles", None, "set by hand")
