"""Seeding benchmark: load N users through dualorm's bulk path and the usual alternatives.

Usage::

    python bench/bench_seed.py [--rows N]

In a scratch database on ``TEST_DATABASE_URL`` or the embedded server, with the reference
``users`` table (primary key, two unique indexes, two more indexes, checks, jsonb), it loads the
same N users (default 1,000,000; generated once, deterministically, before any timing) through:

* raw psycopg ``COPY ... FROM STDIN (FORMAT binary)`` with ``write_row`` (the floor);
* ``dualorm.seeding.copy_rows`` (binary) -- dualorm's bulk path;
* ``dualorm.seeding.merge_rows`` -- the idempotent path ``SeedContext.copy`` takes (COPY into
  staging, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` the added keys);
* psycopg ``executemany``;
* SQLAlchemy Core ``executemany`` (``insert(users)`` with a list of dicts);
* Django ``bulk_create(batch_size=5000)`` (model instances built inside the timing).

Each load starts from an empty table (TRUNCATE, CHECKPOINT) and commits. COPY and dualorm's bulk
path run twice, alternating, and the better time of each counts. It prints a markdown table and
the two ratios against their targets (dualorm <= 1.25x raw COPY, >= 4x faster than bulk_create).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

# Every column is given, so no ORM falls back to a per-row database default expression.
COLUMNS = (
    "id", "email", "username", "name", "password_hash", "email_verified", "image", "is_active",
    "is_staff", "status", "failed_login_count", "last_login_at", "metadata", "created_at",
    "updated_at",
)  # fmt: skip
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def generate(count: int) -> list[tuple[Any, ...]]:
    """Return ``count`` user rows, the same ones on every run."""
    rng = random.Random(42)
    rows = []
    for n in range(count):
        created = EPOCH - timedelta(seconds=rng.randint(0, 63_000_000))
        rows.append(
            (
                uuid.UUID(int=rng.getrandbits(128), version=4),
                f"user{n}@example.com",
                f"user_{n}",
                f"User Number {n}",
                None,
                created if rng.random() < 0.8 else None,
                None,
                rng.random() < 0.95,
                False,
                "active",
                0,
                None,
                {"plan": rng.choice(("free", "pro", "team")), "n": n},
                created,
                created,
            )
        )
    return rows


def reset(url: str) -> None:
    from dualorm.db import connect

    with connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE users CASCADE")
        conn.execute("CHECKPOINT")


def raw_copy(url: str, rows: list[tuple[Any, ...]]) -> None:
    import psycopg

    from dualorm.db import libpq_url

    with psycopg.connect(libpq_url(url)) as conn:
        oids = [
            r[0]
            for r in conn.execute(
                "SELECT atttypid::int FROM pg_attribute WHERE attrelid = 'users'::regclass "
                "AND attname = ANY(%s) ORDER BY array_position(%s, attname::text)",
                (list(COLUMNS), list(COLUMNS)),
            )
        ]
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY users ({', '.join(COLUMNS)}) FROM STDIN (FORMAT binary)") as copy,
        ):
            copy.set_types(oids)
            for row in rows:
                copy.write_row(row)


def dualorm_copy(url: str, rows: list[tuple[Any, ...]]) -> None:
    from dualorm.db import connect
    from dualorm.seeding import copy_rows

    progress: list[int] = []
    with connect(url) as conn:
        copy_rows(conn, "users", COLUMNS, rows, format="binary", progress=progress.append)
        conn.commit()


def dualorm_merge(url: str, rows: list[tuple[Any, ...]]) -> None:
    from dualorm.db import connect
    from dualorm.seeding import merge_rows

    with connect(url) as conn:
        merge_rows(conn, "users", COLUMNS, rows, format="binary")
        conn.commit()


def psycopg_executemany(url: str, rows: list[tuple[Any, ...]]) -> None:
    from psycopg.types.json import Jsonb

    from dualorm.db import connect

    marks = ", ".join(["%s"] * len(COLUMNS))
    statement = f"INSERT INTO users ({', '.join(COLUMNS)}) VALUES ({marks})"
    with connect(url) as conn, conn.cursor() as cur:
        cur.executemany(statement, [(*r[:12], Jsonb(r[12]), *r[13:]) for r in rows])
        conn.commit()


def sqlalchemy_core(url: str, rows: list[tuple[Any, ...]]) -> None:
    from sqlalchemy import create_engine, insert

    from dualorm.db import sqlalchemy_url
    from sa_models import User

    table = User.__table__
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(table),
                [dict(zip(COLUMNS, r, strict=True)) for r in rows],
            )
    finally:
        engine.dispose()


def django_bulk_create(url: str, rows: list[tuple[Any, ...]]) -> None:
    from django.db import connections, transaction

    from dualorm.django_setup import setup

    setup("django_app.settings", url)
    from django_app.models import User

    with transaction.atomic():
        User.objects.bulk_create(
            (User(**dict(zip(COLUMNS, r, strict=True))) for r in rows), batch_size=5000
        )
    connections.close_all()


def timed(label: str, fn: Callable[[], None], url: str, rows: int) -> float:
    reset(url)
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    from dualorm.db import connect

    with connect(url) as conn:
        loaded = conn.execute("SELECT count(*) FROM users").fetchone()
    if not loaded or loaded[0] != rows:
        raise SystemExit(f"{label}: loaded {loaded} rows, expected {rows}")
    print(f"  {label}: {elapsed:.2f} s", file=sys.stderr)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    from sqlalchemy import create_engine

    import sa_models
    from dualorm.db import sqlalchemy_url
    from dualorm.testing import scratch_database

    print(f"generating {args.rows:,} users ...", file=sys.stderr)
    rows = generate(args.rows)
    with scratch_database(prefix="bench_seed") as url:
        engine = create_engine(sqlalchemy_url(url))
        sa_models.Base.metadata.create_all(engine)
        engine.dispose()
        results: dict[str, float] = {}
        runs: dict[str, list[float]] = {"raw psycopg COPY (binary)": [], "dualorm copy_rows": []}
        for _ in range(2):
            runs["raw psycopg COPY (binary)"].append(
                timed("raw COPY", lambda: raw_copy(url, rows), url, args.rows)
            )
            runs["dualorm copy_rows"].append(
                timed("dualorm copy_rows", lambda: dualorm_copy(url, rows), url, args.rows)
            )
        results.update({k: min(v) for k, v in runs.items()})
        others: dict[str, Callable[[], None]] = {
            "dualorm merge_rows (SeedContext.copy)": lambda: dualorm_merge(url, rows),
            "psycopg executemany": lambda: psycopg_executemany(url, rows),
            "SQLAlchemy Core executemany": lambda: sqlalchemy_core(url, rows),
            "Django bulk_create (batch 5,000)": lambda: django_bulk_create(url, rows),
        }
        for label, fn in others.items():
            results[label] = timed(label, fn, url, args.rows)
    report(results, args.rows)
    return 0


def report(results: dict[str, float], rows: int) -> None:
    copy = results["raw psycopg COPY (binary)"]
    ours = results["dualorm copy_rows"]
    django = results["Django bulk_create (batch 5,000)"]
    print(f"\n| method ({rows:,} users) | seconds | rows/s | vs raw COPY |")
    print("| --- | ---: | ---: | ---: |")
    for label, seconds in results.items():
        print(f"| {label} | {seconds:.2f} | {rows / seconds:,.0f} | {seconds / copy:.2f}x |")
    ok_copy = ours <= 1.25 * copy
    ok_django = django / ours >= 4
    print(
        f"\ndualorm copy_rows / raw COPY = {ours / copy:.2f}x (target <= 1.25x: "
        f"{'met' if ok_copy else 'MISSED'}); bulk_create / dualorm = {django / ours:.1f}x "
        f"(target >= 4x: {'met' if ok_django else 'MISSED'})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
