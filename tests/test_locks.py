"""The migration lock: holder named, --no-wait refused, waiting, dies with its process, 8 racers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from project_files import project
from runner_specs import applied_ids, chain, snapshot

from dualorm import api
from dualorm.errors import LockHeld
from dualorm.runner.locks import LockHolder, MigrationLock

RUNNER = "import sys; from dualorm.cli import main; sys.exit(main(sys.argv[1:]))"


def test_holder_is_named_and_no_wait_refuses(tmp_path: Path, database_url: str) -> None:
    config = project(tmp_path, database_url)
    chain(tmp_path, 1)
    with MigrationLock(database_url, "11111111-2222-3333-4444-555555555555", "buildhost"):
        holder = api.migrate_status(config).lock_holder
        assert holder is not None
        assert holder.correlation_id == "11111111-2222-3333-4444-555555555555"
        assert holder.host == "buildhost" and holder.since is not None
        with pytest.raises(LockHeld, match="correlation id 11111111") as caught:
            api.migrate_up(config, no_wait=True)
        assert caught.value.exit_code == 3
    assert api.migrate_status(config).lock_holder is None
    assert api.migrate_up(config, no_wait=True).done


def test_a_waiting_runner_reports_the_holder_and_goes_on_when_released(
    tmp_path: Path, database_url: str
) -> None:
    import threading

    config = project(tmp_path, database_url)
    chain(tmp_path, 2)
    seen: list[LockHolder | None] = []
    lock = MigrationLock(database_url, "aaaaaaaa-0000-0000-0000-000000000000", "other")
    lock.acquire()
    threading.Timer(3.0, lock.release).start()
    result = api.migrate_up(config, on_lock_wait=seen.append)
    assert len(result.done) == 2
    assert seen and seen[0] is not None and seen[0].host == "other"


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path, database_url: str) -> None:
    code = (
        "import sys, time; from dualorm.runner.locks import MigrationLock\n"
        "lock = MigrationLock(sys.argv[1], 'bbbbbbbb-0000-0000-0000-000000000000', 'doomed')\n"
        "lock.acquire(); print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, database_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        config = project(tmp_path, database_url)
        assert api.migrate_status(config).lock_holder is not None
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + 10
        while api.migrate_status(config).lock_holder is not None:
            assert time.monotonic() < deadline, "the lock outlived its process"
            time.sleep(0.05)
    finally:
        if holder.poll() is None:
            holder.kill()
        if holder.stdout is not None:
            holder.stdout.close()


def test_eight_concurrent_runners_apply_each_migration_exactly_once(
    tmp_path: Path, database_url: str
) -> None:
    project(tmp_path, database_url)
    ids = chain(tmp_path, 12)
    (tmp_path / "migrations" / "0013_idx.yaml").write_text(
        'id: "0013_idx"\nname: index\ndependencies: ["0012_m12"]\noperations:\n'
        "  - create_index: {name: t1_label_idx, table: t1, columns: [label], "
        "concurrently: true}\n"
    )
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("DUALORM_ENV", None)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RUNNER, "migrate", "up"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [(p.wait(timeout=180), *p.communicate()) for p in racers]
    assert [code for code, _, _ in results] == [0] * 8, [err for _, _, err in results]
    assert applied_ids(database_url) == [*ids, "0013_idx"]
    # Each migration was applied by exactly one of the eight (progress lines on stderr).
    applied_lines = sum(err.count("applied 0") for _, _, err in results)
    assert applied_lines == len(ids) + 1
    state = snapshot(database_url)
    assert state["alembic"] == [("0013_idx",)] and len(state["django"]) == 13
    from dualorm.db import connection

    with connection(database_url, autocommit=True) as conn:
        outcomes = conn.execute("SELECT outcome, count(*) FROM dualorm.audit GROUP BY 1").fetchall()
    assert outcomes == [("ok", 8)]
