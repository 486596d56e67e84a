"""The real dry run: pending migrations executed in one transaction and rolled back, with
per-statement timings and the locks PostgreSQL granted; catalog and ledgers unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from project_files import spec_project

from dualorm.api import migrate_up
from dualorm.db import connect
from dualorm.errors import MigrationFailed
from dualorm.runner.impact_model import Lock
from dualorm.runner.pipeline import rehearse
from dualorm.sources import postgres

BASE = """\
id: "0001_base"
name: base
dependencies: []
operations:
  - create_table:
      name: owners
      columns:
        - {name: id, type: bigint, primary_key: true}
  - create_table:
      name: events
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: kind, type: varchar(20)}
        - {name: owner_id, type: bigint}
"""

INDEX = """\
id: "0002_index"
name: index
dependencies: ["0001_base"]
operations:
  - create_index: {name: events_kind_idx, table: events, columns: [kind], concurrently: true}
"""

COLUMN = """\
id: "0003_column"
name: column
dependencies: ["0002_index"]
operations:
  - add_column: {table: events, name: note, type: text}
  - add_foreign_key:
      table: events
      name: events_owner_fk
      columns: [owner_id]
      references: owners(id)
      not_valid: true
"""

BROKEN = """\
id: "0004_broken"
name: broken
dependencies: ["0003_column"]
operations:
  - add_column: {table: events, name: extra, type: integer}
  - run_sql: {sql: "ALTER TABLE events ADD COLUMN note text", reverse_sql: "SELECT 1"}
"""


LEDGERS = (
    "SELECT to_jsonb(m) FROM dualorm.migrations m ORDER BY id",
    "SELECT to_jsonb(m) FROM dualorm.meta m ORDER BY key",
    "SELECT to_jsonb(a) FROM dualorm.audit a ORDER BY id",
    "SELECT to_jsonb(v) FROM alembic_version v ORDER BY 1",
    "SELECT to_jsonb(d) FROM django_migrations d ORDER BY id",
)


def snapshot(url: str) -> tuple[str, ...]:
    """The catalog as dualorm reads it, every ledger row, and every relation's name and kind."""
    with connect(url, autocommit=True) as conn:
        parts = [repr(postgres.load(conn, schemas=("public", "dualorm")))]
        for query in LEDGERS:
            table = query.split(" FROM ")[1].split()[0]
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
            rows = conn.execute(query).fetchall() if exists and exists[0] else []
            parts.append(repr(rows))
        relations = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
            "ORDER BY 1, 2"
        ).fetchall()
        parts.append(repr(relations))
    return tuple(parts)


def test_dry_run_executes_reports_locks_and_leaves_everything_identical(
    tmp_path: Path, database_url: str
) -> None:
    config = spec_project(tmp_path, database_url, ("0001_base", BASE))
    migrate_up(config)
    with connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO owners SELECT g FROM generate_series(1, 50) g")
        conn.execute("INSERT INTO events SELECT g, 'k', 1 + g % 50 FROM generate_series(1, 500) g")
    spec_project(tmp_path, database_url, ("0002_index", INDEX), ("0003_column", COLUMN))
    before = snapshot(database_url)

    result = migrate_up(config, dry_run=True)

    assert snapshot(database_url) == before
    rehearsal = result.rehearsal
    assert rehearsal is not None and rehearsal.rolled_back
    assert rehearsal.planned == ("0002_index", "0003_column")
    (index,) = rehearsal.for_migration("0002_index")
    assert "CONCURRENTLY" in index.statement
    assert index.rehearsed_as is not None and "CONCURRENTLY" not in index.rehearsed_as.split("(")[0]
    assert {(lock.relation, lock.lock) for lock in index.locks} >= {("events", Lock.SHARE)}
    column, fk = rehearsal.for_migration("0003_column")
    assert ("events", Lock.ACCESS_EXCLUSIVE) in {
        (lock.relation, lock.lock) for lock in column.locks
    }
    assert ("owners", Lock.SHARE_ROW_EXCLUSIVE) in {(lock.relation, lock.lock) for lock in fk.locks}
    assert all(s.duration_ms >= 0 for s in rehearsal.statements)
    # The psql script stays available for `migrate plan --sql`.
    assert result.script is not None and "events_kind_idx" in result.script
    assert result.to_dict()["dry_run"] is True


def test_dry_run_of_an_empty_database_creates_nothing(tmp_path: Path, database_url: str) -> None:
    config = spec_project(tmp_path, database_url, ("0001_base", BASE), ("0002_index", INDEX))
    before = snapshot(database_url)
    rehearsal = rehearse(config)
    assert rehearsal.planned == ("0001_base", "0002_index")
    assert snapshot(database_url) == before
    with connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regnamespace('dualorm') IS NULL").fetchone()
    assert row == (True,)


def test_a_failing_migration_fails_the_dry_run_and_changes_nothing(
    tmp_path: Path, database_url: str
) -> None:
    config = spec_project(tmp_path, database_url, ("0001_base", BASE))
    migrate_up(config)
    spec_project(tmp_path, database_url, ("0002_index", INDEX), ("0003_column", COLUMN))
    spec_project(tmp_path, database_url, ("0004_broken", BROKEN))
    before = snapshot(database_url)
    with pytest.raises(MigrationFailed) as failure:
        rehearse(config)
    assert failure.value.migration_id == "0004_broken"
    assert snapshot(database_url) == before


ENUM = """\
id: "0002_enum"
name: enum
dependencies: ["0001_base"]
operations:
  - create_enum: {name: event_state, labels: [open, closed]}
  - add_column: {table: events, name: state, type: event_state}
"""
LABEL = """\
id: "0003_label"
name: label
dependencies: ["0002_enum"]
operations:
  - add_enum_value: {enum: event_state, label: on_hold, after: open}
"""
USES_LABEL = """\
id: "0004_uses_label"
name: uses label
dependencies: ["0003_label"]
operations:
  - alter_column: {table: events, name: state, server_default: "'on_hold'::event_state"}
"""


def test_a_label_added_by_one_migration_is_usable_by_the_next_in_the_dry_run(
    tmp_path: Path, database_url: str
) -> None:
    # The real run commits each migration, so the next one may use the new label; the dry
    # run keeps them in one transaction, where PostgreSQL refuses a label added in it.
    config = spec_project(tmp_path, database_url, ("0001_base", BASE), ("0002_enum", ENUM))
    migrate_up(config)
    spec_project(tmp_path, database_url, ("0003_label", LABEL), ("0004_uses_label", USES_LABEL))
    before = snapshot(database_url)
    rehearsal = rehearse(config)
    assert rehearsal.planned == ("0003_label", "0004_uses_label")
    assert snapshot(database_url) == before
    migrate_up(config)
    catalog = postgres.load(database_url)
    assert catalog.enum("event_state").labels == ("open", "on_hold", "closed")  # type: ignore[union-attr]
