"""Data checks on a real database: rows that break a model promise the catalog does not enforce."""

from __future__ import annotations

import pytest

from dualorm import datacheck
from dualorm.datacheck import DataKind, check_data, plan_checks
from dualorm.db import connection
from dualorm.schema import (
    Column,
    ForeignKey,
    PrimaryKey,
    Table,
    UniqueConstraint,
    schema,
    table,
)

LENIENT_DDL = """
CREATE TABLE users (id bigint PRIMARY KEY, email text, nick varchar(100), kind text);
CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint, slug varchar(20));
INSERT INTO users VALUES
    (1, 'a@example.org', 'short', 'oauth'),
    (2, NULL, repeat('x', 60), 'bogus'),
    (3, 'a@example.org', NULL, NULL),
    (4, 'b@example.org', 'fine', 'email');
INSERT INTO posts VALUES (1, 1, 'one'), (2, 99, 'two'), (3, NULL, 'three');
"""

# What the database holds: no NOT NULL, wide columns, no unique, no foreign key.
CATALOG = schema(
    [
        table(
            "users",
            [
                Column("id", "bigint", nullable=False),
                Column("email", "text"),
                Column("nick", "character varying(100)"),
                Column("kind", "text"),
            ],
            primary_key=PrimaryKey("users_pkey", ("id",)),
        ),
        table(
            "posts",
            [
                Column("id", "bigint", nullable=False),
                Column("user_id", "bigint"),
                Column("slug", "character varying(20)"),
            ],
            primary_key=PrimaryKey("posts_pkey", ("id",)),
        ),
    ]
)

# What the model promises.
MODEL = schema(
    [
        table(
            "users",
            [
                Column("id", "bigint", nullable=False),
                Column("email", "character varying(255)", nullable=False),
                Column("nick", "character varying(50)"),
                Column("kind", "character varying(30)", choices=("oauth", "oidc", "email")),
            ],
            primary_key=PrimaryKey("users_pkey", ("id",)),
            uniques=[UniqueConstraint("users_email_key", ("email",))],
        ),
        table(
            "posts",
            [
                Column("id", "bigint", nullable=False),
                Column("user_id", "bigint"),
                Column("slug", "character varying(20)"),
            ],
            primary_key=PrimaryKey("posts_pkey", ("id",)),
            foreign_keys=[ForeignKey("posts_user_id_fkey", ("user_id",), "users", ("id",))],
        ),
    ]
)


def test_every_unenforced_promise_is_checked_with_counts_and_sample_keys(
    database_url: str,
) -> None:
    with connection(database_url, autocommit=True) as conn:
        conn.execute(LENIENT_DDL)
        issues = check_data(conn, MODEL, CATALOG, source="django")
    found = {(i.kind, i.object): (i.count, i.samples) for i in issues}
    assert found == {
        (DataKind.NULL_VIOLATION, "users.email"): (1, ("2",)),
        (DataKind.LENGTH_VIOLATION, "users.nick"): (1, ("2",)),
        (DataKind.CHOICE_VIOLATION, "users.kind"): (1, ("2",)),
        (DataKind.DUPLICATE, "users.users_email_key"): (2, ("1", "3")),
        (DataKind.ORPHAN, "posts.posts_user_id_fkey"): (1, ("2",)),
    }
    assert all(i.source == "django" and i.target == "database" for i in issues)
    # Keys only: no column value of any row reaches the report.
    rendered = repr([i.to_dict() for i in issues])
    assert "a@example.org" not in rendered and "bogus" not in rendered and "xxxxx" not in rendered


def test_only_choices_are_planned_when_the_database_enforces_the_rest() -> None:
    # The database never sees choices, so they are checked whatever the catalog says.
    assert [(c.kind, c.object) for c in plan_checks(MODEL, MODEL)] == [
        (DataKind.CHOICE_VIOLATION, "users.kind")
    ]


def test_enforced_promises_are_not_rechecked(database_url: str) -> None:
    with connection(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE users (id bigint PRIMARY KEY, email varchar(255) NOT NULL UNIQUE,"
            " nick varchar(50), kind varchar(30));"
            "CREATE TABLE posts (id bigint PRIMARY KEY,"
            " user_id bigint REFERENCES users (id), slug varchar(20));"
        )
        strict = MODEL.with_table(_without_choices(MODEL.get("users")))
        catalog = strict.with_table(
            table(
                "posts",
                MODEL.get("posts").columns,  # type: ignore[union-attr]
                primary_key=PrimaryKey("posts_pkey", ("id",)),
                foreign_keys=[ForeignKey("posts_fk", ("user_id",), "users", ("id",))],
            )
        )
        assert check_data(conn, strict, catalog) == []


def _without_choices(t: Table | None) -> Table:
    assert t is not None
    return table(
        t.name,
        [Column(c.name, c.type, c.nullable) for c in t.columns],
        primary_key=t.primary_key,
        uniques=t.uniques,
    )


def test_composite_keys_and_awkward_identifiers_are_quoted(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datacheck, "BATCH", 1)
    odd = 'Odd "Name"; DROP TABLE x'
    with connection(database_url, autocommit=True) as conn:
        conn.execute(
            f'CREATE TABLE "{odd.replace(chr(34), chr(34) * 2)}" '
            '(a int, "B b" int, "Label" text, PRIMARY KEY (a, "B b"))'
        )
        conn.execute(
            f'INSERT INTO "{odd.replace(chr(34), chr(34) * 2)}" VALUES '
            "(1, 2, 'x'), (1, 3, 'x'), (2, 1, NULL)"
        )
        columns = [Column("a", "integer", False), Column("B b", "integer", False)]
        key = PrimaryKey("odd_pkey", ("a", "B b"))
        db = table(odd, [*columns, Column("Label", "text")], primary_key=key)
        model = table(
            odd,
            [*columns, Column("Label", "text", False, choices=("y",))],
            primary_key=key,
            uniques=[UniqueConstraint("odd_label_key", ("Label",))],
        )
        issues = check_data(conn, schema([model]), schema([db]))
    found = {(i.kind, i.count, i.samples) for i in issues}
    assert found == {
        (DataKind.NULL_VIOLATION, 1, ("(2,1)",)),
        (DataKind.CHOICE_VIOLATION, 2, ("(1,2)", "(1,3)")),
        (DataKind.DUPLICATE, 2, ("(1,2)", "(1,3)")),
    }
