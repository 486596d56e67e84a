"""Throwaway PostgreSQL databases for tests and benchmarks, on a real server.

The server is ``TEST_DATABASE_URL`` when that is set, else an embedded PostgreSQL (pgserver)
shared by every process of a test run under the system temp directory. Each
:func:`scratch_database` is a fresh database, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from dualorm.db import connection, with_database


def server_url() -> str:
    """Return an admin URL for the test server, starting the embedded one when needed."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    import pgserver

    pgdata = Path(tempfile.gettempdir()) / f"dualorm-test-pg-{os.getuid()}"
    return str(pgserver.get_server(pgdata, cleanup_mode="stop").get_uri())


def create_database(admin_url: str, prefix: str = "t") -> str:
    """Create an empty database and return its URL."""
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with connection(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    from psycopg import sql

    from dualorm.db import database_name

    with connection(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database_name(url))
            )
        )


@contextlib.contextmanager
def scratch_database(admin_url: str | None = None, prefix: str = "t") -> Iterator[str]:
    """Yield the URL of a fresh, empty database that is dropped on exit."""
    admin = admin_url or server_url()
    url = create_database(admin, prefix)
    try:
        yield url
    finally:
        drop_database(admin, url)
