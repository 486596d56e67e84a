"""Spec chains for runner tests (small YAML specs each creating a table), snapshots of the
catalog and the ledgers, and the fleet CLI in a process of its own.

The project they are written into comes from :mod:`project_files`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dualorm.db import connection


def write_spec(root: Path, spec_id: str, deps: list[str], operations: str) -> Path:
    body = (
        f'id: "{spec_id}"\nname: {spec_id}\nversion: 1.0.0\n'
        f"dependencies: {json.dumps(deps)}\noperations:\n{operations}"
    )
    path = root / "migrations" / f"{spec_id}.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def table_ops(name: str) -> str:
    return (
        f"  - create_table:\n      name: {name}\n      columns:\n"
        "        - {name: id, type: bigint, primary_key: true}\n"
        "        - {name: label, type: text}\n"
    )


def chain(root: Path, count: int, prefix: str = "m") -> list[str]:
    """Write ``count`` specs, each creating one table and depending on the one before."""
    ids: list[str] = []
    for i in range(1, count + 1):
        spec_id = f"{i:04d}_{prefix}{i}"
        write_spec(root, spec_id, ids[-1:], table_ops(f"t{i}"))
        ids.append(spec_id)
    return ids


def snapshot(url: str) -> dict[str, Any]:
    """The catalog and the three ledgers, as comparable values."""
    from dualorm.sources.postgres import load

    with connection(url, autocommit=True) as conn:

        def rows(sql: str, regclass: str) -> list[tuple[object, ...]]:
            found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (regclass,)).fetchone()
            return conn.execute(sql).fetchall() if found and found[0] else []

        return {
            "catalog": load(conn),
            "dualorm": rows(
                "SELECT id, checksum, outcome FROM dualorm.migrations ORDER BY id",
                "dualorm.migrations",
            ),
            "alembic": rows(
                "SELECT version_num FROM alembic_version ORDER BY 1", "alembic_version"
            ),
            "django": rows(
                "SELECT app, name FROM django_migrations ORDER BY 1, 2", "django_migrations"
            ),
        }


def applied_ids(url: str) -> list[str]:
    with connection(url, autocommit=True) as conn:
        return [str(r[0]) for r in conn.execute("SELECT id FROM dualorm.migrations ORDER BY id")]


FLEET_RUNNER = "import sys; from dualorm.cli import main; sys.exit(main(sys.argv[1:]))"


def fleet_cli(root: Path, *args: str) -> subprocess.Popen[str]:
    """Start ``dualorm fleet ARGS`` in ``root`` as its own process, without DATABASE_URL."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DUALORM_ENV")}
    return subprocess.Popen(
        [sys.executable, "-c", FLEET_RUNNER, "fleet", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
