"""SIGKILL a runner at random points; a re-run always converges to the full, agreeing state."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from project_files import project
from runner_specs import chain, snapshot

from dualorm import api

RUNNER = "import sys; from dualorm.cli import main; sys.exit(main(sys.argv[1:]))"


def _specs(root: Path) -> list[str]:
    ids = chain(root, 10)
    (root / "migrations" / "0011_idx.yaml").write_text(
        'id: "0011_idx"\nname: index\ndependencies: ["0010_m10"]\noperations:\n'
        "  - create_index: {name: t1_label_idx, table: t1, columns: [label], "
        "concurrently: true}\n"
    )
    (root / "migrations" / "0012_more.yaml").write_text(
        'id: "0012_more"\nname: more\ndependencies: ["0011_idx"]\noperations:\n'
        "  - add_column: {table: t2, name: extra, type: text}\n"
        "  - create_index: {name: t2_extra_idx, table: t2, columns: [extra]}\n"
    )
    return [*ids, "0011_idx", "0012_more"]


def _kill_loop(root: Path, url: str, rounds: int, seed: int) -> None:
    config = project(root, url)
    ids = _specs(root)
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("DUALORM_ENV", None)
    rng = random.Random(seed)
    for _ in range(rounds):
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, "migrate", "up"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.0, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if rng.random() < 0.3:
            # Sometimes roll a few back while the last kill's debris is still there.
            subprocess.run(
                [sys.executable, "-c", RUNNER, "migrate", "down", "--steps", "2"],
                cwd=root,
                env=env,
                capture_output=True,
                timeout=60,
                check=False,
            )
    final = subprocess.run(
        [sys.executable, "-c", RUNNER, "migrate", "up"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert final.returncode == 0, final.stderr
    report = api.migrate_status(config)
    assert report.applied == tuple(ids) and report.ledgers_agree and report.lock_holder is None
    state = snapshot(url)
    assert [r[0] for r in state["dualorm"]] == sorted(ids)
    assert state["alembic"] == [("0012_more",)]
    assert len(state["django"]) == len(ids)
    indexes = {i.name: i for t in state["catalog"] for i in t.indexes}
    assert {"t1_label_idx", "t2_extra_idx"} <= set(indexes)
    assert all(i.valid for i in indexes.values())
    assert len(state["catalog"]) == 10


def test_killed_runs_converge(tmp_path: Path, database_url: str) -> None:
    _kill_loop(tmp_path, database_url, rounds=4, seed=4)


@pytest.mark.slow
def test_killed_runs_converge_at_many_points(tmp_path: Path, database_url: str) -> None:
    _kill_loop(tmp_path, database_url, rounds=40, seed=40)
