"""dualorm's own ledger, in the PostgreSQL schema ``dualorm`` (or a tenant's ledger schema).

Where the ledger is comes from the connection (:func:`dualorm.runner.tenancy.ledger_of`): the
schema ``dualorm`` of a single database, ``dualorm_<tenant>`` for a tenant schema; every SQL
text below names it through that :class:`~dualorm.runner.tenancy.Ledger`, quoted. The names
below are the single-database ones.

Invariant: a row in ``dualorm.migrations`` means that migration is applied, and it is written in
the same transaction as the migration's DDL (and with ``alembic_version`` and
``django_migrations`` stamped there too), so the three ledgers can never disagree.

Tables:
    dualorm.meta        key/value; ``environment`` is the database's environment label
    dualorm.migrations  one row per applied migration
    dualorm.audit       one row per command run (no secrets)
    dualorm.seeds       one row per applied seed (created by :mod:`dualorm.seeding`)

Functions:
    dualorm.record_migration(...)  moves all three ledgers for one applied or rolled-back
                        migration; one call, plans cached by PL/pgSQL, so the runner's one
                        query per migration can end in COMMIT (see :mod:`dualorm.runner.record`);
                        its duration is measured from :data:`STARTED_SETTING`, and its comment
                        (:data:`RECORD_REVISION`) says it is the current definition
    dualorm.expect_rows(actual, expected, what)  raises ``DL001`` (:data:`LEDGER_SQLSTATE`)
                        unless a ledger write changed ``expected`` rows; record_migration
                        checks every write with it
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from dualorm.config import Environment
from dualorm.errors import EnvironmentMismatch, LedgerError, SafetyError
from dualorm.runner.tenancy import DEFAULT_LEDGER, DEFAULT_LOCK_KEY, Ledger, ledger_of
from dualorm.spec.sqltext import quote_ident, quote_literal

if TYPE_CHECKING:
    import psycopg

    from dualorm.spec.model import Migration

LEDGER_SCHEMA = DEFAULT_LEDGER.schema

_DDL = """
{tenant_schema}CREATE SCHEMA IF NOT EXISTS {ledger};
CREATE TABLE IF NOT EXISTS {meta} (
    key text PRIMARY KEY,
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {migrations} (
    id text PRIMARY KEY,
    name text NOT NULL,
    version text NOT NULL,
    checksum char(64) NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL,
    applied_by text NOT NULL,
    correlation_id uuid NOT NULL,
    outcome text NOT NULL DEFAULT 'applied'
);
CREATE TABLE IF NOT EXISTS {audit} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    command text NOT NULL,
    environment text NOT NULL,
    actor text NOT NULL,
    host text NOT NULL,
    correlation_id uuid NOT NULL,
    outcome text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{{}}'::jsonb
);
CREATE OR REPLACE FUNCTION {ledger}.expect_rows(actual bigint, expected bigint, what text)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    IF actual IS DISTINCT FROM expected THEN
        RAISE EXCEPTION '%: expected % row(s) to change, % did', what, expected, actual
            USING ERRCODE = 'DL001';
    END IF;
    RETURN actual;
END
$$;
CREATE OR REPLACE FUNCTION {ledger}.record_migration(
    direction text, migration_id text, migration_name text, migration_version text,
    migration_checksum text, offset_ms integer, actor text, correlation uuid,
    removed_heads text[], added_heads text[],
    removed_apps text[], removed_names text[], added_apps text[], added_names text[]
) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    elapsed double precision := (extract(epoch FROM clock_timestamp()) - {started}) * 1000;
    changed bigint;
    item text;
    i integer;
    newest text;
BEGIN
    IF direction = 'up' THEN
        INSERT INTO {migrations}
            (id, name, version, checksum, duration_ms, applied_by, correlation_id, outcome)
        VALUES (migration_id, migration_name, migration_version, migration_checksum,
                offset_ms + round(elapsed)::integer, actor, correlation, 'applied')
        ON CONFLICT (id) DO NOTHING;
        GET DIAGNOSTICS changed = ROW_COUNT;
        PERFORM {ledger}.expect_rows(
            changed, 1, 'recording ' || migration_id || ' in ' || {migrations_text});
    ELSE
        DELETE FROM {migrations} WHERE id = migration_id;
        GET DIAGNOSTICS changed = ROW_COUNT;
        PERFORM {ledger}.expect_rows(
            changed, 1, 'removing ' || migration_id || ' from ' || {migrations_text});
    END IF;
    FOREACH item IN ARRAY removed_heads LOOP
        DELETE FROM {alembic} WHERE version_num = item;
        GET DIAGNOSTICS changed = ROW_COUNT;
        PERFORM {ledger}.expect_rows(changed, 1, 'removing ' || item || ' from alembic_version');
    END LOOP;
    FOREACH item IN ARRAY added_heads LOOP
        INSERT INTO {alembic} (version_num) VALUES (item);
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(removed_names, 1), 0) LOOP
        DELETE FROM {django} WHERE app = removed_apps[i] AND name = removed_names[i];
        GET DIAGNOSTICS changed = ROW_COUNT;
        PERFORM {ledger}.expect_rows(changed, 1, 'removing ' || removed_apps[i] || '.'
            || removed_names[i] || ' from django_migrations');
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(added_names, 1), 0) LOOP
        -- Django's table has no index on (app, name): the search for a duplicate reads it
        -- all. It is skipped while the newest row is the one this session added last, which
        -- was checked: nothing was added since, and the run refused, before it started, a
        -- row of any migration it applies (the ledgers' agreement).
        IF current_setting({seen_setting}, true) IS DISTINCT FROM
                (SELECT tableoid::text || ':' || id FROM {django} ORDER BY id DESC LIMIT 1)
            AND EXISTS (SELECT 1 FROM {django}
                        WHERE app = added_apps[i] AND name = added_names[i]) THEN
            PERFORM {ledger}.expect_rows(0, 1, 'adding ' || added_apps[i] || '.'
                || added_names[i] || ' to django_migrations');
        END IF;
        INSERT INTO {django} (app, name, applied)
        VALUES (added_apps[i], added_names[i], now())
        RETURNING tableoid::text || ':' || id INTO newest;
        GET DIAGNOSTICS changed = ROW_COUNT;
        PERFORM {ledger}.expect_rows(changed, 1, 'adding ' || added_apps[i] || '.'
            || added_names[i] || ' to django_migrations');
        PERFORM set_config({seen_setting}, newest, false);
    END LOOP;
    RETURN elapsed;
END
$$;
COMMENT ON FUNCTION {record_signature} IS {revision};
"""

# The SQLSTATE dualorm.record_migration raises; the runner maps it back to LedgerError.
LEDGER_SQLSTATE = "DL001"

# Where a batched transaction keeps the clock read right after its BEGIN (epoch seconds, a
# transaction-local setting). now() cannot say when it began: PostgreSQL sets it once per
# query message, and a chain sends many transactions in one. A ledger function of an older
# dualorm, or a call from one, falls back to now() (that dualorm's own measure).
STARTED_SETTING = "dualorm.started"
STARTED = (
    f"coalesce(nullif(current_setting('{STARTED_SETTING}', true), '')::numeric, "
    "extract(epoch FROM now()))"
)
START_CLOCK = f"set_config('{STARTED_SETTING}', extract(epoch FROM clock_timestamp())::text, true)"
# The comment that marks record_migration as the current definition; a ledger whose function
# lacks it (an older dualorm measured from now()) gets the function replaced.
RECORD_REVISION = (
    f"dualorm ledger function, revision 3: durations from {STARTED_SETTING}, "
    "django_migrations searched only after another writer"
)
# The session's newest django_migrations row as record_migration added it ("<table oid>:<id>",
# a session setting: a rolled-back transaction takes its change back with it). While it is
# still the table's newest row, no other writer added one, and the search of the whole table
# for a duplicate is skipped: Django's table has no index on (app, name), and that search made
# each row of a long history cost as much as the rows before it.
DJANGO_SEEN_SETTING = "dualorm.django_newest"
# The single-database ledger's migration lock key (a tenant's: its Ledger.lock_key).
ADVISORY_LOCK_KEY = DEFAULT_LOCK_KEY


def ddl(lg: Ledger) -> str:
    """The ledger's schema, tables and functions (for a tenant, its tenant schema first)."""
    tenant = "" if lg.tenant is None else f"CREATE SCHEMA IF NOT EXISTS {quote_ident(lg.tenant)};"
    return _DDL.format(
        tenant_schema=tenant,
        ledger=lg.quoted,
        meta=lg.meta,
        migrations=lg.migrations,
        audit=lg.audit,
        migrations_text=quote_literal(f"{lg.schema}.migrations"),
        alembic=lg.foreign("alembic_version"),
        django=lg.foreign("django_migrations"),
        started=STARTED,
        seen_setting=quote_literal(DJANGO_SEEN_SETTING),
        record_signature=record_migration(lg),
        revision=quote_literal(RECORD_REVISION),
    )


def record_migration(lg: Ledger) -> str:
    """The signature of the ledger's record function, for ``to_regprocedure``: a ledger made
    before the function existed lacks it."""
    return (
        f"{lg.table('record_migration')}(text,text,text,text,text,integer,text,uuid,"
        "text[],text[],text[],text[],text[],text[])"
    )


def record_current(lg: Ledger) -> tuple[str, tuple[str, str]]:
    """A boolean SQL expression and its parameters: whether the ledger's record function is
    the current definition (an older dualorm's measured chained migrations from now())."""
    return (
        "coalesce(obj_description(to_regprocedure(%s), 'pg_proc') = %s, false)",
        (record_migration(lg), RECORD_REVISION),
    )


# The single-database ledger's DDL and record function, as they always were.
DDL = ddl(DEFAULT_LEDGER)
RECORD_MIGRATION = record_migration(DEFAULT_LEDGER)


def ensure_ledger(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create the ledger schema, its tables and functions where missing, and replace a record
    function an older dualorm made (idempotent)."""
    lg = ledger_of(conn)
    current, params = record_current(lg)
    exists = conn.execute(
        f"SELECT to_regclass(%s) IS NOT NULL AND {current}", (lg.audit, *params)
    ).fetchone()
    if exists and exists[0]:
        return
    # Two runners creating the ledger at once would race on CREATE SCHEMA IF NOT EXISTS;
    # a transaction-level lock on the ledger's creation key, taken in the same query (one
    # transaction even in autocommit), serialises them.
    conn.execute(f"SELECT pg_advisory_xact_lock({lg.create_key});{ddl(lg)}".encode())


def environment_label(conn: psycopg.Connection[tuple[object, ...]]) -> Environment | None:
    """Return the database's environment label, or ``None`` for an unlabelled database.

    A label that names no environment (edited by hand) is refused (``SafetyError``, exit 3)
    rather than guessed at: every rule that reads the label would otherwise misjudge it.
    """
    lg = ledger_of(conn)
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (lg.meta,)).fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute(f"SELECT value FROM {lg.meta} WHERE key = 'environment'").fetchone()
    if row is None:
        return None
    try:
        return Environment(str(row[0]))
    except ValueError:
        allowed = ", ".join(e.value for e in Environment)
        raise SafetyError(
            f"{lg.schema}.meta labels the database {str(row[0])!r}, which is not one of "
            f"{allowed}; correct the label in {lg.schema}.meta"
        ) from None


def write_label(conn: psycopg.Connection[tuple[object, ...]], environment: Environment) -> None:
    """Set the database's environment label (creating the ledger where missing)."""
    ensure_ledger(conn)
    meta = ledger_of(conn).meta
    conn.execute(
        f"INSERT INTO {meta} AS m (key, value) VALUES ('environment', %s) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now() "
        "WHERE m.value IS DISTINCT FROM EXCLUDED.value",
        (environment.value,),
    )


def check_environment(
    conn: psycopg.Connection[tuple[object, ...]], requested: Environment, *, label: bool = False
) -> None:
    """Refuse (``EnvironmentMismatch``) when the database is labelled with another environment.

    With ``label=True`` an unlabelled database is labelled ``requested``; callers pass it only
    when the environment was chosen explicitly (see :func:`dualorm.environment.may_label`).
    """
    current = environment_label(conn)
    if current is None:
        if label:
            ensure_ledger(conn)
            conn.execute(
                f"INSERT INTO {ledger_of(conn).meta} (key, value) VALUES ('environment', %s) "
                "ON CONFLICT (key) DO NOTHING",
                (requested.value,),
            )
            check_environment(conn, requested)
        return
    if current != requested:
        raise EnvironmentMismatch(current.value, requested.value)


# -- migration rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedMigration:
    """One row of ``dualorm.migrations``: a migration that is applied (or was adopted)."""

    id: str
    name: str
    version: str
    checksum: str
    applied_at: datetime
    duration_ms: int
    applied_by: str
    correlation_id: str
    outcome: str


def ledger_exists(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Return whether ``dualorm.migrations`` exists (without creating anything)."""
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (ledger_of(conn).migrations,)
    ).fetchone()
    return bool(row and row[0])


def applied_migrations(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, AppliedMigration]:
    """Return the applied migrations by id; an absent ledger means nothing is applied."""
    if not ledger_exists(conn):
        return {}
    rows = conn.execute(
        "SELECT id, name, version, checksum, applied_at, duration_ms, applied_by, "
        f"correlation_id::text, outcome FROM {ledger_of(conn).migrations} ORDER BY applied_at, id"
    ).fetchall()
    result = {}
    for row in rows:
        entry = AppliedMigration(
            id=str(row[0]),
            name=str(row[1]),
            version=str(row[2]),
            checksum=str(row[3]),
            applied_at=row[4],  # type: ignore[arg-type]
            duration_ms=int(row[5]),  # type: ignore[call-overload]
            applied_by=str(row[6]),
            correlation_id=str(row[7]),
            outcome=str(row[8]),
        )
        result[entry.id] = entry
    return result


def record_applied(
    conn: psycopg.Connection[tuple[object, ...]],
    migration: Migration,
    *,
    duration_ms: int,
    applied_by: str,
    correlation_id: str,
    outcome: str = "applied",
) -> None:
    """Insert the row that says ``migration`` is applied; in the migration's own transaction."""
    lg = ledger_of(conn)
    cur = conn.execute(
        f"INSERT INTO {lg.migrations} "
        "(id, name, version, checksum, duration_ms, applied_by, correlation_id, outcome) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (
            migration.id,
            migration.name,
            migration.version,
            migration.checksum,
            duration_ms,
            applied_by,
            correlation_id,
            outcome,
        ),
    )
    expect_rowcount(cur.rowcount, 1, f"recording {migration.id} in {lg.schema}.migrations")


def record_removed(conn: psycopg.Connection[tuple[object, ...]], migration_id: str) -> None:
    """Delete the row of a rolled-back migration; in the rollback's own transaction."""
    lg = ledger_of(conn)
    cur = conn.execute(f"DELETE FROM {lg.migrations} WHERE id = %s", (migration_id,))
    expect_rowcount(cur.rowcount, 1, f"removing {migration_id} from {lg.schema}.migrations")


def record_checksum(
    conn: psycopg.Connection[tuple[object, ...]],
    migration: Migration,
    *,
    applied_by: str,
    correlation_id: str,
) -> None:
    """Re-record an applied migration's checksum (``migrate baseline --id``)."""
    cur = conn.execute(
        f"UPDATE {ledger_of(conn).migrations} SET checksum = %s, name = %s, version = %s, "
        "outcome = 'rebaselined', applied_by = %s, correlation_id = %s WHERE id = %s",
        (
            migration.checksum,
            migration.name,
            migration.version,
            applied_by,
            correlation_id,
            migration.id,
        ),
    )
    expect_rowcount(cur.rowcount, 1, f"re-recording the checksum of {migration.id}")


def expect_rowcount(actual: int, expected: int, what: str) -> None:
    """Raise :class:`~dualorm.errors.LedgerError` unless a write touched ``expected`` rows."""
    if actual != expected:
        raise LedgerError(f"{what}: expected {expected} row(s) to change, {actual} did")
