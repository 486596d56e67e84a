"""Default constraint and index names are the ones PostgreSQL itself chooses.

PostgreSQL names an unnamed primary key, unique, foreign key, check or index with
``makeObjectName``: ``<table>_<columns>_<label>`` cut to 63 bytes, the longer part first, at
a character boundary. A spec that leaves a name out gets that same name, so a table with a
long (or multibyte) name reads back from the catalog exactly as the spec says: no drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from dualorm.api import migrate_up
from dualorm.config import Config
from dualorm.db import connection
from dualorm.diff import compare
from dualorm.pgnames import default_name
from dualorm.schema import Table
from dualorm.sources.postgres import load
from dualorm.spec.load import load_specs, replay_directory
from dualorm.spec.ops import CreateTable
from dualorm.testing import scratch_database

# (table, key column, unique column, foreign key column): each name at most 63 bytes.
SHAPES = [
    ("users", "id", "email", "parent_id"),
    ("t" * 59, "id", "email", "parent"),
    ("t" * 63, "id", "email", "parent_id"),
    ("a" * 30, "c" * 40, "u" * 63, "f"),
    ("é" * 31, "ö" * 31, "ü" * 20, "f"),
    ("x" + "é" * 31, "id", "e" + "ß" * 31, "p"),
    ("日本語" * 7, "列" * 21, "一意" * 10, "外部"),
    ("ab" + "😀" * 15, "😀" * 15 + "zzz", "v", "w"),
]


def _names(conn: Any, table: str) -> dict[str, str]:
    """The catalog's constraint and index names of ``table``, by kind."""
    found: dict[str, str] = {}
    for name, kind in conn.execute(
        "SELECT conname, contype::text FROM pg_constraint WHERE conrelid = %s::regclass",
        (sql.Identifier(table).as_string(conn),),
    ).fetchall():
        found[{"p": "pkey", "u": "key", "f": "fkey", "c": "check"}[kind]] = name
    for (name,) in conn.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = %s::regclass AND NOT i.indisunique",
        (sql.Identifier(table).as_string(conn),),
    ).fetchall():
        found["idx"] = name
    return found


def _create_unnamed(conn: Any, table: str, key: str, unique: str, fk: str) -> None:
    """Create ``table`` in plain SQL with every constraint and the index left unnamed."""
    t, k, u, f = (sql.Identifier(n) for n in (table, key, unique, fk))
    conn.execute(
        sql.SQL(
            "CREATE TABLE {t} ({k} bigint PRIMARY KEY, {u} text UNIQUE,"
            " {f} bigint REFERENCES {t} ({k}), CHECK ({u} <> ''))"
        ).format(t=t, k=k, u=u, f=f)
    )
    conn.execute(sql.SQL("CREATE INDEX ON {t} ({u}, {f})").format(t=t, u=u, f=f))


def _expected(table: str, key: str, unique: str, fk: str) -> dict[str, str]:
    return {
        "pkey": default_name(table, [], "pkey"),
        "key": default_name(table, [unique], "key"),
        "fkey": default_name(table, [fk], "fkey"),
        "check": default_name(table, [unique], "check"),
        "idx": default_name(table, [unique, fk], "idx"),
    }


@pytest.fixture(scope="module")
def chosen_by_postgres(module_database_url: str) -> dict[str, dict[str, str]]:
    """What PostgreSQL named each shape's unnamed constraints and index."""
    chosen = {}
    with connection(module_database_url, autocommit=True) as conn:
        # One shape at a time: two long names cut to the same prefix would collide, and
        # PostgreSQL would then append a number to the second.
        for shape in SHAPES:
            with conn.transaction(force_rollback=True):
                _create_unnamed(conn, *shape)
                chosen[shape[0]] = _names(conn, shape[0])
    return chosen


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s[0].encode())}B-{s[0][:6]}")
def test_default_names_are_postgresqls(
    chosen_by_postgres: dict[str, dict[str, str]], shape: tuple[str, str, str, str]
) -> None:
    assert _expected(*shape) == chosen_by_postgres[shape[0]]
    assert all(len(name.encode()) <= 63 for name in chosen_by_postgres[shape[0]].values())


LONG = "t" * 63
WIDE = "é" * 31
CUT = "x" + "é" * 31  # 63 bytes: the cut falls inside a two-byte character

SPEC = f"""\
id: "0001_long_names"
name: long table names
dependencies: []
operations:
  - create_table:
      name: {LONG}
      columns:
        - {{name: id, type: bigint, primary_key: true}}
        - {{name: email, type: text, unique: true}}
        - {{name: parent_id, type: bigint}}
      foreign_keys:
        - {{columns: [parent_id], references: "{LONG}(id)"}}
      indexes:
        - {{columns: [email, parent_id]}}
  - create_table:
      name: {WIDE}
      columns:
        - {{name: id, type: bigint, nullable: false}}
      primary_key: {{columns: [id]}}
  - create_table:
      name: {CUT}
      columns:
        - {{name: id, type: bigint, nullable: false}}
  - add_primary_key: {{table: {CUT}, columns: [id]}}
"""


def _spec_tables(tmp_path: Path) -> tuple[Path, dict[str, Table]]:
    specs = tmp_path / "migrations"
    specs.mkdir()
    (specs / "0001_long_names.yaml").write_text(SPEC, encoding="utf-8")
    (migration,) = load_specs(specs)
    tables = {}
    for op in migration.operations:
        if isinstance(op, CreateTable):
            tables[op.definition.name] = op.definition
    return specs, tables


def test_a_spec_names_its_keys_as_postgresql_would(tmp_path: Path, admin_url: str) -> None:
    specs, tables = _spec_tables(tmp_path)
    with scratch_database(admin_url) as by_spec, scratch_database(admin_url) as by_sql:
        migrate_up(
            Config(
                root=tmp_path,
                migrations_dir="migrations",
                django_app_label="django_app",
                database_url=by_spec,
            )
        )
        with connection(by_sql, autocommit=True) as conn:
            long_t = sql.Identifier(LONG)
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {t} (id bigint PRIMARY KEY, email text UNIQUE,"
                    " parent_id bigint REFERENCES {t} (id))"
                ).format(t=long_t)
            )
            conn.execute(sql.SQL("CREATE INDEX ON {t} (email, parent_id)").format(t=long_t))
            for name in (WIDE, CUT):
                conn.execute(
                    sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY)").format(sql.Identifier(name))
                )
            postgres_chose = {name: _names(conn, name) for name in (LONG, WIDE, CUT)}
        catalog = load(by_spec)
        with connection(by_spec, autocommit=True) as conn:
            applied = {name: _names(conn, name) for name in (LONG, WIDE, CUT)}
    assert applied == postgres_chose
    long_table = tables[LONG]
    assert long_table.primary_key is not None
    assert long_table.primary_key.name == postgres_chose[LONG]["pkey"] == "t" * 58 + "_pkey"
    assert [u.name for u in long_table.uniques] == [postgres_chose[LONG]["key"]]
    assert [f.name for f in long_table.foreign_keys] == [postgres_chose[LONG]["fkey"]]
    assert [i.name for i in long_table.indexes] == [postgres_chose[LONG]["idx"]]
    wide_key = tables[WIDE].primary_key
    assert wide_key is not None and wide_key.name == postgres_chose[WIDE]["pkey"]
    cut_table = catalog.get(CUT)
    assert cut_table is not None and cut_table.primary_key is not None
    assert cut_table.primary_key.name == postgres_chose[CUT]["pkey"] == "x" + "é" * 28 + "_pkey"
    assert compare(replay_directory(specs), catalog, source="specs") == []


# (index keys as a spec writes them, INCLUDE columns): PostgreSQL names expression keys like
# select-list columns, numbers repeated names and puts INCLUDE columns in the name too.
INDEXES = [
    (["a"], ["b"]),
    (["a", "a"], []),
    (["lower(c)", "lower(c)", "upper(c)"], []),
    (["a + 1"], []),
    (["a + 1", "b + 1"], []),
    (["c::varchar(3)"], []),
    (["(a + 1)::text"], []),
    (['b::text COLLATE "C"'], []),
    (["coalesce(a, b)"], []),
    (["CASE WHEN a > 0 THEN b END"], []),
    (["CASE WHEN a > 0 THEN b ELSE a END"], []),
    (["r[1]"], []),
    (["greatest(a, b)", "least(a, b)"], []),
    (["nullif(a, b)"], []),
    (["ARRAY[a]"], []),
    (["pg_catalog.lower(c)"], ["a", "b"]),
    (["b", "upper(c)"], ["b"]),
    (["c text_pattern_ops", "a DESC"], []),
    (["ö" * 31, "ö" * 31], []),
]


def test_unnamed_index_names_are_postgresqls(tmp_path: Path, database_url: str) -> None:
    import json

    from dualorm.emit.sql import index_key
    from dualorm.schema import index_opclasses, index_orders

    table = "i" * 40
    columns = (
        "".join(
            f"        - {{name: {json.dumps(n)}, type: {json.dumps(t)}}}\n"
            for n, t in (("a", "integer"), ("b", "integer"), ("c", "text"), ("r", "integer[]"))
        )
        + f"        - {{name: {'ö' * 31}, type: text}}\n"
    )
    indexes = "".join(
        f"  - create_index: {{table: {table}, columns: {json.dumps(keys)}"
        + (f", include: {json.dumps(include)}" if include else "")
        + "}\n"
        for keys, include in INDEXES
    )
    specs = tmp_path / "migrations"
    specs.mkdir()
    (specs / "0001_indexes.yaml").write_text(
        f'id: "0001_indexes"\nname: indexes\ndependencies: []\noperations:\n'
        f"  - create_table:\n      name: {table}\n      columns:\n{columns}{indexes}",
        encoding="utf-8",
    )
    (migration,) = load_specs(specs)
    spec_indexes = [op.index for op in migration.operations[1:]]  # type: ignore[attr-defined]
    chosen = []
    with connection(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (a integer, b integer, c text, r integer[], {} text)").format(
                sql.Identifier(table), sql.Identifier("ö" * 31)
            )
        )
        for index in spec_indexes:
            keys = zip(index.columns, index_opclasses(index), index_orders(index), strict=True)
            elements = ", ".join(index_key(c, o, d) for c, o, d in keys)
            include = ", ".join(sql.Identifier(c).as_string(conn) for c in index.include)
            statement = f"CREATE INDEX ON {sql.Identifier(table).as_string(conn)} ({elements})"
            with conn.transaction(force_rollback=True):
                conn.execute(statement + (f" INCLUDE ({include})" if include else ""))
                chosen.append(_names(conn, table)["idx"])
    assert [index.name for index in spec_indexes] == chosen


# Unnamed CHECKs of one table, in the order the CREATE TABLE states them.
CHECK_SETS = {
    "one-column-twice": ["a > 0", "a < 100"],
    "two-columns": ["a < b", "a > 0"],
    "same-column-repeated": ["a > 0 AND a < 10", "(t.a) <> 5", "a IS NOT NULL"],
    "no-column": ["1 = 1", "now() > '2000-01-01'"],
    "quoted": ['"Mixed" > 0', '"Mixed" < 9'],
    "long-table": ["a > 0", "a > 1"],
}


@pytest.mark.parametrize("case", list(CHECK_SETS))
def test_unnamed_check_names_are_postgresqls(database_url: str, case: str) -> None:
    from dualorm.pgnames import check_name_columns, choose_name
    from dualorm.sources.parsed import referenced_columns

    name = "c" * 62 if case == "long-table" else "t"
    expressions = CHECK_SETS[case]
    checks = sql.SQL(", ").join(sql.SQL(f"CHECK ({e})") for e in expressions)  # type: ignore[arg-type]
    with connection(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL('CREATE TABLE {} (a integer, b integer, "Mixed" integer, {})').format(
                sql.Identifier(name), checks
            )
        )
        # Constraint oids follow creation order, which is the order the checks are named in.
        chosen = [
            row[0]
            for row in conn.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY oid",
                (sql.Identifier(name).as_string(conn),),
            ).fetchall()
        ]
    taken: set[str] = set()
    expected = [
        choose_name(name, check_name_columns(referenced_columns(e)), "check", taken)
        for e in expressions
    ]
    assert chosen == expected
    assert len(set(chosen)) == len(chosen)
