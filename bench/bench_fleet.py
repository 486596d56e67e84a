"""Fleet benchmark: 100 databases, then 200 tenant schemas of one database, 20 migrations each.

Databases, on fresh databases of the same server: ``dualorm fleet up --parallel 8`` over a
databases file, a shell loop of ``alembic upgrade head`` (one process per database, the
emitted revisions) and a shell loop of ``dualorm migrate up`` over the same URLs. Each
contender gets its own set of databases; every set is created before any timing. Then
``dualorm fleet status`` over the migrated fleet. Target, as a ratio: fleet up <= 0.2x the
Alembic loop.

Tenants (schema-per-tenant, as django-tenants lays it out), in the same run: each contender
gets its own fresh database holding ``--tenants`` empty schemas. ``dualorm fleet up --tenants
'tenant_*' --parallel 8``; a shell loop of ``alembic -x tenant=<schema> upgrade head`` whose
env.py does what Alembic's multi-tenancy recipe does (``search_path`` set to the tenant,
``version_table_schema`` the tenant: each tenant keeps its own ``alembic_version``); and a
shell loop of ``dualorm migrate up`` with a tenant URL per schema. Then ``fleet status`` over
the tenants.

The project is the migrate benchmark's (:mod:`bench_migrate`), with ``--count`` specs.

    python bench/bench_fleet.py [--databases 100] [--tenants 200] [--count 20] [--parallel 8]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_migrate import build_project, env_for, script  # noqa: E402

from dualorm.testing import create_database, drop_database, server_url  # noqa: E402

LOOP = 'while read -r url; do DATABASE_URL="$url" "$@" >/dev/null || exit 1; done < urls.txt'
TENANT_LOOP = (
    'while read -r tenant; do "$@" -x "tenant=$tenant" upgrade head >/dev/null || exit 1; '
    "done < tenants.txt"
)
# Alembic's recipe for schema-level multi-tenancy: the tenant from -x, its search_path and
# its own version table; the URL from DATABASE_URL as in the migrate benchmark's env.py.
TENANT_ENV = '''"""Alembic environment: one tenant schema per run (alembic -x tenant=NAME)."""
import os

from alembic import context
from sqlalchemy import create_engine, pool, text

from dualorm.db import sqlalchemy_url


def run() -> None:
    tenant = context.get_x_argument(as_dictionary=True)["tenant"]
    engine = create_engine(sqlalchemy_url(os.environ["DATABASE_URL"]), poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text(f'SET search_path TO "{tenant}", public'))
        connection.commit()
        connection.dialect.default_schema_name = tenant
        context.configure(
            connection=connection, transaction_per_migration=True, version_table_schema=tenant
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
'''


def timed(root: Path, argv: list[str], extra: dict[str, str] | None = None) -> float:
    env = {**env_for(root, None), **(extra or {})}
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed: {(done.stderr or done.stdout)[-2000:]}")
    return elapsed


def loop(root: Path, urls: list[str], command: list[str]) -> float:
    (root / "urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
    return timed(root, ["bash", "-c", LOOP, "loop", *command])


def databases_round(root: Path, admin: str, args: argparse.Namespace) -> dict[str, float]:
    """The database contenders, each on its own set of ``--databases`` fresh databases."""
    # This checkout's dualorm, started as `python -m dualorm` (the console script may be absent).
    dualorm_cmd = [sys.executable, "-m", "dualorm"]
    alembic_cmd = [script("alembic"), "-c", "alembic.ini", "upgrade", "head"]
    sets: dict[str, list[str]] = {}
    try:
        for name in ("fleet", "alembic", "dualorm"):
            sets[name] = [create_database(admin, f"bf{name[0]}") for _ in range(args.databases)]
        listing = root / "databases.txt"
        listing.write_text(
            "".join(f"db{i:03d} = {u}\n" for i, u in enumerate(sets["fleet"])),
            encoding="utf-8",
        )
        fleet = [*dualorm_cmd, "fleet", "up", "--databases", str(listing)]
        seconds = {
            f"dualorm fleet up --parallel {args.parallel}": timed(
                root, [*fleet, "--parallel", str(args.parallel), "--json"]
            ),
            "shell loop: alembic upgrade head": loop(root, sets["alembic"], alembic_cmd),
            "shell loop: dualorm migrate up": loop(
                root, sets["dualorm"], [*dualorm_cmd, "migrate", "up"]
            ),
        }
        seconds["status"] = timed(
            root, [*dualorm_cmd, "fleet", "status", "--databases", str(listing)]
        )
    finally:
        for urls in sets.values():
            for url in urls:
                drop_database(admin, url)
    return seconds


def tenant_database(admin: str, prefix: str, tenants: list[str]) -> str:
    """A fresh database holding an empty schema per tenant."""
    from dualorm.db import connection

    url = create_database(admin, prefix)
    with connection(url, autocommit=True) as conn:
        conn.execute("".join(f'CREATE SCHEMA "{t}";' for t in tenants).encode())
    return url


def check_tenants(url: str, count: int) -> None:
    """Every tenant has its own alembic_version at one head; public holds nothing."""
    from dualorm.db import connection

    with connection(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT schemaname), "
            "(SELECT count(*) FROM pg_tables WHERE schemaname = 'public') "
            "FROM pg_tables WHERE tablename = 'alembic_version' AND schemaname LIKE 'tenant%'"
        ).fetchone()
    if row != (count, 0):
        raise SystemExit(f"tenants not migrated as expected: {row} for {count} tenants")


def tenants_round(root: Path, admin: str, args: argparse.Namespace) -> dict[str, float]:
    """The tenant contenders, each on its own fresh database of ``--tenants`` schemas."""
    from dualorm.runner.tenancy import tenant_url

    dualorm_cmd = [sys.executable, "-m", "dualorm"]
    tenants = [f"tenant_{i:03d}" for i in range(args.tenants)]
    (root / "migrations" / "alembic" / "env.py").write_text(TENANT_ENV, encoding="utf-8")
    (root / "tenants.txt").write_text("\n".join(tenants) + "\n", encoding="utf-8")
    names = ("fleet", "alembic", "dualorm")
    urls = {n: tenant_database(admin, f"bt{n[0]}", tenants) for n in names}
    try:
        listing = root / "tenants-db.txt"
        listing.write_text(f"shop = {urls['fleet']}\n", encoding="utf-8")
        fleet = [*dualorm_cmd, "fleet", "up", "--databases", str(listing), "--tenants", "tenant_*"]
        alembic = ["bash", "-c", TENANT_LOOP, "loop", script("alembic"), "-c", "alembic.ini"]
        seconds = {
            f"dualorm fleet up --tenants 'tenant_*' --parallel {args.parallel}": timed(
                root, [*fleet, "--parallel", str(args.parallel), "--json"]
            ),
            "shell loop: alembic -x tenant=... upgrade head": timed(
                root, alembic, {"DATABASE_URL": urls["alembic"]}
            ),
            "shell loop: dualorm migrate up (a tenant URL each)": loop(
                root,
                [tenant_url(urls["dualorm"], t) for t in tenants],
                [*dualorm_cmd, "migrate", "up"],
            ),
        }
        status = [*dualorm_cmd, "fleet", "status", "--databases", str(listing)]
        seconds["status"] = timed(root, [*status, "--tenants", "tenant_*"])
        for url in urls.values():
            check_tenants(url, len(tenants))
    finally:
        for url in urls.values():
            drop_database(admin, url)
    return seconds


def report(title: str, seconds: dict[str, float], total: int) -> None:
    status = seconds.pop("status")
    base = list(seconds.values())[1]
    print(f"## {title}\n")
    print("| contender | seconds | migrations/s | ratio to the Alembic loop |")
    print("| --- | ---: | ---: | ---: |")
    for name, value in seconds.items():
        print(f"| {name} | {value:.2f} | {total / value:.0f} | {value / base:.2f}x |")
    print(f"\n`dualorm fleet status` over them: {status:.2f} s")
    ratio = next(iter(seconds.values())) / base
    print(
        f"\ntarget: fleet up {ratio:.2f}x the Alembic loop (<= 0.2x: "
        f"{'met' if ratio <= 0.2 else 'missed'})\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, default=100)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    admin = server_url()
    with tempfile.TemporaryDirectory(prefix="dualorm-bench-fleet-") as tmp:
        root = Path(tmp)
        build_project(root, args.count)
        if args.databases:
            seconds = databases_round(root, admin, args)
            title = f"Fleet ({args.databases} databases x {args.count} migrations, one run)"
            report(title, seconds, args.databases * args.count)
        if args.tenants:
            seconds = tenants_round(root, admin, args)
            title = (
                f"Tenants ({args.tenants} tenant schemas of one database x {args.count} "
                "migrations, same run)"
            )
            report(title, seconds, args.tenants * args.count)


if __name__ == "__main__":
    main()
