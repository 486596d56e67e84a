"""Connections and redaction: libpq reads the string, no part of a password reaches a message."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from dualorm.backup.dump import ClientTarget
from dualorm.config import Config
from dualorm.db import (
    connect,
    database_name,
    redact,
    redact_text,
    resolve_url,
    sqlalchemy_url,
    with_database,
)
from dualorm.errors import ConfigError, DatabaseUnreachable, DualormError

PASSWORD = "S3cr3t pa:ss@w,rd%"
ENCODED = quote(PASSWORD, safe="")

# Each value carries PASSWORD (or a piece of it, for the short ones) in another way of writing.
LEAKY = {
    "url, percent-encoded": f"postgresql://app:{ENCODED}@127.0.0.1:1/auth",
    "url, written as is": f"postgresql://app:{PASSWORD}@127.0.0.1:1/auth",
    "url, a space": "postgresql://app:pa ss@127.0.0.1:1/auth",
    "url, an unencoded @": "postgresql://app:p@zzq9@127.0.0.1:1/auth",
    "url, an unencoded /": "postgresql://app:pa/zzq9@127.0.0.1:1/auth",
    "url, the user is postgres": "postgresql://postgres:hunter2x@127.0.0.1:1/postgres",
    "url with a driver": f"postgresql+psycopg://app:{ENCODED}@127.0.0.1:1/auth",
    "url, password in the query": f"postgresql://app@127.0.0.1:1/auth?password={ENCODED}",
    "url, raw password in the query": f"postgresql://app@127.0.0.1:1/auth?password={PASSWORD}",
    "malformed url, no colon": "postgresql//app:hunter2x@127.0.0.1/auth",
    "malformed url, one slash": "postgres:/app:hunter2x@127.0.0.1/auth",
    "keyword, quoted with spaces": f"host=127.0.0.1 port=1 password = '{PASSWORD}' user=app",
    "keyword, no spaces": "host=127.0.0.1 port=1 password=hunter2x user=app",
    "keyword, unquoted space": "host=127.0.0.1 port=1 password=hunter2x m0re9 user=app",
}
PIECES = ("S3cr3t", "pa:ss", "w,rd", ENCODED, "pa ss", "zzq9", "hunter2x", "m0re9")


def assert_clean(text: str) -> None:
    for piece in PIECES:
        assert piece not in text, f"{piece!r} leaked in {text!r}"


@pytest.mark.parametrize("value", LEAKY.values(), ids=LEAKY.keys())
def test_redact_hides_every_password_form(value: str) -> None:
    assert_clean(redact(value))
    assert "***" in redact(value)
    # Redacting twice (a message redacted again by the CLI) hides nothing more.
    assert redact_text(redact(value)) == redact(value)
    assert "127.0.0.1" in redact(value)
    assert_clean(redact_text(f"error: could not use {value} (timeout)\nnext line"))


def test_redact_keeps_what_is_not_secret() -> None:
    assert redact("postgresql://app:s3cret@db:5432/auth") == "postgresql://app:***@db:5432/auth"
    assert redact("host=db password = 'a b' user=app") == "host=db password = *** user=app"
    assert redact("postgresql://app@db/auth?application_name=x@y") == (
        "postgresql://app@db/auth?application_name=x@y"
    )
    assert redact_text('role "postgres" does not exist; password authentication failed') == (
        'role "postgres" does not exist; password authentication failed'
    )
    # The common development password: the user and the database keep their names.
    same = "postgresql://postgres:postgres@127.0.0.1:1/postgres"
    assert redact(same) == "postgresql://postgres:***@127.0.0.1:1/postgres"
    assert redact_text(f"cannot reach {same}") == f"cannot reach {redact(same)}"
    with pytest.raises(DatabaseUnreachable) as info:
        connect(same)
    assert str(info.value).startswith(f"cannot connect to {redact(same)}: ")
    keyword = "host=h user=postgres password=postgres dbname=postgres"
    assert redact(keyword) == "host=h user=postgres password=*** dbname=postgres"
    two = "a postgresql://a:one1@h1/db,postgresql://b:two2@h2/db b"
    assert redact_text(two) == "a postgresql://a:***@h1/db,postgresql://b:***@h2/db b"


@pytest.mark.parametrize("value", LEAKY.values(), ids=LEAKY.keys())
def test_connect_turns_every_bad_or_unreachable_string_into_one_error(value: str) -> None:
    with pytest.raises((DatabaseUnreachable, ConfigError)) as info:
        connect(value)
    assert info.value.exit_code == 2
    assert_clean(str(info.value))


def test_a_parse_error_quoting_a_piece_of_the_password_hides_it() -> None:
    # libpq answers `missing "=" after "m0re9"`: the second word of the password.
    with pytest.raises(DatabaseUnreachable, match="not a valid connection string") as info:
        connect("host=127.0.0.1 password=hunter2x m0re9 user=app")
    assert_clean(str(info.value))


def test_an_unencoded_at_sign_is_refused_before_libpq_shows_it_as_a_host() -> None:
    with pytest.raises(DatabaseUnreachable, match="percent-encode") as info:
        connect("postgresql://app:p@zzq9@127.0.0.1:1/auth")
    assert "zzq9" not in str(info.value)


def test_unreachable_database_message_has_no_password() -> None:
    url = "postgresql://app:hunter2@127.0.0.1:1/x"
    with pytest.raises(DatabaseUnreachable) as info:
        connect(url)
    assert "hunter2" not in str(info.value)
    assert redact(url) in str(info.value)
    assert "Connection refused" in str(info.value)


def test_a_keyword_dsn_is_a_database_url(database_url: str) -> None:
    with connect(database_url) as conn:
        info = conn.info
        host, port, user, dbname = info.host, info.port, info.user, info.dbname
    keyword = f"host={host} port={port} user={user} dbname='{dbname}' password='{PASSWORD}'"
    assert resolve_url(Config(database_url=keyword)) == keyword
    with connect(keyword) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (dbname,)
    assert database_name(keyword) == dbname
    assert database_name(with_database(keyword, "other")) == "other"
    assert sqlalchemy_url(keyword).startswith("postgresql+psycopg://")
    target = ClientTarget.from_url(keyword)
    assert target.env["PGPASSWORD"] == PASSWORD
    assert PASSWORD not in target.conninfo and PASSWORD not in repr(target)


def test_a_string_of_neither_form_is_bad_input_without_its_password() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is not a database URL") as info:
        resolve_url(Config(database_url="postgresql//app:hunter2x@db/auth"))
    assert_clean(str(info.value))
    assert "postgresql//app:***@db/auth" in str(info.value)
    # Nothing in it reads as a password, so all of it may be one: it is not shown at all.
    with pytest.raises(ConfigError, match="not shown") as info:
        resolve_url(Config(database_url="::hunter2x::"))
    assert_clean(str(info.value))
    with pytest.raises(ConfigError, match="only PostgreSQL"):
        resolve_url(Config(database_url="mysql://app:hunter2x@db/auth"))


def test_backup_scrub_is_the_same_redaction() -> None:
    target = ClientTarget.from_url(f"postgresql://app:{ENCODED}@127.0.0.1:1/auth")
    text = (
        f'pg_dump: error: connection to "host=127.0.0.1 password={PASSWORD}" failed: '
        f'"{PASSWORD[:6]}" postgresql://app:{ENCODED}@127.0.0.1:1/auth'
    )
    assert_clean(target.scrub(text))
    assert isinstance(DatabaseUnreachable("x"), DualormError)
