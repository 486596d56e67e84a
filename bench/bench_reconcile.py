"""Reconcile benchmark: dualorm's catalog source and three-way validate against Alembic's compare.

Usage::

    python bench/bench_reconcile.py [--tables N] [--repeat R]

Generates N tables (11 columns of mixed types, one of an enum type shared by ten tables,
one collated, a table and a column comment, 2 indexes, a unique constraint and a foreign
key each) as SQLAlchemy ``MetaData`` and as Django models in a throwaway app registry, creates
them with ``create_all`` in a scratch database (:func:`dualorm.testing.scratch_database`,
``TEST_DATABASE_URL`` or the embedded server) and then, in one run, times:

* the floor: four raw bulk pg_catalog queries (columns, constraints, indexes, enum types);
* dualorm's catalog source (``dualorm.sources.postgres.load``);
* dualorm's full three-way reconcile in process (SQLAlchemy + Django + catalog, normalised,
  every pair compared), after imports;
* Alembic's ``compare_metadata`` (SQLAlchemy against the database, two-way);
* as whole processes, ``dualorm validate --sources sqlalchemy,database`` against a process
  running Alembic's compare on the same metadata.

Every Python file the processes import from this checkout is byte-compiled first, as ``pip
install`` does (:func:`bench_migrate.compile_python`). Each figure is the median of
``--repeat`` runs. The script prints a markdown table with the ratios against their targets
and the number of errors each tool reports on the freshly created schema (dualorm must report
none: every error would be a false positive).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GENERATED_MODULE = "bench_reconcile_schema"
DJANGO_APP = "bench_reconcile_app"
DJANGO_SETTINGS = "bench_reconcile_settings"

# -- the generated schema ----------------------------------------------------------------------


def table_name(i: int) -> str:
    return f"t{i:04d}"


def enum_name(i: int) -> str:
    """The enum type table ``i`` uses: one per ten tables."""
    return f"state_{i // 10:03d}"


STATES = ("open", "on_hold", "closed")


def build_metadata(n: int) -> Any:
    """Return SQLAlchemy ``MetaData`` holding the ``n`` generated tables."""
    from sqlalchemy import (
        BigInteger,
        Boolean,
        Column,
        DateTime,
        Enum,
        ForeignKey,
        Identity,
        Index,
        MetaData,
        Numeric,
        String,
        Table,
        Text,
        UniqueConstraint,
        text,
    )
    from sqlalchemy.dialects.postgresql import JSONB, UUID

    from sa_models.models import NAMING_CONVENTION

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    for i in range(n):
        name = table_name(i)
        parent = table_name(i - 1 if i else 0)
        Table(
            name,
            metadata,
            Column("id", BigInteger, Identity(), primary_key=True),
            Column("code", String(50, collation="C"), nullable=False),
            Column("name", String(100), nullable=False),
            Column("amount", Numeric(12, 2)),
            Column("active", Boolean, nullable=False, server_default=text("true")),
            Column(
                "created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")
            ),
            Column("payload", JSONB),
            Column("note", Text, comment="free text"),
            Column("uid", UUID),
            # Deferred as Django creates (and relies on) it: the tables are also Django's.
            Column(
                "parent_id",
                BigInteger,
                ForeignKey(
                    f"{parent}.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"
                ),
            ),
            Column("state", Enum(*STATES, name=enum_name(i), metadata=metadata)),
            UniqueConstraint("code"),
            Index(f"{name}_created_at_idx", "created_at"),
            Index(f"{name}_name_active_idx", "name", "active"),
            comment=f"generated table {i}",
        )
    return metadata


def build_django_models(n: int, module: str) -> dict[str, Any]:
    """Define the ``n`` tables as Django models of the app whose models module is ``module``."""
    from django.db import models
    from django.db.models.expressions import Func

    class EnumField(models.Field):  # type: ignore[type-arg]
        """A column of an enum type created elsewhere (Django has no enum type)."""

        def __init__(self, *args: Any, enum: str = "", **kwargs: Any) -> None:
            self.enum = enum
            super().__init__(*args, **kwargs)

        def db_type(self, connection: Any) -> str:
            return self.enum

    defined: dict[str, Any] = {}
    previous: Any = None
    for i in range(n):
        name = table_name(i)
        meta = type(
            "Meta",
            (),
            {
                "db_table": name,
                "db_table_comment": f"generated table {i}",
                "constraints": [models.UniqueConstraint(fields=["code"], name=f"{name}_code_key")],
                "indexes": [
                    models.Index(fields=["created_at"], name=f"{name}_created_at_idx"),
                    models.Index(fields=["name", "active"], name=f"{name}_name_active_idx"),
                ],
            },
        )
        attrs: dict[str, Any] = {
            "__module__": module,
            "Meta": meta,
            "id": models.BigAutoField(primary_key=True),
            "code": models.CharField(max_length=50, db_collation="C"),
            "name": models.CharField(max_length=100),
            "amount": models.DecimalField(max_digits=12, decimal_places=2, null=True),
            "active": models.BooleanField(db_default=True),
            "created_at": models.DateTimeField(
                db_default=Func(function="now", output_field=models.DateTimeField())
            ),
            "payload": models.JSONField(null=True),
            "note": models.TextField(null=True, db_comment="free text"),
            "uid": models.UUIDField(null=True),
            "parent": models.ForeignKey(
                previous or "self", models.CASCADE, null=True, db_index=False
            ),
            "state": EnumField(enum=enum_name(i), null=True),
        }
        previous = type(f"T{i:04d}", (models.Model,), attrs)
        defined[previous.__name__] = previous
    return defined


def write_generated_modules(folder: Path, n: int) -> None:
    """Write the generated schema as importable modules (so whole processes can read it too).

    ``bench_reconcile_schema.metadata`` is the MetaData; ``bench_reconcile_app`` is a
    throwaway Django app whose models module defines the same tables, installed alone by
    ``bench_reconcile_settings``.
    """
    header = f"import sys\nsys.path.insert(0, {str(BENCH)!r})\n"
    (folder / f"{GENERATED_MODULE}.py").write_text(
        header + f"from bench_reconcile import build_metadata\nmetadata = build_metadata({n})\n",
        encoding="utf-8",
    )
    app = folder / DJANGO_APP
    app.mkdir(exist_ok=True)
    (app / "__init__.py").write_text("", encoding="utf-8")
    (app / "models.py").write_text(
        header + "from bench_reconcile import build_django_models\n"
        f"globals().update(build_django_models({n}, __name__))\n",
        encoding="utf-8",
    )
    (folder / f"{DJANGO_SETTINGS}.py").write_text(
        textwrap.dedent(
            f"""\
            from dualorm.django_setup import default_database
            SECRET_KEY = "bench"
            INSTALLED_APPS = [{DJANGO_APP!r}]
            DATABASES = {{"default": default_database()}}
            USE_TZ = True
            DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
            SILENCED_SYSTEM_CHECKS = ["models.E034"]
            """
        ),
        encoding="utf-8",
    )


ALEMBIC_PROCESS = """\
import os, sys
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from bench_reconcile_schema import metadata
from dualorm.db import sqlalchemy_url
engine = create_engine(sqlalchemy_url(os.environ["DATABASE_URL"]))
with engine.connect() as conn:
    diffs = compare_metadata(MigrationContext.configure(conn), metadata)
print(len(diffs))
"""

# -- timed steps -------------------------------------------------------------------------------

RAW_QUERIES = (
    """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
              pg_get_expr(d.adbin, d.adrelid), a.attidentity
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
       WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'""",
    """SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'""",
    """SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid), x.indisvalid
       FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'""",
    """SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
       JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public'""",
)


def create_in_chunks(engine: Any, metadata: Any, chunk: int = 100) -> None:
    """``create_all`` a chunk of tables per transaction, in dependency order.

    One transaction creating 1,000 tables takes ~8,000 locks, more than a default server's
    lock table (max_locks_per_transaction 64 x max_connections) holds. The enum types declared
    on the metadata are created by the first chunk's ``create_all`` (the metadata's
    ``before_create``, which every chunk fires; later ones find them and skip them), through
    SQLAlchemy's public API whatever its version wraps its listeners in.
    """
    tables = metadata.sorted_tables
    for start in range(0, len(tables), chunk):
        metadata.create_all(engine, tables=tables[start : start + chunk])


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def raw_queries(url: str) -> int:
    from dualorm.db import connection

    with connection(url) as conn:
        return sum(len(conn.execute(q).fetchall()) for q in RAW_QUERIES)  # type: ignore[arg-type]


def catalog_source(url: str) -> int:
    from dualorm.db import connection
    from dualorm.sources import postgres

    with connection(url) as conn:
        return len(postgres.load(conn))


def three_way(url: str) -> tuple[int, int]:
    """Run the validator on all three sources; return (errors, warnings)."""
    from dualorm.config import Config
    from dualorm.validate import SchemaValidator

    config = Config(
        sa_metadata=f"{GENERATED_MODULE}:metadata",
        django_settings=DJANGO_SETTINGS,
        django_app_label=DJANGO_APP,
        database_url=url,
    )
    result = SchemaValidator(config, database_url=url).validate_schema()
    return len(result.errors), len(result.warnings)


def alembic_compare(url: str, metadata: Any) -> int:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from dualorm.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            return len(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


def process(argv: list[str], url: str, folder: Path) -> tuple[int, str]:
    env = dict(os.environ, DATABASE_URL=url)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(folder), str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    return done.returncode, done.stdout + done.stderr


# -- the run -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

    from sqlalchemy import create_engine

    from dualorm.db import sqlalchemy_url
    from dualorm.testing import scratch_database

    folder = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    write_generated_modules(folder, args.tables)
    # Imported here, not at the top: every timed process imports this module for its schema.
    from bench_migrate import compile_python

    compile_python(folder, Path(__file__))
    sys.path.insert(0, str(folder))
    import bench_reconcile_schema  # noqa: F401  (the module the validator resolves)

    metadata = sys.modules[GENERATED_MODULE].metadata
    rows: list[tuple[str, float, str]] = []
    with scratch_database(prefix="bench") as url:
        os.environ["DATABASE_URL"] = url
        engine = create_engine(sqlalchemy_url(url))
        create_in_chunks(engine, metadata)
        engine.dispose()

        floor, _ = median_time(lambda: raw_queries(url), args.repeat)
        source, tables = median_time(lambda: catalog_source(url), args.repeat)
        three_way(url)  # warm-up: imports, Django setup, model classes
        reconcile, (errors, warnings) = median_time(lambda: three_way(url), args.repeat)
        alembic, alembic_diffs = median_time(lambda: alembic_compare(url, metadata), args.repeat)
        validate_cmd = [
            sys.executable,
            "-c",
            "from dualorm.cli import main; raise SystemExit(main())",
            "validate",
            "--json",
            "--sources",
            "sqlalchemy,database",
            "--sa-metadata",
            f"{GENERATED_MODULE}:metadata",
        ]
        alembic_cmd = [sys.executable, "-c", ALEMBIC_PROCESS]
        validate_proc, (code, output) = median_time(
            lambda: process(validate_cmd, url, folder), args.repeat
        )
        alembic_proc, (_, alembic_out) = median_time(
            lambda: process(alembic_cmd, url, folder), args.repeat
        )
    if code != 0:
        sys.stderr.write(output)
    rows = [
        ("4 raw bulk pg_catalog queries (floor)", floor, ""),
        ("dualorm catalog source", source, _ratio(source, floor, 2.0, "raw")),
        ("Alembic compare_metadata, two-way", alembic, ""),
        ("dualorm three-way reconcile, in process", reconcile, _ratio(reconcile, alembic, 0.25)),
        ("process: Alembic compare", alembic_proc, ""),
        (
            "process: dualorm validate --sources sqlalchemy,database",
            validate_proc,
            _ratio(validate_proc, alembic_proc, 0.4),
        ),
    ]
    print(f"\n{args.tables} tables ({tables} read back), median of {args.repeat}\n")
    print("| step | seconds | ratio (target) |")
    print("| --- | ---: | --- |")
    for label, seconds, ratio in rows:
        print(f"| {label} | {seconds:.3f} | {ratio} |")
    print(
        f"\nfalse positives: three-way {errors} error(s) ({warnings} expected warning(s)); "
        f"validate process exit {code}; Alembic reports {alembic_diffs} difference(s) in "
        f"process, {alembic_out.strip()} as a process"
    )
    return 0 if errors == 0 and code == 0 else 1


def _ratio(value: float, base: float, target: float, against: str = "Alembic") -> str:
    ratio = value / base if base else float("inf")
    verdict = "met" if ratio <= target else "MISSED"
    return f"{ratio:.2f}x {against} (<= {target}x: {verdict})"


if __name__ == "__main__":
    raise SystemExit(main())
