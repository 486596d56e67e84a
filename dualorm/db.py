"""Connections: the database URL, the embedded server, psycopg connections, redaction.

``DATABASE_URL`` wins; when it is unset an embedded PostgreSQL (pgserver) kept under
``./.dualorm/pgdata`` is started on demand and keeps running between commands until
``dualorm db stop``. Every URL that reaches a message goes through :func:`redact` first.
SQLAlchemy is never imported here: the runner applies specs with psycopg alone.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from dualorm.errors import ConfigError, DatabaseUnreachable, DualormError

if TYPE_CHECKING:
    import psycopg

    from dualorm.config import Config

EMBEDDED_DATABASE = "dualorm"


def redact(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``.

    >>> redact("postgresql://app:s3cret@db:5432/auth")
    'postgresql://app:***@db:5432/auth'
    >>> redact("postgresql:///auth?host=/tmp&password=s3cret")
    'postgresql:///auth?host=/tmp&password=***'
    """
    return redact_text(url)


_USERINFO_PASSWORD = re.compile(r"(\b[a-z][\w+.-]*://[^:/@\s]*:)[^\s/]*@", re.IGNORECASE)
_PASSWORD_PARAM = re.compile(r"(\bpassword=)[^&\s]*", re.IGNORECASE)


def redact_text(text: str) -> str:
    """Return ``text`` with the password of every URL inside it replaced by ``***``.

    >>> redact_text("could not reach postgres://app:hunter2@db/auth (timeout)")
    'could not reach postgres://app:***@db/auth (timeout)'
    """
    return _PASSWORD_PARAM.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1***@", text))


def libpq_url(url: str) -> str:
    """Return ``url`` as libpq (psycopg) understands it: no ``+driver`` in the scheme."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"not a database URL: {redact(url)!r}")
    base = scheme.split("+", 1)[0]
    if base not in ("postgresql", "postgres"):
        raise ConfigError(f"only PostgreSQL URLs are supported, not {base!r}")
    return f"postgresql://{rest}"


def sqlalchemy_url(url: str) -> str:
    """Return ``url`` with the ``postgresql+psycopg`` scheme SQLAlchemy needs for psycopg 3."""
    return "postgresql+psycopg://" + libpq_url(url).partition("://")[2]


def with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at another database on the same server."""
    parts = urlsplit(libpq_url(url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database), parts.query, ""))


def database_name(url: str) -> str:
    return urlsplit(libpq_url(url)).path.lstrip("/") or "postgres"


def connect(
    url: str, *, autocommit: bool = False, application_name: str = "dualorm"
) -> psycopg.Connection[tuple[object, ...]]:
    """Open a psycopg connection; an unreachable server is a ``DatabaseUnreachable``."""
    import psycopg

    try:
        return psycopg.connect(
            libpq_url(url),
            autocommit=autocommit,
            application_name=application_name,
            connect_timeout=10,
        )
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        reason = redact_text(reason.replace(url, redact(url)))
        raise DatabaseUnreachable(f"cannot connect to {redact(url)}: {reason}") from None


@contextlib.contextmanager
def connection(
    url: str, *, autocommit: bool = False
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    conn = connect(url, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


# -- the embedded server ----------------------------------------------------------------------


class EmbeddedServer:
    """A pgserver-managed PostgreSQL under ``<root>/.dualorm/pgdata``, kept running."""

    def __init__(self, state_dir: Path) -> None:
        self.pgdata = state_dir / "pgdata"

    def start(self) -> str:
        """Start the server if needed and return the URL of the ``dualorm`` database."""
        private_runtime_dir(self.pgdata.parent)
        try:
            import pgserver
        except ImportError:
            raise ConfigError(
                "DATABASE_URL is not set and the embedded server is not installed: "
                "pip install 'dualorm[embedded]' or set DATABASE_URL"
            ) from None
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        admin_url = str(server.get_uri())
        self._ensure_database(admin_url)
        return str(server.get_uri(EMBEDDED_DATABASE))

    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    def stop(self) -> bool:
        """Stop the server; return whether one was running."""
        if not self.running():
            return False
        import subprocess

        command = [pg_bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"]
        owner = self.pgdata.stat().st_uid
        if os.geteuid() == 0 and owner != 0:
            # PostgreSQL refuses root; pgserver runs the cluster as an unprivileged user.
            import pwd

            command = ["runuser", "-u", pwd.getpwuid(owner).pw_name, "--", *command]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode != 0 and self.running():
            reason = (done.stderr or done.stdout).strip().splitlines()
            raise DualormError(
                f"could not stop the embedded server in {self.pgdata}: "
                + (reason[-1] if reason else f"pg_ctl exited {done.returncode}")
            )
        return True

    @staticmethod
    def _ensure_database(admin_url: str) -> None:
        with connection(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
            ).fetchone()
            if not exists:
                from psycopg import sql

                conn.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE))
                )


def private_runtime_dir(parent: Path) -> None:
    """Give pgserver a private XDG_RUNTIME_DIR when none is set.

    pgserver asks platformdirs for a runtime directory, which warns on every start when the
    variable is unset or points at a directory others can write to.
    """
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime = parent / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def resolve_url(config: Config) -> str:
    """Return ``DATABASE_URL`` or, when unset, the embedded server's URL (starting it)."""
    if config.database_url:
        return config.database_url
    return EmbeddedServer(config.state_dir).start()


def pg_bin(name: str) -> str:
    """Return the path of a PostgreSQL client program (``pg_dump``, ``pg_restore``, ``psql``).

    Prefer the embedded server's own binaries (they match its major version), then ``PATH``.
    """
    import importlib.util
    import shutil

    # Locate the package without importing it: importing pgserver starts its runtime checks.
    spec = importlib.util.find_spec("pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bundled = Path(location) / "pginstall" / "bin" / name
        if bundled.exists():
            return str(bundled)
    found = shutil.which(name)
    if not found:
        raise ConfigError(f"{name} not found: install the PostgreSQL client or dualorm[embedded]")
    return found
