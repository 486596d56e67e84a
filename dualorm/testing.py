"""Throwaway PostgreSQL databases for tests and benchmarks, on a real server.

The server is ``TEST_DATABASE_URL`` when that is set, else an embedded PostgreSQL (pgserver)
shared by every process of a test run under the system temp directory. Each
:func:`scratch_database` is a fresh database, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from psycopg import sql

from dualorm.db import connection, database_name, private_runtime_dir, with_database


def server_url() -> str:
    """Return an admin URL for the test server, starting the embedded one when needed."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    import pgserver

    pgdata = Path(tempfile.gettempdir()) / f"dualorm-test-pg-{os.getuid()}"
    private_runtime_dir(pgdata.parent / f"dualorm-test-run-{os.getuid()}")
    return str(pgserver.get_server(pgdata, cleanup_mode="stop").get_uri())


def create_database(admin_url: str, prefix: str = "t") -> str:
    """Create an empty database and return its URL."""

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with connection(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:

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


class Cluster:
    """A private PostgreSQL server of the embedded distribution, in ``base / name``.

    As root the server runs as the unprivileged user pgserver already uses, since PostgreSQL
    refuses root. :meth:`crash` stops it the way a power cut would (``-m immediate``: no
    shutdown checkpoint, shared memory gone, WAL replayed at the next start).
    """

    def __init__(self, base: Path, name: str) -> None:
        import pgserver

        self.bindir = Path(pgserver.__file__).parent / "pginstall" / "bin"
        self.base = base
        self.data = base / name
        self.port = _free_port()
        self._as_user = ["runuser", "-u", "pgserver", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, program: str, *args: str) -> None:

        argv = [*self._as_user, str(self.bindir / program), *args]
        subprocess.run(argv, check=True, capture_output=True, cwd=self.base)

    def init(self, settings: str = "") -> None:
        """``initdb``, then append ``settings`` (postgresql.conf lines) to the defaults."""

        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust")
        conf = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.base}'\n{settings}"
        )
        subprocess.run(
            [*self._as_user, "sh", "-c", f'cat >> "{self.data}/postgresql.conf"'],
            input=conf.encode(),
            check=True,
            capture_output=True,
        )

    def start(self, *options: str) -> None:
        log = str(self.base / f"{self.data.name}.log")
        extra = ["-o", " ".join(options)] if options else []
        self.run("pg_ctl", "-D", str(self.data), "-l", log, *extra, "-w", "start")

    def crash(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop_quietly(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self.crash()


@contextlib.contextmanager
def cluster_base() -> Iterator[Path]:
    """A temporary directory the servers' user can write to, removed afterwards."""

    base = Path(tempfile.mkdtemp(prefix="dualorm-cluster-"))
    base.chmod(0o777)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def private_cluster(settings: str = "") -> Iterator[Cluster]:
    """Yield a fresh, started :class:`Cluster`; it is stopped and removed afterwards."""
    with cluster_base() as base:
        server = Cluster(base, "data")
        try:
            server.init(settings)
            server.start()
            yield server
        finally:
            server.stop_quietly()


@contextlib.contextmanager
def streaming_pair() -> Iterator[tuple[str, str]]:
    """Yield ``(primary_url, replica_url)``: a fresh cluster and a streaming replica of it.

    Built with the embedded distribution's ``initdb`` and ``pg_basebackup``.
    """
    with cluster_base() as base:
        primary, replica = Cluster(base, "primary"), Cluster(base, "replica")
        try:
            primary.init("wal_level = replica\nmax_wal_senders = 4\nfsync = off\n")
            primary.start()
            primary.run(
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(replica.data),
                "-R",
                "-X",
                "stream",
            )
            replica.start(f"-p {replica.port}")
            yield primary.url, replica.url
        finally:
            replica.stop_quietly()
            primary.stop_quietly()
