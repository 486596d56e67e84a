"""The live catalog of a run's target, as the specs and models name it.

A single database is read as :func:`dualorm.sources.postgres.load` reads it. A tenant's
connection (see :mod:`dualorm.runner.tenancy`) is read in its tenant schema instead of
``public``, and what it holds is keyed as ``public`` again: the specs and models name their
tables unqualified, and for a tenant "unqualified" means the tenant schema. Its connection's
``search_path`` starts with the tenant, so the server already spells the tenant's own types
and sequences unqualified, exactly as it spells ``public``'s in a single database; two tenants
at the same version therefore read (and fingerprint) the same. The tenant's ledger schema is
never read, nor any other tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dualorm.runner.tenancy import ledger_of
from dualorm.schema import DEFAULT_SCHEMA, Schema, schema
from dualorm.sources import postgres

if TYPE_CHECKING:
    import psycopg

__all__ = ["load_target"]


def load_target(conn: psycopg.Connection[Any], *, schemas: Iterable[str] = ("public",)) -> Schema:
    """Read ``schemas`` of the connection's target (``public`` meaning a tenant's schema)."""

    tenant = ledger_of(conn).tenant
    if tenant is None:
        return postgres.load(conn, schemas=schemas)
    wanted = [tenant if s == DEFAULT_SCHEMA else s for s in schemas]
    return as_default(postgres.load(conn, schemas=wanted), tenant)


def as_default(catalog: Schema, tenant: str) -> Schema:
    """``catalog`` with every object of ``tenant`` keyed as ``public``."""

    def home(name: str) -> str:
        return DEFAULT_SCHEMA if name == tenant else name

    tables = [
        replace(
            t,
            schema=home(t.schema),
            foreign_keys=tuple(replace(f, ref_schema=home(f.ref_schema)) for f in t.foreign_keys),
        )
        for t in catalog.tables
    ]
    return schema(
        tables,
        [replace(e, schema=home(e.schema)) for e in catalog.enums],
        declares_enums=catalog.declares_enums,
        sequences=[replace(q, schema=home(q.schema)) for q in catalog.sequences]
        if catalog.declares_sequences
        else None,
    )
