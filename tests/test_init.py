"""``dualorm init`` in a project of its own: what it finds, what it writes, what it refuses,
and that the Alembic environment it writes runs the revisions ``migrate make`` emits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest
from project_files import write_project

from dualorm.cli import main
from dualorm.config import Config
from dualorm.db import connection

ROOT = Path(__file__).resolve().parent.parent

MANAGE_PY = """\
#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
"""

SETTINGS_PY = """\
INSTALLED_APPS = ["django.contrib.contenttypes", "catalog"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "shop"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
"""

DJANGO_MODELS = """\
from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        db_table = "catalog_product"
"""

# Importing it leaves a mark: discovery must read it, never run it.
SA_MODELS = """\
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Path(__file__).with_name("IMPORTED").write_text("services.models was imported")


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "catalog_product"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
"""

REPORTING = """\
import sqlalchemy as sa

metadata = sa.MetaData()
events = sa.Table("reporting_event", metadata, sa.Column("id", sa.Integer, primary_key=True))
"""

CREATE_PRODUCT = """\
operations:
  - create_table:
      name: catalog_product
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: name, type: varchar(100), nullable: false}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Django project (manage.py, settings, an app) with a SQLAlchemy module beside it."""
    root = tmp_path / "shop-project"
    files = {
        "manage.py": MANAGE_PY,
        "shop/__init__.py": "",
        "shop/settings.py": SETTINGS_PY,
        "catalog/__init__.py": "",
        "catalog/models.py": DJANGO_MODELS,
        "services/__init__.py": "",
        "services/models.py": SA_MODELS,
    }
    write_project(root, files=files)
    monkeypatch.chdir(root)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def dualorm(
    project: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user does, in ``project``, with no terminal attached."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DUALORM_"))}
    environ.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=project,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_init_finds_the_settings_and_the_metadata_and_writes_the_project(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--yes"]) == 0
    out = capsys.readouterr().out
    table = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["dualorm"]
    assert table == {
        "sa_metadata": "services.models:Base.metadata",
        "django_settings": "shop.settings",
        "migrations_dir": "migrations",
        "seeds_dir": "seeds",
        "backup_dir": "backups",
        "default_app": "catalog",
    }
    config = Config.load(project)
    assert (config.root, config.sa_metadata) == (project, "services.models:Base.metadata")
    written = [
        "pyproject.toml",
        "migrations/.gitkeep",
        "alembic.ini",
        "migrations/alembic/env.py",
        "migrations/alembic/script.py.mako",
        "migrations/alembic/versions/.gitkeep",
    ]
    for name in written:
        assert (project / name).is_file(), name
        assert f"wrote {name}\n" in out
    ini = (project / "alembic.ini").read_text()
    assert "script_location = %(here)s/migrations/alembic\n" in ini
    assert "prepend_sys_path = %(here)s\n" in ini
    assert '"dualorm.contrib.django", to INSTALLED_APPS in shop/settings.py' in out
    assert out.count("\n  ") == 3, "three next steps"
    assert "dualorm.contrib.django" not in (project / "shop/settings.py").read_text()
    assert not (project / "services/IMPORTED").exists(), "discovery imported the project's code"


def test_the_alembic_environment_runs_what_migrate_make_writes(
    project: Path, database_url: str
) -> None:
    assert dualorm(project, "dualorm.cli", "init", "--yes").returncode == 0
    # The one app of the project is the default app: migrate make writes its migrations.
    assert Config.load(project).default_app == "catalog"
    done = dualorm(project, "dualorm.cli", "migrate", "new", "create product")
    assert done.returncode == 0, done.stderr
    spec = project / "migrations/0001_create_product.yaml"
    spec.write_text(spec.read_text().split("operations:")[0] + CREATE_PRODUCT)
    done = dualorm(project, "dualorm.cli", "migrate", "make")
    assert done.returncode == 0, done.stderr
    assert (project / "migrations/alembic/versions/0001_create_product.py").is_file()

    env = {"DATABASE_URL": database_url}
    done = dualorm(project, "alembic", "-c", "alembic.ini", "upgrade", "head", env=env)
    assert done.returncode == 0, done.stderr
    with connection(database_url) as conn:
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'catalog_product' ORDER BY ordinal_position"
        ).fetchall()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert [c[0] for c in columns] == ["id", "name"]
    assert version == [("0001_create_product",)]

    # From anywhere else, the environment still finds its project, config and models.
    ini = str(project / "alembic.ini")
    done = dualorm(project.parent, "alembic", "-c", ini, "check", env=env)
    assert done.returncode == 0, done.stderr
    models = project / "services/models.py"
    models.write_text(models.read_text() + "    sku: Mapped[str | None] = mapped_column()\n")
    done = dualorm(project.parent, "alembic", "-c", ini, "check", env=env)
    assert done.returncode != 0
    assert "sku" in done.stderr


def test_a_second_init_is_refused_naming_the_file_and_changes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--yes"]) == 0
    before = snapshot(project)
    capsys.readouterr()
    assert main(["init", "--yes", "--sa-metadata", "services.models:Base.metadata"]) == 3
    err = capsys.readouterr().err
    assert f"{project / 'pyproject.toml'} already has a [tool.dualorm] table" in err
    assert snapshot(project) == before


@pytest.mark.parametrize(
    "original",
    [
        b'[project]\nname = "shop"  # keep this comment\n\n[tool.ruff]\nline-length = 99\n',
        b'[project]\r\nname = "shop"\r\n\r\n[tool.black]\r\nline-length = 88',
    ],
    ids=["lf", "crlf-no-final-newline"],
)
def test_an_existing_pyproject_keeps_every_byte_and_gets_the_table(
    project: Path, original: bytes
) -> None:
    (project / "pyproject.toml").write_bytes(original)
    assert main(["init", "--yes"]) == 0
    after = (project / "pyproject.toml").read_bytes()
    assert after.startswith(original)
    data = tomllib.loads(after.decode())
    assert data["project"] == {"name": "shop"}
    assert data["tool"]["dualorm"]["django_settings"] == "shop.settings"
    assert len(data["tool"]) == 2
    newline = b"\r\n" if b"\r\n" in original else b"\n"
    assert after[len(original) :].replace(newline, b"").count(b"\n") == 0, "one line ending"


def test_several_metadata_without_a_terminal_exit_2_listing_them(project: Path) -> None:
    (project / "reporting").mkdir()
    (project / "reporting/tables.py").write_text(REPORTING)
    before = snapshot(project)
    done = dualorm(project, "dualorm.cli", "init")
    assert done.returncode == 2
    assert "services.models:Base.metadata (services/models.py:" in done.stderr
    assert "reporting.tables:metadata (reporting/tables.py:3)" in done.stderr
    assert "--sa-metadata" in done.stderr
    assert snapshot(project) == before


def test_the_sa_metadata_flag_chooses_among_several(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "reporting").mkdir()
    (project / "reporting/tables.py").write_text(REPORTING)
    (project / "services/base.py").write_text(BASE_ONLY)
    assert main(["init", "--sa-metadata", "reporting.tables:metadata"]) == 0
    table = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["dualorm"]
    assert table["sa_metadata"] == "reporting.tables:metadata"
    assert "note:" not in capsys.readouterr().out, "a note on a candidate not taken"


def test_with_several_apps_default_app_is_left_out_with_a_note_or_taken_from_the_flag(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = project / "shop/settings.py"
    settings.write_text(
        settings.read_text().replace('"catalog"]', '"catalog", "orders.apps.OrdersConfig"]')
        + 'INSTALLED_APPS += ["notes", "django.contrib.auth"]\n'
    )
    for app in ("orders", "notes"):
        (project / app).mkdir()
        (project / app / "__init__.py").write_text("")
        (project / app / "models.py").write_text("")
    (project / "notes" / "models.py").unlink()  # no models: not a candidate
    assert main(["init", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "default_app not written: 2 candidates found (catalog (shop/settings.py:1), " in out
    assert "orders (shop/settings.py:1)); set it in [tool.dualorm] or pass --default-app" in out
    table = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["dualorm"]
    assert "default_app" not in table

    (project / "pyproject.toml").unlink()
    (project / "alembic.ini").unlink()
    shutil.rmtree(project / "migrations")
    assert main(["init", "--yes", "--default-app", "orders"]) == 0
    table = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["dualorm"]
    assert table["default_app"] == "orders"


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--sa-metadata", "services.models"),
        ("--default-app", "orders.apps"),
        ("--django-settings", "shop/settings.py"),
        ("--migrations-dir", "../elsewhere"),
        ("--migrations-dir", "/abs/migrations"),
    ],
)
def test_a_malformed_flag_is_exit_2_naming_it_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    before = snapshot(project)
    assert main(["init", "--yes", flag, value]) == 2
    assert f"{flag} {value!r} must" in capsys.readouterr().err
    assert snapshot(project) == before


def test_a_file_in_the_way_is_refused_by_name_and_nothing_is_written(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mako = project / "migrations/alembic/script.py.mako"
    mako.parent.mkdir(parents=True)
    mako.write_text("my own template\n")
    before = snapshot(project)
    assert main(["init", "--yes"]) == 3
    assert f"{mako} already exists: dualorm init never overwrites a file" in capsys.readouterr().err
    assert snapshot(project) == before
    assert not (project / "pyproject.toml").exists()


def test_a_specs_directory_that_is_a_file_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations/alembic\n"
    )
    (project / "migrations").write_text("not a directory\n")
    before = snapshot(project)
    assert main(["init", "--yes"]) == 3
    assert f"{project / 'migrations'} already exists" in capsys.readouterr().err
    assert snapshot(project) == before


def test_an_existing_alembic_environment_is_kept_and_a_misplaced_one_is_pointed_out(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = "[alembic]\nscript_location = %(here)s/db/alembic\n"
    (project / "alembic.ini").write_text(ini)
    assert main(["init", "--yes"]) == 0
    out = capsys.readouterr().out
    assert (project / "alembic.ini").read_text() == ini
    assert not (project / "migrations/alembic").exists()
    assert "kept the Alembic environment of alembic.ini" in out
    assert "reads revisions from db/alembic" in out
    assert "writes them to migrations/alembic/versions" in out
    assert "wrote migrations/.gitkeep" in out


def read_until(fd: int, wanted: str, seen: list[str]) -> None:
    """Read the terminal's output into ``seen`` until ``wanted`` appears (or fail)."""
    import select

    while wanted not in "".join(seen):
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, f"no {wanted!r} in {''.join(seen)!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        assert chunk, f"no {wanted!r} in {''.join(seen)!r}"
        seen.append(chunk.decode())


def test_on_a_terminal_init_asks_which_candidate(project: Path) -> None:
    import pty

    (project / "reporting").mkdir()
    (project / "reporting/tables.py").write_text(REPORTING)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DUALORM_"))}
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "dualorm.cli", "init"],
        cwd=project,
        env={**environ, "PYTHONPATH": str(ROOT)},
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    seen: list[str] = []
    try:
        read_until(primary, "SQLAlchemy MetaData (a number above, or a value):", seen)
        assert "1. reporting.tables:metadata  (reporting/tables.py:3)" in "".join(seen)
        os.write(primary, b"2\n")
        read_until(primary, "Django settings module [shop.settings]:", seen)
        os.write(primary, b"\n")
        read_until(primary, "(default_app) [catalog]:", seen)
        os.write(primary, b"\n")
        read_until(primary, "next steps:", seen)
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        os.close(primary)
    table = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["dualorm"]
    assert table["sa_metadata"] == "services.models:Base.metadata"
    assert table["django_settings"] == "shop.settings"


BASE_ONLY = (
    "from sqlalchemy.orm import DeclarativeBase\n\n\nclass Base(DeclarativeBase):\n    pass\n"
)


@pytest.mark.parametrize(
    ("files", "metadata", "settings"),
    [
        (
            {
                "app/db.py": "from sqlalchemy.orm import declarative_base\n"
                "Base = declarative_base()\n"
            },
            ["app.db:Base.metadata"],
            [],
        ),
        (
            {
                "app/models.py": "import sqlalchemy as sa\nfrom sqlalchemy import orm\n"
                "meta = sa.MetaData(naming_convention={})\n\n"
                "class Base(orm.DeclarativeBase):\n    metadata = meta\n",
                "app/tables.py": "from sqlalchemy import MetaData\nlegacy: MetaData = MetaData()\n",
            },
            ["app.models:Base.metadata", "app.tables:legacy"],
            [],
        ),
        (
            {"src/pkg/models.py": BASE_ONLY, "src/pkg/settings.py": "DEBUG = True\n"},
            ["pkg.models:Base.metadata"],
            ["pkg.settings"],
        ),
        (
            {
                ".venv/pyvenv.cfg": "",
                ".venv/lib/meta.py": "import sqlalchemy as sa\nm = sa.MetaData()\n",
                "env/pyvenv.cfg": "",
                "env/mod.py": "import sqlalchemy as sa\nm = sa.MetaData()\n",
                "tests/fixtures.py": "import sqlalchemy as sa\nm = sa.MetaData()\n",
                "my-scripts/tool.py": "import sqlalchemy as sa\nm = sa.MetaData()\n",
                "broken.py": "import sqlalchemy as sa\nm = sa.MetaData(\n",
                "inner.py": "import sqlalchemy as sa\ndef f():\n    m = sa.MetaData()\n",
                "mysite/settings.py": "DEBUG = True\n",
            },
            [],
            ["mysite.settings"],
        ),
        (
            {
                "manage.py": 'import os\nos.environ["DJANGO_SETTINGS_MODULE"] = "conf.prod"\n',
                "conf/settings.py": "DEBUG = True\n",
            },
            [],
            ["conf.prod"],
        ),
    ],
    ids=["declarative_base", "shared-metadata", "src-layout", "skipped", "manage-assigns"],
)
def test_discovery_reads_the_project_without_importing_it(
    tmp_path: Path, files: dict[str, str], metadata: list[str], settings: list[str]
) -> None:
    from dualorm.scaffold_discovery import discover

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = discover(tmp_path)
    assert [c.value for c in found.sa_metadata] == metadata
    assert [c.value for c in found.django_settings] == settings


def test_a_base_that_maps_no_model_is_taken_with_a_note(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "services/models.py").unlink()
    (project / "services/base.py").write_text(BASE_ONLY)
    assert main(["init", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "note: services.base defines Base but maps no model itself" in out


def test_nothing_found_without_a_terminal_is_exit_2_naming_the_flag(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "manage.py").unlink()
    (project / "shop/settings.py").rename(project / "shop/config.py")
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert "no Django settings module found" in err and "pass --django-settings MODULE" in err
    assert main(["init", "--django-settings", "shop.config"]) == 0
    assert "INSTALLED_APPS in shop/config.py" in capsys.readouterr().out


def test_the_repositorys_own_alembic_environment_is_the_one_init_writes() -> None:
    from dualorm.scaffold_templates import ENV_PY, SCRIPT_PY_MAKO

    alembic = Path(__file__).resolve().parent.parent / "migrations" / "alembic"
    assert (alembic / "env.py").read_text(encoding="utf-8") == ENV_PY
    assert (alembic / "script.py.mako").read_text(encoding="utf-8") == SCRIPT_PY_MAKO
