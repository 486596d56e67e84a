"""What is installed: the wheel (the ``dualorm`` package alone), ``--version``, ``python -m``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from dualorm.cli import main
from tests.conftest import ROOT

# What a build leaves in a source tree; a stale build/lib would leak into a fresh wheel.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", ".dualorm", "backups", ".nox"
)


def test_the_wheel_ships_the_dualorm_package_alone(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES)
    assert (source / "sa_models").is_dir() and (source / "django_app").is_dir()
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("dualorm-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info/"
    outside = [n for n in names if not n.startswith(("dualorm/", dist_info))]
    assert outside == []
    assert "dualorm/cli/__init__.py" in names
    assert {"constraints.sql", "indexes.sql", "tables.sql"} <= {
        Path(n).name for n in names if n.startswith("dualorm/sources/pg_sql/")
    }


def _python_m(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DUALORM_ENV"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_version_prints_the_installed_distributions_version(tmp_path: Path) -> None:
    for module in ("dualorm", "dualorm.cli"):
        done = _python_m(module, "--version", cwd=tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (
            0,
            f"dualorm {version('dualorm')}\n",
            "",
        )


def test_python_m_dualorm_is_the_console_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["migrate", "status"], ["validate", "--sources", "nope"], ["db", "--help"]):
        expected = main(args)
        captured = capsys.readouterr()
        done = _python_m("dualorm", *args, cwd=tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (
            expected,
            captured.out,
            captured.err,
        ), args
    assert _python_m("dualorm", "migrate", "status", cwd=tmp_path).returncode == 2
