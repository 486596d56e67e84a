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

    from dualorm.db import private_runtime_dir

    pgdata = Path(tempfile.gettempdir()) / f"dualorm-test-pg-{os.getuid()}"
    private_runtime_dir(pgdata.parent / f"dualorm-test-run-{os.getuid()}")
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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def streaming_pair() -> Iterator[tuple[str, str]]:
    """Yield ``(primary_url, replica_url)``: a fresh cluster and a streaming replica of it.

    Built with the embedded distribution's ``initdb`` and ``pg_basebackup``; as root, the
    servers run as the unprivileged user pgserver already uses, since PostgreSQL refuses root.
    """
    import shutil
    import subprocess

    import pgserver

    bindir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "pgserver", "--"]
    base = Path(tempfile.mkdtemp(prefix="dualorm-repl-"))
    base.chmod(0o777)
    primary, replica = base / "primary", base / "replica"
    ports = _free_port(), _free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, cwd=base)

    try:
        run(str(bindir / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust")
        settings = (
            f"port = {ports[0]}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{base}'\nwal_level = replica\nmax_wal_senders = 4\n"
            "fsync = off\n"
        )
        run("sh", "-c", f"printf '%s' \"{settings}\" >> {primary}/postgresql.conf")
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(primary),
            "-l",
            str(base / "primary.log"),
            "-w",
            "start",
        )
        run(
            str(bindir / "pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(ports[0]),
            "-U",
            "postgres",
            "-D",
            str(replica),
            "-R",
            "-X",
            "stream",
        )
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(replica),
            "-l",
            str(base / "replica.log"),
            "-o",
            f"-p {ports[1]}",
            "-w",
            "start",
        )
        yield (
            f"postgresql://postgres@127.0.0.1:{ports[0]}/postgres",
            f"postgresql://postgres@127.0.0.1:{ports[1]}/postgres",
        )
    finally:
        for data in (replica, primary):
            if (data / "postmaster.pid").exists():
                subprocess.run(
                    [
                        *as_user,
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                    capture_output=True,
                    check=False,
                )
        shutil.rmtree(base, ignore_errors=True)
