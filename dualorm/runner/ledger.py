"""dualorm's own ledger, in the PostgreSQL schema ``dualorm``.

Invariant: a row in ``dualorm.migrations`` means that migration is applied, and it is written in
the same transaction as the migration's DDL (and with ``alembic_version`` and
``django_migrations`` stamped there too), so the three ledgers can never disagree.

Tables:
    dualorm.meta        key/value; ``environment`` is the database's environment label
    dualorm.migrations  one row per applied migration
    dualorm.audit       one row per command run (no secrets)
    dualorm.seeds       one row per applied seed (created by :mod:`dualorm.seeding`)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dualorm.config import Environment
from dualorm.errors import EnvironmentMismatch

if TYPE_CHECKING:
    import psycopg

LEDGER_SCHEMA = "dualorm"

DDL = """
CREATE SCHEMA IF NOT EXISTS dualorm;
CREATE TABLE IF NOT EXISTS dualorm.meta (
    key text PRIMARY KEY,
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS dualorm.migrations (
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
CREATE TABLE IF NOT EXISTS dualorm.audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    command text NOT NULL,
    environment text NOT NULL,
    actor text NOT NULL,
    host text NOT NULL,
    correlation_id uuid NOT NULL,
    outcome text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
"""

# One fixed key so every runner of every process takes the same lock: hash of "dualorm".
ADVISORY_LOCK_KEY = 0x6475616C6F726D


def ensure_ledger(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create the ``dualorm`` schema and its tables if they do not exist (idempotent)."""
    exists = conn.execute("SELECT to_regclass('dualorm.audit') IS NOT NULL").fetchone()
    if exists and exists[0]:
        return
    # Two runners creating the ledger at once would race on CREATE SCHEMA IF NOT EXISTS;
    # a transaction-level lock on the same key serialises them.
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY + 1,))
    conn.execute(DDL)


def environment_label(conn: psycopg.Connection[tuple[object, ...]]) -> Environment | None:
    """Return the database's environment label, or ``None`` for an unlabelled database."""
    found = conn.execute("SELECT to_regclass('dualorm.meta') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute("SELECT value FROM dualorm.meta WHERE key = 'environment'").fetchone()
    return Environment(str(row[0])) if row else None


def check_environment(
    conn: psycopg.Connection[tuple[object, ...]], requested: Environment, *, label: bool = False
) -> None:
    """Refuse (``EnvironmentMismatch``) when the database is labelled with another environment.

    With ``label=True`` an unlabelled database is labelled ``requested`` (first ``migrate up``).
    """
    current = environment_label(conn)
    if current is None:
        if label:
            ensure_ledger(conn)
            conn.execute(
                "INSERT INTO dualorm.meta (key, value) VALUES ('environment', %s) "
                "ON CONFLICT (key) DO NOTHING",
                (requested.value,),
            )
            check_environment(conn, requested)
        return
    if current != requested:
        raise EnvironmentMismatch(current.value, requested.value)
