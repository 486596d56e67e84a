"""Seeding and reset take the migration lock of dualorm.runner.locks, and wait for it right.

The race of issue 12: a migration holds the lock while it builds an index CONCURRENTLY; a
`seed run` started meanwhile must wait without holding a transaction open, or the index build
(which waits for every older snapshot) times out and leaves an INVALID index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dualorm.cli import main
from dualorm.config import Config, Environment
from dualorm.db import connect
from dualorm.errors import LockHeld
from dualorm.runner import ledger
from dualorm.runner.locks import LockHolder, MigrationLock
from dualorm.seeding import SeedManager
from tests.project_files import WITH_SEEDS, write_project
from tests.reference import REFERENCE_APP

RUNNER = "import sys; from dualorm.cli import main; sys.exit(main(sys.argv[1:]))"
HOLDER_ID = "cccccccc-1111-2222-3333-444444444444"

LABEL_SEED = """
from dualorm.seeding import Seed


class Labels(Seed):
    def execute(self, ctx):
        ctx.upsert("t", [{"label": "seeded"}], key=["label"])
"""


def project(root: Path, url: str) -> None:
    """A project with one seed writing into table ``t``, on a labelled development database."""
    write_project(root, settings=WITH_SEEDS, files={"seeds/0001_labels.py": LABEL_SEED})
    with connect(url) as conn:
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, label text UNIQUE)")
        conn.execute("INSERT INTO t (label) SELECT 'row ' || g FROM generate_series(1, 1000) g")
        ledger.check_environment(conn, Environment.DEVELOPMENT, label=True)
        conn.commit()


def seed_env(url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": url, "DUALORM_ENV": "development"}
    return env


def seeded_labels(url: str) -> list[str]:
    with connect(url) as conn:
        return [str(r[0]) for r in conn.execute("SELECT label FROM t WHERE label = 'seeded'")]


def seed_ledger(url: str) -> list[str]:
    with connect(url) as conn:
        if not conn.execute("SELECT to_regclass('dualorm.seeds') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
            return []
        return [str(r[0]) for r in conn.execute("SELECT id FROM dualorm.seeds ORDER BY id")]


def wait_for(condition_sql: str, url: str, params: tuple[object, ...], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    with connect(url, autocommit=True) as conn:
        while not conn.execute(condition_sql, params).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, f"timed out waiting for: {condition_sql}"
            time.sleep(0.05)


def test_a_seed_waiting_for_a_migration_never_blocks_its_concurrent_index_build(
    tmp_path: Path, database_url: str
) -> None:
    project(tmp_path, database_url)
    # The "runner": it holds the migration lock and builds an index concurrently.
    lock = MigrationLock(database_url, HOLDER_ID, "ci7")
    lock.acquire()
    writer = connect(database_url)  # an open write transaction keeps the build in flight
    writer.execute("INSERT INTO t (label) VALUES ('in flight')")
    build_error: list[BaseException] = []
    build_conn = connect(database_url, autocommit=True)
    build_pid = build_conn.info.backend_pid

    def build() -> None:
        try:
            # A deployment's lock_timeout: waiting longer than this fails the build.
            build_conn.execute("SET lock_timeout = '8s'")
            build_conn.execute("CREATE INDEX CONCURRENTLY t_label_idx ON t (label)")
        except BaseException as exc:
            build_error.append(exc)

    builder = threading.Thread(target=build)
    seed = None
    try:
        builder.start()
        wait_for(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
            database_url,
            (build_pid,),
            10,
        )
        seed = subprocess.Popen(
            [sys.executable, "-c", RUNNER, "seed", "run"],
            cwd=tmp_path,
            env=seed_env(database_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The seed is waiting for the lock (it has connected)...
        known = [build_pid, writer.info.backend_pid, holder_pid(lock)]
        wait_for(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 'dualorm%%' AND pid <> ALL(%s) "
            "AND pid <> pg_backend_pid()",
            database_url,
            (known,),
            30,
        )
        time.sleep(0.5)
        # ... and the build now goes on to wait for every older snapshot, the seed's included.
        writer.commit()
        builder.join(timeout=30)
        assert not builder.is_alive()
        assert build_error == []
        assert seeded_labels(database_url) == []
    finally:
        writer.close()
        lock.release()
        builder.join(timeout=30)
        build_conn.close()
        if seed is not None:
            out, err = seed.communicate(timeout=60)
    assert seed is not None and seed.returncode == 0, err
    assert f"waiting for the migration lock held by pid {lock_pid_text(err)}" in err
    assert "dualorm migrate" in err and "host ci7" in err and HOLDER_ID in err
    with connect(database_url) as conn:
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_label_idx'::regclass"
        ).fetchone()
    assert valid == (True,)
    assert seeded_labels(database_url) == ["seeded"]
    assert seed_ledger(database_url) == ["0001_labels"]


def holder_pid(lock: MigrationLock) -> int:
    assert lock.conn is not None
    return lock.conn.info.backend_pid


def lock_pid_text(err: str) -> str:
    marker = "waiting for the migration lock held by pid "
    assert marker in err, err
    return err.split(marker, 1)[1].split(",", 1)[0]


def test_seed_run_no_wait_exits_3_naming_the_holder_and_changes_nothing(
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project(tmp_path, database_url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DUALORM_ENV", "development")
    with MigrationLock(database_url, HOLDER_ID, "ci7") as held:
        assert held.conn is not None
        holder_pid = held.conn.info.backend_pid
        started = time.monotonic()
        code = main(["seed", "run", "--no-wait"])
        _, err = capsys.readouterr()
        assert code == 3, err
        assert time.monotonic() - started < 10
        assert f"pid {holder_pid}" in err and HOLDER_ID in err and "ci7" in err
        for argv in (
            ["seed", "rollback", "--id", "0001_labels", "--no-wait"],
            ["seed", "clear", "--env", "development", "--confirm", "--no-wait"],
        ):
            code = main(argv)
            _, err = capsys.readouterr()
            assert code == 3 and HOLDER_ID in err, (argv, err)
    assert seeded_labels(database_url) == []
    assert seed_ledger(database_url) == []
    # Released, the same command runs.
    assert main(["seed", "run", "--no-wait"]) == 0
    assert seeded_labels(database_url) == ["seeded"]


def test_a_migration_waiting_for_a_seed_is_told_a_seed_holds_the_lock(
    tmp_path: Path, database_url: str
) -> None:
    project(tmp_path, database_url)
    (tmp_path / "seeds" / "0002_slow.py").write_text(
        "import time\nfrom dualorm.seeding import Seed\n\n\nclass Slow(Seed):\n"
        "    def execute(self, ctx):\n        time.sleep(3)\n",
        "utf-8",
    )
    manager = SeedManager(Config(root=tmp_path, **REFERENCE_APP), database_url)
    worker = threading.Thread(target=manager.run, args=(Environment.DEVELOPMENT,))
    worker.start()
    try:
        wait_for(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name LIKE %s",
            database_url,
            ("dualorm-seed %",),
            10,
        )
        seen: list[LockHolder | None] = []
        other = MigrationLock(database_url, HOLDER_ID, "ci7", on_wait=seen.append)
        with pytest.raises(LockHeld, match="dualorm seed") as refused:
            MigrationLock(database_url, HOLDER_ID, "ci7", wait=False).acquire()
        assert refused.value.exit_code == 3
        with other:
            assert seen and seen[0] is not None and seen[0].command == "seed"
    finally:
        worker.join(timeout=30)
    assert seed_ledger(database_url) == ["0001_labels", "0002_slow"]


def test_reset_no_wait_exits_3_while_the_lock_is_held_and_drops_nothing(
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project(tmp_path, database_url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DUALORM_ENV", "development")
    with MigrationLock(database_url, HOLDER_ID, "ci7"):
        code = main(["reset", "--env", "development", "--confirm", "--no-wait"])
        _, err = capsys.readouterr()
    assert code == 3 and HOLDER_ID in err, err
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1000,)
