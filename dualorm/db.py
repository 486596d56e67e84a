"""Connections: the database URL, the embedded server, psycopg connections, redaction.

``DATABASE_URL`` wins; when it is unset an embedded PostgreSQL (pgserver) kept under
``./.dualorm/pgdata`` is started on demand and keeps running between commands until
``dualorm db stop``. ``DATABASE_URL`` is a URL (``postgresql://``) or a keyword connection
string (``host=db dbname=auth``), read by libpq itself (``psycopg.conninfo``).

This is the one redaction module: every URL that reaches a message goes through
:func:`redact`, every text that may quote one through :func:`redact_text`, and a message
about a known URL through :func:`scrub` with its :func:`password_forms`. A password is hidden
as libpq reads it and as a person wrote it (an unencoded ``@``, a space, a malformed
``postgresql//``), wherever it stands: userinfo, ``?password=``, ``password = '...'``.
SQLAlchemy is never imported here: the runner applies specs with psycopg alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

from dualorm.errors import ConfigError, DatabaseUnreachable, DualormError

if TYPE_CHECKING:
    import psycopg

    from dualorm.config import Config

EMBEDDED_DATABASE = "dualorm"


def redact(url: str) -> str:
    """Return ``url`` (a URL or a keyword connection string) with its password as ``***``.

    The value is read the way libpq reads it (``psycopg.conninfo``) and the way a person who
    forgot to percent-encode meant it; whatever either calls the password is hidden.

    >>> redact("postgresql://app:s3cret@db:5432/auth")
    'postgresql://app:***@db:5432/auth'
    >>> redact("postgresql:///auth?host=/tmp&password=s3cret")
    'postgresql:///auth?host=/tmp&password=***'
    >>> redact("host=db password = 'a b' user=app")
    'host=db password = *** user=app'
    """
    masked, found = _masked(url, everywhere=False)
    params = _parsed(url)
    read = str(params.get("password") or "") if params else ""
    # libpq reads a password where the scan saw none (or another one): hide that too.
    return _hide(masked, {read}) if read and read not in found else masked


def redact_text(text: str) -> str:
    """Return ``text`` with the password of every URL or keyword DSN quoted in it as ``***``.

    >>> redact_text("could not reach postgres://app:hunter2@db/auth (timeout)")
    'could not reach postgres://app:***@db/auth (timeout)'
    """
    masked, secrets = _masked(text)
    return _hide_pieces(masked, secrets) if secrets else masked


def password_forms(url: str) -> frozenset[str]:
    """Every form ``url``'s password may take in a message: written, decoded, as libpq reads it."""
    secrets = _masked(url)[1]
    params = _parsed(url)
    if params and params.get("password"):
        secrets.add(str(params["password"]))
    return frozenset(secrets)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` through :func:`redact_text`, without ``secrets`` or quoted pieces of them.

    libpq's parse errors quote fragments of the string they were given (``missing "=" after
    "b"`` for ``password=a b``); :func:`password_forms` gives the secrets of a URL.
    """
    return _hide(redact_text(text), set(secrets))


# Userinfo passwords of URLs (any scheme, and the malformed ``postgresql//`` or ``postgres:/``
# separators), ``password=`` anywhere (keyword DSNs, URL queries, PGPASSWORD=): the spans a
# reader would take for the password, generously, since hiding too much costs only detail.


_MASK = "***"


def _masked(text: str, *, everywhere: bool = True) -> tuple[str, set[str]]:
    """``text`` with every password span masked, and the forms of the passwords it held.

    A password found in one place is hidden wherever else it stands in ``text`` too (libpq
    quotes it decoded), except inside the URLs and DSNs read here, whose other parts (a user
    ``postgres`` beside the password ``postgres``) are not secrets; with ``everywhere=False``
    (``text`` is one URL or DSN) only the spans are masked.
    """
    spans = sorted([*_userinfo_spans(text), *_keyword_spans(text)])
    if not spans:
        return text, set()
    secrets: set[str] = set()
    for start, end, _, _ in spans:
        raw = text[start:end]
        if raw.strip("'") != _MASK:
            secrets.update(_forms(raw))
    protected = sorted((first, last) for _, _, first, last in spans)
    if not everywhere:
        protected = [(0, len(text))]
    out: list[str] = []
    cursor = 0
    for start, end, _, _ in spans:
        if end <= cursor:
            continue
        start = max(start, cursor)
        out.append(_replace_outside(text, cursor, start, protected, secrets))
        out.append(_MASK)
        cursor = end
    out.append(_replace_outside(text, cursor, len(text), protected, secrets))
    return "".join(out), secrets


def _replace_outside(
    text: str, start: int, end: int, protected: list[tuple[int, int]], secrets: set[str]
) -> str:
    pieces: list[str] = []
    cursor = start
    for first, last in protected:
        if last <= cursor or first >= end:
            continue
        if first > cursor:
            pieces.append(_replace(text[cursor:first], secrets))
        pieces.append(text[max(first, cursor) : min(last, end)])
        cursor = min(last, end)
    if cursor < end:
        pieces.append(_replace(text[cursor:end], secrets))
    return "".join(pieces)


def _replace(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, _MASK)
    return text


def _forms(raw: str) -> set[str]:
    """The ways a written password may show up elsewhere: as written, decoded, unquoted."""
    forms = {raw, unquote(raw)}
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        forms.add(raw[1:-1].replace("\\'", "'").replace("\\\\", "\\"))
    decoded = {f for f in forms if f}
    return decoded | {quote(f, safe="") for f in decoded}


def _url_starts(text: str) -> list[tuple[int, int]]:
    """``(scheme start, userinfo start)`` of every URL-looking run in ``text``."""
    lower = text.lower()
    found: set[tuple[int, int]] = set()
    at = lower.find("://")
    while at != -1:
        begin = at
        while begin > 0 and (lower[begin - 1].isalnum() or lower[begin - 1] in "+.-"):
            begin -= 1
        if begin < at:
            found.add((begin, at + 3))
        at = lower.find("://", at + 3)
    at = lower.find("postgres")
    while at != -1:
        cursor = at + len("postgres")
        if lower.startswith("ql", cursor):
            cursor += 2
        if lower.startswith("+", cursor):
            cursor += 1
            while cursor < len(lower) and (lower[cursor].isalnum() or lower[cursor] == "_"):
                cursor += 1
        separator = cursor
        while cursor < len(lower) and lower[cursor] in ":/":
            cursor += 1
        if cursor > separator and cursor < len(lower) and not lower[cursor].isspace():
            found.add((at, cursor))
        at = lower.find("postgres", at + 1)
    starts: dict[int, int] = {}
    for begin, rest in sorted(found):
        # A scheme glued to what comes before (``postgresql://postgres:pw@``: the user
        # ``postgres``) is part of another URL, not the start of one.
        glued = begin > 0 and (text[begin - 1].isalnum() or text[begin - 1] in ":/@+.-_%")
        if rest not in starts.values() and not glued:
            starts[begin] = rest
    return sorted(starts.items())


def _userinfo_spans(text: str) -> Iterator[tuple[int, int, int, int]]:
    """``(password start, end, URL start, URL end)`` of every URL userinfo password."""
    starts = _url_starts(text)
    for index, (begin, rest) in enumerate(starts):
        limit = starts[index + 1][0] if index + 1 < len(starts) else len(text)
        newline = text.find("\n", rest, limit)
        limit = newline if newline != -1 else limit
        first_at = text.find("@", rest, limit)
        if first_at == -1:
            continue
        # An '@' past the query mark belongs to a parameter value, not to the userinfo.
        query = text.find("?", first_at, limit)
        last_at = text.rfind("@", rest, query if query != -1 else limit)
        colon = text.find(":", rest, last_at)
        if colon != -1:
            token_end = last_at
            while token_end < limit and not text[token_end].isspace():
                token_end += 1
            yield colon + 1, last_at, begin, token_end


def _keyword_spans(text: str) -> Iterator[tuple[int, int, int, int]]:
    lower = text.lower()
    at = lower.find("password")
    while at != -1:
        cursor = _skip_blanks(text, at + len("password"))
        if cursor < len(text) and text[cursor] == "=":
            start = _skip_blanks(text, cursor + 1)
            end = _value_end(text, start)
            if end > start:
                yield start, end, start, end
        at = lower.find("password", at + 1)


def _skip_blanks(text: str, cursor: int) -> int:
    while cursor < len(text) and text[cursor] in " \t":
        cursor += 1
    return cursor


def _value_end(text: str, start: int) -> int:
    """Where a ``password=`` value ends: libpq's quoting, then any words up to ``key=``."""
    cursor = start
    if cursor < len(text) and text[cursor] == "'":
        cursor += 1
        while cursor < len(text) and text[cursor] not in "'\n":
            cursor += 2 if text[cursor] == "\\" else 1
        return min(cursor + 1, len(text))
    while True:
        while cursor < len(text) and not text[cursor].isspace():
            cursor += 1
        # An unquoted value with a space in it: libpq stops at the space, its author did not.
        following = _skip_blanks(text, cursor)
        word_end = following
        while word_end < len(text) and not text[word_end].isspace() and text[word_end] != "=":
            word_end += 1
        if following == cursor or following >= len(text) or text[following] == "\n":
            return cursor
        after_word = _skip_blanks(text, word_end)
        if after_word < len(text) and text[after_word] == "=":
            return cursor
        cursor = word_end


def _hide(text: str, secrets: set[str]) -> str:
    """Hide every occurrence of a secret, and every quoted piece of one, in ``text``."""
    return _hide_pieces(_replace(text, secrets), secrets)


def _hide_pieces(text: str, secrets: set[str]) -> str:
    """Hide every quoted piece of a secret (libpq quotes fragments of what it could not read)."""
    if not secrets:
        return text
    out: list[str] = []
    cursor = 0
    while cursor < len(text):
        quote_char = text[cursor]
        close = text.find(quote_char, cursor + 1) if quote_char in "\"'" else -1
        if close == -1:
            out.append(quote_char)
            cursor += 1
            continue
        inner = text[cursor + 1 : close]
        if inner and inner != _MASK and any(inner in s for s in secrets):
            out.append(f"{quote_char}{_MASK}{quote_char}")
        else:
            out.append(text[cursor : close + 1])
        cursor = close + 1
    return "".join(out)


def _parsed(value: str) -> dict[str, object] | None:
    """``value`` as libpq reads it (``None`` when libpq cannot read it)."""
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    try:
        return dict(conninfo_to_dict(_libpq_form(value)))
    except (Error, ConfigError):
        return None


def is_url(value: str) -> bool:
    """Whether ``value`` is written as a URL (``scheme://...``) rather than ``key=value`` pairs."""
    scheme, sep, _ = value.strip().partition("://")
    return bool(sep) and bool(scheme) and all(c.isalnum() or c in "+.-" for c in scheme)


def _libpq_form(value: str) -> str:
    if is_url(value):
        scheme, _, rest = value.strip().partition("://")
        base = scheme.split("+", 1)[0].lower()
        if base not in ("postgresql", "postgres"):
            raise ConfigError(f"only PostgreSQL URLs are supported, not {base!r}")
        return f"postgresql://{rest}"
    if "=" in value:
        return value
    masked, secrets = _masked(value)
    # Where nothing reads as a password, any of it may be one: the value is not shown.
    shown = f": {masked!r}" if secrets else " (its value is not shown)"
    raise ConfigError(
        "not a database URL (postgresql://...) or connection string (host=... dbname=...)" + shown
    )


def libpq_url(url: str) -> str:
    """Return ``url`` as libpq (psycopg) understands it.

    A URL loses the ``+driver`` of its scheme; a keyword connection string
    (``host=db dbname=auth password='a b'``) is passed through as it is.
    """
    return _libpq_form(url)


def sqlalchemy_url(url: str) -> str:
    """Return ``url`` with the ``postgresql+psycopg`` scheme SQLAlchemy needs for psycopg 3."""
    conninfo = libpq_url(url)
    if is_url(conninfo):
        return "postgresql+psycopg://" + conninfo.partition("://")[2]
    params = {k: str(v) for k, v in connection_params(url).items() if v is not None}
    return "postgresql+psycopg:///?" + urlencode(params, quote_via=quote)


def with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at another database on the same server."""
    conninfo = libpq_url(url)
    if not is_url(conninfo):
        from psycopg.conninfo import make_conninfo

        return make_conninfo(conninfo, dbname=database)
    parts = urlsplit(conninfo)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database), parts.query, ""))


def database_name(url: str) -> str:
    return str(connection_params(url).get("dbname") or "postgres")


def connection_params(url: str) -> dict[str, object]:
    """``url`` parsed by libpq; a string it cannot read is a ``DatabaseUnreachable``."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    conninfo = libpq_url(url)
    try:
        params: dict[str, object] = dict(conninfo_to_dict(conninfo))
    except psycopg.Error as exc:
        reason = scrub(_reason(exc), password_forms(url))
        raise DatabaseUnreachable(
            f"cannot connect to {redact(url)}: not a valid connection string: {reason}"
        ) from None
    if is_url(conninfo):
        _refuse_misread(url, conninfo, params)
    return params


def _refuse_misread(url: str, conninfo: str, params: dict[str, object]) -> None:
    """Refuse a URL whose password libpq reads otherwise than it is written.

    libpq ends the userinfo at the first ``@`` (or ``/``): ``u:p@ss@host`` is the password
    ``p`` on the host ``ss@host``, and the rest of the password would be shown as a host name.
    """
    _, written = _masked(conninfo)
    meant = {unquote(s) for s in written}
    read = params.get("password")
    if written and (read is None or str(read) not in meant):
        raise DatabaseUnreachable(
            f"cannot connect to {redact(url)}: libpq does not read the password as written; "
            "percent-encode '@', '/', '?', '%', ':' and spaces in it (e.g. %40 for '@')"
        )


def _reason(exc: BaseException) -> str:
    # libpq's first line says what failed; the lines after it are hints ("Is the server...").
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def connect(
    url: str, *, autocommit: bool = False, application_name: str = "dualorm"
) -> psycopg.Connection[tuple[object, ...]]:
    """Open a psycopg connection to a URL or keyword connection string.

    A string libpq cannot read and a server that cannot be reached are both a
    ``DatabaseUnreachable`` whose message holds no part of the password.
    """
    import psycopg

    connection_params(url)
    try:
        return psycopg.connect(
            libpq_url(url),
            autocommit=autocommit,
            application_name=application_name,
            connect_timeout=10,
        )
    except psycopg.Error as exc:
        reason = scrub(_reason(exc), password_forms(url))
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
    """Return ``DATABASE_URL`` or, when unset, the embedded server's URL (starting it).

    ``DATABASE_URL`` may be a URL or a keyword connection string (``host=db dbname=auth``);
    anything else is a ``ConfigError`` that shows it without its password.
    """
    if config.database_url:
        try:
            libpq_url(config.database_url)
        except ConfigError as exc:
            raise ConfigError(f"DATABASE_URL is {exc}") from None
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
