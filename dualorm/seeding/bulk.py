"""Bulk writers for seeds: upsert by natural key, COPY loading, and COPY-then-merge.

Three paths, all on a plain psycopg connection inside the caller's transaction:

* :func:`upsert` -- ``INSERT ... ON CONFLICT (natural key) DO NOTHING | DO UPDATE``, in
  multi-row batches, returning the primary keys of the rows it inserted. An update only
  touches rows whose values differ, so running it twice writes nothing the second time.
* :func:`copy_rows` -- ``COPY ... FROM STDIN`` in binary or text format, the fastest way in;
  every row must be new.
* :func:`merge_rows` -- COPY into a temporary staging table, then one
  ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` so large loads stay idempotent
  and report exactly which rows they added.

Table and column names come from the catalog (:func:`table_info`) and are always quoted;
values are always parameters or COPY data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from psycopg import sql
from psycopg.types.json import Jsonb

from dualorm.errors import SeedError

if TYPE_CHECKING:
    import psycopg

CopyFormat = Literal["binary", "text"]
Progress = Callable[[int], None]
Key = tuple[Any, ...]

PROGRESS_EVERY = 10_000
UPSERT_BATCH = 500

_COLUMNS_SQL = """
SELECT a.attname, a.atttypid::int, format_type(a.atttypid, a.atttypmod),
       coalesce(a.attnum = ANY (i.indkey::int2[]), false)
FROM pg_attribute a
LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


@dataclass(frozen=True)
class TableInfo:
    """A table as the catalog describes it: columns with their types, and its primary key."""

    schema: str
    name: str
    type_oids: Mapping[str, int]
    type_names: Mapping[str, str]
    primary_key: tuple[str, ...]

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def oids(self, columns: Sequence[str]) -> list[int]:
        """Return the type oids of ``columns``; an unknown column is a ``SeedError``."""
        unknown = [c for c in columns if c not in self.type_oids]
        if unknown:
            raise SeedError(f"table {self.qualified} has no column(s) {', '.join(unknown)}")
        return [self.type_oids[c] for c in columns]


@dataclass(frozen=True)
class WriteResult:
    """What a bulk write did: the primary keys of the rows it inserted, and rows it updated."""

    table: TableInfo
    inserted: tuple[Key, ...]
    updated: int = 0
    rows_in: int = 0


def split_name(table: str) -> tuple[str, str]:
    schema, dot, name = table.partition(".")
    return (schema, name) if dot else ("public", schema)


def table_info(conn: psycopg.Connection[Any], table: str) -> TableInfo:
    """Describe ``table`` (``name`` or ``schema.name``) from the catalog."""
    schema, name = split_name(table)
    found = conn.execute(
        "SELECT c.oid::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
        (schema, name),
    ).fetchone()
    if not found:
        raise SeedError(f"table {schema}.{name} does not exist (is the database migrated?)")
    rows = conn.execute(_COLUMNS_SQL, (found[0],)).fetchall()
    return TableInfo(
        schema=schema,
        name=name,
        type_oids={r[0]: r[1] for r in rows},
        type_names={r[0]: r[2] for r in rows},
        primary_key=tuple(r[0] for r in rows if r[3]),
    )


def _column_list(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def _copy(
    conn: psycopg.Connection[Any],
    target: sql.Composable,
    columns: Sequence[str],
    oids: Sequence[int],
    rows: Iterable[Sequence[Any]],
    fmt: CopyFormat,
    progress: Progress | None,
) -> int:
    if fmt not in ("binary", "text"):
        raise SeedError(f"COPY format must be 'binary' or 'text', not {fmt!r}")
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
        target, _column_list(columns), sql.SQL(fmt)
    )
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(oids))
        write = copy.write_row
        if progress is None:
            for row in rows:
                write(row)
                count += 1
        else:
            for row in rows:
                write(row)
                count += 1
                if count % PROGRESS_EVERY == 0:
                    progress(count)
    if progress is not None:
        progress(count)
    return count


def copy_rows(
    conn: psycopg.Connection[Any],
    table: str | TableInfo,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    format: CopyFormat = "binary",
    progress: Progress | None = None,
) -> int:
    """Load ``rows`` into ``table`` with COPY and return how many were written.

    Every row must be new: a duplicate key fails the COPY (and the caller's transaction).
    ``progress`` is called with the running row count every 10,000 rows and once at the end.
    Values are Python objects adapted by psycopg for each column's type (dicts and lists for
    json/jsonb columns included).
    """
    info = table if isinstance(table, TableInfo) else table_info(conn, table)
    return _copy(conn, info.ident, columns, info.oids(columns), rows, format, progress)


def merge_rows(
    conn: psycopg.Connection[Any],
    table: str | TableInfo,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    format: CopyFormat = "binary",
    progress: Progress | None = None,
) -> WriteResult:
    """COPY ``rows`` into a staging table, then insert the ones whose keys are not taken.

    Rows that conflict with an existing row on any unique key are skipped, so loading the
    same rows twice adds nothing the second time. Returns the primary keys actually added.
    """
    info = table if isinstance(table, TableInfo) else table_info(conn, table)
    oids = info.oids(columns)
    if not info.primary_key:
        raise SeedError(f"table {info.qualified} has no primary key; merge needs one")
    stage = sql.Identifier(f"_dualorm_stage_{info.name}")
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(stage))
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            stage, _column_list(columns), info.ident
        )
    )
    loaded = _copy(conn, stage, columns, oids, rows, format, progress)
    inserted = conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING RETURNING {}").format(
            info.ident,
            _column_list(columns),
            _column_list(columns),
            stage,
            _column_list(info.primary_key),
        )
    ).fetchall()
    conn.execute(sql.SQL("DROP TABLE {}").format(stage))
    return WriteResult(info, tuple(tuple(r) for r in inserted), 0, loaded)


def _adapt(info: TableInfo, column: str, value: Any) -> Any:
    if isinstance(value, dict | list) and info.type_names.get(column) in ("jsonb", "json"):
        return Jsonb(value)
    return value


def upsert(
    conn: psycopg.Connection[Any],
    table: str | TableInfo,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
    update: Sequence[str] | bool = False,
) -> WriteResult:
    """Insert ``rows`` keyed by the natural ``key`` (a unique constraint's columns).

    Existing rows are left alone (``update=False``), or have the listed columns (``True``:
    every non-key column given) brought up to date; a row whose values already match is not
    rewritten. Returns the primary keys of the inserted rows and how many rows were updated.
    """
    info = table if isinstance(table, TableInfo) else table_info(conn, table)
    if not rows:
        return WriteResult(info, ())
    columns = list(rows[0])
    info.oids([*columns, *key])
    if not info.primary_key:
        raise SeedError(f"table {info.qualified} has no primary key; upsert needs one")
    for number, row in enumerate(rows, 1):
        if list(row) != columns:
            raise SeedError(
                f"upsert into {info.qualified}: row {number} has columns {sorted(row)}, "
                f"expected {sorted(columns)}"
            )
    if update is True:
        changing = [c for c in columns if c not in key]
    else:
        changing = list(update or [])
    action = _conflict_action(info, changing)
    returning = sql.SQL("RETURNING {}, (xmax = 0)").format(_column_list(info.primary_key))
    inserted: list[Key] = []
    updated = 0
    width = len(info.primary_key)
    for start in range(0, len(rows), UPSERT_BATCH):
        batch = rows[start : start + UPSERT_BATCH]
        values = sql.SQL(", ").join(
            sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
            for _ in batch
        )
        statement = sql.SQL("INSERT INTO {} AS t ({}) VALUES {} ON CONFLICT ({}) {} {}").format(
            info.ident, _column_list(columns), values, _column_list(key), action, returning
        )
        params = [_adapt(info, c, row[c]) for row in batch for c in columns]
        for result in conn.execute(statement, params).fetchall():
            if result[width]:
                inserted.append(tuple(result[:width]))
            else:
                updated += 1
    return WriteResult(info, tuple(inserted), updated, len(rows))


def _conflict_action(info: TableInfo, changing: Sequence[str]) -> sql.Composable:
    if not changing:
        return sql.SQL("DO NOTHING")
    info.oids(changing)
    targets = _column_list(changing)
    excluded = sql.SQL(", ").join(
        sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in changing
    )
    current = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in changing)
    # Only rows whose values differ are rewritten: a second run leaves no new row versions.
    return sql.SQL("DO UPDATE SET ({}) = ROW({}) WHERE ROW({}) IS DISTINCT FROM ROW({})").format(
        targets, excluded, current, excluded
    )
