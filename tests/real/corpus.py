"""The real-schema corpus: build a package's database three ways, validate it through the CLI.

A :class:`Finding` is ``(severity, kind, object)`` as ``dualorm validate --json`` prints it.
Databases are built the ways a user builds them: ``MetaData.create_all``, the package's own
Alembic environment (``alembic upgrade head`` with its ``env.py``) or its own upgrade function,
and Django's ``migrate``. ``validate`` always runs as a process, from a project directory whose
``pyproject.toml`` names the package's metadata or the corpus settings, exactly as a user's CI
would run it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dualorm.db import connection
from dualorm.diff import DiffKind

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.real.settings"

Finding = tuple[str, str, str]
"""``(severity, kind, object)`` of one reported difference."""

# The kinds of enum labels, comments, collations and standalone sequences, named once here
# from the library's own vocabulary (a comment differing is a warning, a collation an error).
ENUM_LABEL_MISSING = DiffKind.ENUM_LABEL_MISSING.value
ENUM_LABEL_EXTRA = DiffKind.ENUM_LABEL_EXTRA.value
COMMENT_MISMATCH = DiffKind.COMMENT_MISMATCH.value
COLLATION_MISMATCH = DiffKind.COLLATION_MISMATCH.value
MISSING_SEQUENCE = DiffKind.MISSING_SEQUENCE.value
EXTRA_SEQUENCE = DiffKind.EXTRA_SEQUENCE.value


def error(kind: str, obj: str) -> Finding:
    return ("error", kind, obj)


def warning(kind: str, obj: str) -> Finding:
    return ("warning", kind, obj)


@dataclass(frozen=True)
class Outcome:
    """What one ``dualorm validate --json`` process did."""

    code: int
    findings: frozenset[Finding]
    stdout: str
    stderr: str

    def explain(self) -> str:
        shown = "\n".join(f"  {f}" for f in sorted(self.findings)) or "  (none)"
        text = f"exit {self.code}; findings:\n{shown}"
        if self.code not in (0, 1):
            text += f"\nstdout:\n{self.stdout[-2000:]}"
        return text + f"\nstderr:\n{self.stderr[-2000:]}"


def write_project(folder: Path, **keys: str) -> Path:
    """Write a ``pyproject.toml`` with a ``[tool.dualorm]`` table of ``keys`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["[tool.dualorm]", *(f'{key} = "{value}"' for key, value in keys.items())]
    (folder / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def child_env(url: str) -> dict[str, str]:
    """The environment of a corpus process: this tree's dualorm, the database under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUALORM_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["DATABASE_URL"] = url
    return env


def validate(project: Path, url: str, sources: str) -> Outcome:
    """Run ``python -m dualorm validate --json --sources SOURCES`` in ``project``."""
    done = subprocess.run(
        [sys.executable, "-m", "dualorm", "validate", "--json", "--sources", sources],
        cwd=project,
        env=child_env(url),
        capture_output=True,
        text=True,
        timeout=600,
    )
    findings: frozenset[Finding] = frozenset()
    if done.returncode in (0, 1) and done.stdout.strip().startswith("{"):
        report = json.loads(done.stdout)
        findings = frozenset(
            (f["severity"], f["kind"], f["object"]) for f in report["errors"] + report["warnings"]
        )
    return Outcome(done.returncode, findings, done.stdout, done.stderr)


def expected_code(findings: Iterable[Finding]) -> int:
    """0 when nothing is an error, else 1 (the exit codes of ``dualorm validate``)."""
    return 1 if any(severity == "error" for severity, _, _ in findings) else 0


def execute(url: str, sql: str) -> None:
    """Run raw SQL on ``url`` (one transaction)."""
    with connection(url) as conn:
        conn.execute(sql)  # type: ignore[call-overload]
        conn.commit()


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def create_all(url: str, metadata_path: str) -> None:
    """``MetaData.create_all`` of the metadata named ``module:attr.path``."""
    import sqlalchemy as sa

    from dualorm.sources.sqlalchemy import resolve_metadata

    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        resolve_metadata(metadata_path).create_all(engine)
    finally:
        engine.dispose()


def alembic_upgrade(url: str, ini: Path, script_location: Path, target: str = "heads") -> None:
    """``alembic upgrade`` with a package's own ini file, ``env.py`` and versions."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(ini))
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    command.upgrade(config, target)


def django_migrate(url: str) -> None:
    """``django-admin migrate`` of every app of the corpus settings, in its own process."""
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={**child_env(url), "DJANGO_SETTINGS_MODULE": SETTINGS},
        check=True,
        capture_output=True,
        timeout=600,
    )


@dataclass(frozen=True)
class Drift:
    """Raw SQL that moves the database away from the models, and what validate must report.

    ``added`` are the findings the drift brings; ``removed`` those it makes disappear (dropping
    a table also drops the drift reported inside it).
    """

    id: str
    sql: str
    added: frozenset[Finding]
    removed: frozenset[Finding] = field(default_factory=frozenset)


def drift(id: str, sql: str, *added: Finding, removed: Iterable[Finding] = ()) -> Drift:
    return Drift(id, sql, frozenset(added), frozenset(removed))


Builder = Callable[[str], None]


@contextlib.contextmanager
def copy_database(admin_url: str, template_url: str) -> Iterator[str]:
    """Yield a fresh copy of ``template_url``'s database (``CREATE DATABASE ... TEMPLATE``)."""
    from psycopg import sql

    from dualorm.db import database_name, with_database
    from dualorm.testing import drop_database

    name = f"real_{uuid.uuid4().hex[:12]}"
    with connection(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(database_name(template_url))
            )
        )
    url = with_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, url)
