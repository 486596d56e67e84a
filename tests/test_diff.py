"""The diff engine on hand-built schemas: one row per kind of disagreement, no database."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dualorm.diff import PHASES, Difference, DiffKind, Severity, compare
from dualorm.ownership import Ownership
from dualorm.schema import (
    CheckConstraint,
    Column,
    FkAction,
    ForeignKey,
    Identity,
    Index,
    PrimaryKey,
    Schema,
    Table,
    UniqueConstraint,
    schema,
    table,
)


def users(**changes: object) -> Table:
    base = table(
        "users",
        [
            Column("id", "bigint", nullable=False, identity=Identity.BY_DEFAULT),
            Column("email", "character varying(255)", nullable=False),
            Column("status", "character varying(20)", nullable=False, default="'active'::text"),
            Column("created_at", "timestamp with time zone", nullable=False, default="now()"),
        ],
        primary_key=PrimaryKey("users_pkey", ("id",)),
        uniques=[UniqueConstraint("users_email_key", ("email",))],
        checks=[CheckConstraint("users_status_check", "(status)::text <> ''::text")],
        indexes=[Index("users_created_at_idx", ("created_at",))],
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def sessions(**changes: object) -> Table:
    base = table(
        "sessions",
        [
            Column("id", "bigint", nullable=False, identity=Identity.BY_DEFAULT),
            Column("user_id", "bigint", nullable=False),
        ],
        primary_key=PrimaryKey("sessions_pkey", ("id",)),
        foreign_keys=[
            ForeignKey(
                "sessions_user_id_fkey",
                ("user_id",),
                "users",
                ("id",),
                on_delete=FkAction.CASCADE,
            )
        ],
        indexes=[Index("sessions_user_id_idx", ("user_id",))],
    )
    return replace(base, **changes)  # type: ignore[arg-type]


BASE = schema([users(), sessions()])


def with_users(**changes: object) -> Schema:
    return BASE.with_table(users(**changes))


def with_sessions(**changes: object) -> Schema:
    return BASE.with_table(sessions(**changes))


def col(t: Table, name: str, **changes: object) -> tuple[Column, ...]:
    return tuple(replace(c, **changes) if c.name == name else c for c in t.columns)  # type: ignore[arg-type]


FK = sessions().foreign_keys[0]

# (id, source schema, target schema, expected (kind, object, severity) set, detail fragment)
CASES: list[tuple[str, Schema, Schema, set[tuple[DiffKind, str, Severity]], str]] = [
    ("identical", BASE, BASE, set(), ""),
    (
        "missing_table",
        BASE,
        BASE.without("sessions"),
        {(DiffKind.MISSING_TABLE, "sessions", Severity.ERROR)},
        "not in database",
    ),
    (
        "extra_table",
        BASE.without("sessions"),
        BASE,
        {(DiffKind.EXTRA_TABLE, "sessions", Severity.ERROR)},
        "not in sqlalchemy",
    ),
    (
        "other_schema_table",
        BASE,
        BASE.with_table(replace(users(), schema="auth")),
        {(DiffKind.EXTRA_TABLE, "auth.users", Severity.ERROR)},
        "auth.users",
    ),
    (
        "missing_column",
        BASE,
        with_users(columns=users().columns[:-1]),
        {(DiffKind.MISSING_COLUMN, "users.created_at", Severity.ERROR)},
        "timestamp with time zone",
    ),
    (
        "extra_column",
        with_users(columns=users().columns[:-1]),
        BASE,
        {(DiffKind.EXTRA_COLUMN, "users.created_at", Severity.ERROR)},
        "not in sqlalchemy",
    ),
    (
        "type_mismatch",
        BASE,
        with_users(columns=col(users(), "email", type="character varying(100)")),
        {(DiffKind.TYPE_MISMATCH, "users.email", Severity.ERROR)},
        "character varying(255) in sqlalchemy but character varying(100) in database",
    ),
    (
        "nullability_mismatch",
        BASE,
        with_users(columns=col(users(), "email", nullable=True)),
        {(DiffKind.NULLABILITY_MISMATCH, "users.email", Severity.ERROR)},
        "NOT NULL in sqlalchemy but NULL in database",
    ),
    (
        "default_mismatch",
        BASE,
        with_users(columns=col(users(), "created_at", default=None)),
        {(DiffKind.DEFAULT_MISMATCH, "users.created_at", Severity.ERROR)},
        "now() in sqlalchemy but no default",
    ),
    (
        "identity_vs_serial",
        BASE,
        with_users(
            columns=col(users(), "id", identity=None, default="nextval('users_id_seq'::regclass)")
        ),
        {(DiffKind.IDENTITY_MISMATCH, "users.id", Severity.ERROR)},
        "serial column (sequence default) in database",
    ),
    (
        "serial_vs_identity",
        with_users(
            columns=col(users(), "id", identity=None, default="nextval('users_id_seq'::regclass)")
        ),
        BASE,
        {(DiffKind.IDENTITY_MISMATCH, "users.id", Severity.ERROR)},
        "serial column (sequence default) in sqlalchemy but an identity column",
    ),
    (
        "identity_kind",
        BASE,
        with_users(columns=col(users(), "id", identity=Identity.ALWAYS)),
        {(DiffKind.IDENTITY_MISMATCH, "users.id", Severity.ERROR)},
        "identity (by default) in sqlalchemy, identity (always) in database",
    ),
    (
        "primary_key_columns",
        BASE,
        with_users(primary_key=PrimaryKey("users_pkey", ("id", "email"))),
        {(DiffKind.PRIMARY_KEY_MISMATCH, "users", Severity.ERROR)},
        "(id) in sqlalchemy but (id, email) in database",
    ),
    (
        "primary_key_absent",
        BASE,
        with_users(primary_key=None),
        {(DiffKind.PRIMARY_KEY_MISMATCH, "users", Severity.ERROR)},
        "(none) in database",
    ),
    (
        "primary_key_name",
        BASE,
        with_users(primary_key=PrimaryKey("users_pk", ("id",))),
        {(DiffKind.NAME_MISMATCH, "users.users_pkey", Severity.WARNING)},
        "only the name differs",
    ),
    (
        "missing_index",
        BASE,
        with_users(indexes=()),
        {(DiffKind.MISSING_INDEX, "users.users_created_at_idx", Severity.ERROR)},
        "btree (created_at)",
    ),
    (
        "extra_index",
        with_users(indexes=()),
        BASE,
        {(DiffKind.EXTRA_INDEX, "users.users_created_at_idx", Severity.ERROR)},
        "not in sqlalchemy",
    ),
    (
        "index_mismatch",
        BASE,
        with_users(indexes=(Index("users_created_at_idx", ("created_at",), where="(id > 0)"),)),
        {(DiffKind.INDEX_MISMATCH, "users.users_created_at_idx", Severity.ERROR)},
        "WHERE (id > 0)",
    ),
    (
        "index_include_mismatch",
        BASE,
        with_users(indexes=(Index("users_created_at_idx", ("created_at",), include=("id",)),)),
        {(DiffKind.INDEX_MISMATCH, "users.users_created_at_idx", Severity.ERROR)},
        "INCLUDE (id)",
    ),
    (
        "index_order_mismatch",
        BASE,
        with_users(indexes=(Index("users_created_at_idx", ("created_at",), orders=("DESC",)),)),
        {(DiffKind.INDEX_MISMATCH, "users.users_created_at_idx", Severity.ERROR)},
        "(created_at DESC)",
    ),
    (
        "index_name_only",
        BASE,
        with_users(indexes=(Index("ix_users_created_at", ("created_at",)),)),
        {(DiffKind.NAME_MISMATCH, "users.users_created_at_idx", Severity.WARNING)},
        "ix_users_created_at",
    ),
    (
        "invalid_index",
        BASE,
        with_users(indexes=(Index("users_created_at_idx", ("created_at",), valid=False),)),
        {(DiffKind.INVALID_INDEX, "users.users_created_at_idx", Severity.WARNING)},
        "invalid in database",
    ),
    (
        "django_like_index",
        with_users(
            indexes=(
                *users().indexes,
                Index("users_email_8f1e3b_like", ("email varchar_pattern_ops",)),
            )
        ),
        BASE,
        {(DiffKind.MISSING_INDEX, "users.users_email_8f1e3b_like", Severity.WARNING)},
        "varchar_pattern_ops",
    ),
    (
        "missing_unique",
        BASE,
        with_users(uniques=()),
        {(DiffKind.MISSING_CONSTRAINT, "users.users_email_key", Severity.ERROR)},
        "UNIQUE (email)",
    ),
    (
        "extra_unique",
        with_users(uniques=()),
        BASE,
        {(DiffKind.EXTRA_CONSTRAINT, "users.users_email_key", Severity.ERROR)},
        "not in sqlalchemy",
    ),
    (
        "unique_by_index",
        BASE,
        with_users(
            uniques=(),
            indexes=(*users().indexes, Index("users_email_uniq", ("email",), unique=True)),
        ),
        {
            (DiffKind.CONSTRAINT_MISMATCH, "users.users_email_key", Severity.WARNING),
            (DiffKind.EXTRA_INDEX, "users.users_email_uniq", Severity.ERROR),
        },
        "enforced by the unique index users_email_uniq",
    ),
    (
        "unique_by_same_named_index",
        BASE,
        with_users(
            uniques=(),
            indexes=(*users().indexes, Index("users_email_key", ("email",), unique=True)),
        ),
        {(DiffKind.CONSTRAINT_MISMATCH, "users.users_email_key", Severity.ERROR)},
        "statements naming the constraint users_email_key fail in database",
    ),
    (
        "unique_columns",
        BASE,
        with_users(uniques=(UniqueConstraint("users_email_key", ("email", "status")),)),
        {(DiffKind.CONSTRAINT_MISMATCH, "users.users_email_key", Severity.ERROR)},
        "UNIQUE (email, status) in database",
    ),
    (
        "unique_name_only",
        BASE,
        with_users(uniques=(UniqueConstraint("uq_users_email", ("email",)),)),
        {(DiffKind.NAME_MISMATCH, "users.users_email_key", Severity.WARNING)},
        "uq_users_email",
    ),
    (
        "missing_check",
        BASE,
        with_users(checks=()),
        {(DiffKind.MISSING_CONSTRAINT, "users.users_status_check", Severity.ERROR)},
        "CHECK ((status)::text <> ''::text)",
    ),
    (
        "extra_check",
        with_users(checks=()),
        BASE,
        {(DiffKind.EXTRA_CONSTRAINT, "users.users_status_check", Severity.ERROR)},
        "not in sqlalchemy",
    ),
    (
        "check_expression",
        BASE,
        with_users(checks=(CheckConstraint("users_status_check", "(status IS NOT NULL)"),)),
        {(DiffKind.CONSTRAINT_MISMATCH, "users.users_status_check", Severity.ERROR)},
        "CHECK ((status IS NOT NULL)) in database",
    ),
    (
        "check_not_valid",
        BASE,
        with_users(checks=(replace(users().checks[0], validated=False),)),
        {(DiffKind.NOT_VALIDATED_CONSTRAINT, "users.users_status_check", Severity.WARNING)},
        "NOT VALID in database",
    ),
    (
        "missing_fk",
        BASE,
        with_sessions(foreign_keys=()),
        {(DiffKind.MISSING_CONSTRAINT, "sessions.sessions_user_id_fkey", Severity.ERROR)},
        "(user_id) REFERENCES users (id)",
    ),
    (
        "extra_fk",
        with_sessions(foreign_keys=()),
        BASE,
        {(DiffKind.EXTRA_CONSTRAINT, "sessions.sessions_user_id_fkey", Severity.ERROR)},
        "not in sqlalchemy",
    ),
    (
        "fk_target",
        BASE,
        with_sessions(foreign_keys=(replace(FK, ref_columns=("email",)),)),
        {(DiffKind.CONSTRAINT_MISMATCH, "sessions.sessions_user_id_fkey", Severity.ERROR)},
        "REFERENCES users (email) in database",
    ),
    (
        "fk_on_delete",
        BASE,
        with_sessions(foreign_keys=(replace(FK, on_delete=FkAction.SET_NULL),)),
        {(DiffKind.FK_ACTION_MISMATCH, "sessions.sessions_user_id_fkey", Severity.ERROR)},
        "ON DELETE CASCADE in sqlalchemy but ON DELETE SET NULL in database",
    ),
    (
        "fk_on_update",
        BASE,
        with_sessions(foreign_keys=(replace(FK, on_update=FkAction.CASCADE),)),
        {(DiffKind.FK_ACTION_MISMATCH, "sessions.sessions_user_id_fkey", Severity.ERROR)},
        "ON UPDATE CASCADE in database",
    ),
    (
        "fk_deferrable",
        BASE,
        with_sessions(foreign_keys=(replace(FK, deferrable=True),)),
        {(DiffKind.CONSTRAINT_MISMATCH, "sessions.sessions_user_id_fkey", Severity.ERROR)},
        "DEFERRABLE INITIALLY IMMEDIATE in database",
    ),
    (
        "fk_not_valid",
        BASE,
        with_sessions(foreign_keys=(replace(FK, validated=False),)),
        {(DiffKind.NOT_VALIDATED_CONSTRAINT, "sessions.sessions_user_id_fkey", Severity.WARNING)},
        "NOT VALID",
    ),
    (
        "django_fk_emulated_cascade",
        BASE,
        with_sessions(
            foreign_keys=(
                replace(
                    FK,
                    name="sessions_user_id_5e7b2a1c_fk_users_id",
                    on_delete=FkAction.NO_ACTION,
                    emulated_on_delete=FkAction.CASCADE,
                    deferrable=True,
                    initially_deferred=True,
                ),
            )
        ),
        {
            (DiffKind.NAME_MISMATCH, "sessions.sessions_user_id_fkey", Severity.WARNING),
            (DiffKind.FK_ACTION_MISMATCH, "sessions.sessions_user_id_fkey", Severity.WARNING),
            (DiffKind.CONSTRAINT_MISMATCH, "sessions.sessions_user_id_fkey", Severity.WARNING),
        },
        "Django emulates ON DELETE CASCADE in Python",
    ),
    (
        "django_fk_emulated_other_action",
        BASE,
        with_sessions(
            foreign_keys=(
                replace(FK, on_delete=FkAction.NO_ACTION, emulated_on_delete=FkAction.SET_NULL),
            )
        ),
        {(DiffKind.FK_ACTION_MISMATCH, "sessions.sessions_user_id_fkey", Severity.ERROR)},
        "which still differs from ON DELETE CASCADE",
    ),
]


def key(d: Difference) -> tuple[DiffKind, str, Severity]:
    return (d.kind, d.object, d.severity)


@pytest.mark.parametrize(
    ("source", "target", "expected", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_compare_finds_each_kind(
    source: Schema,
    target: Schema,
    expected: set[tuple[DiffKind, str, Severity]],
    fragment: str,
) -> None:
    found = compare(source, target)
    assert {key(d) for d in found} == expected
    assert len(found) == len(expected)
    assert all(d.source == "sqlalchemy" and d.target == "database" for d in found)
    if fragment:
        assert any(fragment in d.detail for d in found), [d.detail for d in found]


def test_reversed_direction_swaps_missing_and_extra() -> None:
    smaller = BASE.without("sessions")
    forward = compare(BASE, smaller, source="django", target="sqlalchemy")
    backward = compare(smaller, BASE, source="sqlalchemy", target="django")
    assert [d.kind for d in forward] == [DiffKind.MISSING_TABLE]
    assert [d.kind for d in backward] == [DiffKind.EXTRA_TABLE]
    assert forward[0].source == "django" and backward[0].target == "django"


def test_values_are_carried_as_text() -> None:
    (d,) = compare(BASE, with_users(columns=col(users(), "email", type="text")))
    assert (d.from_value, d.to_value) == ("character varying(255)", "text")
    assert d.to_dict() == {
        "kind": "type_mismatch",
        "object": "users.email",
        "source": "sqlalchemy",
        "target": "database",
        "severity": "error",
        "detail": d.detail,
        "from": "character varying(255)",
        "to": "text",
    }


OWNED = BASE.with_table(table("legacy_reports", [Column("id", "integer", nullable=False)]))


@pytest.mark.parametrize(
    ("owner", "source", "target", "a", "b", "reported"),
    [
        (Ownership.EXTERNAL, "sqlalchemy", "database", BASE, OWNED, False),
        (Ownership.EXTERNAL, "django", "database", BASE, OWNED, False),
        (Ownership.DJANGO, "sqlalchemy", "database", BASE, OWNED, False),
        (Ownership.DJANGO, "django", "database", BASE, OWNED, True),
        (Ownership.DJANGO, "django", "sqlalchemy", OWNED, BASE, False),
        (Ownership.SQLALCHEMY, "django", "sqlalchemy", BASE, OWNED, False),
        (Ownership.SQLALCHEMY, "sqlalchemy", "database", OWNED, BASE, True),
        (Ownership.SHARED, "sqlalchemy", "database", BASE, OWNED, True),
    ],
    ids=[
        "external-not-in-sqlalchemy",
        "external-not-in-django",
        "django-owned-not-in-sqlalchemy",
        "django-owned-missing-from-django",
        "django-owned-absent-from-sqlalchemy",
        "sqlalchemy-owned-absent-from-django",
        "sqlalchemy-owned-missing-from-database",
        "shared-reported",
    ],
)
def test_ownership_silences_the_side_that_does_not_own_a_table(
    owner: Ownership, source: str, target: str, a: Schema, b: Schema, reported: bool
) -> None:
    found = compare(a, b, source=source, target=target, ownership={"legacy_reports": owner})
    assert bool(found) is reported
    assert all(d.object == "legacy_reports" for d in found)


def test_ledger_tables_are_never_drift() -> None:
    ledgers = BASE.with_table(table("alembic_version", [Column("version_num", "text")]))
    ledgers = ledgers.with_table(table("django_migrations", [Column("id", "bigint")]))
    ledgers = ledgers.with_table(table("migrations", [Column("id", "text")], schema="dualorm"))
    assert compare(BASE, ledgers) == []


def test_phases_run_in_the_documented_order() -> None:
    names = [phase.__name__ for phase in PHASES]
    assert names == [
        "compare_enums",
        "compare_sequences",
        "compare_tables",
        "compare_table_comments",
        "compare_columns",
        "compare_primary_keys",
        "compare_indexes",
        "compare_uniques",
        "compare_checks",
        "compare_foreign_keys",
    ]
    drifted = with_users(columns=col(users(), "email", type="text"), indexes=())
    kinds = [d.kind for d in compare(BASE, drifted.without("sessions"))]
    assert kinds == [DiffKind.MISSING_TABLE, DiffKind.TYPE_MISMATCH, DiffKind.MISSING_INDEX]
