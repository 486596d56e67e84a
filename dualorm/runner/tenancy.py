"""Where a run's ledgers are: the database itself, or one tenant schema of it.

A run targets a (database, schema) pair. The single-database layout (no tenant) is the
default and stays as it always was: migrations land where ``search_path`` puts them,
``alembic_version`` and ``django_migrations`` are found through ``search_path`` unqualified,
dualorm's own ledger is the schema ``dualorm`` and the migration lock is one fixed advisory key.

A tenant target is the schema-per-tenant layout django-tenants uses: one database, one
PostgreSQL schema per tenant. Its connections start with ``search_path = <tenant>, public``
(libpq ``options``, so every connection a run opens from its URL has it: the migration
connection, the lock connection, the catalog reads), so a migration's unqualified DDL lands in
the tenant schema and shared objects of ``public`` (extensions, shared apps) still resolve.
The tenant's foreign ledgers are its own, always schema-qualified (``"acme".alembic_version``,
``"acme".django_migrations``, as ``version_table_schema`` and django-tenants keep them), never
``public``'s. The same ``options`` carry ``-c dualorm.tenant=<tenant>``: that setting, not
``search_path`` (which a single-database URL may set for its own reasons), is what makes a
connection a tenant's, and :func:`ledger_of` reads it from the connection's own parameters,
without a round trip.

dualorm's own ledger of a tenant is a sibling schema named from it, ``dualorm_<tenant>``
(:func:`ledger_schema`), holding the same tables under the same names as ``dualorm``, rather
than tables inside the tenant schema: the tenant schema then holds nothing but the
application's objects (models, autogenerate, ``validate`` and the catalog fingerprint see no
ledger there, and no ledger name can collide with an application table), and every ledger SQL
text differs from the single-database one by its schema name alone. A name longer than
PostgreSQL's 63 bytes is cut on a character boundary and ends with 8 hex digits of the
tenant's sha256, so two long tenant names never share a ledger. Names starting ``dualorm_``
are therefore reserved: they are never a tenant. A tenant dropped without its ledger schema
leaves a ledger that its foreign ledgers contradict, which ``migrate up`` refuses (ledgers
disagree) rather than trusting it.

The migration lock is per (database, ledger schema): advisory locks are per database already,
and a tenant's key is derived from its ledger schema's name, so two tenants of one database
migrate in parallel while one tenant is never migrated by two runners at once. Each ledger's
keys come in a block of three (the migration lock, the lock serialising the ledger's
creation, the migration connection's session lock, see :mod:`dualorm.runner.locks`).

What the tenants of one database share is not theirs alone: an extension, a schema, a role.
Two tenants running ``CREATE EXTENSION IF NOT EXISTS`` at once race on it (the loser fails
with a unique violation, ``IF NOT EXISTS`` or not), so a tenant's migration holding such a
statement first takes one transaction lock of the database, :data:`SHARED_OBJECTS_KEY`: those
migrations run one tenant at a time, the others see the object committed and skip it. A
``CREATE EXTENSION`` naming no ``SCHEMA`` is refused in a tenant's run: it would land in the
schema of whichever tenant ran it first, out of the other tenants' ``search_path``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dualorm.db import is_url, libpq_url
from dualorm.errors import ConfigError
from dualorm.spec.sqltext import quote_ident, quote_qualified

__all__ = [
    "DEFAULT_LEDGER",
    "LEDGER_PREFIX",
    "SHARED_OBJECTS_KEY",
    "Ledger",
    "check_tenant",
    "ledger_for",
    "ledger_of",
    "ledger_schema",
    "tenant_of",
    "tenant_url",
]

LEDGER_PREFIX = "dualorm_"
"""A tenant's ledger schema is this followed by the tenant's name; such names are reserved."""
TENANT_SETTING = "dualorm.tenant"
"""The custom setting a tenant connection starts with (libpq ``options``)."""
NAMEDATALEN = 64
# One fixed key so every runner of every process takes the same lock: hash of "dualorm".
DEFAULT_LOCK_KEY = 0x6475616C6F726D
SHARED_OBJECTS_KEY = int.from_bytes(
    hashlib.sha256(b"dualorm shared objects").digest()[:8], "big", signed=True
)
"""The transaction lock a tenant's migration takes before it touches the database's shared
objects (extensions, schemas, roles), so tenants of one database never race on them."""


@dataclass(frozen=True)
class Ledger:
    """The location of one run's ledgers, and every name SQL text needs for them.

    Identifiers are quoted; ``schema`` is the ledger schema's name as a value (for catalog
    lookups, as a parameter).
    """

    schema: str
    tenant: str | None = None
    lock_key: int = DEFAULT_LOCK_KEY

    @property
    def quoted(self) -> str:
        return quote_ident(self.schema)

    def table(self, name: str) -> str:
        """A ledger table (or function) qualified by the ledger schema: ``"dualorm"."meta"``."""
        return quote_qualified(self.schema, name)

    @property
    def meta(self) -> str:
        return self.table("meta")

    @property
    def migrations(self) -> str:
        return self.table("migrations")

    @property
    def audit(self) -> str:
        return self.table("audit")

    @property
    def seeds(self) -> str:
        return self.table("seeds")

    @property
    def seed_rows(self) -> str:
        return self.table("seed_rows")

    def foreign(self, name: str) -> str:
        """``alembic_version`` or ``django_migrations``: found through ``search_path`` in the
        single-database layout, the tenant schema's own for a tenant."""
        if self.tenant is None:
            return name
        return f"{quote_ident(self.tenant)}.{quote_ident(name)}"

    @property
    def create_key(self) -> int:
        """The transaction lock serialising the creation of this ledger."""
        return self.lock_key + 1

    @property
    def session_key(self) -> int:
        """The lock a migration connection holds while it lives (``claim_session``)."""
        return self.lock_key + 2


DEFAULT_LEDGER = Ledger("dualorm")


def ledger_schema(tenant: str) -> str:
    """The ledger schema of ``tenant``: ``dualorm_<tenant>``, within 63 bytes."""
    name = LEDGER_PREFIX + tenant
    if len(name.encode()) < NAMEDATALEN:
        return name
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:8]
    room = NAMEDATALEN - 1 - len(LEDGER_PREFIX) - 1 - len(digest)
    cut = tenant.encode()[:room].decode("utf-8", "ignore")
    return f"{LEDGER_PREFIX}{cut}_{digest}"


def ledger_for(tenant: str | None) -> Ledger:
    """The ledger of ``tenant`` (``None``: the single-database ledger ``dualorm``)."""
    if tenant is None:
        return DEFAULT_LEDGER
    schema = ledger_schema(tenant)
    digest = hashlib.sha256(f"dualorm ledger {schema}".encode()).digest()
    # A signed 64-bit key with its low two bits free for create_key and session_key.
    key = int.from_bytes(digest[:8], "big", signed=True) & ~3
    return Ledger(schema, tenant, key)


def check_tenant(name: str, where: str = "") -> str:
    """Return ``name`` if it can be a tenant schema, else a ``ConfigError`` saying why."""
    prefix = f"{where}: " if where else ""
    problem = None
    if not name or "\x00" in name:
        problem = "is empty or holds a NUL character"
    elif len(name.encode()) >= NAMEDATALEN:
        problem = f"is longer than PostgreSQL's {NAMEDATALEN - 1} bytes"
    elif name == "public":
        problem = "is the database's own schema: list the database without schemas"
    elif name == "dualorm" or name.startswith(LEDGER_PREFIX):
        problem = "is reserved for dualorm's ledgers"
    elif name.startswith("pg_") or name == "information_schema":
        problem = "is a system schema"
    if problem:
        raise ConfigError(f"{prefix}the tenant schema {name!r} {problem}")
    return name


def tenant_url(url: str, tenant: str) -> str:
    """``url`` whose sessions are ``tenant``'s: ``search_path`` and the tenant setting set.

    Any ``options`` the URL already carries are kept (and ours come after them); a URL stays
    a URL, a keyword connection string stays one.
    """
    check_tenant(tenant)
    path = f"{quote_ident(tenant)},public"
    ours = f"-c search_path={_escape(path)} -c {TENANT_SETTING}={_escape(tenant)}"
    conninfo = libpq_url(url)
    existing = str(conninfo_to_dict(conninfo).get("options") or "")
    options = f"{existing} {ours}".strip()
    if not is_url(url):
        return make_conninfo(conninfo, options=options)
    parts = urlsplit(url)
    # libpq reads %20 as a blank, never '+'.
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", options))
    encoded = urlencode(query, quote_via=quote)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, encoded, ""))


def tenant_of(url: str) -> str | None:
    """The tenant a URL (or a connection's ``info.dsn``) targets; ``None``: no tenant."""
    try:
        options = str(conninfo_to_dict(libpq_url(url)).get("options") or "")
    except (psycopg.Error, ConfigError):
        # Not a connection string: connecting says why, without the password.
        return None
    found = None
    words = _words(options)
    for i, word in enumerate(words):
        setting = None
        if word == "-c" and i + 1 < len(words):
            setting = words[i + 1]
        elif word.startswith("-c"):
            setting = word[2:]
        elif word.startswith("--"):
            setting = word[2:]
        if setting is not None and setting.startswith(f"{TENANT_SETTING}="):
            found = setting.partition("=")[2]
    return found or None


def ledger_of(conn: psycopg.Connection[tuple[object, ...]]) -> Ledger:
    """The ledger of the target ``conn`` was opened on (read from its own parameters)."""
    return ledger_for(tenant_of(conn.info.dsn))


def _escape(value: str) -> str:
    # libpq splits options at blanks; a backslash keeps one (and itself) in the word.
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def _words(options: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    escaped = False
    for char in options:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    return words
