"""Migrate benchmark: 300 generated specs applied from zero four ways, and status as processes.

In one run, on fresh databases of the same server: ``dualorm migrate up``, ``alembic
upgrade head`` of the emitted revisions, ``django-admin migrate`` of the emitted Django
migrations, and ``psql -f`` of the emitted SQL, interleaved over ``--rounds`` rounds (each
round four new databases), reported as medians. Then ``dualorm migrate status`` against
``alembic current`` and ``django-admin showmigrations`` as whole processes (median of five),
once with the spec cache removed before each run (what the cache saves) and once warm.
Targets, as ratios: up <= 1.5x psql -f; status <= 0.6x alembic current.

The Python tools are started through the console scripts installed beside the interpreter
running the benchmark (a virtualenv's ``bin/``), never through a version manager's shim on
PATH, which would add its own start-up to theirs and not to psql's. Every Python file they
import is byte-compiled first, as ``pip install`` does for installed packages: an editable
checkout, the generated revisions and migrations would otherwise be compiled again by every
run where ``PYTHONDONTWRITEBYTECODE`` is set.

    python bench/bench_migrate.py [--count 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dualorm.db import pg_bin
from dualorm.testing import scratch_database, server_url

REPO = Path(__file__).resolve().parent.parent

ALEMBIC_INI = """[alembic]
script_location = %(here)s/migrations/alembic
prepend_sys_path = %(here)s
path_separator = os

[loggers]
keys = root
[handlers]
keys = console
[formatters]
keys = generic
[logger_root]
level = WARNING
handlers = console
[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic
[formatter_generic]
format = %(levelname)s %(message)s
"""

ALEMBIC_ENV = '''"""Alembic environment of the benchmark project: the URL from DATABASE_URL."""
import os

from alembic import context
from sqlalchemy import create_engine, pool

from dualorm.db import sqlalchemy_url


def run() -> None:
    engine = create_engine(sqlalchemy_url(os.environ["DATABASE_URL"]), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
'''

SETTINGS = """from dualorm.django_setup import default_database

SECRET_KEY = "bench"
INSTALLED_APPS = ["benchapp"]
DATABASES = {"default": default_database()}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SILENCED_SYSTEM_CHECKS = ["models.E034"]
"""


def write_specs(directory: Path, count: int) -> None:
    """A chain: every third spec creates a table, the next adds a column, the next an index."""
    previous: str | None = None
    for i in range(1, count + 1):
        spec_id = f"b{i:04d}"
        table = f"bench_{(i - 1) // 3 + 1}"
        kind = (i - 1) % 3
        if kind == 0:
            op = (
                f"  - create_table:\n      name: {table}\n      columns:\n"
                "        - {name: id, type: bigint, primary_key: true}\n"
                "        - {name: label, type: varchar(100), nullable: false}\n"
                "        - {name: created_at, type: timestamptz, nullable: false, "
                "server_default: now()}\n"
            )
        elif kind == 1:
            op = f"  - add_column: {{table: {table}, name: note, type: text}}\n"
        else:
            op = (
                f"  - create_index: {{name: {table}_label_idx, table: {table}, columns: [label]}}\n"
            )
        deps = f'["{previous}"]' if previous else "[]"
        (directory / f"{spec_id}.yaml").write_text(
            f'id: "{spec_id}"\nname: step {i}\ndependencies: {deps}\noperations:\n{op}',
            encoding="utf-8",
        )
        previous = spec_id


def build_project(root: Path, count: int, write: Callable[[Path, int], None] | None = None) -> None:
    """The benchmark project in ``root``: ``count`` specs (by ``write``, default
    :func:`write_specs`), the emitted Alembic revisions and Django migrations, ``all.sql``."""
    (root / "migrations" / "alembic" / "versions").mkdir(parents=True)
    (write or write_specs)(root / "migrations", count)
    (root / "migrations" / "alembic" / "env.py").write_text(ALEMBIC_ENV, encoding="utf-8")
    shutil.copy(
        REPO / "migrations" / "alembic" / "script.py.mako",
        root / "migrations" / "alembic" / "script.py.mako",
    )
    (root / "alembic.ini").write_text(ALEMBIC_INI, encoding="utf-8")
    app = root / "benchapp"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("", encoding="utf-8")
    (app / "migrations" / "__init__.py").write_text("", encoding="utf-8")
    (app / "models.py").write_text("", encoding="utf-8")
    (app / "settings.py").write_text(SETTINGS, encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[tool.dualorm]\nmigrations_dir = "migrations"\n'
        'django_settings = "benchapp.settings"\ndjango_app_label = "benchapp"\n',
        encoding="utf-8",
    )
    emit = (
        "from dualorm.config import Config; from dualorm.spec.make import make; "
        "from dualorm.spec.load import load_specs; "
        "from dualorm.emit.sql import render_migration_sql; "
        "c = Config.load(); make(c); "
        "open('all.sql', 'w').write(''.join(render_migration_sql(m) "
        "for m in load_specs(c.migrations_path)))"
    )
    subprocess.run([sys.executable, "-c", emit], cwd=root, env=env_for(root, None), check=True)
    compile_all(root)


def compile_all(root: Path) -> None:
    """Byte-compile the project and the dualorm package the timed processes import (this
    checkout's, first on their ``PYTHONPATH``), as ``pip install`` does for a wheel: where
    ``PYTHONDONTWRITEBYTECODE`` is set, every process would otherwise compile them again."""
    package = REPO / "dualorm"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root), str(package)], check=True)


def env_for(root: Path, url: str | None) -> dict[str, str]:
    # The project first, then this checkout (dualorm may not be installed beside it).
    path = os.pathsep.join((str(root), str(REPO)))
    env = {**os.environ, "PYTHONPATH": path, "DJANGO_SETTINGS_MODULE": "benchapp.settings"}
    env.pop("DUALORM_ENV", None)
    if url:
        env["DATABASE_URL"] = url
    else:
        env.pop("DATABASE_URL", None)
        env["DATABASE_URL"] = "postgresql://placeholder@127.0.0.1:1/none"
    return env


def timed(root: Path, url: str, argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env_for(root, url), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {done.stderr[-2000:]}")
    return elapsed


def median(root: Path, url: str, argv: list[str], runs: int = 5) -> float:
    return statistics.median(timed(root, url, argv) for _ in range(runs))


def median_cold(root: Path, url: str, argv: list[str], runs: int = 5) -> float:
    """The median of ``argv`` with the spec cache removed before each run (a full load)."""
    seconds = []
    for _ in range(runs):
        shutil.rmtree(root / ".dualorm" / "cache", ignore_errors=True)
        seconds.append(timed(root, url, argv))
    return statistics.median(seconds)


def script(name: str) -> str:
    """The console script ``name`` installed beside this interpreter, else found on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    admin = server_url()
    dualorm_cmd = [script("dualorm")]
    alembic_cmd = [script("alembic"), "-c", "alembic.ini"]
    django_cmd = [script("django-admin")]
    with tempfile.TemporaryDirectory(prefix="dualorm-bench-") as tmp:
        root = Path(tmp)
        build_project(root, args.count)
        contenders = {
            "psql -f": [
                pg_bin("psql"),
                "-q",
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                "all.sql",
            ],
            "dualorm migrate up": [*dualorm_cmd, "migrate", "up"],
            "alembic upgrade head": [*alembic_cmd, "upgrade", "head"],
            "django-admin migrate": [*django_cmd, "migrate", "--settings=benchapp.settings"],
        }
        runs: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, argv in contenders.items():
                with scratch_database(admin, "bm") as url:
                    if argv[0].endswith("psql"):
                        argv = [*argv, "-d", url]
                    runs[name].append(timed(root, url, argv))
        up = {name: statistics.median(seconds) for name, seconds in runs.items()}
        with (
            scratch_database(admin, "bd") as db_dualorm,
            scratch_database(admin, "ba") as db_alembic,
            scratch_database(admin, "bj") as db_django,
        ):
            timed(root, db_dualorm, [*dualorm_cmd, "migrate", "up"])
            timed(root, db_alembic, [*alembic_cmd, "upgrade", "head"])
            timed(root, db_django, [*django_cmd, "migrate", "--settings=benchapp.settings"])
            status = {
                "alembic current": median(root, db_alembic, [*alembic_cmd, "current"]),
                "django-admin showmigrations": median(
                    root,
                    db_django,
                    [*django_cmd, "showmigrations", "--settings=benchapp.settings"],
                ),
                "dualorm migrate status (no spec cache)": median_cold(
                    root, db_dualorm, [*dualorm_cmd, "migrate", "status"]
                ),
                "dualorm migrate status": median(
                    root, db_dualorm, [*dualorm_cmd, "migrate", "status"]
                ),
            }
    print(f"## Migrate ({args.count} specs, median of {args.rounds} interleaved rounds)\n")
    print("| apply from zero | median s | ratio to psql -f | every round s |")
    print("| --- | --- | --- | --- |")
    for name, seconds in up.items():
        every = ", ".join(f"{s:.2f}" for s in runs[name])
        print(f"| {name} | {seconds:.2f} | {seconds / up['psql -f']:.2f}x | {every} |")
    print("\n| status (whole process, median of 5) | seconds | ratio to alembic current |")
    print("| --- | --- | --- |")
    for name, seconds in status.items():
        print(f"| {name} | {seconds:.3f} | {seconds / status['alembic current']:.2f}x |")
    up_ratio = up["dualorm migrate up"] / up["psql -f"]
    status_ratio = status["dualorm migrate status"] / status["alembic current"]
    print(
        f"\ntargets: up {up_ratio:.2f}x psql -f (<= 1.5x: "
        f"{'met' if up_ratio <= 1.5 else 'missed'}); status {status_ratio:.2f}x alembic "
        f"current (<= 0.6x: {'met' if status_ratio <= 0.6 else 'missed'})"
    )


if __name__ == "__main__":
    main()
