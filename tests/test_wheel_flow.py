"""docs/adopting.md, run as written: dualorm from a wheel in a fresh virtualenv, on the shop.

The wheel is built once per session from this checkout and installed, with its dependencies,
into a new virtualenv. Every ``$ `` line of the page's ``console`` blocks (a heredoc with the
lines up to its ``EOF``) then runs in order, in one shell, in a copy of tests/projects/shop
without its ``[tool.dualorm]`` table, with the virtualenv's ``bin`` first on ``PATH`` and
``DATABASE_URL`` set to a fresh database. Each command must exit 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dualorm.testing import scratch_database
from tests.conftest import ROOT

PAGE = ROOT / "docs" / "adopting.md"
SHOP = ROOT / "tests" / "projects" / "shop"
REFERENCE_MODULES = ("sa_models", "django_app", "seeds")

# What a build leaves in a source tree; a stale build/lib would leak into a fresh wheel.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", ".dualorm", "backups", ".nox"
)

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Venv:
    wheel: Path
    bin: Path

    @property
    def version(self) -> str:
        """The version of the wheel installed (its file name says it, as PEP 427 has it)."""
        return self.wheel.name.split("-")[1]

    def env(self, database_url: str) -> dict[str, str]:
        """The environment of a user of this virtualenv: nothing of this checkout on the path."""
        dropped = (
            "PYTHONPATH",
            "DJANGO_SETTINGS_MODULE",
            "DUALORM_ENV",
            "DUALORM_BACKUP_KEY",
            "DUALORM_BACKUP_DIR",
            "DUALORM_WEBHOOK_URL",
            "DUALORM_WEBHOOK_SECRET",
            "DATABASE_REPLICA_URLS",
            "PYTHONHOME",
        )
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env["PATH"] = os.pathsep.join([str(self.bin), env.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(self.bin.parent)
        env["DATABASE_URL"] = database_url
        return env


def _run(
    argv: list[str], *, env: dict[str, str], cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """dualorm's wheel, built from this checkout, installed into a fresh virtualenv."""
    base = tmp_path_factory.mktemp("wheel-flow")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES)
    wheels = base / "wheels"
    home = base / "venv"
    # Without this checkout on PYTHONPATH, or pip would take its sources for an install.
    env = Venv(Path(), home / "bin").env("")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "."],
        cwd=source,
        env=env,
        timeout=600,
    )
    (wheel,) = wheels.glob("dualorm-*.whl")
    _run([sys.executable, "-m", "venv", str(home)], env=env)
    _run(
        [str(home / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        env=env,
        timeout=900,
    )
    return Venv(wheel, home / "bin")


def page_commands(text: str) -> list[str]:
    """Every ``$ `` command of the page's ``console`` blocks, heredoc bodies included."""
    commands: list[str] = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        lines = iter(block.splitlines())
        for line in lines:
            if not line.startswith("$ "):
                continue
            command = [line[2:]]
            heredoc = re.search(r"<<\s*'(\w+)'", line)
            if heredoc:
                for body in lines:
                    command.append(body)
                    if body == heredoc.group(1):
                        break
                else:
                    raise AssertionError(f"heredoc never ends: {line}")
            commands.append("\n".join(command))
    return commands


def shell_script(commands: list[str], log: Path) -> str:
    """One bash script running ``commands`` in order (exports carry over), stopping at the
    first that fails; command ``i`` leaves ``i.out``, ``i.err`` and ``i.rc`` in ``log``."""
    parts = ["set -u"]
    for i, command in enumerate(commands):
        parts.append(
            f"{{ {command}\n}} >'{log}/{i}.out' 2>'{log}/{i}.err' </dev/null\n"
            f"rc=$?; echo $rc >'{log}/{i}.rc'; [ $rc -eq 0 ] || exit 0"
        )
    return "\n".join(parts) + "\n"


def shop_without_dualorm(tmp_path: Path) -> Path:
    project = tmp_path / "shop"
    shutil.copytree(SHOP, project, ignore=shutil.ignore_patterns("__pycache__"))
    pyproject = project / "pyproject.toml"
    head, found, _ = pyproject.read_text(encoding="utf-8").partition("[tool.dualorm]")
    assert found
    pyproject.write_text(head.rstrip() + "\n", encoding="utf-8")
    return project


def test_the_wheel_installs_dualorm_alone(venv: Venv, tmp_path: Path) -> None:
    env = venv.env("postgresql://unused@127.0.0.1/none")
    done = _run(["dualorm", "--version"], cwd=tmp_path, env=env)
    assert done.stdout == f"dualorm {venv.version}\n"
    probe = (
        "import importlib.util, dualorm\n"
        f"print([m for m in {REFERENCE_MODULES!r} if importlib.util.find_spec(m)])\n"
        "print(dualorm.__file__)\n"
    )
    found, location = _run(
        [str(venv.bin / "python"), "-c", probe], cwd=tmp_path, env=env
    ).stdout.splitlines()
    assert found == "[]"
    assert Path(location).is_relative_to(venv.bin.parent)


def test_the_adopting_page_runs_as_written(
    venv: Venv, tmp_path: Path, database_url: str, admin_url: str
) -> None:
    commands = page_commands(PAGE.read_text(encoding="utf-8"))
    assert commands[0] == "pip install dualorm"
    project = shop_without_dualorm(tmp_path)
    log = tmp_path / "log"
    log.mkdir()
    script = tmp_path / "page.sh"
    script.write_text(shell_script(commands, log), encoding="utf-8")
    subprocess.run(
        ["bash", str(script)],
        cwd=project,
        env=venv.env(database_url),
        check=True,
        timeout=1200,
    )

    def result(i: int) -> tuple[int | None, str, str]:
        rc = log / f"{i}.rc"
        code = int(rc.read_text()) if rc.exists() else None
        return code, (log / f"{i}.out").read_text(), (log / f"{i}.err").read_text()

    for i, command in enumerate(commands):
        code, out, err = result(i)
        assert code == 0, f"$ {command}\nexit {code}\n{out}\n{err}"

    def outputs(command: str) -> list[str]:
        return [result(i)[1] for i, c in enumerate(commands) if c == command]

    # `pip install dualorm` found the wheel's dualorm already there.
    assert "already satisfied" in outputs("pip install dualorm")[0]
    assert outputs("dualorm --version") == [f"dualorm {venv.version}\n"]
    config = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert 'sa_metadata = "shop_sa.models:Base.metadata"' in config
    assert 'django_settings = "shop.settings"' in config
    validations = outputs("dualorm validate")
    assert len(validations) == 3
    for out in validations:
        for pair in ("sqlalchemy vs django", "sqlalchemy vs database", "django vs database"):
            assert f"{pair}: no differences" in out, out
        assert "valid: 0 error(s)" in out, out
    statuses = outputs("dualorm migrate status")
    assert [s.splitlines()[-1].split(";")[0] for s in statuses] == [
        "1 applied, 0 pending",
        "2 applied, 0 pending",
        "1 applied, 1 pending",
    ]
    assert "2 applied, 0 pending" in outputs("python manage.py dualmigrate status")[0]
    assert "No migrations to apply." in outputs("python manage.py migrate")[1]
    # One spec, two apps: its operations went to each table's app.
    inventory = project / "inventory" / "migrations"
    assert (inventory / "0001_initial.py").is_file()
    assert "name='reserved'" in (inventory / "0002_add_reserved_stock.py").read_text()
    brand = (project / "catalog" / "migrations" / "0002_add_reserved_stock.py").read_text()
    assert "name='Brand'" in brand and "('catalog', '0001_initial')" in brand
    assert "No changes detected" in outputs("python manage.py makemigrations --check --dry-run")[0]
    assert (project / "migrations" / "alembic" / "versions" / "0001_initial.py").is_file()
    # Django's own migrate builds every app on a fresh database, dualorm's files included.
    with scratch_database(admin_url, prefix="wheelfresh") as fresh:
        done = _run(
            [str(venv.bin / "python"), "manage.py", "migrate"], cwd=project, env=venv.env(fresh)
        )
        for applied in (
            "taggit.0001_initial",
            "authtoken.0001_initial",
            "inventory.0001_initial",
            "catalog.0002_add_reserved_stock",
            "inventory.0002_add_reserved_stock",
        ):
            assert f"Applying {applied}... OK" in done.stdout, done.stdout
    verified = next(i for i, c in enumerate(commands) if c.startswith("dualorm backup verify"))
    assert ": OK (" in result(verified)[1]
