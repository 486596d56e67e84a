"""One pipeline for every way in: the Python API gets production's policy, a dry run plans what
the real run applies, refusals come before any backup, a lost spec is named, notifications
never hold a run up, and an unexpected error is exit 4."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from project_files import project
from runner_specs import applied_ids, snapshot, table_ops, write_spec

from dualorm import api
from dualorm.backup.crypto import generate_key
from dualorm.config import Config
from dualorm.db import connect
from dualorm.errors import (
    AppliedSpecMissing,
    ConfigError,
    ConfirmationRequired,
    EnvironmentMismatch,
    LedgersDisagree,
    UsageError,
    exit_code,
)
from dualorm.runner import history
from dualorm.runner.production.migrator import ProductionMigrator


def production(root: Path, url: str) -> Config:
    return project(root, url, "production").with_(
        backup_key=generate_key(), backup_dir=str(root / "backups")
    )


def backups(root: Path) -> list[Path]:
    folder = root / "backups"
    return sorted(folder.iterdir()) if folder.exists() else []


def branching(root: Path) -> list[str]:
    """0001 <- 0002a, 0001 <- 0002b (two branches), 0003 needs both: a branching history."""
    write_spec(root, "0001_root", [], table_ops("root"))
    write_spec(root, "0002_a", ["0001_root"], table_ops("a"))
    write_spec(root, "0003_b", ["0001_root"], table_ops("b"))
    write_spec(root, "0004_join", ["0002_a", "0003_b"], table_ops("j"))
    write_spec(root, "0005_tail", ["0002_a"], table_ops("tail"))
    return ["0001_root", "0002_a", "0003_b", "0004_join", "0005_tail"]


def test_the_dry_run_rehearses_exactly_what_the_real_run_applies_for_any_to(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    ids = branching(tmp_path)
    for to in [None, *ids]:
        before = snapshot(database_url)
        dry = api.migrate_up(config, to, dry_run=True)
        assert snapshot(database_url) == before
        assert dry.rehearsal is not None and dry.rehearsal.planned == dry.planned
        real = api.migrate_up(config, to)
        assert real.done == dry.planned, to
        api.migrate_down(config, to=None, steps=len(applied_ids(database_url)) or None)
        assert applied_ids(database_url) == []


def test_the_python_api_in_production_needs_a_confirmation_and_changes_nothing_without(
    tmp_path: Path, database_url: str
) -> None:
    config = production(tmp_path, database_url)
    write_spec(tmp_path, "0001_root", [], table_ops("root"))
    before = snapshot(database_url)
    with pytest.raises(ConfirmationRequired) as refused:
        api.migrate_up(config)
    assert exit_code(refused.value) == 3
    shown: list[tuple[str, ...]] = []

    def decline(plan: object) -> bool:
        shown.append(tuple(m.id for m in plan.migrations))  # type: ignore[attr-defined]
        return False

    with pytest.raises(ConfirmationRequired):
        api.migrate_up(config, confirm=decline)
    assert shown == [("0001_root",)]
    assert snapshot(database_url) == before and backups(tmp_path) == []
    done = api.migrate_up(config, confirm=lambda plan: True)
    assert done.done == ("0001_root",)
    assert done.production is not None and done.production.backup
    assert len([p for p in backups(tmp_path) if p.suffix == ".json"]) == 1


def test_production_down_is_confirmed_and_backed_up_first(
    tmp_path: Path, database_url: str
) -> None:
    config = production(tmp_path, database_url)
    write_spec(tmp_path, "0001_root", [], table_ops("root"))
    api.migrate_up(config, assume_yes=True, backup=False)
    with connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO root (id, label) VALUES (1, 'kept in the backup')")
    before = snapshot(database_url)
    with pytest.raises(ConfirmationRequired, match="rollback"):
        api.migrate_down(config)
    assert snapshot(database_url) == before and backups(tmp_path) == []
    plans: list[object] = []
    done = api.migrate_down(config, confirm=lambda plan: plans.append(plan) or True)
    assert done.done == ("0001_root",)
    planned = plans[0].migrations[0]  # type: ignore[attr-defined]
    assert any("DROP TABLE" in s.sql for s in planned.statements)
    assert str(planned.risk) == "high"  # the rollback loses the rows of a populated table
    assert done.production is not None and done.production.backup
    assert Path(done.production.backup).exists()


def test_a_refused_production_run_takes_no_backup(tmp_path: Path, database_url: str) -> None:
    staging = project(tmp_path, database_url, "staging")
    write_spec(tmp_path, "0001_root", [], table_ops("root"))
    api.migrate_up(staging)
    write_spec(tmp_path, "0002_more", ["0001_root"], table_ops("more"))
    before = snapshot(database_url)
    with pytest.raises(EnvironmentMismatch):
        api.migrate_up(production(tmp_path, database_url), assume_yes=True)
    assert snapshot(database_url) == before and backups(tmp_path) == []


@pytest.mark.parametrize("budget", [float("nan"), float("inf"), -5.0, 0.0])
def test_a_downtime_budget_that_is_not_a_positive_number_is_bad_input(
    tmp_path: Path, database_url: str, budget: float
) -> None:
    config = production(tmp_path, database_url)
    write_spec(tmp_path, "0001_root", [], table_ops("root"))
    before = snapshot(database_url)
    for call in (api.migrate_up, api.migrate_down):
        with pytest.raises(UsageError, match="--max-downtime") as refused:
            call(config, assume_yes=True, max_downtime=budget)
        assert exit_code(refused.value) == 2
    assert snapshot(database_url) == before and backups(tmp_path) == []


def test_a_deleted_applied_spec_is_named_not_reported_as_disagreeing_ledgers(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url)
    write_spec(tmp_path, "0001_root", [], table_ops("root"))
    gone = write_spec(tmp_path, "0002_gone", ["0001_root"], table_ops("gone"))
    api.migrate_up(config)
    gone.rename(gone.with_name("0002_renamed.yaml"))
    gone.with_name("0002_renamed.yaml").write_text(
        gone.with_name("0002_renamed.yaml").read_text().replace("0002_gone", "0002_renamed")
    )
    before = snapshot(database_url)
    for call in (api.migrate_up, api.migrate_down):
        with pytest.raises(AppliedSpecMissing, match="0002_gone") as refused:
            call(config)
        assert exit_code(refused.value) == 3
    assert snapshot(database_url) == before


def test_a_tampered_alembic_version_refuses_with_exit_3(tmp_path: Path, database_url: str) -> None:
    config = project(tmp_path, database_url)
    write_spec(tmp_path, "0001_root", [], table_ops("root"))
    write_spec(tmp_path, "0002_more", ["0001_root"], table_ops("more"))
    api.migrate_up(config, "0001_root")
    with connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0002_more'")
    before = snapshot(database_url)
    with pytest.raises(LedgersDisagree, match="alembic_version") as refused:
        api.migrate_up(config)
    assert exit_code(refused.value) == 3
    assert snapshot(database_url) == before


def test_a_missing_migrations_dir_is_bad_configuration(tmp_path: Path, database_url: str) -> None:
    config = Config(
        root=tmp_path,
        migrations_dir="nowhere",
        django_app_label="django_app",
        database_url=database_url,
    )
    for call in (api.migrate_up, api.migrate_down, api.migrate_status):
        with pytest.raises(ConfigError, match="nowhere") as refused:
            call(config)
        assert exit_code(refused.value) == 2


class _Hanging(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        time.sleep(30)

    def log_message(self, *args: object) -> None:
        pass


def test_a_hanging_webhook_receiver_never_holds_a_production_run_up(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hanging)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = production(tmp_path, database_url).with_(
            webhook_url=f"http://127.0.0.1:{server.server_port}/hook"
        )
        write_spec(tmp_path, "0001_root", [], table_ops("root"))
        started = time.monotonic()
        done = ProductionMigrator(config, assume_yes=True, notify_budget=1.0).run(
            "up", backup_before_migration=False, max_downtime=2
        )
        took = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert done.applied == ("0001_root",) and done.ok
    # Each delivery alone may wait 5 s a try, four tries; the run waited at most the budget.
    assert took < 6


def test_an_unexpected_error_is_exit_4_in_one_line(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dualorm.cli import main

    project(tmp_path, database_url)
    write_spec(tmp_path, "0001_root", [], table_ops("root"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DUALORM_DEBUG", raising=False)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    # The function `migrate status` runs (its handler imports it from its own module).
    monkeypatch.setattr(history, "migrate_status", broken)
    assert main(["migrate", "status"]) == 4
    err = capsys.readouterr().err
    assert "internal error" in err and "a bug" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
