"""Long relational history benchmark: 500 migrations over 100 tables with FKs between them.

Each table takes five migrations: create it (``parent_id`` column), add an FK from it to the
table before (the first table to itself), add a column, add an index, then either rename the
column (even tables) or alter the type of ``label`` (odd ones). In one run, on fresh databases
of the same server, ``--runs`` rounds of each in turn (median kept): ``dualorm migrate up``
(no spec cache, as after a fresh checkout; and with the cache warm, as the other tools'
revision files are byte-compiled), ``alembic upgrade head`` of the emitted revisions,
``django-admin migrate`` of the emitted Django migrations, ``psql -f`` of the emitted SQL, and
the floor of any Python tool on psycopg (start, import psycopg, send the emitted SQL as one
query without waiting for each commit's flush; no ledger, no spec), each from zero. Then, on
the migrated databases, as whole processes (median of ``--runs`` rounds, each round running
every contender once, in turn): ``dualorm migrate status``,
``migrate check`` and ``migrate make --check`` against ``alembic current``, ``django-admin
showmigrations`` and ``django-admin makemigrations --check``, and the floors below them:
``python -c pass``, ``python -c 'import psycopg'`` (every row that connects pays it) and
``django.setup()`` of the benchmark's settings (every django-admin row pays it).
Targets, as ratios: up <= 1.3x psql -f; status, check and make --check <= 0.25x Django's.
Before anything is timed, the project and the dualorm package the processes import are
byte-compiled once (:func:`bench_migrate.compile_python`), as installing a wheel does.

    python bench/bench_history.py [--tables 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_migrate import build_project, env_for, script  # noqa: E402

from dualorm.db import pg_bin  # noqa: E402
from dualorm.testing import scratch_database, server_url  # noqa: E402

PER_TABLE = 5


def relational_ops(i: int) -> list[str]:
    """The five operations of table ``i`` (1-based), one a migration."""
    table = f"rel_{i}"
    parent = f"rel_{i - 1}" if i > 1 else table
    fifth = (
        f"  - rename_column: {{table: {table}, name: note, new_name: memo}}\n"
        if i % 2 == 0
        else f"  - alter_column: {{table: {table}, name: label, type: varchar(200)}}\n"
    )
    return [
        f"  - create_table:\n      name: {table}\n      columns:\n"
        "        - {name: id, type: bigint, primary_key: true}\n"
        "        - {name: label, type: varchar(100), nullable: false}\n"
        "        - {name: parent_id, type: bigint}\n",
        f"  - add_foreign_key: {{table: {table}, columns: [parent_id], "
        f"references: {parent}(id), name: {table}_parent_fk, on_delete: cascade}}\n",
        f"  - add_column: {{table: {table}, name: note, type: text}}\n",
        f"  - create_index: {{name: {table}_label_idx, table: {table}, columns: [label]}}\n",
        fifth,
    ]


def write_relational_specs(directory: Path, count: int) -> None:
    """``count`` migrations in one chain, five per table (``count // 5`` tables)."""
    previous: str | None = None
    number = 0
    for i in range(1, count // PER_TABLE + 1):
        for op in relational_ops(i):
            number += 1
            spec_id = f"r{number:04d}"
            deps = f'["{previous}"]' if previous else "[]"
            (directory / f"{spec_id}.yaml").write_text(
                f'id: "{spec_id}"\nname: step {number}\ndependencies: {deps}\noperations:\n{op}',
                encoding="utf-8",
            )
            previous = spec_id


def timed(root: Path, url: str, argv: list[str], *, codes: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env_for(root, url), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in codes:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {(done.stderr or done.stdout)[-2000:]}")
    return elapsed


FLOORS = ("python -c pass", "python -c 'import psycopg'", "python -c 'django.setup()'")


def floors(url: str) -> dict[str, tuple[str, list[str], tuple[int, ...]]]:
    """The floors of the whole-process rows: the interpreter's start, then with psycopg
    imported (every dualorm and alembic row connects), then with Django set up (every
    django-admin row)."""
    py = sys.executable
    setup = "import django; django.setup()"
    return {
        FLOORS[0]: (url, [py, "-c", "pass"], (0,)),
        FLOORS[1]: (url, [py, "-c", "import psycopg"], (0,)),
        FLOORS[2]: (url, [py, "-c", setup], (0,)),
    }


FLOOR_UP = "floor: python, psycopg, all.sql as one query"


def floor_up_argv() -> list[str]:
    """The least a Python tool on psycopg can do to apply the history: start, import psycopg,
    connect and send the emitted SQL as one query, commits not waiting for their flush (as
    ``migrate up`` sends them), no ledger written and no spec read."""
    code = (
        "import os, psycopg; sql = open('all.sql', encoding='utf-8').read(); "
        "c = psycopg.connect(os.environ['DATABASE_URL'], autocommit=True); "
        "c.execute(('SET synchronous_commit = off;' + sql).encode())"
    )
    return [sys.executable, "-c", code]


def warm_spec_cache(root: Path) -> None:
    """Load the project's specs once, which leaves them in the spec cache (``.dualorm/cache``),
    as a first command after a checkout does."""
    code = (
        "from dualorm.config import Config; from dualorm.runner.specs import load_project_specs; "
        "load_project_specs(Config.load())"
    )
    subprocess.run([sys.executable, "-c", code], cwd=root, env=env_for(root, None), check=True)


def apply_rounds(
    root: Path, admin: str, runs: int, contenders: dict[str, list[str]]
) -> dict[str, list[float]]:
    """Each contender applies the whole history from zero to a fresh database, ``runs`` rounds
    of every contender once, in turn; ``dualorm migrate up`` starts with no spec cache (a fresh
    checkout), its ``(spec cache warm)`` row with the specs loaded once before (the other
    tools' revision files are byte-compiled before anything is timed, see build_project)."""
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, argv in contenders.items():
            if name.endswith("(spec cache warm)"):
                warm_spec_cache(root)
            else:
                shutil.rmtree(root / ".dualorm" / "cache", ignore_errors=True)
            with scratch_database(admin, "hr") as url:
                full = [*argv, "-d", url] if argv[0].endswith("psql") else argv
                seconds[name].append(timed(root, url, full))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    count = args.tables * PER_TABLE
    admin = server_url()
    dualorm = [sys.executable, "-m", "dualorm"]
    alembic = [script("alembic"), "-c", "alembic.ini"]
    django = [script("django-admin")]
    settings = "--settings=benchapp.settings"
    with tempfile.TemporaryDirectory(prefix="dualorm-bench-history-") as tmp:
        root = Path(tmp)
        build_project(root, count, write_relational_specs)
        psql = [pg_bin("psql"), "-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", "all.sql"]
        rounds_up = apply_rounds(
            root,
            admin,
            args.runs,
            {
                "psql -f": psql,
                FLOOR_UP: floor_up_argv(),
                "dualorm migrate up": [*dualorm, "migrate", "up"],
                "dualorm migrate up (spec cache warm)": [*dualorm, "migrate", "up"],
                "alembic upgrade head": [*alembic, "upgrade", "head"],
                "django-admin migrate": [*django, "migrate", settings],
            },
        )
        up = {name: statistics.median(values) for name, values in rounds_up.items()}
        with (
            scratch_database(admin, "hd") as db_dualorm,
            scratch_database(admin, "ha") as db_alembic,
            scratch_database(admin, "hj") as db_django,
        ):
            timed(root, db_dualorm, [*dualorm, "migrate", "up"])
            timed(root, db_alembic, [*alembic, "upgrade", "head"])
            timed(root, db_django, [*django, "migrate", settings])

            # Every contender once per round, the rounds in turn, so a burst of load on the
            # shared machine lands on all of them alike; the median of the rounds is kept.
            contenders: dict[str, tuple[str, list[str], tuple[int, ...]]] = {
                "dualorm migrate status": (db_dualorm, [*dualorm, "migrate", "status"], (0,)),
                "dualorm migrate check": (db_dualorm, [*dualorm, "migrate", "check"], (0, 1)),
                "dualorm migrate make --check": (
                    db_dualorm,
                    [*dualorm, "migrate", "make", "--check"],
                    (0,),
                ),
                "alembic current": (db_alembic, [*alembic, "current"], (0,)),
                "django-admin showmigrations": (
                    db_django,
                    [*django, "showmigrations", settings],
                    (0,),
                ),
                "django-admin makemigrations --check": (
                    db_django,
                    [*django, "makemigrations", "--check", settings],
                    (0, 1),
                ),
                **floors(db_dualorm),
            }
            for url, argv, codes in contenders.values():
                timed(root, url, argv, codes=codes)  # warm the caches once, untimed
            rounds: dict[str, list[float]] = {name: [] for name in contenders}
            for _ in range(args.runs):
                for name, (url, argv, codes) in contenders.items():
                    rounds[name].append(timed(root, url, argv, codes=codes))
            checks = {name: statistics.median(values) for name, values in rounds.items()}
    report(count, args, up, checks, rounds_up)


def report(
    count: int,
    args: argparse.Namespace,
    up: dict[str, float],
    checks: dict[str, float],
    rounds_up: dict[str, list[float]],
) -> None:
    print(f"## Long relational history ({count} migrations over {args.tables} tables)\n")
    print(f"| apply from zero (median of {args.runs}) | seconds | ratio to psql -f | every run |")
    print("| --- | ---: | ---: | --- |")
    for name, seconds in up.items():
        every = ", ".join(f"{s:.2f}" for s in rounds_up[name])
        print(f"| {name} | {seconds:.2f} | {seconds / up['psql -f']:.2f}x | {every} |")
    print(f"\n| check / status (whole process, median of {args.runs} interleaved) | seconds |")
    print("| --- | ---: |")
    for name, seconds in checks.items():
        print(f"| {name} | {seconds:.3f} |")
    up_ratio = up["dualorm migrate up"] / up["psql -f"]
    warm_ratio = up["dualorm migrate up (spec cache warm)"] / up["psql -f"]
    floor_ratio = up[FLOOR_UP] / up["psql -f"]
    showmigrations = checks["django-admin showmigrations"]
    makemigrations = checks["django-admin makemigrations --check"]
    ratios = {
        "status": checks["dualorm migrate status"] / showmigrations,
        "check": checks["dualorm migrate check"] / makemigrations,
        "make --check": checks["dualorm migrate make --check"] / makemigrations,
    }
    print(
        f"\ntargets: up {up_ratio:.2f}x psql -f (<= 1.3x: {_met(up_ratio, 1.3)}; spec cache "
        f"warm {warm_ratio:.2f}x; the floor {floor_ratio:.2f}x); "
        + "; ".join(f"{k} {v:.2f}x (<= 0.25x: {_met(v, 0.25)})" for k, v in ratios.items())
    )
    psycopg_floor = checks[FLOORS[1]]
    print(
        f"floors: a quarter of showmigrations is {showmigrations / 4:.3f} s, of makemigrations "
        f"--check {makemigrations / 4:.3f} s; importing psycopg alone takes {psycopg_floor:.3f} s "
        f"({psycopg_floor / showmigrations:.2f}x showmigrations, "
        f"{psycopg_floor / makemigrations:.2f}x makemigrations --check)"
    )


def _met(ratio: float, target: float) -> str:
    return "met" if ratio <= target else "missed"


if __name__ == "__main__":
    main()
