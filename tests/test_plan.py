"""The migration plan on a real database: locks, sizes, risk, lint findings, stable JSON."""

from __future__ import annotations

import json
from pathlib import Path

from project_files import spec_project

from dualorm.db import connect
from dualorm.runner.plan import PLAN_FORMAT, Risk, create_migration_plan

BASE = """\
id: "0001_base"
name: base
dependencies: []
operations:
  - create_table:
      name: events
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: kind, type: varchar(20)}
        - {name: qty, type: integer}
"""

CHANGE = """\
id: "0002_change"
name: change
dependencies: ["0001_base"]
operations:
  - create_index: {name: events_kind_idx, table: events, columns: [kind]}
  - add_column: {table: events, name: note, type: text}
"""
SPECS = (("0001_base", BASE), ("0002_change", CHANGE))


def test_plan_of_fresh_database_lists_everything_low_risk(
    tmp_path: Path, database_url: str
) -> None:
    plan = create_migration_plan(spec_project(tmp_path, database_url, *SPECS))
    assert [m.id for m in plan.migrations] == ["0001_base", "0002_change"]
    # events does not exist yet: nothing can block live traffic.
    assert plan.migrations[0].risk is Risk.LOW


def test_plan_names_locks_sizes_and_risk_on_a_large_table(
    tmp_path: Path, database_url: str
) -> None:
    config = spec_project(tmp_path, database_url, *SPECS)
    from dualorm.api import migrate_up

    migrate_up(config, to="0001_base")
    with connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events SELECT g, 'k' || (g % 7), g FROM generate_series(1, 150000) g"
        )
        conn.execute("ANALYZE events")
    plan = create_migration_plan(config)
    (migration,) = plan.migrations
    assert migration.id == "0002_change"
    index, column = migration.statements
    (lock,) = index.locks
    assert lock.lock.label == "SHARE" and lock.scans and lock.table == "events"
    assert index.sizes["events"].rows is not None and index.sizes["events"].rows > 100_000
    assert index.risk is Risk.HIGH
    assert column.risk is Risk.LOW and "lock_timeout" in column.why
    assert any(f.rule == "require-concurrent-index" and f.blocking for f in migration.findings)
    assert plan.risk is Risk.HIGH

    document = json.loads(json.dumps(plan.to_dict()))
    assert document["format"] == PLAN_FORMAT
    assert document["pending"] == ["0002_change"]
    statement = document["migrations"][0]["statements"][0]
    assert statement["locks"][0] == {
        "table": "events",
        "lock": "SHARE",
        "blocks_reads": False,
        "blocks_writes": True,
        "rewrites": False,
        "scans": True,
        "rows": statement["locks"][0]["rows"],
        "bytes": statement["locks"][0]["bytes"],
        "note": "blocks writes while it builds",
    }
    assert statement["risk"] == "high"
    assert 'CREATE INDEX "events_kind_idx"' in statement["sql"]


def test_plan_never_shows_a_password(tmp_path: Path, database_url: str) -> None:
    url = database_url.replace("postgresql://postgres@", "postgresql://postgres:sekrit@")
    if url == database_url:  # a socket URL without user info: add a password parameter
        url = database_url + ("&" if "?" in database_url else "?") + "password=sekrit"
    plan = create_migration_plan(spec_project(tmp_path, url, *SPECS))
    assert "sekrit" not in json.dumps(plan.to_dict())
