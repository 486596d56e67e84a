"""``dualorm migrate squash``: one spec for a history prefix, on databases at every point of it.

The reference project is copied to a temporary directory and run as a user runs it (the
console script, ``manage.py``, ``alembic``), each in its own process: databases are brought to
points of the history before the squash, the squash is written, and then every database must
converge under one ``fleet up`` with agreeing ledgers, a clean ``alembic check``,
``makemigrations --check`` and ``dualorm validate --data``, and the same catalog.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import schema_dump
from project_files import ROOT, copy_reference

from dualorm.db import connection
from dualorm.testing import create_database, drop_database

TO = "0005_audit_log_recent_by_type_index"
SQUASH = "0001_squashed_0005"
HISTORY = [
    "0001_initial",
    "0002_user_image_and_active_key_index",
    "0003_add_user_preferences",
    "0004_session_expiry_covering_index",
    TO,
    "0006_deferrable_foreign_keys",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the reference project: specs, emitted files, models, settings."""
    names = ("pyproject.toml", "manage.py", "migrations", "django_app", "sa_models")
    return copy_reference(tmp_path, *names)


@pytest.fixture
def databases(admin_url: str) -> Iterator[dict[str, str]]:
    """Empty databases, named for the point of the history each is brought to."""
    urls = {
        point: create_database(admin_url, "squash") for point in ("fresh", "middle", "at", "past")
    }
    try:
        yield urls
    finally:
        for url in urls.values():
            drop_database(admin_url, url)


def run(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(project), str(ROOT)])
    env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def dualorm(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(project, url, "-m", "dualorm.cli", *args)


def ledgers(url: str) -> tuple[list[str], list[str], list[str]]:
    with connection(url, autocommit=True) as conn:
        ours = [str(r[0]) for r in conn.execute("SELECT id FROM dualorm.migrations ORDER BY id")]
        heads = [str(r[0]) for r in conn.execute("SELECT version_num FROM alembic_version")]
        django = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM django_migrations WHERE app = 'django_app' ORDER BY name"
            )
        ]
    return ours, heads, django


def planned(project: Path, url: str) -> dict[str, bool]:
    """``migrate plan --json``: per pending migration, whether it runs any statement."""
    done = dualorm(project, url, "migrate", "plan", "--json")
    assert done.returncode == 0, done.stderr
    return {m["id"]: bool(m["statements"]) for m in json.loads(done.stdout)["migrations"]}


def tree(project: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_a_squash_converges_databases_at_every_point_of_the_history(
    project: Path, databases: dict[str, str]
) -> None:
    points = {"middle": HISTORY[1], "at": TO, "past": HISTORY[-1]}
    for point, target in points.items():
        done = dualorm(project, databases[point], "migrate", "up", "--to", target)
        assert done.returncode == 0, done.stderr

    done = dualorm(project, databases["fresh"], "migrate", "squash", "--to", TO)
    assert done.returncode == 0, done.stderr
    spec = (project / "migrations" / f"{SQUASH}.yaml").read_text(encoding="utf-8")
    assert "replaces:" in spec and all(f"- {m}" in spec for m in HISTORY[:5])
    django_file = (project / "django_app" / "migrations" / f"{SQUASH}.py").read_text()
    assert "replaces = [" in django_file and "('django_app', '0001_initial')" in django_file
    versions = project / "migrations" / "alembic" / "versions"
    assert sorted(p.stem for p in versions.glob("*.py")) == [SQUASH, HISTORY[-1]]
    assert "down_revision = None" in (versions / f"{SQUASH}.py").read_text()
    assert f"down_revision = {SQUASH!r}" in (versions / f"{HISTORY[-1]}.py").read_text()
    assert (project / "migrations" / "alembic" / "replaced" / f"{TO}.py").exists()
    assert dualorm(project, databases["fresh"], "migrate", "make", "--check").returncode == 0
    linted = dualorm(project, databases["fresh"], "migrate", "lint")
    assert linted.returncode == 0 and "no open errors" in linted.stdout, linted.stdout

    # The plan says what each database will run: the squash's DDL on the fresh one, only its
    # record on one at ID; status lists what runs.
    assert planned(project, databases["fresh"]) == {SQUASH: True, HISTORY[-1]: True}
    assert planned(project, databases["at"]) == {SQUASH: False, HISTORY[-1]: True}
    middle = planned(project, databases["middle"])
    assert middle == {
        HISTORY[2]: True,
        HISTORY[3]: True,
        TO: True,
        SQUASH: False,
        HISTORY[-1]: True,
    }
    status = dualorm(project, databases["fresh"], "migrate", "status", "--json")
    assert [m["id"] for m in json.loads(status.stdout)["migrations"]] == [SQUASH, HISTORY[-1]]

    expected = (sorted([*HISTORY, SQUASH]), [HISTORY[-1]], sorted([*HISTORY, SQUASH]))
    # One fleet run brings every database forward, each from where it is.
    listing = project / "databases.txt"
    listing.write_text("".join(f"{p} = {u}\n" for p, u in databases.items()), encoding="utf-8")
    done = dualorm(project, databases["fresh"], "fleet", "up", "--databases", str(listing))
    assert done.returncode == 0, done.stdout + done.stderr
    dumps = {}
    for point, url in databases.items():
        assert ledgers(url) == expected, point
        again = dualorm(project, url, "migrate", "up")
        assert again.returncode == 0 and "nothing to apply" in again.stdout, point
        checked = dualorm(project, url, "validate", "--data")
        assert checked.returncode == 0, (point, checked.stdout)
        made = run(project, url, "manage.py", "makemigrations", "--check", "--dry-run")
        assert made.returncode == 0, (point, made.stdout, made.stderr)
        alembic = run(project, url, "-m", "alembic", "-c", "migrations/alembic.ini", "check")
        assert alembic.returncode == 0, (point, alembic.stderr)
        dumps[point] = schema_dump(url)
    assert len(set(dumps.values())) == 1, "the catalogs differ"

    # The fresh database ran the squash's DDL in place of the four specs.
    fresh = dualorm(project, databases["fresh"], "migrate", "status")
    assert SQUASH in fresh.stdout


def test_rolling_back_through_a_squash_and_up_again_keeps_the_ledgers_agreeing(
    project: Path, databases: dict[str, str]
) -> None:
    url = databases["fresh"]
    assert dualorm(project, url, "migrate", "squash", "--to", TO).returncode == 0
    assert dualorm(project, url, "migrate", "up").returncode == 0
    done = dualorm(project, url, "migrate", "down", "--to", HISTORY[1])
    assert done.returncode == 0, done.stderr
    assert ledgers(url) == (HISTORY[:2], [HISTORY[1]], HISTORY[:2])
    done = dualorm(project, url, "migrate", "up")
    assert done.returncode == 0, done.stderr
    assert ledgers(url)[1] == [HISTORY[-1]]
    alembic = run(project, url, "-m", "alembic", "-c", "migrations/alembic.ini", "check")
    assert alembic.returncode == 0, alembic.stderr


def test_alembic_alone_builds_the_same_schema_from_the_squash(
    project: Path, databases: dict[str, str]
) -> None:
    assert dualorm(project, databases["fresh"], "migrate", "squash", "--to", TO).returncode == 0
    assert dualorm(project, databases["fresh"], "migrate", "up").returncode == 0
    upgraded = run(
        project,
        databases["past"],
        "-m",
        "alembic",
        "-c",
        "migrations/alembic.ini",
        "upgrade",
        "head",
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert schema_dump(databases["past"]) == schema_dump(databases["fresh"])


IRREVERSIBLE = """id: "0007_backfill"
name: Backfill
dependencies: ["0006_deferrable_foreign_keys"]
operations:
  - run_sql: {sql: "UPDATE users SET status = 'active' WHERE status IS NULL"}
"""


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("0009_nothing", "no spec has that id"),
        ("0003_add_user_preferences", "not a linear prefix"),
        ("0007_backfill", "squash up to a migration before it"),
    ],
    ids=["unknown id", "not a linear prefix", "run_sql without a reverse"],
)
def test_a_refused_squash_exits_2_and_writes_nothing(
    project: Path, databases: dict[str, str], to: str, message: str
) -> None:
    (project / "migrations" / "0007_backfill.yaml").write_text(IRREVERSIBLE, encoding="utf-8")
    before = tree(project)
    done = dualorm(project, databases["fresh"], "migrate", "squash", "--to", to)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and to in done.stderr
    assert tree(project) == before
