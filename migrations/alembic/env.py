"""Alembic environment of the shared schema (the one ``dualorm init`` writes).

The project's configuration is the ``[tool.dualorm]`` table of the pyproject.toml next to
alembic.ini. The database is ``config.attributes["database_url"]`` when a caller passes one
in-process, else ``DATABASE_URL`` (the embedded server when unset). The target metadata is the
SQLAlchemy model set named by ``sa_metadata``, so ``alembic check`` compares those models with
the database. dualorm's ledger schemas (``dualorm``, and ``dualorm_<tenant>`` for each tenant)
and the two migration ledgers are not part of the schema and are never compared. A tenant's
URL (``dualorm fleet``'s schema-per-tenant targets) keeps its ``alembic_version`` in the tenant
schema, never in ``public``. The revisions in versions/ are written by ``dualorm migrate make``.
"""

from __future__ import annotations

from logging.config import fileConfig
from pathlib import Path
from typing import Any

from alembic import context
from dualorm.config import Config
from dualorm.db import resolve_url, sqlalchemy_url
from dualorm.runner.tenancy import LEDGER_PREFIX, tenant_of
from dualorm.sources.sqlalchemy import resolve_metadata
from sqlalchemy import Connection, create_engine, pool

LEDGER_SCHEMA = "dualorm"
FOREIGN_LEDGERS = frozenset({"django_migrations", "alembic_version"})
VERSION_LENGTH = 255

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# The project is the one alembic.ini belongs to, wherever alembic is run from.
project = Path(config.config_file_name).resolve().parent if config.config_file_name else None
settings = Config.load(project)
target_metadata = resolve_metadata(settings.sa_metadata)


def ledger_schema(name: str | None) -> bool:
    return name == LEDGER_SCHEMA or (name or "").startswith(LEDGER_PREFIX)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "schema":
        return not ledger_schema(name)
    if type_ == "table":
        return name not in FOREIGN_LEDGERS
    return True


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table":
        return name not in FOREIGN_LEDGERS and not ledger_schema(getattr(obj, "schema", None))
    return True


url = config.attributes.get("database_url") or resolve_url(settings)
# A tenant's alembic_version is its schema's own; None: found through search_path.
tenant = tenant_of(url)


def database_url() -> str:
    return sqlalchemy_url(url)


def widen_version_table(connection: Connection) -> None:
    """Make ``alembic_version.version_num`` wide enough for spec ids (Alembic makes it 32)."""
    table = "alembic_version"
    if tenant is not None:
        table = connection.dialect.identifier_preparer.quote(tenant) + ".alembic_version"
    length = connection.exec_driver_sql(
        "SELECT character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = coalesce(%(tenant)s, current_schema()) "
        "AND table_name = 'alembic_version' AND column_name = 'version_num'",
        {"tenant": tenant},
    ).scalar()
    if length is None:
        connection.exec_driver_sql(
            f"CREATE TABLE {table} (version_num varchar(255) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    elif length < VERSION_LENGTH:
        connection.exec_driver_sql(
            f"ALTER TABLE {table} ALTER COLUMN version_num TYPE varchar(255)"
        )
    connection.commit()


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        include_name=include_name,
        include_object=include_object,
        version_table_schema=tenant,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            widen_version_table(connection)
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                include_name=include_name,
                include_object=include_object,
                version_table_schema=tenant,
                compare_server_default=True,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
