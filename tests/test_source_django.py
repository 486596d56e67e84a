"""The Django source and Django setup: the reference models as migrate would create them."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest
from reference import REFERENCE_TABLES

from dualorm.db import database_name
from dualorm.django_setup import database_config, setup
from dualorm.errors import ConfigError
from dualorm.schema import FkAction, Identity, PrimaryKey, Schema
from dualorm.schema import Index as NeutralIndex
from dualorm.sources import postgres
from dualorm.sources.django import load
from dualorm.sources.expression_text import bare_expression


@pytest.fixture(scope="module")
def reference() -> Schema:
    return load(("django_app",), "django_app.settings")


def test_reference_schema_has_every_table(reference: Schema) -> None:
    assert {t.name for t in reference} == REFERENCE_TABLES


def test_column_types_defaults_and_nullability(reference: Schema) -> None:
    users = reference.get("users")
    assert users is not None
    columns = {c.name: c for c in users.columns}
    assert (columns["id"].type, columns["id"].default) == ("uuid", "gen_random_uuid()")
    assert columns["email"].type == "character varying(255)"
    assert not columns["email"].nullable
    assert columns["username"].nullable
    assert (columns["metadata"].type, columns["metadata"].default) == ("jsonb", "'{}'::jsonb")
    # now(), not Django's Now() (STATEMENT_TIMESTAMP()).
    assert columns["created_at"].default == "now()"
    assert columns["created_at"].type == "timestamp with time zone"
    assert (columns["is_active"].default, columns["is_staff"].default) == ("true", "false")
    assert columns["failed_login_count"].default == "0"
    assert columns["status"].default == "'active'::character varying"
    audit = reference.get("audit_logs")
    assert audit is not None
    assert audit.column("duration_ms").type == "numeric(12,3)"  # type: ignore[union-attr]
    assert audit.column("ip_address").type == "inet"  # type: ignore[union-attr]
    roles_id = reference.get("roles").column("id")  # type: ignore[union-attr]
    assert roles_id is not None
    assert (roles_id.type, roles_id.identity) == ("bigint", Identity.BY_DEFAULT)


def test_composite_primary_keys_are_not_null(reference: Schema) -> None:
    user_roles = reference.get("user_roles")
    assert user_roles is not None
    assert user_roles.primary_key == PrimaryKey("user_roles_pkey", ("user_id", "role_id"))
    assert not user_roles.column("user_id").nullable  # type: ignore[union-attr]
    assert user_roles.column("assigned_by").nullable  # type: ignore[union-attr]
    tokens = reference.get("verification_tokens")
    assert tokens is not None
    assert tokens.primary_key == PrimaryKey("verification_tokens_pkey", ("identifier", "token"))
    assert [u.name for u in tokens.uniques] == ["verification_tokens_token_key"]


def test_checks_and_partial_indexes_are_spelled_like_the_other_sources(
    reference: Schema,
) -> None:
    users = reference.get("users")
    api_keys = reference.get("api_keys")
    assert users is not None and api_keys is not None
    assert {c.name: c.expression for c in users.checks} == {
        "users_status_check": "status IN ('active', 'suspended', 'deleted')",
        "users_failed_login_count_check": "failed_login_count >= 0",
    }
    assert NeutralIndex("users_active_last_login_idx", ("last_login_at",), where="is_active") in (
        users.indexes
    )
    assert api_keys.indexes == (
        NeutralIndex("api_keys_active_user_idx", ("user_id",), where="revoked_at IS NULL"),
    )


def test_foreign_keys_are_deferred_and_emulate_on_delete(reference: Schema) -> None:
    user_roles = reference.get("user_roles")
    assert user_roles is not None
    by_column = {fk.columns: fk for fk in user_roles.foreign_keys}
    assert {cols: fk.emulated_on_delete for cols, fk in by_column.items()} == {
        ("user_id",): FkAction.CASCADE,
        ("role_id",): FkAction.RESTRICT,
        ("assigned_by",): FkAction.SET_NULL,
    }
    for fk in by_column.values():
        assert (fk.on_delete, fk.deferrable, fk.initially_deferred) == (
            FkAction.NO_ACTION,
            True,
            True,
        )
    role_fk = by_column[("role_id",)]
    assert role_fk.ref_key == ("public", "roles")
    # Django's own hashed name: <table>_<column>_<hash>_fk_<to_table>_<to_column>.
    assert role_fk.name.startswith("user_roles_role_id_")
    assert role_fk.name.endswith("_fk_roles_id")


def test_varchar_primary_key_gets_djangos_like_index(reference: Schema) -> None:
    prefs = reference.get("user_preferences")
    assert prefs is not None
    like = [i for i in prefs.indexes if i.name.endswith("_like")]
    assert len(like) == 1
    assert like[0].name.startswith("user_preferences_id_")
    assert like[0].columns == ("id",)
    assert like[0].opclasses == ("varchar_pattern_ops",)
    others = [i.name for i in reference.get("users").indexes]  # type: ignore[union-attr]
    assert not any(name.endswith("_like") for name in others)


def test_choices_come_from_the_field(reference: Schema) -> None:
    account_type = reference.get("accounts").column("type")  # type: ignore[union-attr]
    assert account_type is not None
    assert account_type.type == "character varying(30)"
    assert account_type.choices == ("oauth", "oidc", "email", "credentials")


def test_unknown_app_label_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no_such_app"):
        load(("no_such_app",))


def test_source_matches_what_django_creates(database_url: str, reference: Schema) -> None:
    from django.apps import apps
    from django.db import connection

    setup("django_app.settings", database_url)
    try:
        with connection.schema_editor() as editor:
            for model in apps.get_app_config("django_app").get_models():
                editor.create_model(model)
    finally:
        connection.close()
    catalog = postgres.load(database_url)
    # Check and predicate text is spelled by the server (normalize rewrites it); everything
    # else, Django's hashed FK names and its _like index included, must match the catalog.
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


# -- setup ------------------------------------------------------------------------------------


def test_database_config_maps_a_url_to_django_settings() -> None:
    entry = database_config(
        "postgresql+psycopg://app:s%40cret@db.example:6432/auth?sslmode=require"
    )
    assert entry["ENGINE"] == "django.db.backends.postgresql"
    assert (entry["NAME"], entry["USER"], entry["PASSWORD"]) == ("auth", "app", "s@cret")
    assert (entry["HOST"], entry["PORT"]) == ("db.example", "6432")
    assert entry["OPTIONS"] == {"sslmode": "require"}
    socket = database_config("postgresql://postgres:@/dualorm?host=/tmp/pg")
    assert (socket["HOST"], socket["NAME"], socket["OPTIONS"]) == ("/tmp/pg", "dualorm", {})


def test_unparseable_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        database_config("postgresql://app:hunter2@db/x?nonsense_option=1")
    assert "hunter2" not in str(info.value)


def test_setup_points_the_default_connection_at_a_url(database_url: str) -> None:
    from django.db import connection

    setup("django_app.settings", database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            row = cursor.fetchone()
    finally:
        connection.close()
    assert row is not None
    assert row[0] == database_name(database_url)


def test_switching_settings_module_in_one_process_is_refused() -> None:
    load()
    with pytest.raises(ConfigError, match="other_settings"):
        setup("other_settings")


@pytest.mark.parametrize(
    ("module", "fragment"),
    [("no_such_package_xyz.settings", "not found"), ("dualorm.no_such_module", "not found")],
)
def test_a_bad_settings_module_is_a_config_error_naming_it(module: str, fragment: str) -> None:
    # Django is configured once per process, so the failure is observed in a fresh one.
    code = (
        "import sys\n"
        "from dualorm.django_setup import setup\n"
        "from dualorm.errors import ConfigError\n"
        "try:\n"
        f"    setup({module!r})\n"
        "except ConfigError as exc:\n"
        "    sys.stdout.write(str(exc))\n"
        "    sys.exit(exc.exit_code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert module in result.stdout
    assert fragment in result.stdout


def test_an_offline_setup_is_completed_by_the_next_setup_naming_a_database() -> None:
    """Reading the models populates the app registry only; seeding or migrating later in the
    same process gets the whole of django.setup() (here: Django's logging configured)."""
    code = (
        "import logging\n"
        "from django.apps import apps\n"
        "from dualorm.django_setup import setup\n"
        "setup('django_app.settings', offline=True)\n"
        "offline = (apps.ready, bool(logging.getLogger('django').handlers))\n"
        "setup('django_app.settings', 'postgresql://app@127.0.0.1:1/shop')\n"
        "print(offline, bool(logging.getLogger('django').handlers))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(True,", "False)", "True"]


def test_expression_spelling_keeps_needed_quotes() -> None:
    assert bare_expression("(\"status\" IN ('a\"b', 'it''s'))") == "status IN ('a\"b', 'it''s')"
    assert bare_expression('"order" > 0 AND "Mixed" > "x1"') == '"order" > 0 AND "Mixed" > x1'
    assert bare_expression("(a) + (b)") == "(a) + (b)"


def test_expression_index_keys_keep_their_operator_class_and_ordering(reference: Schema) -> None:
    from django.apps import apps
    from django.contrib.postgres.indexes import OpClass
    from django.db import connections, models
    from django.db.models.functions import Lower

    from dualorm.sources.django import _Reader

    reader = _Reader(connections["default"])
    user = apps.get_model("django_app", "User")
    cases = [
        (
            models.Index(OpClass(Lower("email"), name="text_pattern_ops").desc(), name="i1"),
            (("LOWER(email)",), ("DESC",), ("text_pattern_ops",)),
        ),
        (
            models.Index(Lower("email").desc(nulls_last=True), "username", name="i2"),
            (("LOWER(email)", "username"), ("DESC NULLS LAST", ""), ()),
        ),
        (
            models.Index(fields=["-email"], opclasses=["varchar_pattern_ops"], name="i3"),
            (("email",), ("DESC",), ("varchar_pattern_ops",)),
        ),
    ]
    for index, expected in cases:
        found = reader.index_from(index.create_sql(user, reader.editor))
        assert (found.columns, found.orders, found.opclasses) == expected, index.name


def test_collations_and_comments_come_from_the_fields_and_no_enum_is_declared(
    reference: Schema,
) -> None:
    from django.db import connection, models
    from django.test.utils import isolate_apps

    from dualorm.sources.django import _Reader

    assert reference.declares_enums is False and reference.enums == ()
    with isolate_apps("django_app"):

        class Label(models.Model):
            code = models.CharField(max_length=9, db_collation="C", db_comment="bytewise")
            body = models.TextField(db_collation="POSIX", null=True)

            class Meta:
                app_label = "django_app"
                db_table_comment = "labels"

        found = _Reader(connection).table(Label)
    assert found.comment == "labels"
    code, body = found.column("code"), found.column("body")
    assert code is not None and body is not None
    assert (code.type, code.collation, code.comment) == ("character varying(9)", "C", "bytewise")
    assert (body.type, body.collation) == ("text", "POSIX")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql://postgres:@/dualorm",
        "postgresql://a%40b:p%3Aw%2F@db.example:6432/my%20db",
        "postgres://u:pw@h/d",
        "postgresql://:pw@h/d",
        "postgresql://%2Ftmp%2Fpg/d",
        "postgresql:///x",
        "postgresql://",
        "postgresql://u@host/",
    ],
)
def test_a_plain_url_is_read_as_libpq_reads_it(url: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from dualorm.django_setup import plain_url_params

    assert plain_url_params(url) == conninfo_to_dict(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://h1,h2/d",
        "postgresql://h/d?sslmode=require",
        "host=h dbname=d",
        "postgresql://h:x/d",
    ],
)
def test_any_other_connection_string_is_left_to_libpq(url: str) -> None:
    from dualorm.django_setup import plain_url_params

    assert plain_url_params(url) is None
