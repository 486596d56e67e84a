"""Autogenerate benchmark: ``migrate new --autogenerate``, ``migrate check`` and ``models render``
against Alembic and Django, as whole processes, in one run.

Usage::

    python bench/bench_autogen.py [--tables N] [--migrations M] [--repeat R]

The schema is bench_reconcile's generated one (N tables of 10 columns, 2 indexes, a unique
and a foreign key each), written as SQLAlchemy and Django model modules by
``dualorm models render`` itself. Timed, each the median of ``--repeat`` runs:

* a change of 10 tables (a column added to each): ``dualorm migrate new --autogenerate
  --from sqlalchemy`` and ``--from django`` (the models against the replayed specs, no
  database; once with the model-schema cache as the untimed first run left it, once with
  ``--no-cache``) against ``alembic revision --autogenerate`` (the models against a database
  holding the N tables) and ``manage.py makemigrations`` (the models against the state its
  initial migration renders); target <= 0.25x each;
* at M migrations (the initial spec, then M-1 specs of one added column each, emitted by
  ``dualorm migrate make``): ``dualorm migrate check`` (cached, and ``--no-cache``) against
  ``manage.py makemigrations --check``; target <= 0.25x;
* ``dualorm models render --orm sqlalchemy`` of the N tables; target under 2 s;
* the floors, at the M-migration project: a process that only imports the SQLAlchemy model
  module, and one that only runs ``django.setup()`` with the Django models.

dualorm and the generated modules are compiled to bytecode first (as an install and a first
import leave them). Each step reports the median wall time and the median CPU time (user +
system, the process and its children) of its timed runs: on a shared machine the wall time
moves with the load, the CPU time much less.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

SETTINGS = """\
from dualorm.django_setup import default_database
SECRET_KEY = "bench"
INSTALLED_APPS = ["bench_app"]
DATABASES = {"default": default_database()}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SILENCED_SYSTEM_CHECKS = ["models.E034", "models.W045"]
"""
PYPROJECT = """\
[tool.dualorm]
sa_metadata = "bench_models:Base.metadata"
django_settings = "bench_settings"
django_app_label = "bench_app"
migrations_dir = "migrations"
"""
ALEMBIC_INI = "[alembic]\nscript_location = alembic_env\n"
ALEMBIC_ENV = """\
import os
from alembic import context
from sqlalchemy import create_engine
from bench_models import Base
from dualorm.db import sqlalchemy_url
engine = create_engine(sqlalchemy_url(os.environ["DATABASE_URL"]))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
"""
MAKO = '''"""${message}"""
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
'''


def changed(schema, count: int = 10):  # type: ignore[no-untyped-def]
    """``schema`` with a nullable text column added to its first ``count`` tables (its enum
    types kept)."""
    from dualorm.schema import Column
    from dualorm.schema import schema as build

    tables = list(schema)
    for i, t in enumerate(tables[:count]):
        tables[i] = replace(t, columns=(*t.columns, Column("extra", "text")))
    return build(tables, schema.enums, sequences=schema.sequences)


def write_models(folder: Path, s) -> None:  # type: ignore[no-untyped-def]
    from dualorm.models_render import render_schema

    (folder / "bench_models.py").write_text(render_schema(s, "sqlalchemy"), encoding="utf-8")
    app = folder / "bench_app"
    app.mkdir(exist_ok=True)
    (app / "__init__.py").touch()
    (app / "models.py").write_text(render_schema(s, "django"), encoding="utf-8")


CPU: dict[str, float] = {}
"""The median CPU seconds (user + system) of each step's timed processes, by step."""


def compiled(*folders: Path) -> None:
    """Write the bytecode of ``folders`` as an install does (a wheel ships dualorm's .pyc, and
    a project's modules get theirs on first import): the bench environment may set
    PYTHONDONTWRITEBYTECODE, which would have every timed run compile them again."""
    for folder in folders:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(folder)], check=True, capture_output=True
        )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(folder: Path, url: str, *argv: str) -> float:
    env = dict(os.environ, DATABASE_URL=url)
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT)])
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=folder, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0,):
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return elapsed


def median(repeat: int, step, cleanup=None) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The median wall time of ``repeat`` runs of ``step`` and their median CPU time."""
    # One untimed run first: dualorm's spec cache (any command refreshes it after a spec
    # changes), Django's and Alembic's own caches.
    step()
    if cleanup is not None:
        cleanup()
    times, cpus = [], []
    for _ in range(repeat):
        cpu = cpu_seconds()
        times.append(step())
        cpus.append(cpu_seconds() - cpu)
        if cleanup is not None:
            cleanup()
    return statistics.median(times), statistics.median(cpus)


DUALORM = (sys.executable, "-m", "dualorm")
MANAGE = (sys.executable, "-m", "django")
SETTINGS_FLAG = "--settings=bench_settings"


def project(n: int) -> tuple[Path, object]:
    from bench_reconcile import build_metadata

    from dualorm.sources import sqlalchemy as sa_source

    folder = Path(tempfile.mkdtemp(prefix="bench-autogen-"))
    (folder / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (folder / "bench_settings.py").write_text(SETTINGS, encoding="utf-8")
    (folder / "migrations").mkdir()
    return folder, sa_source.load(build_metadata(n))


def bench_new(n: int, repeat: int, url: str) -> list[tuple[str, tuple[float, float]]]:
    from sqlalchemy import create_engine

    from dualorm.db import sqlalchemy_url

    folder, v1 = project(n)
    write_models(folder, v1)
    run(
        folder, url, *DUALORM, "migrate", "new", "initial", "--autogenerate", "--from", "sqlalchemy"
    )
    run(folder, url, *MANAGE, "makemigrations", "bench_app", SETTINGS_FLAG)
    sys.path.insert(0, str(folder))
    import bench_models  # the v1 tables, created for Alembic to reflect

    engine = create_engine(sqlalchemy_url(url))
    bench_models.Base.metadata.create_all(engine)
    engine.dispose()
    (folder / "alembic.ini").write_text(ALEMBIC_INI, encoding="utf-8")
    env = folder / "alembic_env"
    (env / "versions").mkdir(parents=True)
    (env / "env.py").write_text(ALEMBIC_ENV, encoding="utf-8")
    (env / "script.py.mako").write_text(MAKO, encoding="utf-8")
    write_models(folder, changed(v1))
    compiled(ROOT / "dualorm", folder)

    before = {
        p: set(p.iterdir()) for p in (folder / "migrations", folder / "bench_app" / "migrations")
    }

    def clean(_pattern: str, where: Path) -> None:
        # Remove what the timed run wrote, nothing else.
        for path in set(where.iterdir()) - before.get(where, set()):
            if path.is_file():
                path.unlink()

    rows = []
    for source, flags in itertools.product(("sqlalchemy", "django"), ((), ("--no-cache",))):
        argv = (*DUALORM, "migrate", "new", "change", "--autogenerate", "--from", source, *flags)
        rows.append(
            (
                " ".join(("migrate new --autogenerate --from", source, *flags)),
                median(
                    repeat,
                    lambda a=argv: run(folder, url, *a),
                    lambda: clean("0002_*", folder / "migrations"),
                ),
            )
        )
    alembic = (sys.executable, "-m", "alembic", "revision", "--autogenerate", "-m", "change")
    rows.append(
        (
            "alembic revision --autogenerate",
            median(
                repeat, lambda: run(folder, url, *alembic), lambda: clean("*.py", env / "versions")
            ),
        )
    )
    migrations_dir = folder / "bench_app" / "migrations"
    rows.append(
        (
            "manage.py makemigrations",
            median(
                repeat,
                lambda: run(folder, url, *MANAGE, "makemigrations", "bench_app", SETTINGS_FLAG),
                lambda: clean("0002_*", migrations_dir),
            ),
        )
    )
    shutil.rmtree(folder)
    return rows


def bench_check(n: int, count: int, repeat: int, url: str) -> list[tuple[str, tuple[float, float]]]:
    folder, v1 = project(n)
    write_models(folder, v1)
    run(
        folder, url, *DUALORM, "migrate", "new", "initial", "--autogenerate", "--from", "sqlalchemy"
    )
    for i in range(1, count):
        t = f"t{(i - 1) % n:04d}"
        (folder / "migrations" / f"{i + 1:04d}_c{i}.yaml").write_text(
            textwrap.dedent(
                f"""\
                id: "{i + 1:04d}_c{i}"
                name: c{i}
                dependencies: ["{i:04d}_{"initial" if i == 1 else f"c{i - 1}"}"]
                operations:
                  - add_column: {{table: {t}, name: c{i}, type: text}}
                """
            ),
            encoding="utf-8",
        )
    run(
        folder,
        url,
        *DUALORM,
        "models",
        "render",
        "--orm",
        "sqlalchemy",
        "--output",
        "bench_models.py",
    )
    run(
        folder,
        url,
        *DUALORM,
        "models",
        "render",
        "--orm",
        "django",
        "--output",
        "bench_app/models.py",
    )
    run(folder, url, *DUALORM, "migrate", "make")
    compiled(ROOT / "dualorm", folder)
    setup = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'bench_settings'; django.setup()"
    )
    floors = [
        ("floor: import the SQLAlchemy models", (sys.executable, "-c", "import bench_models")),
        ("floor: django.setup() with the models", (sys.executable, "-c", setup)),
    ]
    check = (*DUALORM, "migrate", "check")
    rows = [(name, median(repeat, lambda a=argv: run(folder, url, *a))) for name, argv in floors]
    rows += [
        ("migrate check", median(repeat, lambda: run(folder, url, *check))),
        (
            "migrate check --no-cache",
            median(repeat, lambda: run(folder, url, *check, "--no-cache")),
        ),
        (
            "manage.py makemigrations --check",
            median(
                repeat,
                lambda: run(
                    folder, url, *MANAGE, "makemigrations", "--check", "--dry-run", SETTINGS_FLAG
                ),
            ),
        ),
    ]
    render = (*DUALORM, "models", "render", "--orm", "sqlalchemy", "--output", "rendered.py")
    rows.append(
        (
            f"models render --orm sqlalchemy ({n} tables)",
            median(repeat, lambda: run(folder, url, *render)),
        )
    )
    shutil.rmtree(folder)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--migrations", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from dualorm.testing import scratch_database

    with scratch_database(prefix="bench") as url:
        new = bench_new(args.tables, args.repeat, url)
        check = bench_check(args.tables, args.migrations, args.repeat, url)
    timed = dict(new + check)
    times = {name: wall for name, (wall, _cpu) in timed.items()}
    print(f"| step ({args.tables} tables) | wall s | CPU s | ratio | target |")
    print("| --- | ---: | ---: | --- | --- |")
    for name, (wall, cpu) in new + check:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | | |")
    pairs = [
        (f"migrate new --autogenerate --from sqlalchemy{flags}", "alembic revision --autogenerate")
        for flags in ("", " --no-cache")
    ]
    pairs += [
        (f"migrate new --autogenerate --from django{flags}", "manage.py makemigrations")
        for flags in ("", " --no-cache")
    ]
    pairs += [
        (f"migrate check{flags}", "manage.py makemigrations --check")
        for flags in ("", " --no-cache")
    ]
    target = 0.25
    for ours, theirs in pairs:
        ratio = times[ours] / times[theirs]
        cpu = timed[ours][1] / timed[theirs][1]
        verdict = "met" if ratio <= target else "MISSED"
        print(f"| {ours} / {theirs} | | | {ratio:.2f}x (CPU {cpu:.2f}x) | <= {target}x {verdict} |")
    render = times[f"models render --orm sqlalchemy ({args.tables} tables)"]
    print(f"| models render | {render:.2f} | | | < 2 s {'met' if render < 2 else 'MISSED'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
