"""A concurrent index build is not cancelled by a downtime budget's statement_timeout."""

from __future__ import annotations

from pathlib import Path

from dualorm.api import migrate_up
from dualorm.config import Config
from dualorm.db import connect

SPECS = {
    "0001_base": """\
id: "0001_base"
name: base
dependencies: []
operations:
  - create_table: {name: items, columns: [{name: id, type: integer, primary_key: true}]}
""",
    "0002_index": """\
id: "0002_index"
name: slow concurrent index
dependencies: ["0001_base"]
operations:
  - create_index: {name: items_slow_idx, table: items, columns: [slow(id)], concurrently: true}
""",
}


def test_concurrent_build_outlives_statement_timeout(tmp_path: Path, database_url: str) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_base.yaml").write_text(SPECS["0001_base"])
    config = Config(root=tmp_path, django_app_label="django_app", database_url=database_url)
    migrate_up(config)
    with connect(database_url, autocommit=True) as conn:
        # Declared immutable so it can be indexed; it sleeps 10 ms a row: ~300 ms in all.
        conn.execute(
            "CREATE FUNCTION slow(integer) RETURNS integer IMMUTABLE LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(0.01); RETURN $1; END $$"
        )
        conn.execute("INSERT INTO items SELECT generate_series(1, 30)")
    (folder / "0002_index.yaml").write_text(SPECS["0002_index"])
    sep = "&" if "?" in database_url else "?"
    budgeted = config.with_(database_url=f"{database_url}{sep}options=-c%20statement_timeout%3D100")

    migrate_up(budgeted)

    with connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = 'items_slow_idx'"
        ).fetchone()
        timeout = conn.execute(
            "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'"
        ).fetchone()
    assert row == (True,)
    assert timeout == ("0",)
