import pytest

from dualorm.db import connect, redact
from dualorm.errors import DatabaseUnreachable


def test_fresh_database_is_empty(database_url: str) -> None:
    with connect(database_url) as conn:
        n = conn.execute("select count(*) from pg_tables where schemaname='public'").fetchone()
    assert n == (0,)


def test_unreachable_database_message_has_no_password() -> None:
    url = "postgresql://app:hunter2@127.0.0.1:1/x"
    with pytest.raises(DatabaseUnreachable) as info:
        connect(url)
    assert "hunter2" not in str(info.value)
    assert redact(url) in str(info.value)
