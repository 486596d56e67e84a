"""Server-side normalisation: a model's expressions come out exactly as the catalog prints them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from dualorm.db import connect
from dualorm.errors import ExpressionRejected, UsageError
from dualorm.normalize import normalize
from dualorm.schema import (
    CheckConstraint,
    Column,
    Identity,
    Index,
    PrimaryKey,
    Schema,
    Table,
    UniqueConstraint,
    schema,
    table,
)
from dualorm.sources import postgres

DDL = """
CREATE SCHEMA auth;
CREATE TABLE members (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    status varchar(20) NOT NULL DEFAULT 'active',
    is_active boolean NOT NULL DEFAULT true,
    settings jsonb NOT NULL DEFAULT '{}'::jsonb,
    joined_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    seen_at timestamptz DEFAULT now(),
    score numeric(6,2) DEFAULT 0,
    tags text[] DEFAULT '{}',
    revoked_at timestamptz,
    email text NOT NULL,
    CONSTRAINT members_status_check CHECK (status IN ('a', 'b')),
    CONSTRAINT members_score_check CHECK (score BETWEEN 0 AND 100),
    CONSTRAINT members_email_key UNIQUE (email)
);
CREATE INDEX members_live_idx ON members (joined_at) WHERE revoked_at IS NULL;
CREATE INDEX members_active_idx ON members (seen_at) WHERE is_active;
CREATE UNIQUE INDEX members_email_lower_idx ON members (lower(email));
CREATE INDEX members_plain_idx ON members (status, joined_at);
CREATE TABLE auth.members (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind varchar(10) DEFAULT 'user',
    CONSTRAINT members_kind_check CHECK (members.kind <> '')
);
"""


def model_side() -> Schema:
    """The schema of ``DDL`` as a model states it, before the server has had its say."""
    members = table(
        "members",
        [
            Column("id", "uuid", nullable=False, default="gen_random_uuid()"),
            Column("status", "character varying(20)", nullable=False, default="'active'"),
            Column("is_active", "boolean", nullable=False, default="true"),
            Column("settings", "jsonb", nullable=False, default="'{}'::jsonb"),
            Column(
                "joined_at", "timestamp with time zone", nullable=False, default="CURRENT_TIMESTAMP"
            ),
            Column("seen_at", "timestamp with time zone", default="now()"),
            Column("score", "numeric(6,2)", default="0"),
            Column("tags", "text[]", default="'{}'"),
            Column("revoked_at", "timestamp with time zone"),
            Column("email", "text", nullable=False),
        ],
        primary_key=PrimaryKey("members_pkey", ("id",)),
        uniques=[UniqueConstraint("members_email_key", ("email",))],
        checks=[
            CheckConstraint("members_status_check", "status IN ('a', 'b')"),
            CheckConstraint("members_score_check", "score BETWEEN 0 AND 100"),
        ],
        indexes=[
            Index("members_live_idx", ("joined_at",), where="revoked_at IS NULL"),
            Index("members_active_idx", ("seen_at",), where="is_active"),
            Index("members_email_lower_idx", ("lower(email)",), unique=True),
            Index("members_plain_idx", ("status", "joined_at")),
        ],
    )
    auth_members = table(
        "members",
        [
            Column("id", "bigint", nullable=False, identity=Identity.ALWAYS),
            Column("kind", "character varying(10)", default="'user'"),
        ],
        schema="auth",
        primary_key=PrimaryKey("members_pkey", ("id",)),
        checks=[CheckConstraint("members_kind_check", "members.kind <> ''")],
    )
    return schema([members, auth_members])


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(database_url) as conn:
        conn.execute(DDL)
        conn.commit()
        yield conn


def test_the_model_side_equals_the_catalog_of_the_same_ddl(
    conn: psycopg.Connection[Any],
) -> None:
    catalog = postgres.load(conn, schemas=("public", "auth"))
    model = model_side()
    assert model != catalog
    assert normalize(model, conn) == catalog


@pytest.mark.parametrize(
    ("type_", "written"),
    [
        ("timestamp with time zone", "CURRENT_TIMESTAMP"),
        ("timestamp with time zone", "now()"),
        ("character varying(20)", "'active'"),
        ("boolean", "true"),
        ("jsonb", "'{}'::jsonb"),
        ("uuid", "gen_random_uuid()"),
        ("text[]", "'{}'"),
        ("numeric(6,2)", "0"),
    ],
)
def test_a_default_comes_out_as_the_catalog_prints_it(
    conn: psycopg.Connection[Any], type_: str, written: str
) -> None:
    conn.execute(f"CREATE TABLE one (v {type_} DEFAULT {written})")
    catalog = postgres.load(conn).get("one")
    model = schema([table("one", [Column("v", type_, default=written)])])
    assert normalize(model, conn).get("one") == catalog


def test_checks_and_predicates_take_the_servers_spelling(conn: psycopg.Connection[Any]) -> None:
    members = normalize(model_side(), conn).get("members")
    assert members is not None
    checks = {c.name: c.expression for c in members.checks}
    assert checks["members_status_check"].startswith("((status)::text = ANY ((ARRAY[")
    indexes = {i.name: i for i in members.indexes}
    assert indexes["members_live_idx"].where == "(revoked_at IS NULL)"
    assert indexes["members_active_idx"].where == "is_active"
    assert indexes["members_email_lower_idx"].columns == ("lower(email)",)


def test_canonical_expressions_pass_through(conn: psycopg.Connection[Any]) -> None:
    catalog = postgres.load(conn, schemas=("public", "auth"))
    # PostgreSQL itself re-prints an IN list over varchar differently once its own output is
    # parsed again, so that check is left out: every other canonical value is a fixed point.
    stable = schema(
        Table(
            t.name,
            t.schema,
            t.columns,
            t.primary_key,
            t.uniques,
            tuple(c for c in t.checks if c.name != "members_status_check"),
            t.foreign_keys,
            t.indexes,
            t.comment,
        )
        for t in catalog
    )
    assert normalize(stable, conn) == stable


def test_nothing_to_ask_means_no_round_trip(conn: psycopg.Connection[Any]) -> None:
    plain = schema([table("t", [Column("id", "integer", nullable=False)])])
    conn.close()
    assert normalize(plain, conn) is plain


def test_the_schema_and_connection_are_left_as_they_were(conn: psycopg.Connection[Any]) -> None:
    before = postgres.load(conn, schemas=("public", "auth", "pg_temp"))
    conn.commit()
    normalize(model_side(), conn)
    assert conn.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
    assert postgres.load(conn, schemas=("public", "auth", "pg_temp")) == before


def test_inside_a_callers_transaction_only_a_savepoint_is_rolled_back(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute("CREATE TABLE pending (id integer)")
    normalize(model_side(), conn)
    assert conn.info.transaction_status is psycopg.pq.TransactionStatus.INTRANS
    assert "pending" in postgres.load(conn)


def test_more_defaults_than_one_table_can_hold(conn: psycopg.Connection[Any]) -> None:
    wide = [
        table(
            f"t{i}", [Column(f"c{j}", "integer", default=f"{i * 100 + j} + 0") for j in range(100)]
        )
        for i in range(25)
    ]
    result = normalize(schema(wide), conn)
    first = result.get("t0")
    last = result.get("t24")
    assert first is not None and last is not None
    assert first.columns[0].default == "(0 + 0)"
    assert last.columns[99].default == "(2499 + 0)"


def test_identity_columns_keep_what_the_model_says(conn: psycopg.Connection[Any]) -> None:
    odd = Column("id", "bigint", nullable=False, default="1", identity=Identity.BY_DEFAULT)
    result = normalize(schema([table("t", [odd])]), conn)
    assert result.get("t") == table("t", [odd])


def test_a_null_default_is_no_default(conn: psycopg.Connection[Any]) -> None:
    result = normalize(schema([table("t", [Column("note", "text", default="NULL")])]), conn)
    assert result.get("t") == table("t", [Column("note", "text")])


def expect_rejected(
    conn: psycopg.Connection[Any], model: Schema, *fragments: str
) -> ExpressionRejected:
    before = postgres.load(conn, schemas=("public", "auth", "pg_temp"))
    conn.rollback()
    with pytest.raises(ExpressionRejected) as caught:
        normalize(model, conn)
    assert isinstance(caught.value, UsageError)
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert conn.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
    assert postgres.load(conn, schemas=("public", "auth", "pg_temp")) == before
    return caught.value


def test_a_rejected_default_names_its_column(conn: psycopg.Connection[Any]) -> None:
    model = model_side().with_table(
        table("broken", [Column("n", "integer", default="'abc'"), Column("ok", "text")])
    )
    error = expect_rejected(conn, model, "broken.n default", "'abc'", "invalid input syntax")
    assert error.expression == "'abc'"


def test_a_default_of_the_wrong_type_names_its_column(conn: psycopg.Connection[Any]) -> None:
    model = schema([table("broken", [Column("n", "integer", default="now()")])])
    expect_rejected(conn, model, "broken.n default", "now()")


def test_a_rejected_check_names_its_constraint(conn: psycopg.Connection[Any]) -> None:
    model = schema(
        [
            table(
                "broken",
                [Column("n", "integer")],
                checks=[CheckConstraint("broken_n_check", "missing > 0")],
            )
        ]
    )
    expect_rejected(conn, model, "broken check broken_n_check", "missing > 0", "does not exist")


def test_a_rejected_predicate_names_its_index(conn: psycopg.Connection[Any]) -> None:
    model = schema(
        [
            table(
                "broken",
                [Column("n", "integer")],
                indexes=[Index("broken_n_idx", ("n",), where="n >")],
            )
        ]
    )
    expect_rejected(conn, model, "broken index broken_n_idx predicate", "n >", "syntax error")


def test_a_rejected_index_expression_names_its_index(conn: psycopg.Connection[Any]) -> None:
    model = schema(
        [
            table(
                "broken",
                [Column("n", "integer")],
                indexes=[Index("broken_idx", ("n::float8 + random()",))],
            )
        ]
    )
    expect_rejected(conn, model, "broken index broken_idx", "random()", "IMMUTABLE")


def test_an_unknown_type_names_its_column(conn: psycopg.Connection[Any]) -> None:
    model = schema([table("broken", [Column("n", "no_such_type", default="1")])])
    expect_rejected(conn, model, "broken.n type", "no_such_type", "does not exist")


def test_normalize_all_keeps_what_the_server_refuses_and_spells_the_rest(
    conn: psycopg.Connection[Any],
) -> None:
    from dualorm.normalize import normalize_all

    broken = table(
        "broken",
        [
            Column("n", "integer", default="'abc'"),
            Column("m", "integer", default="nextval('no_such_seq'::regclass)"),
            Column("ok", "integer", default="1 + 1"),
        ],
        checks=[
            CheckConstraint("broken_missing_check", "missing > 0"),
            CheckConstraint("broken_ok_check", "ok > 0"),
        ],
        indexes=[Index("broken_n_idx", ("n",), where="n >")],
    )
    result, rejections = normalize_all(model_side().with_table(broken), conn)
    assert conn.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
    assert result.without("broken") == postgres.load(conn, schemas=("public", "auth"))
    assert [(r.object, r.what, r.expression) for r in rejections] == [
        ("broken.n", "default", "'abc'"),
        ("broken.m", "default", "nextval('no_such_seq'::regclass)"),
        ("broken.broken_missing_check", "check", "missing > 0"),
        ("broken.broken_n_idx", "index predicate", "n >"),
    ]
    read = result.get("broken")
    assert read is not None
    assert [c.default for c in read.columns] == [
        "'abc'",
        "nextval('no_such_seq'::regclass)",
        "(1 + 1)",
    ]
    assert {c.name: c.expression for c in read.checks} == {
        "broken_missing_check": "missing > 0",
        "broken_ok_check": "(ok > 0)",
    }
