"""Fleet benchmark: 100 databases of 20 migrations each, applied three ways in one run.

On fresh databases of the same server: ``dualorm fleet up --parallel 8`` over a databases
file, a shell loop of ``alembic upgrade head`` (one process per database, the emitted
revisions) and a shell loop of ``dualorm migrate up`` over the same URLs. Each contender gets
its own set of databases; every set is created before any timing. Then ``dualorm fleet
status`` over the migrated fleet. Target, as a ratio: fleet up <= 0.2x the Alembic loop.

The project is the migrate benchmark's (:mod:`bench_migrate`), with ``--count`` specs.

    python bench/bench_fleet.py [--databases 100] [--count 20] [--parallel 8]
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


def timed(root: Path, argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env_for(root, None), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed: {(done.stderr or done.stdout)[-2000:]}")
    return elapsed


def loop(root: Path, urls: list[str], command: list[str]) -> float:
    (root / "urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
    return timed(root, ["bash", "-c", LOOP, "loop", *command])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, default=100)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    admin = server_url()
    # This checkout's dualorm, started as `python -m dualorm` (the console script may be absent).
    dualorm_cmd = [sys.executable, "-m", "dualorm"]
    alembic_cmd = [script("alembic"), "-c", "alembic.ini", "upgrade", "head"]
    sets: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="dualorm-bench-fleet-") as tmp:
        root = Path(tmp)
        build_project(root, args.count)
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
            status = timed(root, [*dualorm_cmd, "fleet", "status", "--databases", str(listing)])
        finally:
            for urls in sets.values():
                for url in urls:
                    drop_database(admin, url)
    base = seconds["shell loop: alembic upgrade head"]
    total = args.databases * args.count
    print(f"## Fleet ({args.databases} databases x {args.count} migrations, one run)\n")
    print("| contender | seconds | migrations/s | ratio to the Alembic loop |")
    print("| --- | ---: | ---: | ---: |")
    for name, value in seconds.items():
        print(f"| {name} | {value:.2f} | {total / value:.0f} | {value / base:.2f}x |")
    print(f"\n`dualorm fleet status` over the migrated fleet: {status:.2f} s")
    ratio = next(iter(seconds.values())) / base
    print(
        f"\ntarget: fleet up {ratio:.2f}x the Alembic loop (<= 0.2x: "
        f"{'met' if ratio <= 0.2 else 'missed'})"
    )


if __name__ == "__main__":
    main()
