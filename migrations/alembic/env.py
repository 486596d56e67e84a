"""Alembic environment of the shared schema (the one ``dualorm init`` writes).

The project's configuration is the ``[tool.dualorm]`` table of the pyproject.toml next to
alembic.ini. The database is ``config.attributes["database_url"]`` when a caller passes one
in-process, else ``DATABASE_URL`` (the embedded server when unset). The target metadata is the
SQLAlchemy model set named by ``sa_metadata``, so ``alembic check`` compares those models with
the database. dualorm's ledger schema and the two migration ledgers are not part of the schema
and are never compared. The revisions in versions/ are written by ``dualorm migrate make``.
"""

from __future__ import annotations

from logging.config import fileConfig
from pathlib import Path
from typing import Any

from alembic import context
from dualorm.config import Config
from dualorm.db import resolve_url, sqlalchemy_url
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


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "schema":
        return name != LEDGER_SCHEMA
    if type_ == "table":
        return name not in FOREIGN_LEDGERS
    return True


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table":
        return name not in FOREIGN_LEDGERS and getattr(obj, "schema", None) != LEDGER_SCHEMA
    return True


def database_url() -> str:
    url = config.attributes.get("database_url") or resolve_url(settings)
    return sqlalchemy_url(url)


def widen_version_table(connection: Connection) -> None:
    """Make ``alembic_version.version_num`` wide enough for spec ids (Alembic makes it 32)."""
    length = connection.exec_driver_sql(
        "SELECT character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'alembic_version' "
        "AND column_name = 'version_num'"
    ).scalar()
    if length is None:
        connection.exec_driver_sql(
            "CREATE TABLE alembic_version (version_num varchar(255) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    elif length < VERSION_LENGTH:
        connection.exec_driver_sql(
            "ALTER TABLE alembic_version ALTER COLUMN version_num TYPE varchar(255)"
        )
    connection.commit()


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        include_name=include_name,
        include_object=include_object,
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
