"""The seed ledger: ``dualorm.seeds`` and ``dualorm.seed_rows``, and what they say is still true.

A row in ``dualorm.seeds`` means that seed is applied: it records the seed's checksum, its
row counts and ``tables``, every table the seed wrote rows into. ``dualorm.seed_rows`` holds the
primary key of every row the seed added. Both are written in the seed's own transaction.

A ledger row can outlive the data it describes: ``migrate down`` drops a table, a ``TRUNCATE``
empties one. :func:`stale_tables` compares the ledger with the database, and a seed found
stale is reported by ``seed status`` and applied again by ``seed run``. :func:`seeded_tables`
tells the migration runner which tables hold seeded rows before it drops one.

Tables are named ``schema.table`` throughout. The ledger schema is the connection's
(:func:`dualorm.runner.tenancy.ledger_of`): ``dualorm`` for a single database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from dualorm.errors import LedgerError, SeedError
from dualorm.runner import ledger
from dualorm.runner.tenancy import DEFAULT_LEDGER, Ledger, ledger_of
from dualorm.seeding import bulk

if TYPE_CHECKING:
    from dualorm.config import Environment
    from dualorm.seeding.discovery import SeedModule

__all__ = ["StaleTable", "seeded_tables", "stale_tables"]

_SEEDS_DDL = """
CREATE TABLE IF NOT EXISTS {seeds} (
    id text PRIMARY KEY,
    name text NOT NULL,
    version text NOT NULL,
    environment text NOT NULL,
    checksum char(64) NOT NULL,
    dependencies text[] NOT NULL DEFAULT '{{}}',
    applied_at timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL,
    row_counts jsonb NOT NULL DEFAULT '{{}}'::jsonb
);
ALTER TABLE {seeds} ADD COLUMN IF NOT EXISTS tables text[] NOT NULL DEFAULT '{{}}';
CREATE TABLE IF NOT EXISTS {seed_rows} (
    seed_id text NOT NULL,
    table_name text NOT NULL,
    ordinal integer NOT NULL,
    key text[] NOT NULL
);
CREATE INDEX IF NOT EXISTS seed_rows_seed_id_table_name_idx
    ON {seed_rows} (seed_id, table_name);
"""


def seeds_ddl(lg: Ledger) -> str:
    """The seed ledger's tables in the ledger schema ``lg``."""
    return _SEEDS_DDL.format(seeds=lg.seeds, seed_rows=lg.seed_rows)


SEEDS_DDL = seeds_ddl(DEFAULT_LEDGER)


@dataclass(frozen=True)
class StaleTable:
    """A table where an applied seed's data is no longer: ``gone``, ``rows gone`` or
    ``empty`` (the seed wrote rows there, recorded none as its own, and the table is empty)."""

    seed_id: str
    table: str
    why: str

    def describe(self) -> str:
        if self.why == "gone":
            return f"table {self.table} is gone"
        if self.why == "empty":
            return f"table {self.table} is empty"
        return f"its rows in {self.table} are gone"


def ensure(conn: psycopg.Connection[Any]) -> None:
    """Create the seed ledger where missing, or add what an older one lacks; caller commits."""
    ledger.ensure_ledger(conn)
    lg = ledger_of(conn)
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (lg.create_key,))
    conn.execute(seeds_ddl(lg).encode())


def exists(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (ledger_of(conn).seeds,)).fetchone()
    return bool(row and row[0])


def _has_tables_column(conn: psycopg.Connection[Any]) -> bool:
    # A ledger written before the column existed is read as is; `seed run` adds it.
    row = conn.execute(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attname = 'tables' AND NOT attisdropped",
        (ledger_of(conn).seeds,),
    ).fetchone()
    return bool(row and row[0])


def applied(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    """Return the ledger rows by seed id, oldest first (``{}`` without a ledger)."""

    if not exists(conn):
        return {}
    tables = "tables" if _has_tables_column(conn) else "'{}'::text[] AS tables"
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, name, checksum, dependencies, applied_at, duration_ms, row_counts, "
            f"{tables} FROM {ledger_of(conn).seeds} ORDER BY applied_at, id"
        )
        return {str(r["id"]): r for r in cur.fetchall()}


def record_rows(
    conn: psycopg.Connection[Any], seed_id: str, added: Mapping[str, Sequence[Sequence[Any]]]
) -> None:
    """Append the primary keys the seed added, one ordinal per table in the order written."""
    if not added:
        return
    seed_rows = ledger_of(conn).seed_rows
    start = conn.execute(
        f"SELECT coalesce(max(ordinal), 0) FROM {seed_rows} WHERE seed_id = %s",
        (seed_id,),
    ).fetchone()
    base = int(start[0]) if start else 0
    with (
        conn.cursor() as cur,
        cur.copy(
            f"COPY {seed_rows} (seed_id, table_name, ordinal, key) FROM STDIN (FORMAT binary)"
        ) as copy,
    ):
        copy.set_types(["text", "text", "int4", "text[]"])
        for ordinal, (table, keys) in enumerate(added.items(), base + 1):
            for key in keys:
                copy.write_row((seed_id, table, ordinal, [str(v) for v in key]))


def row_counts(conn: psycopg.Connection[Any], seed_id: str) -> dict[str, int]:
    """Return how many rows the ledger records ``seed_id`` as having added, per table."""
    rows = conn.execute(
        f"SELECT table_name, count(*) FROM {ledger_of(conn).seed_rows} WHERE seed_id = %s "
        "GROUP BY table_name ORDER BY table_name",
        (seed_id,),
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def write(
    conn: psycopg.Connection[Any],
    seed: SeedModule,
    env: Environment,
    duration: int,
    counts: Mapping[str, int],
    tables: Iterable[str],
) -> None:
    """Write (or rewrite) the ledger row of ``seed``; exactly one row or ``LedgerError``."""
    with conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO {ledger_of(conn).seeds} (id, name, version, environment, checksum, "
            "dependencies, duration_ms, row_counts, tables) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
            "version = EXCLUDED.version, environment = EXCLUDED.environment, "
            "checksum = EXCLUDED.checksum, dependencies = EXCLUDED.dependencies, "
            "applied_at = now(), duration_ms = EXCLUDED.duration_ms, "
            "row_counts = EXCLUDED.row_counts, tables = EXCLUDED.tables",
            (
                seed.id,
                seed.name,
                seed.version,
                env.value,
                seed.checksum,
                list(seed.dependencies),
                duration,
                Jsonb(dict(counts)),
                sorted(set(tables) | set(counts)),
            ),
        )
        if cur.rowcount != 1:
            raise LedgerError(
                f"writing the ledger row of seed {seed.id} touched {cur.rowcount} rows"
            )


def forget(conn: psycopg.Connection[Any], seed_id: str) -> None:
    """Remove the ledger row of ``seed_id`` and its recorded rows."""
    lg = ledger_of(conn)
    conn.execute(f"DELETE FROM {lg.seed_rows} WHERE seed_id = %s", (seed_id,))
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {lg.seeds} WHERE id = %s", (seed_id,))
        if cur.rowcount != 1:
            raise LedgerError(f"removing the ledger row of seed {seed_id} touched {cur.rowcount}")


def forget_rows(conn: psycopg.Connection[Any], seed_id: str, tables: Sequence[str]) -> None:
    """Drop the recorded keys of ``seed_id`` in ``tables``: rows that are no longer there.

    Kept, they would count rows that do not exist, and a rollback could delete rows another
    writer has since inserted under the same keys into a recreated table.
    """
    conn.execute(
        f"DELETE FROM {ledger_of(conn).seed_rows} WHERE seed_id = %s AND table_name = ANY(%s)",
        (seed_id, list(tables)),
    )


def seed_rows_ident(conn: psycopg.Connection[Any]) -> sql.Identifier:
    """``seed_rows`` of the connection's ledger schema, for composed statements."""
    lg = ledger_of(conn)
    return sql.Identifier(lg.schema, "seed_rows")


def key_match(info: bulk.TableInfo) -> sql.Composed:
    """``t.<pk col> = r.key[n]::<type>`` for each primary key column: a table row ``t``
    against a ``dualorm.seed_rows`` row ``r``."""
    return sql.SQL(" AND ").join(
        sql.SQL("t.{} = r.key[{}]::{}").format(
            sql.Identifier(column), sql.Literal(number), sql.SQL(info.type_names[column])
        )
        for number, column in enumerate(info.primary_key, 1)
    )


def table_or_none(conn: psycopg.Connection[Any], table: str) -> bulk.TableInfo | None:
    """Describe ``table``, or ``None`` when it no longer exists."""
    try:
        return bulk.table_info(conn, table)
    except SeedError:
        return None


def _written(
    conn: psycopg.Connection[Any], rows: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """Return table -> seeds that wrote into it, and the (seed, table) pairs with keys."""
    recorded = {
        (str(r[0]), str(r[1]))
        for r in conn.execute(
            f"SELECT DISTINCT seed_id, table_name FROM {ledger_of(conn).seed_rows} "
            "WHERE seed_id = ANY(%s)",
            (sorted(rows),),
        ).fetchall()
    }
    written: dict[str, set[str]] = {}
    for seed_id, row in rows.items():
        for table in row.get("tables") or ():
            written.setdefault(str(table), set()).add(seed_id)
    for seed_id, table in recorded:
        written.setdefault(table, set()).add(seed_id)
    return written, recorded


def stale_tables(
    conn: psycopg.Connection[Any], rows: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[StaleTable]]:
    """Return, for each seed of ``rows`` (ledger rows by id) whose data is gone, where.

    A seed is stale when a table it wrote into no longer exists, when none of the rows it
    recorded as added remain in a table, or when it wrote into a table (rows it found already
    there, say) that is now empty. Rows deleted one by one leave it applied: deliberate edits
    of seeded data are not undone behind the operator's back. Reads only.
    """
    if not rows or not exists(conn):
        return {}
    written, recorded = _written(conn, rows)
    stale: dict[str, list[StaleTable]] = {}
    for table in sorted(written):
        info = table_or_none(conn, table)
        for seed_id in sorted(written[table]):
            if info is None:
                why: str | None = "gone"
            elif (seed_id, table) in recorded and info.primary_key:
                why = None if _any_recorded_row(conn, info, seed_id) else "rows gone"
            else:
                why = "empty" if _is_empty(conn, info) else None
            if why is not None:
                stale.setdefault(seed_id, []).append(StaleTable(seed_id, table, why))
    return stale


def _any_recorded_row(conn: psycopg.Connection[Any], info: bulk.TableInfo, seed_id: str) -> bool:

    statement = sql.SQL(
        "SELECT EXISTS (SELECT 1 FROM {} AS r JOIN {} AS t ON {} "
        "WHERE r.seed_id = %s AND r.table_name = %s)"
    ).format(seed_rows_ident(conn), info.ident, key_match(info))
    try:
        # A recreated table with another key type cannot hold the recorded keys; its cast
        # error must not abort the caller's transaction.
        with conn.transaction():
            row = conn.execute(statement, (seed_id, info.qualified)).fetchone()
    except psycopg.DataError:
        return False
    return bool(row and row[0])


def _is_empty(conn: psycopg.Connection[Any], info: bulk.TableInfo) -> bool:
    row = conn.execute(
        sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(info.ident)
    ).fetchone()
    return bool(row and row[0])


def seeded_tables(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """Return each table applied seeds wrote rows into, with those seeds' ids, from the ledger.

    Keys are ``schema.table`` names, values sorted seed ids; ``{}`` when nothing was seeded.
    Reads only the ledger (never the tables), so it is cheap and safe inside a migration's
    transaction: the runner calls it to warn before it drops a table holding seeded rows.
    """
    if not exists(conn):
        return {}
    seeds = ledger_of(conn).seeds
    tables = "tables" if _has_tables_column(conn) else "'{}'::text[]"
    rows = conn.execute(f"SELECT id, {tables} FROM {seeds}").fetchall()
    by_id = {str(r[0]): {"tables": list(r[1] or ())} for r in rows}
    written, _ = _written(conn, by_id)
    return {table: sorted(seeds) for table, seeds in sorted(written.items())}
