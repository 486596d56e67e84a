"""The bulk helpers on a real database: upsert by natural key, COPY in both formats, merge."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from dualorm.db import connect
from dualorm.errors import SeedError
from dualorm.seeding import copy_rows, merge_rows, upsert

DDL = """
CREATE TABLE items (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code varchar(20) NOT NULL UNIQUE,
    label text,
    data jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE TABLE people (
    id uuid PRIMARY KEY,
    email varchar(255) NOT NULL UNIQUE,
    tags jsonb NOT NULL,
    born timestamptz
);
"""


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(database_url) as connection:
        connection.execute(DDL)
        connection.commit()
        yield connection


def _versions(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT code, xmin::text, label FROM items ORDER BY code").fetchall()


def test_upsert_inserts_then_leaves_identical_rows_untouched(
    conn: psycopg.Connection[Any],
) -> None:
    rows = [{"code": f"c{i}", "label": f"item {i}", "data": {"n": i}} for i in range(1200)]
    first = upsert(conn, "items", rows, key=["code"], update=True)
    conn.commit()
    assert len(first.inserted) == 1200 and first.updated == 0
    before = _versions(conn)
    again = upsert(conn, "items", rows, key=["code"], update=True)
    conn.commit()
    assert again.inserted == () and again.updated == 0
    assert _versions(conn) == before


def test_upsert_updates_only_changed_rows_and_reports_inserted_keys(
    conn: psycopg.Connection[Any],
) -> None:
    upsert(conn, "items", [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}], key=["code"])
    result = upsert(
        conn,
        "items",
        [{"code": "a", "label": "A"}, {"code": "b", "label": "B2"}, {"code": "c", "label": "C"}],
        key=["code"],
        update=["label"],
    )
    assert result.updated == 1 and len(result.inserted) == 1
    row = conn.execute("SELECT code FROM items WHERE id = %s", result.inserted[0]).fetchone()
    assert row == ("c",)
    kept = upsert(conn, "items", [{"code": "a", "label": "changed"}], key=["code"])
    assert kept.inserted == () and kept.updated == 0
    assert conn.execute("SELECT label FROM items WHERE code = 'a'").fetchone() == ("A",)


@pytest.mark.parametrize("fmt", ["binary", "text"])
def test_copy_rows_loads_every_type_and_reports_progress(
    conn: psycopg.Connection[Any], fmt: Any
) -> None:
    rows = [(uuid.uuid4(), f"p{i}@example.com", ["a", {"i": i}], None) for i in range(25_000)]
    seen: list[int] = []
    count = copy_rows(
        conn, "people", ("id", "email", "tags", "born"), rows, format=fmt, progress=seen.append
    )
    assert count == 25_000 and seen == [10_000, 20_000, 25_000]
    assert conn.execute("SELECT tags FROM people WHERE email = 'p7@example.com'").fetchone() == (
        ["a", {"i": 7}],
    )


def test_merge_rows_skips_existing_keys_and_returns_the_added_ones(
    conn: psycopg.Connection[Any],
) -> None:
    rows = [(uuid.uuid4(), f"m{i}@example.com", [], None) for i in range(10)]
    first = merge_rows(conn, "people", ("id", "email", "tags", "born"), rows[:6])
    second = merge_rows(conn, "people", ("id", "email", "tags", "born"), rows)
    conn.commit()
    assert sorted(k[0] for k in first.inserted) == sorted(r[0] for r in rows[:6])
    assert sorted(k[0] for k in second.inserted) == sorted(r[0] for r in rows[6:])
    assert second.rows_in == 10
    assert conn.execute("SELECT count(*) FROM people").fetchone() == (10,)


def test_bad_input_names_the_table_and_column(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(SeedError, match="public.nowhere does not exist"):
        copy_rows(conn, "nowhere", ("id",), [])
    with pytest.raises(SeedError, match="public.people has no column.*colour"):
        copy_rows(conn, "people", ("id", "colour"), [])
    with pytest.raises(SeedError, match="row 2"):
        upsert(conn, "items", [{"code": "a"}, {"code": "b", "label": "x"}], key=["code"])
    with pytest.raises(SeedError, match="format"):
        copy_rows(conn, "people", ("id",), [], format="csv")  # type: ignore[arg-type]
