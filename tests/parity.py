"""Helpers of the parity tests: run the emitted Alembic and Django migrations, read catalogs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.config import Config as AlembicConfig

from dualorm.db import connection, libpq_url, pg_bin
from dualorm.schema import Schema
from dualorm.sources.postgres import load

ROOT = Path(__file__).resolve().parent.parent
LEDGERS = ("alembic_version", "django_migrations")


def alembic_config(url: str, script_location: Path | None = None) -> AlembicConfig:
    """Return an Alembic config of the project pointed at ``url``."""
    config = AlembicConfig(str(ROOT / "migrations" / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["skip_logging"] = True
    if script_location is not None:
        config.set_main_option("script_location", str(script_location))
    return config


def django_admin(
    url: str, *args: str, settings: str = "django_app.settings", path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``django-admin`` with ``DATABASE_URL=url`` in a fresh process."""
    env = {**os.environ, "DATABASE_URL": url}
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "django", *args, f"--settings={settings}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def catalog(url: str) -> Schema:
    """Return the live catalog of ``url`` without the foreign ledgers."""
    schema = load(url)
    for name in LEDGERS:
        schema = schema.without(name)
    return schema


def schema_dump(url: str) -> str:
    """Return ``pg_dump --schema-only`` of ``url`` without ledgers, comments and session keys."""
    result = subprocess.run(
        [
            pg_bin("pg_dump"),
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-schema=dualorm",
            *(f"--exclude-table={name}" for name in LEDGERS),
            libpq_url(url),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # \restrict carries a random key per dump (PostgreSQL 17.6+ clients); some server builds
    # stamp each column with a per-database attribute version (pg_attver), which is no part
    # of the schema.
    return "\n".join(
        line
        for line in result.stdout.splitlines()
        if line.strip()
        and not line.startswith(("--", "\\restrict", "\\unrestrict"))
        and "SET (pg_attver=" not in line
    )


def user_tables(url: str) -> list[str]:
    """Return the tables of schema public other than the ledgers."""
    with connection(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows if r[0] not in LEDGERS]
