"""``dualorm reset``: refused for staging and production whatever the flags, without --confirm,
and on a database labelled otherwise; in development it drops everything, migrates and seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
from project_files import NO_MODELS, use_project, write_project

from dualorm.api import migrate_up
from dualorm.cli import main
from dualorm.config import Config, Environment
from dualorm.db import connect

BASE = """\
id: "0001_base"
name: base
dependencies: []
operations:
  - create_table:
      name: accounts
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: name, type: varchar(40), nullable: false}
"""

SEED = '''\
"""Two accounts for development."""

from dualorm.seeding import Seed, SeedContext


class Accounts(Seed):
    name = "Accounts"
    description = "Two accounts."
    environments = ("development", "testing")
    version = "1"

    def execute(self, ctx: SeedContext) -> None:
        ctx.upsert("accounts", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], key=["id"])
'''


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    settings = {**NO_MODELS, "django_settings": "missing_settings"}
    write_project(tmp_path, BASE, settings=settings, files={"seeds/0001_accounts.py": SEED})
    return use_project(monkeypatch, tmp_path, database_url)


def tables(url: str) -> list[str]:
    with connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


@pytest.mark.parametrize(
    "argv",
    [
        ["reset", "--env", "production", "--confirm"],
        ["reset", "--env", "staging", "--confirm"],
        ["reset", "--env", "development"],
    ],
    ids=["production", "staging", "no-confirm"],
)
def test_refused_with_exit_3_and_nothing_changed(
    project: Path, database_url: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE keep_me (id int)")
    assert main(argv) == 3
    assert "error:" in capsys.readouterr().err
    assert tables(database_url) == ["public.keep_me"]


def test_refused_when_dualorm_env_is_production(
    project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUALORM_ENV", "production")
    assert main(["reset", "--env", "development", "--confirm"]) == 3


def test_refused_when_the_database_is_labelled_production(project: Path, database_url: str) -> None:
    config = Config(
        root=project,
        django_app_label="django_app",
        database_url=database_url,
        environment=Environment.PRODUCTION,
    )
    migrate_up(config, assume_yes=True, backup=False)
    before = tables(database_url)
    assert main(["reset", "--env", "development", "--confirm"]) == 3
    assert tables(database_url) == before


def test_refused_when_labelled_another_resettable_environment(
    project: Path, database_url: str
) -> None:
    migrate_up(
        Config(
            root=project,
            django_app_label="django_app",
            database_url=database_url,
            environment=Environment.TESTING,
        )
    )
    assert main(["reset", "--env", "development", "--confirm"]) == 3


def test_reset_drops_everything_then_migrates_and_seeds(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Config(root=project, django_app_label="django_app", database_url=database_url)
    migrate_up(config)
    assert main(["db", "label", "development"]) == 0
    with connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE leftover (id int)")
        conn.execute("INSERT INTO accounts VALUES (99, 'stale')")
        owner_before = conn.execute(
            "SELECT nspowner::regrole::text, nspacl::text FROM pg_namespace "
            "WHERE nspname = 'public'"
        ).fetchone()

    assert main(["reset", "--env", "development", "--confirm"]) == 0, capsys.readouterr().err

    assert "public.leftover" not in tables(database_url)
    with connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT id, name FROM accounts ORDER BY id").fetchall()
        applied = conn.execute("SELECT id FROM dualorm.migrations").fetchall()
        label = conn.execute("SELECT value FROM dualorm.meta WHERE key = 'environment'").fetchone()
        owner_after = conn.execute(
            "SELECT nspowner::regrole::text, nspacl::text FROM pg_namespace "
            "WHERE nspname = 'public'"
        ).fetchone()
    assert rows == [(1, "a"), (2, "b")]
    assert applied == [("0001_base",)]
    assert label == ("development",)
    assert owner_after == owner_before


def snapshot(url: str) -> tuple[list[str], list[tuple[object, ...]]]:
    """Every table, and the rows of accounts when it exists."""
    with connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass('public.accounts') IS NOT NULL").fetchone()
        rows = (
            conn.execute("SELECT * FROM accounts ORDER BY id").fetchall()
            if found and found[0]
            else []
        )
    return tables(url), rows


def test_a_database_dualorm_never_managed_is_never_dropped(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE payroll (id int)")
        conn.execute("INSERT INTO payroll VALUES (1)")
    assert main(["reset", "--env", "development", "--confirm"]) == 3
    err = capsys.readouterr().err
    assert "no environment label" in err and "dualorm db label ENV" in err
    assert tables(database_url) == ["public.payroll"]


def test_an_unlabelled_migrated_database_is_refused_and_first_up_does_not_label(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # DUALORM_ENV unset: development is only the default, so the first up writes no label.
    assert main(["migrate", "up"]) == 0
    with connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO accounts VALUES (7, 'kept')")
        label = conn.execute("SELECT value FROM dualorm.meta WHERE key = 'environment'").fetchone()
    assert label is None
    before = snapshot(database_url)
    capsys.readouterr()
    assert main(["reset", "--env", "development", "--confirm"]) == 3
    assert "dualorm db label ENV" in capsys.readouterr().err
    assert snapshot(database_url) == before


def test_a_garbage_label_is_refused_naming_it(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate_up(
        Config(
            root=project,
            django_app_label="django_app",
            database_url=database_url,
            environment=Environment.TESTING,
        )
    )
    with connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE dualorm.meta SET value = 'moon' WHERE key = 'environment'")
    before = snapshot(database_url)
    capsys.readouterr()
    assert main(["reset", "--env", "development", "--confirm"]) == 3
    err = capsys.readouterr().err
    assert "'moon'" in err and "unexpected" not in err
    assert snapshot(database_url) == before


def test_the_label_survives_a_reset(project: Path, database_url: str) -> None:
    migrate_up(
        Config(
            root=project,
            django_app_label="django_app",
            database_url=database_url,
            environment=Environment.TESTING,
        )
    )
    assert main(["reset", "--env", "testing", "--confirm"]) == 0
    with connect(database_url, autocommit=True) as conn:
        label = conn.execute("SELECT value FROM dualorm.meta WHERE key = 'environment'").fetchone()
    assert label == ("testing",)
