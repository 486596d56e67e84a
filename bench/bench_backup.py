"""Backup benchmark: encrypted dualorm backup and verified restore against pg_dump/pg_restore.

Usage::

    python bench/bench_backup.py [--size-mb N] [--repeat R] [--keep]

Builds a database of about N MB (default 1024, measured with ``pg_database_size``) in a scratch
database on ``TEST_DATABASE_URL`` or the embedded server: four tables of mixed types (bigint,
text, varchar, numeric, timestamptz, jsonb, uuid, bytea, bool, int[]) filled with
``generate_series``, with primary keys and secondary indexes. Then, in one run and with the same
client binaries, it times:

* ``pg_dump -Fc`` (gzip level 6 inside pg_dump, the default) to a file;
* ``pg_dump -Fc -Z0`` to a file (the floor: no compression at all);
* ``create_backup`` with encryption (pg_dump -Z0 -> zstd -> AES-256-GCM -> file);
* ``verify_backup`` on its own;
* ``pg_restore -d`` of the ``pg_dump -Fc`` file into a fresh database;
* ``pg_restore --single-transaction --clean --if-exists`` of the same file (what dualorm runs);
* ``restore_backup`` into a fresh database labelled development (verify, then one-transaction
  restore; an unlabelled target is refused, as it is to a user).

Each step runs ``--repeat`` times, interleaved round by round, and its median is reported. It
prints a markdown table with sizes, seconds and the two ratios against their 1.15x targets, and
checks every restored database's row counts.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

TABLES_SQL = """
CREATE TABLE users (
    id bigint PRIMARY KEY, email text NOT NULL, name varchar(120) NOT NULL, bio text,
    active boolean NOT NULL, created_at timestamptz NOT NULL, settings jsonb NOT NULL
);
CREATE TABLE events (
    id bigint PRIMARY KEY, user_id bigint NOT NULL, kind varchar(32) NOT NULL,
    amount numeric(14, 2), happened_at timestamptz NOT NULL, payload jsonb, tags int[]
);
CREATE TABLE tokens (
    id uuid PRIMARY KEY, user_id bigint NOT NULL, token_hash bytea NOT NULL,
    expires_at timestamptz NOT NULL, scope text NOT NULL
);
CREATE TABLE notes (id bigint PRIMARY KEY, user_id bigint NOT NULL, body text NOT NULL);
"""

INDEXES_SQL = """
CREATE INDEX events_user_idx ON events (user_id);
CREATE INDEX events_happened_idx ON events (happened_at);
CREATE INDEX tokens_user_idx ON tokens (user_id);
CREATE UNIQUE INDEX users_email_idx ON users (email);
"""

# One round adds about 64 MB (heap plus indexes) at these row counts.
ROUND_SQL = """
INSERT INTO users
SELECT g, 'user' || g || '@example.test', 'User number ' || g, repeat(md5(g::text), 1 + g % 4),
       g % 5 <> 0, timestamptz '2020-01-01' + g * interval '7 seconds',
       jsonb_build_object('theme', CASE WHEN g % 2 = 0 THEN 'dark' ELSE 'light' END,
                          'lang', 'en', 'n', g)
FROM generate_series({lo} * 40000 + 1, ({lo} + 1) * 40000) AS g;
INSERT INTO events
SELECT g, 1 + g % 400000, (ARRAY['login', 'logout', 'purchase', 'view'])[1 + g % 4],
       (g % 100000) / 100.0, timestamptz '2021-01-01' + g * interval '3 seconds',
       jsonb_build_object('ip', '10.0.' || g % 256 || '.' || g % 200, 'ok', g % 7 <> 0),
       ARRAY[g % 10, g % 100]
FROM generate_series({lo} * 200000 + 1, ({lo} + 1) * 200000) AS g;
INSERT INTO tokens
SELECT md5('t' || g)::uuid, 1 + g % 400000, sha256(int8send(g)),
       timestamptz '2024-01-01' + g * interval '1 minute', 'read write'
FROM generate_series({lo} * 60000 + 1, ({lo} + 1) * 60000) AS g;
INSERT INTO notes
SELECT g, 1 + g % 400000, 'Note ' || g || ': ' || repeat('lorem ipsum dolor sit amet ', 1 + g % 9)
FROM generate_series({lo} * 30000 + 1, ({lo} + 1) * 30000) AS g;
"""


def build(url: str, size_mb: int) -> tuple[int, int]:
    """Fill ``url`` until it holds about ``size_mb`` MB; return (bytes, rounds)."""
    from dualorm.db import connect

    with connect(url, autocommit=True) as conn:
        conn.execute(TABLES_SQL)
        conn.execute(INDEXES_SQL)
        rounds, size = 0, 0
        while size < size_mb * 1024 * 1024:
            for statement in ROUND_SQL.split(";\n"):
                if statement.strip():
                    # An int, formatted in: these statements use % as an operator.
                    conn.execute(statement.replace("{lo}", str(int(rounds))).encode())
            rounds += 1
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            size = int(str(row[0])) if row else 0
            print(f"  built {size / 2**20:7.0f} MB", file=sys.stderr, flush=True)
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    return size, rounds


def row_counts(url: str) -> dict[str, int]:
    from dualorm.db import connect

    with connect(url) as conn:
        return {
            table: int(str(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]))  # type: ignore[index]
            for table in ("users", "events", "tokens", "notes")
        }


def timed(label: str, action: Callable[[], Any]) -> float:
    print(f"  {label} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    print(f"  {label}: {seconds:.2f} s", file=sys.stderr, flush=True)
    return seconds


def checkpoint(admin_url: str) -> None:
    from dualorm.db import connect

    with connect(admin_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def run_client(args: list[str], target: Any) -> None:
    subprocess.run(args, check=True, env=target.env, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="database size to build")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; medians are reported")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    args = parser.parse_args()

    from dualorm.backup import create_backup, restore_backup, verify_backup
    from dualorm.backup.crypto import generate_key
    from dualorm.backup.dump import ClientTarget, client_program
    from dualorm.config import Config, Environment
    from dualorm.db import connect
    from dualorm.environment import label_database
    from dualorm.testing import create_database, drop_database, server_url

    admin = server_url()
    source = create_database(admin, "bench_src")
    targets: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="dualorm-bench-backup-"))
    try:
        with connect(source) as conn:
            row = conn.execute(
                "SELECT current_setting('server_version'), "
                "current_setting('server_version_num')::int"
            ).fetchone()
        assert row is not None
        server_version, server_major = str(row[0]).split()[0], int(str(row[1])) // 10000
        pg_dump, dump_version = client_program("pg_dump", server_major)
        pg_restore, _ = client_program("pg_restore", int(dump_version.split(".")[0]))
        print(f"building ~{args.size_mb} MB on PostgreSQL {server_version}", file=sys.stderr)
        size, _ = build(source, args.size_mb)
        expected = row_counts(source)
        src = ClientTarget.from_url(source)
        config = Config(root=work, database_url=source, backup_key=generate_key())
        samples: dict[str, list[float]] = {}
        gz, raw = work / "plain.fc", work / "plain-z0.fc"
        backup: Any = None

        def sample(key: str, label: str, action: Callable[[], Any]) -> None:
            checkpoint(admin)
            samples.setdefault(key, []).append(timed(label, action))

        def restored_by(
            key: str, label: str, action: Callable[[str], Any], *, labelled: bool = False
        ) -> None:
            url = create_database(admin, "bench_restore")
            targets.append(url)
            if labelled:  # restore_backup refuses an unlabelled target, as `dualorm db label` fixes
                label_database(config.with_(database_url=url), Environment.DEVELOPMENT)
            sample(key, label, lambda: action(url))
            if row_counts(url) != expected:
                raise SystemExit(f"restored row counts differ: {row_counts(url)} != {expected}")
            drop_database(admin, url)
            targets.remove(url)

        def ours() -> None:
            nonlocal backup
            if backup is not None:
                backup.path.unlink()
                backup.manifest_path.unlink()
            backup = create_backup("bench", config=config, encrypt=True)

        def client(args: list[str], url: str) -> None:
            dst = ClientTarget.from_url(url)
            run_client([pg_restore, *args, "-d", dst.conninfo, str(gz)], dst)

        one_tx = ["--single-transaction", "--clean", "--if-exists"]
        for rnd in range(args.repeat):
            print(f"round {rnd + 1}/{args.repeat}", file=sys.stderr)
            sample(
                "dump_gzip", "pg_dump -Fc",
                lambda: run_client([pg_dump, "-Fc", "-f", str(gz), "-d", src.conninfo], src),
            )  # fmt: skip
            sample(
                "dump_z0", "pg_dump -Fc -Z0",
                lambda: run_client(
                    [pg_dump, "-Fc", "-Z0", "-f", str(raw), "-d", src.conninfo], src
                ),
            )  # fmt: skip
            sample("dualorm_backup", "dualorm backup (zstd-1 + AES-256-GCM)", ours)
            sample(
                "dualorm_verify", "dualorm verify",
                lambda: verify_backup(backup.path, config=config),
            )  # fmt: skip
            restored_by("restore_plain", "pg_restore", lambda url: client([], url))
            restored_by(
                "restore_plain_1tx", "pg_restore --single-transaction --clean --if-exists",
                lambda url: client(one_tx, url),
            )  # fmt: skip
            restored_by(
                "dualorm_restore", "dualorm restore (verify + single transaction)",
                lambda url: restore_backup(backup.path, url, config=config),
                labelled=True,
            )  # fmt: skip
        results = {key: statistics.median(values) for key, values in samples.items()}
        print(f"load average after the run: {os.getloadavg()}", file=sys.stderr)
        report(results, size, server_version, dump_version, gz, raw, backup, args.repeat)
    finally:
        if not args.keep:
            for url in (*targets, source):
                drop_database(admin, url)
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(
    results: dict[str, float],
    size: int,
    server_version: str,
    dump_version: str,
    gz: Path,
    raw: Path,
    backup: Any,
    repeat: int,
) -> None:
    mb = 2**20
    dump_ratio = results["dualorm_backup"] / results["dump_gzip"]
    restore_ratio = results["dualorm_restore"] / results["restore_plain"]
    lines = [
        f"Database {size / mb:.0f} MB (pg_database_size), PostgreSQL {server_version}, "
        f"pg_dump/pg_restore {dump_version}, {os.cpu_count()} CPUs, median of {repeat} "
        f"round(s), load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| step | seconds | file MB | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| `pg_dump -Fc` (gzip) | {results['dump_gzip']:.2f} | {gz.stat().st_size / mb:.0f} "
        "| 1.00 | |",
        f"| `pg_dump -Fc -Z0` | {results['dump_z0']:.2f} | {raw.stat().st_size / mb:.0f} "
        f"| {results['dump_z0'] / results['dump_gzip']:.2f} | |",
        f"| dualorm backup (zstd-1, AES-256-GCM) | {results['dualorm_backup']:.2f} "
        f"| {backup.manifest.size / mb:.0f} | {dump_ratio:.2f} | <= 1.15 "
        f"{'PASS' if dump_ratio <= 1.15 else 'FAIL'} |",
        f"| dualorm verify | {results['dualorm_verify']:.2f} | | | |",
        f"| `pg_restore` (of the -Fc file) | {results['restore_plain']:.2f} | | 1.00 | |",
        f"| `pg_restore --single-transaction --clean --if-exists` (same file) | "
        f"{results['restore_plain_1tx']:.2f} | | "
        f"{results['restore_plain_1tx'] / results['restore_plain']:.2f} | |",
        f"| dualorm restore (verify + one transaction) | {results['dualorm_restore']:.2f} | "
        f"| {restore_ratio:.2f} | <= 1.15 {'PASS' if restore_ratio <= 1.15 else 'FAIL'} |",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
