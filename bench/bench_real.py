"""Real-schema benchmark: Alembic's ``compare_metadata`` and ``dualorm validate`` side by side.

Usage::

    python bench/bench_real.py [--only NAME ...]

Builds the databases of the real corpus (tests/real/packages.py: optuna, MLflow and
Flask-AppBuilder, by ``create_all`` and by each package's own migrations; needs the ``real``
extra) on the test server (``TEST_DATABASE_URL`` or the embedded one), then on each database:

* Alembic's ``compare_metadata`` with the package's metadata (Alembic's defaults, as
  ``alembic check`` runs it: types compared, server defaults not), counted as diffs;
* ``dualorm validate --json --sources sqlalchemy,database`` as a process, counted as errors and
  warnings, with its exit code;
* the adjudicated count (what the corpus test expects).

Then each injected drift of the corpus is applied alone to a copy of the drift database, and
a tool *detects* it when its report differs from its report on the untouched copy. The script
prints markdown tables for bench/RESULTS.md. No timings: only counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def alembic_diffs(url: str, metadata_path: str) -> Counter[str] | str:
    """Alembic's ``compare_metadata`` of ``metadata_path`` against ``url``, as a multiset."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from dualorm.sources.sqlalchemy import resolve_metadata
    from tests.real.corpus import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(
                MigrationContext.configure(conn), resolve_metadata(metadata_path)
            )
    except Exception as exc:  # a real schema may make Alembic itself fail: record it
        return f"aborts ({type(exc).__name__})"
    finally:
        engine.dispose()
    return Counter(_describe(d) for d in diffs)


def _describe(diff: Any) -> str:
    if isinstance(diff, list):  # modify_* entries come grouped per column
        return "; ".join(_describe(d) for d in diff)
    return " ".join(_name(part) for part in diff[:4])


def _name(part: Any) -> str:
    """A stable label for one element of an Alembic diff tuple (never an object's id)."""
    name = getattr(part, "name", None)
    table = getattr(getattr(part, "table", None), "name", None)
    if isinstance(name, str):
        return f"{table}.{name}" if table and table != name else name
    columns = getattr(part, "columns", None)
    if columns is not None and hasattr(part, "table"):
        keys = ",".join(str(getattr(c, "name", c)) for c in columns)
        return f"{table}.{type(part).__name__}({keys})"
    return str(part)


def count(report: Counter[str] | str) -> str:
    return report if isinstance(report, str) else str(sum(report.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="corpus names to run")
    args = parser.parse_args(argv)
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

    from bench_migrate import compile_python

    from dualorm.testing import scratch_database
    from tests.real.corpus import copy_database, validate, write_project
    from tests.real.packages import CORPUS

    compile_python()  # every validate process imports this checkout's dualorm
    folder = Path(tempfile.mkdtemp(prefix="bench-real-"))
    databases: list[tuple[str, str, str, str, str, int]] = []
    drifts: list[tuple[str, int, int, int, list[str], list[str]]] = []
    for corpus in CORPUS:
        metadata = corpus.project.get("sa_metadata")
        if metadata is None or (args.only and corpus.name not in args.only):
            continue
        project = write_project(folder / corpus.name, **corpus.project)
        for build, make in corpus.builds.items():
            with scratch_database(prefix="bench") as url:
                make(url)
                alembic = alembic_diffs(url, metadata)
                outcome = validate(project, url, corpus.sources)
                errors = sum(1 for f in outcome.findings if f[0] == "error")
                expected = corpus.expected[build]
                databases.append(
                    (
                        f"{corpus.name} ({build})",
                        count(alembic),
                        f"{errors} / {len(outcome.findings) - errors}",
                        f"exit {outcome.code}",
                        str(len(expected)),
                        sum(1 for f in expected if f[0] == "error"),
                    )
                )
                if build == corpus.drift_build:
                    drifts.append(_drifts(corpus, url, project, alembic, outcome, copy_database))
    _print(databases, drifts)
    return 0


def _drifts(
    corpus: Any, url: str, project: Path, alembic: Any, outcome: Any, copy: Any
) -> tuple[str, int, int, int, list[str], list[str]]:
    from dualorm.testing import server_url
    from tests.real.corpus import execute, validate

    metadata = corpus.project["sa_metadata"]
    found_alembic = found_dualorm = 0
    missed_alembic: list[str] = []
    missed_dualorm: list[str] = []
    for change in corpus.drifts:
        with copy(server_url(), url) as copied:
            execute(copied, change.sql)
            after_alembic = alembic_diffs(copied, metadata)
            after = validate(project, copied, corpus.sources)
        if after_alembic != alembic:
            found_alembic += 1
        else:
            missed_alembic.append(change.id)
        if after.code in (0, 1) and after.findings != outcome.findings:
            found_dualorm += 1
        else:
            missed_dualorm.append(change.id + ("" if after.code in (0, 1) else " (abort)"))
    return (
        corpus.name,
        len(corpus.drifts),
        found_alembic,
        found_dualorm,
        missed_alembic,
        missed_dualorm,
    )


def _print(databases: list[Any], drifts: list[Any]) -> None:
    print("| database | Alembic diffs | dualorm errors / warnings | dualorm exit | adjudicated |")
    print("| --- | ---: | ---: | --- | ---: |")
    for name, alembic, dualorm, code, expected, expected_errors in databases:
        print(
            f"| {name} | {alembic} | {dualorm} | {code} | {expected} ({expected_errors} errors) |"
        )
    print(
        "\n| drift database | injected | Alembic detects | dualorm detects | Alembic misses | "
        "dualorm misses |"
    )
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for name, total, alembic, dualorm, missed_a, missed_d in drifts:
        print(
            f"| {name} | {total} | {alembic} | {dualorm} | {', '.join(missed_a) or '-'} | "
            f"{', '.join(missed_d) or '-'} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
