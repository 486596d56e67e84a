"""The SQLAlchemy source: the reference models, names, defaults, and what create_all makes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from reference import REFERENCE_TABLES
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    text,
)

from dualorm.db import sqlalchemy_url
from dualorm.errors import ConfigError
from dualorm.schema import FkAction, Identity, PrimaryKey, Schema
from dualorm.schema import Index as NeutralIndex
from dualorm.sources import postgres
from dualorm.sources.sqlalchemy import load, resolve_metadata
from sa_models import Base


@pytest.fixture(scope="module")
def reference() -> Schema:
    return load(resolve_metadata("sa_models:Base.metadata"))


def test_reference_schema_has_every_table(reference: Schema) -> None:
    assert {t.name for t in reference} == REFERENCE_TABLES


def test_column_types_defaults_and_nullability(reference: Schema) -> None:
    users = reference.get("users")
    assert users is not None
    columns = {c.name: c for c in users.columns}
    assert columns["id"].type == "uuid"
    assert columns["id"].default == "gen_random_uuid()"
    assert columns["email"].type == "character varying(255)"
    assert not columns["email"].nullable
    assert columns["username"].nullable
    assert columns["metadata"].type == "jsonb"
    assert columns["metadata"].default == "'{}'::jsonb"
    assert columns["created_at"].type == "timestamp with time zone"
    assert columns["created_at"].default == "now()"
    assert columns["is_active"].default == "true"
    assert columns["status"].default == "'active'::character varying"
    assert [c.name for c in users.columns][:3] == ["id", "email", "username"]
    audit = reference.get("audit_logs")
    assert audit is not None
    assert audit.column("duration_ms") == replace(
        audit.column("duration_ms"),
        type="numeric(12,3)",
        nullable=True,  # type: ignore[arg-type]
    )
    assert audit.column("ip_address").type == "inet"  # type: ignore[union-attr]


def test_identity_and_composite_primary_keys(reference: Schema) -> None:
    roles = reference.get("roles")
    assert roles is not None
    role_id = roles.column("id")
    assert role_id is not None
    assert (role_id.type, role_id.identity, role_id.default) == (
        "bigint",
        Identity.BY_DEFAULT,
        None,
    )
    assert reference.get("user_roles").primary_key == PrimaryKey(  # type: ignore[union-attr]
        "user_roles_pkey", ("user_id", "role_id")
    )
    assert reference.get("verification_tokens").primary_key == PrimaryKey(  # type: ignore[union-attr]
        "verification_tokens_pkey", ("identifier", "token")
    )


def test_names_follow_postgresql_defaults(reference: Schema) -> None:
    users = reference.get("users")
    accounts = reference.get("accounts")
    assert users is not None and accounts is not None
    assert {u.name for u in users.uniques} == {"users_email_key", "users_username_key"}
    assert {c.name: c.expression for c in users.checks} == {
        "users_status_check": "status IN ('active', 'suspended', 'deleted')",
        "users_failed_login_count_check": "failed_login_count >= 0",
    }
    assert [u.name for u in accounts.uniques] == ["accounts_provider_provider_account_id_key"]
    (fk,) = accounts.foreign_keys
    assert (fk.name, fk.columns, fk.ref_table, fk.ref_columns) == (
        "accounts_user_id_fkey",
        ("user_id",),
        "users",
        ("id",),
    )


def test_partial_indexes_and_foreign_key_actions(reference: Schema) -> None:
    users = reference.get("users")
    api_keys = reference.get("api_keys")
    user_roles = reference.get("user_roles")
    assert users is not None and api_keys is not None and user_roles is not None
    assert NeutralIndex("users_active_last_login_idx", ("last_login_at",), where="is_active") in (
        users.indexes
    )
    assert api_keys.indexes == (
        NeutralIndex("api_keys_active_user_idx", ("user_id",), where="revoked_at IS NULL"),
    )
    actions = {
        fk.columns: (fk.on_delete, fk.deferrable, fk.initially_deferred)
        for fk in user_roles.foreign_keys
    }
    assert actions == {
        ("user_id",): (FkAction.CASCADE, True, True),
        ("role_id",): (FkAction.RESTRICT, True, True),
        ("assigned_by",): (FkAction.SET_NULL, True, True),
    }


def test_non_native_enum_values_are_choices(reference: Schema) -> None:
    account_type = reference.get("accounts").column("type")  # type: ignore[union-attr]
    assert account_type is not None
    assert account_type.type == "character varying(30)"
    assert account_type.choices == ("oauth", "oidc", "email", "credentials")


def test_unnamed_constraints_get_postgresql_names_and_serial_defaults() -> None:
    metadata = MetaData()
    Table("parents", metadata, Column("id", Integer, primary_key=True))
    Table(
        "items",
        metadata,
        Column("id", BigInteger, primary_key=True),
        Column("parent_id", Integer, ForeignKey("parents.id", ondelete="set null")),
        Column("code", String(10), unique=True),
        Column("kind", Enum("a", "b", native_enum=False, create_constraint=True)),
        Column("qty", Integer, CheckConstraint("qty >= 0")),
        UniqueConstraint("parent_id", "qty"),
        Index("items_code_desc_idx", text("lower(code)"), postgresql_using="hash"),
        schema="shop",
    )
    items = load(metadata).get("shop.items")
    assert items is not None
    assert items.primary_key == PrimaryKey("items_pkey", ("id",))
    assert items.column("id").default == "nextval('shop.items_id_seq'::regclass)"  # type: ignore[union-attr]
    assert {u.name for u in items.uniques} == {"items_code_key", "items_parent_id_qty_key"}
    (fk,) = items.foreign_keys
    assert (fk.name, fk.on_delete, fk.ref_schema) == (
        "items_parent_id_fkey",
        FkAction.SET_NULL,
        "public",
    )
    assert {c.name: c.expression for c in items.checks} == {
        "items_qty_check": "qty >= 0",
        "items_kind_check": "kind IN ('a', 'b')",
    }
    assert items.column("kind").choices == ("a", "b")  # type: ignore[union-attr]
    assert items.indexes == (NeutralIndex("items_code_desc_idx", ("lower(code)",), method="hash"),)


def test_an_unknown_referential_action_is_a_config_error() -> None:
    metadata = MetaData()
    Table("a", metadata, Column("id", Integer, primary_key=True))
    Table("b", metadata, Column("a_id", Integer, ForeignKey("a.id", ondelete="EXPLODE")))
    with pytest.raises(ConfigError, match="EXPLODE"):
        load(metadata)


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("sa_models.Base.metadata", "must look like"),
        ("no_such_package_xyz:Base.metadata", "cannot import"),
        ("sa_models:Nope.metadata", "no attribute 'Nope'"),
        ("sa_models:User.__tablename__", "not a sqlalchemy MetaData"),
    ],
)
def test_bad_metadata_path_names_it(path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_metadata(path)
    assert path in str(info.value)
    assert fragment in str(info.value)


def test_declarative_base_resolves_to_its_metadata() -> None:
    assert resolve_metadata("sa_models:Base") is Base.metadata


def test_source_matches_what_create_all_makes(database_url: str, reference: Schema) -> None:
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    catalog = postgres.load(database_url)
    # Check and predicate text is spelled by the server (normalize rewrites it); the rest,
    # names, types and defaults included, must already be what the catalog says.
    assert _without_expressions(reference) == _without_expressions(catalog)


def _without_expressions(s: Schema) -> list[object]:
    return [
        replace(
            t,
            checks=tuple(replace(c, expression="") for c in t.checks),
            indexes=tuple(replace(i, where=i.where and "") for i in t.indexes),
        )
        for t in s
    ]
