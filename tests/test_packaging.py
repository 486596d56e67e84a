"""The built wheel: the ``dualorm`` package and its metadata, never the reference app."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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
