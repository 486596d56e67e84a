"""Seeding on a real database: run, idempotency, status, rollback, clear, safety rules, graph.

The reference seeds run through the CLI entry point exactly as an operator runs them; the
failure and graph cases use seed modules written into a temporary project.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from pathlib import Path

import pytest
from psycopg import sql

from dualorm.cli import main
from dualorm.config import Config, Environment
from dualorm.db import connect, sqlalchemy_url
from dualorm.errors import GraphError
from dualorm.runner import ledger
from dualorm.runner.locks import LockHolder
from dualorm.seeding import SeedManager
from tests.project_files import WITH_SEEDS, write_project
from tests.reference import REFERENCE_APP

ROOT = Path(__file__).resolve().parent.parent
SEEDED_TABLES = (
    "roles",
    "permissions",
    "role_permissions",
    "users",
    "user_roles",
    "sessions",
    "accounts",
    "api_keys",
    "user_preferences",
)


def prepare(url: str, environment: Environment = Environment.DEVELOPMENT) -> None:
    """Create the reference schema and label the database with ``environment``."""
    from sqlalchemy import create_engine

    import sa_models

    engine = create_engine(sqlalchemy_url(url))
    try:
        sa_models.Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    with connect(url) as conn:
        ledger.check_environment(conn, environment, label=True)
        conn.commit()


def snapshot(url: str, tables: tuple[str, ...] = SEEDED_TABLES) -> dict[str, tuple[int, str]]:
    """Return each table's row count and the md5 of its rows in a fixed order."""
    result = {}
    with connect(url) as conn:
        for table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    "FROM {} AS t"
                ).format(sql.Identifier(table))
            ).fetchone()
            assert row is not None
            result[table] = (int(row[0]), str(row[1]))
    return result


def ledger_ids(url: str) -> list[str]:
    with connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('dualorm.seeds') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return []
        return [str(r[0]) for r in conn.execute("SELECT id FROM dualorm.seeds ORDER BY id")]


@pytest.fixture
def seeded_env(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """A migrated development database; the CLI points at it from the project root."""
    prepare(database_url)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DUALORM_ENV", "development")
    monkeypatch.setenv("DUALORM_SEED_USERS", "50")
    monkeypatch.delenv("DUALORM_ADMIN_PASSWORD", raising=False)
    return database_url


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_seeds_everything_and_a_second_run_changes_nothing(
    seeded_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = snapshot(seeded_env)
    code, out, err = cli(capsys, "seed", "run")
    assert code == 0, err
    first = snapshot(seeded_env)
    assert first["users"][0] == 51 and first["user_preferences"][0] == 50
    assert all(first[t][0] > 0 for t in SEEDED_TABLES) and first != empty
    assert "admin password (admin@example.com)" in out

    code, out, err = cli(capsys, "seed", "run")
    assert code == 0, err
    assert snapshot(seeded_env) == first
    assert "applied" not in out.replace("reapplied", "") and "admin password" not in out
    assert ledger_ids(seeded_env) == [
        "0001_roles_and_permissions",
        "0002_admin_user",
        "0003_test_users",
        "0004_user_preferences",
    ]


def test_generated_admin_password_is_hashed_and_never_stored(
    seeded_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from argon2 import PasswordHasher

    code, out, _ = cli(capsys, "seed", "run", "--id", "0002_admin_user")
    assert code == 0
    password = out.split("admin password (admin@example.com): ")[1].split()[0]
    with connect(seeded_env) as conn:
        stored = conn.execute(
            "SELECT password_hash FROM users WHERE email = 'admin@example.com'"
        ).fetchone()
        ledger_text = conn.execute("SELECT string_agg(s::text, '') FROM dualorm.seeds s").fetchone()
    assert stored is not None and PasswordHasher().verify(str(stored[0]), password)
    assert ledger_text is not None and password not in str(ledger_text[0])


def test_admin_password_comes_from_the_environment(
    seeded_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    monkeypatch.setenv("DUALORM_ADMIN_PASSWORD", "correct horse battery staple")
    code, out, _ = cli(capsys, "seed", "run", "--id", "0002_admin_user")
    assert code == 0 and "admin password" not in out
    with connect(seeded_env) as conn:
        row = conn.execute("SELECT password_hash FROM users").fetchone()
    assert row is not None
    assert PasswordHasher().verify(str(row[0]), "correct horse battery staple")


def test_status_json_lists_each_seed_applied_with_counts(
    seeded_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "seed", "status", "--json")
    assert code == 0
    assert {s["state"] for s in json.loads(out)} == {"pending"}
    assert cli(capsys, "seed", "run")[0] == 0
    code, out, _ = cli(capsys, "seed", "status", "--json")
    assert code == 0
    lines = {s["id"]: s for s in json.loads(out)}
    assert {s["state"] for s in lines.values()} == {"applied"}
    assert lines["0003_test_users"]["row_counts"]["public.users"] == 50
    assert lines["0004_user_preferences"]["row_counts"] == {"public.user_preferences": 50}
    assert lines["0001_roles_and_permissions"]["row_counts"]["public.roles"] == 3
    assert all(s["checksum"] and s["applied_at"] for s in lines.values())


def test_status_reports_a_seed_edited_after_it_was_applied(
    database_url: str, tmp_path: Path
) -> None:
    prepare(database_url)
    path = write_seed(tmp_path, "0001_roles", ROLE_SEED.format(role="editor"))
    manager = SeedManager(Config(root=tmp_path, **REFERENCE_APP), database_url)
    manager.run(Environment.DEVELOPMENT)
    path.write_text(ROLE_SEED.format(role="reviewer"), encoding="utf-8")
    assert [s.state for s in manager.status()] == ["changed"]
    assert [r.action for r in manager.run()] == ["reapplied"]
    assert [s.state for s in manager.status()] == ["applied"]


def test_rollback_of_preferences_removes_exactly_its_rows(
    seeded_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "seed", "run", "--id", "0003_test_users")[0] == 0
    before = snapshot(seeded_env)
    assert cli(capsys, "seed", "run")[0] == 0
    assert snapshot(seeded_env)["user_preferences"][0] == 50
    code, out, err = cli(capsys, "seed", "rollback", "--id", "0004_user_preferences")
    assert code == 0, err
    assert "public.user_preferences=50" in out
    after = snapshot(seeded_env)
    assert after == {**before, "users": after["users"], "user_roles": after["user_roles"]}
    assert after["user_preferences"] == (0, before["user_preferences"][1])
    assert "0004_user_preferences" not in ledger_ids(seeded_env)


def test_rollback_refuses_while_applied_seeds_depend_on_it(
    seeded_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "seed", "run")[0] == 0
    seeded = snapshot(seeded_env)
    code, _, err = cli(capsys, "seed", "rollback", "--id", "0003_test_users")
    assert code == 3 and "0004_user_preferences" in err and "--cascade" in err
    assert snapshot(seeded_env) == seeded
    code, _, err = cli(capsys, "seed", "rollback", "--id", "0003_test_users", "--cascade")
    assert code == 0, err
    after = snapshot(seeded_env)
    assert after["users"][0] == 1 and after["sessions"][0] == 0
    assert after["user_preferences"][0] == 0 and after["roles"] == seeded["roles"]
    assert ledger_ids(seeded_env) == ["0001_roles_and_permissions", "0002_admin_user"]


def test_clear_development_empties_the_seeded_data(
    seeded_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = snapshot(seeded_env)
    assert cli(capsys, "seed", "run")[0] == 0
    code, _, err = cli(capsys, "seed", "clear", "--env", "development")
    assert code == 3 and "--confirm" in err
    code, _, err = cli(capsys, "seed", "clear", "--env", "development", "--confirm")
    assert code == 0, err
    assert snapshot(seeded_env) == empty
    assert ledger_ids(seeded_env) == []


def test_clear_production_is_refused_whatever_the_flags(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(database_url, Environment.PRODUCTION)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DUALORM_ENV", "production")
    assert cli(capsys, "seed", "run")[0] == 0
    seeded = snapshot(database_url)
    assert seeded["roles"][0] == 3 and seeded["users"][0] == 0
    for flags in ([], ["--confirm"]):
        code, _, err = cli(capsys, "seed", "clear", "--env", "production", *flags)
        assert code == 3 and "production" in err
    assert snapshot(database_url) == seeded
    assert ledger_ids(database_url) == ["0001_roles_and_permissions"]


def test_development_seeds_against_a_production_database_are_refused(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(database_url, Environment.PRODUCTION)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DUALORM_ENV", "development")
    empty = snapshot(database_url)
    code, _, err = cli(capsys, "seed", "run")
    assert code == 3 and "'production'" in err and "'development'" in err
    code, _, err = cli(capsys, "seed", "run", "--env", "production", "--id", "0003_test_users")
    assert code == 3 and "0003_test_users" in err and "production" in err
    code, _, err = cli(capsys, "seed", "clear", "--env", "development", "--confirm")
    assert code == 3 and "'production'" in err
    assert snapshot(database_url) == empty
    assert ledger_ids(database_url) == []


def test_an_unlabelled_database_is_refused(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DATABASE_URL", database_url)
    code, _, err = cli(capsys, "seed", "run")
    assert code == 3 and "label" in err


# -- seeds written into a temporary project ---------------------------------------------------

ROLE_SEED = """
from dualorm.seeding import Seed


class Roles(Seed):
    def execute(self, ctx):
        ctx.upsert("roles", [{{"name": "{role}"}}], key=["name"])
"""

FAILING_SEED = """
from sqlalchemy import select

from dualorm.seeding import Seed
from sa_models import Role, User


class Fails(Seed):
    def execute(self, ctx):
        ctx.upsert("roles", [{"name": "bulk"}], key=["name"])
        ctx.session.add(Role(name="sqlalchemy"))
        ctx.session.commit()
        ctx.django_model("Role").objects.create(name="django")
        assert ctx.session.scalar(select(Role.id).where(Role.name == "django"))
        ctx.session.add(User(email="x@example.com"))
        ctx.session.flush()
        raise RuntimeError("the seed broke halfway")
"""

BOTH_ORMS_SEED = """
from dualorm.seeding import Seed
from sa_models import Role


class BothOrms(Seed):
    dependencies = ["0001_roles"]

    def execute(self, ctx):
        if ctx.session.query(Role).filter_by(name="sqlalchemy").first() is None:
            ctx.session.add(Role(name="sqlalchemy"))
        ctx.django_model("Role").objects.get_or_create(name="django")
        ctx.django_model("Permission").objects.get_or_create(
            codename="x.read", defaults={"name": "x", "resource": "x", "action": "read"}
        )
"""


def write_seed(root: Path, seed_id: str, source: str) -> Path:
    folder = root / "seeds"
    folder.mkdir(exist_ok=True)
    path = folder / f"{seed_id}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_a_failing_seed_leaves_nothing_behind(
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(database_url)
    write_project(tmp_path, settings=WITH_SEEDS)
    write_seed(tmp_path, "0001_fails", FAILING_SEED)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    empty = snapshot(database_url)
    code, _, err = cli(capsys, "seed", "run")
    assert code == 1 and "0001_fails" in err and "the seed broke halfway" in err
    assert snapshot(database_url) == empty
    assert ledger_ids(database_url) == []


def test_rows_added_through_both_orms_are_rolled_back_exactly(
    database_url: str, tmp_path: Path
) -> None:
    prepare(database_url)
    write_seed(tmp_path, "0001_roles", ROLE_SEED.format(role="editor"))
    write_seed(tmp_path, "0002_both_orms", BOTH_ORMS_SEED)
    with connect(database_url) as conn:
        conn.execute("INSERT INTO roles (name) VALUES ('kept')")
        conn.commit()
    manager = SeedManager(Config(root=tmp_path, **REFERENCE_APP), database_url)
    manager.run(Environment.DEVELOPMENT, only="0001_roles")
    before = snapshot(database_url)
    results = manager.run(Environment.DEVELOPMENT)
    assert results[1].row_counts == {"public.roles": 2, "public.permissions": 1}
    assert [r.action for r in manager.run(Environment.DEVELOPMENT)] == ["skipped", "skipped"]
    manager.rollback("0002_both_orms")
    assert snapshot(database_url) == before
    with connect(database_url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM roles ORDER BY name")]
    assert names == ["editor", "kept"]


@pytest.mark.parametrize(
    ("seeds", "named"),
    [
        ({"0001_a": ["0009_nowhere"]}, "0009_nowhere"),
        ({"0001_a": ["0002_b"], "0002_b": ["0001_a"]}, "0001_a -> 0002_b"),
    ],
    ids=["unknown", "cycle"],
)
def test_unknown_or_cyclic_dependencies_exit_2_naming_them(
    seeds: dict[str, list[str]],
    named: str,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(database_url)
    write_project(tmp_path, settings=WITH_SEEDS)
    for seed_id, dependencies in seeds.items():
        write_seed(
            tmp_path,
            seed_id,
            ROLE_SEED.format(role=seed_id) + f"    dependencies = {dependencies!r}\n",
        )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    code, _, err = cli(capsys, "seed", "run")
    assert code == 2 and named in err.replace("0002_b -> 0001_a -> 0002_b", "0001_a -> 0002_b")
    assert ledger_ids(database_url) == []
    with pytest.raises(GraphError):
        SeedManager(Config(root=tmp_path, **REFERENCE_APP), database_url).discover()


def test_a_malformed_seed_module_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(tmp_path, settings=WITH_SEEDS)
    write_seed(tmp_path, "0001_broken", "from dualorm.seeding import Seed\nimport nowhere_x\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, _, err = cli(capsys, "seed", "status")
    assert code == 2 and "0001_broken.py" in err and "nowhere_x" in err


def test_seed_new_creates_a_runnable_seed(
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(database_url)
    write_project(tmp_path, settings=WITH_SEEDS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert cli(capsys, "seed", "new", "Demo teams")[0] == 0
    assert cli(capsys, "seed", "new", "more data")[0] == 0
    assert sorted(p.name for p in (tmp_path / "seeds").iterdir()) == [
        "0001_demo_teams.py",
        "0002_more_data.py",
    ]
    code, out, err = cli(capsys, "seed", "run")
    assert code == 0, err
    assert ledger_ids(database_url) == ["0001_demo_teams", "0002_more_data"]


def test_seeds_wait_for_the_migration_lock(database_url: str, tmp_path: Path) -> None:
    prepare(database_url)
    write_seed(tmp_path, "0001_roles", ROLE_SEED.format(role="editor"))
    waits: list[LockHolder | None] = []
    manager = SeedManager(
        Config(root=tmp_path, **REFERENCE_APP), database_url, on_lock_wait=waits.append
    )
    with connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ledger.ADVISORY_LOCK_KEY,))
        worker = threading.Thread(target=manager.run)
        worker.start()
        deadline = time.monotonic() + 10
        while not waits and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [w.pid if w else None for w in waits] == [holder.info.backend_pid]
        assert ledger_ids(database_url) == []
        holder.execute("SELECT pg_advisory_unlock(%s)", (ledger.ADVISORY_LOCK_KEY,))
        worker.join(timeout=30)
    assert ledger_ids(database_url) == ["0001_roles"]
