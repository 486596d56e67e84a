"""Every benchmark of bench/, run as a process with tiny arguments, exits 0 and prints its table.

Nothing else runs the benchmarks between two measuring sessions, so one that no longer runs
would go unnoticed until its figures are wanted. Each script here gets the smallest sizes it
takes, on the test server (``TEST_DATABASE_URL`` or the embedded one), and must exit 0 having
printed its markdown result table (a line starting with ``|``). The figures themselves are not
read: timing goals live in bench/ only. A benchmark that needs an optional extra is skipped,
naming the extra and what is missing, where the extra is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BENCH = ROOT / "bench"

pytestmark = pytest.mark.slow

# The smallest arguments each benchmark takes: one round, one run, a handful of objects.
ARGUMENTS: dict[str, tuple[str, ...]] = {
    # --tables 10: the autogenerate change touches ten tables.
    "bench_autogen": ("--tables", "10", "--migrations", "2", "--repeat", "1"),
    # One fill round (about 64 MB) is the least it builds, whatever --size-mb asks.
    "bench_backup": ("--size-mb", "1", "--repeat", "1"),
    "bench_fleet": ("--databases", "2", "--tenants", "2", "--count", "3", "--parallel", "2"),
    "bench_history": ("--tables", "2", "--runs", "1"),
    # --count 6: two tables, each created, given a column and an index.
    "bench_migrate": ("--count", "6", "--rounds", "1", "--runs", "1"),
    # The corpus member with the fewest builds and drifts to replay.
    "bench_real": ("--only", "optuna"),
    "bench_reconcile": ("--tables", "10", "--repeat", "1"),
    "bench_safety": ("--rows", "1000"),
    "bench_seed": ("--rows", "1000"),
}

# The modules of each optional extra a benchmark needs (pyproject.toml's extras).
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bench_real": ("real", ("optuna", "mlflow", "flask_appbuilder")),
}

SCRIPTS = sorted(path.stem for path in BENCH.glob("bench_*.py"))


def test_every_benchmark_has_arguments() -> None:
    assert sorted(ARGUMENTS) == SCRIPTS, "give each bench/bench_*.py its tiny arguments here"


def _skip_without_extra(name: str) -> None:
    if name not in EXTRAS:
        return
    extra, modules = EXTRAS[name]
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(
            f"{name} needs the {extra!r} extra (pip install '.[{extra}]'): "
            f"{', '.join(missing)} not installed"
        )


def _environment(admin_url: str) -> dict[str, str]:
    """This checkout first on the path, the test server, nothing of the caller's project."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DUALORM_")
        and key not in ("DATABASE_URL", "DATABASE_REPLICA_URLS", "DJANGO_SETTINGS_MODULE")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    env["TEST_DATABASE_URL"] = admin_url
    return env


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_runs(name: str, admin_url: str, tmp_path: Path) -> None:
    _skip_without_extra(name)
    argv = [sys.executable, str(BENCH / f"{name}.py"), *ARGUMENTS.get(name, ())]
    done = subprocess.run(
        argv,
        cwd=tmp_path,
        env=_environment(admin_url),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    shown = f"{' '.join(argv[1:])}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"exit {done.returncode}: {shown}"
    assert any(line.startswith("|") for line in done.stdout.splitlines()), f"no table: {shown}"
