"""Spec directories for runner tests: small YAML chains written into a temporary project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dualorm.config import Config, Environment
from dualorm.db import connection

REFERENCE_APP: dict[str, str] = {
    "sa_metadata": "sa_models:Base.metadata",
    "django_settings": "django_app.settings",
    "django_app_label": "django_app",
}
"""The model-set keys naming the repository's reference app, as its pyproject.toml states them."""


def project(root: Path, url: str, env: str = "development") -> Config:
    """Write a pyproject naming ``migrations/`` and return its Config for ``url``."""
    (root / "migrations").mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[tool.dualorm]\nmigrations_dir = "migrations"\ndjango_app_label = "django_app"\n',
        encoding="utf-8",
    )
    return Config(
        root=root,
        migrations_dir="migrations",
        django_app_label="django_app",
        database_url=url,
        environment=Environment(env),
    )


def spec_project(root: Path, url: str, *specs: tuple[str, str], **settings: Any) -> Config:
    """Write each ``(name, text)`` spec into ``root/migrations`` and return a Config for ``url``.

    No model set is importable (``missing_models``), so the "still used by code" rules stay
    quiet; ``settings`` are further Config fields (the environment, a webhook secret).
    """
    folder = root / "migrations"
    folder.mkdir(exist_ok=True)
    for name, text in specs:
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return Config(
        root=root,
        database_url=url,
        django_app_label="django_app",
        sa_metadata="missing_models:Base.metadata",
        **settings,
    )


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
    ids = []
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
