"""Adopting an existing database: ``migrate init --from-database`` and ``migrate baseline``.

Everything runs through the CLI, as a user would, in a temporary project whose
``[tool.dualorm]`` names ``migrations/``, against real databases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dualorm.db import connection
from tests.runner_specs import project, snapshot, write_spec

ROOT = Path(__file__).resolve().parent.parent


def cli(root: Path, url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``dualorm`` (this checkout's) in the project at ``root`` against ``url``."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    for name in ("DUALORM_ENV", "DATABASE_REPLICA_URLS", "DUALORM_WEBHOOK_URL"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "dualorm.cli", *argv],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def execute(url: str, sql: str) -> None:
    with connection(url, autocommit=True) as conn:
        conn.execute(sql)  # test DDL, written here


# -- baseline refusals name every difference ---------------------------------------------------

WIDE = 25


def test_baseline_refusal_lists_every_difference(tmp_path: Path, database_url: str) -> None:
    project(tmp_path, database_url)
    write_spec(
        tmp_path,
        "0001_wide",
        [],
        "  - create_table:\n      name: wide\n      columns:\n"
        "        - {name: id, type: bigint, primary_key: true}\n"
        "        - {name: label, type: varchar(20)}\n",
    )
    extra = ", ".join(f"c{i:02d} integer" for i in range(WIDE))
    execute(database_url, f"CREATE TABLE wide (id bigint PRIMARY KEY, label text, {extra})")

    refused = cli(tmp_path, database_url, "migrate", "baseline", "--to", "0001_wide")
    assert refused.returncode == 1, refused.stderr
    text = refused.stderr
    assert "1 difference(s) found" not in text
    assert f"in {WIDE + 1} way(s)" in text
    assert (
        "type_mismatch wide.label: wide.label is character varying(20) in specs but text in "
        "database"
    ) in text
    shown = [line for line in text.splitlines() if line.startswith("  extra_column wide.c")]
    assert len(shown) == 19  # twenty lines in all, the type mismatch first
    assert f"  and {WIDE + 1 - 20} more" in text
    assert snapshot(database_url)["dualorm"] == []

    as_json = cli(tmp_path, database_url, "migrate", "baseline", "--to", "0001_wide", "--json")
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["ok"] is False
    kinds = sorted({d["kind"] for d in document["differences"]})
    assert kinds == ["extra_column", "type_mismatch"]
    assert len(document["differences"]) == WIDE + 1
    mismatch = next(d for d in document["differences"] if d["kind"] == "type_mismatch")
    assert (mismatch["object"], mismatch["from"], mismatch["to"]) == (
        "wide.label",
        "character varying(20)",
        "text",
    )
