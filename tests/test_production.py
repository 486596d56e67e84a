"""Production runs on a real database: a half-way failure rolled back with signed webhooks and
no password anywhere, refusals (no confirmation, lint errors), and the downtime budget holding
writers' waits under it while a long transaction blocks the migration."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from project_files import ACCOUNTS_SPEC, spec_project
from webhooks import Receiver

from dualorm.api import migrate_up
from dualorm.config import Config, Environment
from dualorm.db import connect
from dualorm.errors import (
    ConfirmationRequired,
    LintRefused,
    MigrationFailed,
    ProductionFailed,
    exit_code,
)
from dualorm.notify import SIGNATURE_HEADER, verify
from dualorm.runner.production.migrator import ProductionMigrator
from dualorm.sources import postgres

SECRET = "hook-secret"
PASSWORD = "pr0d-s3cret"

BASE = ACCOUNTS_SPEC

GOOD = """\
id: "0002_note"
name: note
dependencies: ["0001_base"]
operations:
  - add_column: {table: accounts, name: note, type: text}
"""

BROKEN = """\
id: "0003_broken"
name: broken
dependencies: ["0002_note"]
operations:
  - add_column: {table: accounts, name: flag, type: boolean}
  - run_sql: {sql: "ALTER TABLE accounts ADD COLUMN note text", reverse_sql: "SELECT 1"}
"""

UNSAFE = """\
id: "0002_unsafe"
name: unsafe
dependencies: ["0001_base"]
operations:
  - create_index: {name: accounts_balance_idx, table: accounts, columns: [balance]}
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def project(tmp_path: Path, url: str, *specs: tuple[str, str]) -> Config:
    """A production project holding ``specs`` (:func:`project_files.spec_project`)."""
    return spec_project(
        tmp_path, url, *specs, environment=Environment.PRODUCTION, webhook_secret=SECRET
    )


def with_password(url: str) -> str:
    """The same database with a password in the URL (trust auth accepts any)."""
    if "postgresql://postgres@" in url:
        return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    return url + ("&" if "?" in url else "?") + f"password={PASSWORD}"


def snapshot(url: str) -> tuple[str, ...]:
    """Catalog and the three migration ledgers (the audit trail is meant to grow)."""
    with connect(url, autocommit=True) as conn:
        parts = [repr(postgres.load(conn))]
        for query in (
            "SELECT id, name, checksum FROM dualorm.migrations ORDER BY id",
            "SELECT key, value FROM dualorm.meta ORDER BY key",
            "SELECT version_num FROM alembic_version ORDER BY 1",
            "SELECT app, name FROM django_migrations ORDER BY id",
        ):
            parts.append(repr(conn.execute(query).fetchall()))
    return tuple(parts)


def test_failure_half_way_is_rolled_back_with_signed_events_and_no_password(
    tmp_path: Path, database_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    url = with_password(database_url)
    config = project(tmp_path, url, ("0001_base", BASE))
    migrate_up(config, assume_yes=True, backup=False)
    with connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO accounts SELECT g, g FROM generate_series(1, 100) g")
    project(tmp_path, url, ("0002_note", GOOD), ("0003_broken", BROKEN))
    before = snapshot(url)
    caplog.set_level(logging.DEBUG, logger="dualorm")

    migrator = ProductionMigrator(config, assume_yes=True)
    with pytest.raises(MigrationFailed) as failure:
        migrator.execute_production_migration(
            backup_before_migration=False,
            max_downtime=5.0,
            rollback_on_failure=True,
            notification_webhook=receiver.url,
        )

    assert exit_code(failure.value) == 1
    assert isinstance(failure.value, ProductionFailed)
    result = failure.value.result
    assert result.applied == ("0002_note",)
    assert result.rollback == "down" and result.rolled_back == ("0002_note",)
    assert snapshot(url) == before

    events = []
    for headers, body in receiver.requests:
        assert verify(SECRET, body, headers[SIGNATURE_HEADER])
        events.append(json.loads(body))
    assert [e["event"] for e in events] == [
        "plan",
        "started",
        "migration_applied",
        "failed",
        "rolled_back",
    ]
    assert {e["correlation_id"] for e in events} == {result.correlation_id}
    assert all(e["environment"] == "production" for e in events)
    assert events[2]["migration"] == "0002_note" and events[2]["duration_ms"] >= 0
    assert events[3]["migration"] == "0003_broken"
    assert events[4]["method"] == "down" and events[4]["migrations"] == ["0002_note"]

    sent = b"".join(body for _, body in receiver.requests).decode()
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    with connect(url, autocommit=True) as conn:
        audit = repr(conn.execute("SELECT * FROM dualorm.audit").fetchall())
    for text in (sent, logged, audit, str(failure.value), json.dumps(result.to_dict())):
        assert PASSWORD not in text
    assert "***" in sent


def test_production_needs_confirmation(tmp_path: Path, database_url: str) -> None:
    config = project(tmp_path, database_url, ("0001_base", BASE))
    before = snapshot_or_empty(database_url)
    with pytest.raises(ConfirmationRequired) as refused:
        ProductionMigrator(config).execute_production_migration(backup_before_migration=False)
    assert exit_code(refused.value) == 3
    declined = ProductionMigrator(config, confirm=lambda plan: plan.migrations == ())
    with pytest.raises(ConfirmationRequired):
        declined.execute_production_migration(backup_before_migration=False)
    assert snapshot_or_empty(database_url) == before
    shown = []
    accepted = ProductionMigrator(config, confirm=lambda plan: shown.append(plan) or True)
    result = accepted.execute_production_migration(backup_before_migration=False)
    assert result.applied == ("0001_base",) and len(shown) == 1


def snapshot_or_empty(url: str) -> str:
    with connect(url, autocommit=True) as conn:
        return repr(postgres.load(conn, schemas=("public", "dualorm")))


def test_unacknowledged_lint_errors_are_refused(tmp_path: Path, database_url: str) -> None:
    config = project(tmp_path, database_url, ("0001_base", BASE))
    migrate_up(config, assume_yes=True, backup=False)
    project(tmp_path, database_url, ("0002_unsafe", UNSAFE))
    before = snapshot(database_url)
    with pytest.raises(LintRefused) as refused:
        ProductionMigrator(config, assume_yes=True).execute_production_migration(
            backup_before_migration=False
        )
    assert exit_code(refused.value) == 3
    assert [f.rule for f in refused.value.findings] == ["require-concurrent-index"]
    assert snapshot(database_url) == before


def test_dry_run_in_production_rehearses_and_changes_nothing(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url, ("0001_base", BASE))
    migrate_up(config, assume_yes=True, backup=False)
    project(tmp_path, database_url, ("0002_note", GOOD))
    before = snapshot(database_url)
    result = ProductionMigrator(config, assume_yes=True).execute_production_migration(dry_run=True)
    assert result.rehearsal is not None and result.rehearsal.planned == ("0002_note",)
    assert result.backup is None and result.applied == ()
    assert snapshot(database_url) == before


def test_max_downtime_bounds_writer_waits_behind_a_long_transaction(
    tmp_path: Path, database_url: str
) -> None:
    config = project(tmp_path, database_url, ("0001_base", BASE))
    migrate_up(config, assume_yes=True, backup=False)
    with connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 1000) g")
    project(tmp_path, database_url, ("0002_note", GOOD))
    before = snapshot(database_url)
    budget = 0.4
    stop = threading.Event()
    waits: list[float] = []

    def writer() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            i = 0
            while not stop.is_set():
                started = time.perf_counter()
                conn.execute(
                    "UPDATE accounts SET balance = balance + 1 WHERE id = %s", (1 + i % 1000,)
                )
                waits.append(time.perf_counter() - started)
                i += 1
                time.sleep(0.002)

    blocker = psycopg.connect(database_url)
    blocker.execute("SELECT count(*) FROM accounts")  # holds ACCESS SHARE until rollback
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.2)
        started = time.perf_counter()
        with pytest.raises(ProductionFailed) as failure:
            ProductionMigrator(config, assume_yes=True).execute_production_migration(
                backup_before_migration=False, max_downtime=budget
            )
        elapsed = time.perf_counter() - started
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
        blocker.rollback()
        blocker.close()
    assert "lock" in failure.value.cause
    assert failure.value.result.rollback == "none"
    assert len(waits) > 50
    assert max(waits) < budget, f"a writer waited {max(waits) * 1000:.0f} ms"
    assert elapsed < budget * 10
    assert snapshot(database_url) == before


IRREVERSIBLE = """\
id: "0002_note"
name: note, backfilled without a way back
dependencies: ["0001_base"]
operations:
  - add_column: {table: accounts, name: note, type: text}
  - run_sql: {sql: "UPDATE accounts SET note = 'seen'"}
"""


def test_restore_from_backup_is_the_last_resort(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    import base64
    import os

    config = project(tmp_path, database_url, ("0001_base", BASE))
    migrate_up(config, assume_yes=True, backup=False)
    with connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO accounts SELECT g, g FROM generate_series(1, 50) g")
    project(tmp_path, database_url, ("0002_note", IRREVERSIBLE), ("0003_broken", BROKEN))
    config = config.with_(
        backup_key=base64.b64encode(os.urandom(32)).decode(), backup_dir=str(tmp_path / "b")
    )
    before = snapshot(database_url)
    with connect(database_url, autocommit=True) as conn:
        rows_before = conn.execute("SELECT * FROM accounts ORDER BY id").fetchall()

    with pytest.raises(ProductionFailed) as failure:
        ProductionMigrator(config, assume_yes=True).execute_production_migration(
            backup_before_migration=True,
            rollback_on_failure=True,
            notification_webhook=receiver.url,
        )

    result = failure.value.result
    assert result.applied == ("0002_note",)
    assert result.rollback == "restore"
    assert result.backup is not None
    assert snapshot(database_url) == before
    with connect(database_url, autocommit=True) as conn:
        assert conn.execute("SELECT * FROM accounts ORDER BY id").fetchall() == rows_before
    (rolled_back,) = [json.loads(body) for _, body in receiver.requests if b'"rolled_back"' in body]
    assert rolled_back["method"] == "restore"
