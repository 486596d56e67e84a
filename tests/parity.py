"""Helpers of the parity tests: run the emitted Alembic and Django migrations, read catalogs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

from dualorm.db import connection, libpq_url, pg_bin
from dualorm.emit.alembic import render_revision
from dualorm.emit.django import render_migration
from dualorm.emit.django_target import DjangoTarget
from dualorm.schema import Schema
from dualorm.sources.postgres import load
from dualorm.spec.model import Migration
from dualorm.spec.ops import Operation

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


@dataclass(frozen=True)
class Emitted:
    """Alembic revisions and Django migrations written for a list of operations."""

    work: Path
    settings: str

    def alembic(self, url: str) -> AlembicConfig:
        return alembic_config(url, self.work / "alembic")

    def django(self, url: str, *args: str) -> None:
        done = django_admin(url, *args, "--no-input", settings=self.settings, path=self.work)
        assert done.returncode == 0, done.stderr

    def upgrade(self, url_a: str, url_b: str) -> None:
        """Run the revisions on ``url_a`` up to head and the migrations on ``url_b``."""
        command.upgrade(self.alembic(url_a), "head")
        self.django(url_b, "migrate")

    def downgrade(self, url_a: str, url_b: str) -> None:
        """Take ``url_a`` down to base and ``url_b`` back to zero."""
        command.downgrade(self.alembic(url_a), "base")
        self.django(url_b, "migrate", "django_app", "zero")


def emit(ops: Sequence[Operation], work: Path, cut: int = 0) -> Emitted:
    """Write ``ops`` as one migration (two when ``0 < cut < len(ops)``) for both tools.

    Django needs settings (:func:`dualorm.django_setup.setup`) to render constraints. The
    Django migrations go to a package of their own, named by a settings module that points
    ``MIGRATION_MODULES`` at it, so runs never share an import.
    """
    token = uuid.uuid4().hex[:8]
    specs = [ops[:cut], ops[cut:]] if 0 < cut < len(ops) else [ops]
    versions = work / "alembic" / "versions"
    versions.mkdir(parents=True)
    shutil.copy(ROOT / "migrations/alembic/env.py", work / "alembic/env.py")
    package = work / f"prop_{token}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    settings = f"prop_settings_{token}"
    (work / f"{settings}.py").write_text(
        "from django_app.settings import *  # noqa: F403\n"
        f"MIGRATION_MODULES = {{'django_app': 'prop_{token}'}}\n"
    )
    before: Schema = Schema()
    previous: tuple[str, ...] = ()
    for number, chunk in enumerate(specs, start=1):
        m = Migration(f"{number:04d}_p{token}", "step", "", "", previous, tuple(chunk), token)
        (versions / f"{m.id}.py").write_text(render_revision(m, "generated"))
        (package / f"{m.id}.py").write_text(
            render_migration(m, "generated", before, DjangoTarget())
        )
        for op in chunk:
            before = op.apply(before)
        previous = (m.id,)
    return Emitted(work, settings)
