"""Several Django apps, contrib tables and ownership: the example shop project, three ways.

tests/projects/shop is a Django project with two apps of its own (``catalog``, ``orders``, an
FK from ``orders_order`` to ``auth_user``), ``django.contrib.admin``/``auth``/``contenttypes``/
``sessions``, two third-party apps from PyPI (django-taggit, Django REST framework's
``authtoken``), and a SQLAlchemy module mapping the catalog, orders and third-party tables in
full and ``auth_user`` by three columns. Its database is built by Django's own ``migrate``;
dualorm is run as a user runs it, ``python -m dualorm.cli validate`` in the project's
directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from project_files import ROOT, SHOP, copy_shop, subprocess_env
from psycopg import sql

from dualorm.cli import main
from dualorm.config import Config
from dualorm.db import connection, database_name, with_database
from dualorm.diff import compare
from dualorm.errors import ConfigError
from dualorm.ownership import Ownership, OwnershipMap, Policy, Rule, parse_rule
from dualorm.schema import (
    CheckConstraint,
    Column,
    Index,
    PrimaryKey,
    Schema,
    UniqueConstraint,
    schema,
    table,
)
from dualorm.testing import scratch_database


def project_env(project: Path, url: str) -> dict[str, str]:
    """A child's environment in ``project``, which may be the shop itself: no cache folder."""
    return subprocess_env(project, url, own_cache=False)


def django_migrate(project: Path, url: str) -> None:
    """Build the database with Django's own ``migrate`` (after checking no model is unmigrated)."""
    code = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('makemigrations', check=True, dry_run=True, verbosity=0)\n"
        "call_command('migrate', verbosity=0)\n"
    )
    env = project_env(project, url) | {"DJANGO_SETTINGS_MODULE": "shop.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def validate(project: Path, url: str, *args: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "dualorm.cli", "validate", "--json", *args],
        cwd=project,
        env=project_env(project, url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr


def errors(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(e["source"], e["target"], e["kind"], e["object"]) for e in report["errors"]}


def copy_project(tmp_path: Path, ownership: str | None = None, extra: str = "") -> Path:
    """The shop project in ``tmp_path``: its ownership table replaced, ``extra`` config added."""
    project = copy_shop(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    head, _, _ = text.partition("[tool.dualorm.ownership]")
    head = head.replace('default_app = "orders"\n', f'default_app = "orders"\n{extra}')
    pyproject.write_text(head + (ownership or ""))
    return project


@pytest.fixture(scope="module")
def migrated(admin_url: str) -> Iterator[str]:
    """A database Django's ``migrate`` built for the shop; tests only read it or copy it."""
    with scratch_database(admin_url, prefix="shop") as url:
        django_migrate(SHOP, url)
        yield url


@pytest.fixture
def shop_copy(admin_url: str, migrated: str) -> Iterator[str]:
    """A copy of the migrated shop database, free to drift."""
    name = f"{database_name(migrated)}_{os.urandom(4).hex()}"
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(database_name(migrated))
    )
    for attempt in range(50):
        try:
            with connection(admin_url, autocommit=True) as conn:
                conn.execute(statement)
            break
        except psycopg.errors.ObjectInUse:
            # A validate run that just ended may still have its backend closing.
            if attempt == 49:
                raise
            time.sleep(0.1)
    url = with_database(admin_url, name)
    try:
        yield url
    finally:
        with connection(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def execute(url: str, statements: str) -> None:
    with connection(url, autocommit=True) as conn:
        conn.execute(statements)


# -- the shop, end to end -----------------------------------------------------------------------


def test_django_migrate_then_validate_is_clean_three_ways(migrated: str) -> None:
    code, report, stderr = validate(SHOP, migrated)
    assert report["errors"] == [], stderr
    assert code == 0
    # Contrib tables are read and compared: Django's '_like' index of auth_user.username is
    # one of the warnings, both against the database and against the SQLAlchemy side.
    warned = {(w["source"], w["target"], w["object"]) for w in report["warnings"]}
    like = "auth_user.auth_user_username_6821ab7c_like"
    assert ("sqlalchemy", "django", like) in warned
    assert ("sqlalchemy", "database", like) in warned


def test_third_party_apps_are_read_and_compared_like_the_projects_own(
    migrated: str, shop_copy: str
) -> None:
    # django-taggit names its unique constraint with 64 characters; PostgreSQL keeps 63, and
    # so does the Django side: no name is reported different.
    _code, report, stderr = validate(SHOP, migrated, "--detailed")
    assert report["errors"] == [], stderr
    names = {(w["source"], w["target"], w["object"]) for w in report["warnings"]}
    long = "taggit_taggeditem.taggit_taggeditem_content_type_id_object_id_tag_id_4bb97a8e_uni"
    assert not any(obj.startswith(long) for _s, _t, obj in names)

    execute(
        shop_copy,
        "ALTER TABLE taggit_tag ALTER COLUMN slug TYPE varchar(200);"
        " ALTER TABLE authtoken_token DROP CONSTRAINT authtoken_token_user_id_key",
    )
    code, report, stderr = validate(SHOP, shop_copy)
    assert errors(report) == {
        ("sqlalchemy", "database", "type_mismatch", "taggit_tag.slug"),
        ("django", "database", "type_mismatch", "taggit_tag.slug"),
        (
            "sqlalchemy",
            "database",
            "missing_constraint",
            "authtoken_token.authtoken_token_user_id_key",
        ),
        ("django", "database", "missing_constraint", "authtoken_token.authtoken_token_user_id_key"),
    }, stderr
    assert code == 1


def test_the_app_registry_owns_contrib_tables_when_django_is_not_compared(migrated: str) -> None:
    # auth_group, django_session... are in the database and not in the SQLAlchemy models.
    code, report, stderr = validate(SHOP, migrated, "--sources", "sqlalchemy,database")
    assert report["errors"] == [], stderr
    assert code == 0


DRIFT = (
    "DROP INDEX orders_order_placed_at_idx;"
    " ALTER TABLE catalog_product DROP COLUMN description;"
    " ALTER TABLE auth_user ALTER COLUMN email TYPE varchar(300);"
    # A column the SQLAlchemy side does not map: only Django can miss it.
    " ALTER TABLE auth_user DROP COLUMN last_login;"
)


def test_drift_is_reported_by_each_pair_that_sees_it(shop_copy: str) -> None:
    execute(shop_copy, DRIFT)
    code, report, stderr = validate(SHOP, shop_copy)
    assert errors(report) == {
        ("sqlalchemy", "database", "missing_index", "orders_order.orders_order_placed_at_idx"),
        ("django", "database", "missing_index", "orders_order.orders_order_placed_at_idx"),
        ("sqlalchemy", "database", "missing_column", "catalog_product.description"),
        ("django", "database", "missing_column", "catalog_product.description"),
        ("sqlalchemy", "database", "type_mismatch", "auth_user.email"),
        ("django", "database", "type_mismatch", "auth_user.email"),
        ("django", "database", "missing_column", "auth_user.last_login"),
    }, stderr
    assert code == 1


AUTH_USER_UNMAPPED = (
    "password",
    "last_login",
    "is_superuser",
    "first_name",
    "last_name",
    "is_staff",
    "is_active",
    "date_joined",
)


@pytest.mark.parametrize(
    ("ownership", "expected"),
    [
        (None, {(t, c) for t in ("django", "database") for c in AUTH_USER_UNMAPPED}),
        ('[tool.dualorm.ownership]\nauth_user = { partial = ["sqlalchemy"] }\n', set()),
        ('[tool.dualorm.ownership]\n"auth_*" = "partial:sqlalchemy"\n', set()),
    ],
    ids=["no-rule", "table-form", "glob"],
)
def test_the_partial_rule_is_what_spares_the_unmapped_auth_user_columns(
    migrated: str, tmp_path: Path, ownership: str | None, expected: set[tuple[str, str]]
) -> None:
    code, report, stderr = validate(copy_project(tmp_path, ownership), migrated)
    found = {(target, obj) for _s, target, _k, obj in errors(report)}
    assert found == {(t, f"auth_user.{c}") for t, c in expected}, stderr
    assert {e["kind"] for e in report["errors"]} <= {"extra_column"}
    assert code == (1 if expected else 0)


def test_django_apps_narrows_what_the_django_side_reads(shop_copy: str, tmp_path: Path) -> None:
    project = copy_project(
        tmp_path,
        '[tool.dualorm.ownership]\n"auth_user" = "partial:sqlalchemy"\n',
        extra='django_apps = ["catalog"]\n',
    )
    execute(
        shop_copy,
        "DROP INDEX orders_order_placed_at_idx; ALTER TABLE catalog_product DROP COLUMN name",
    )
    code, report, stderr = validate(project, shop_copy)
    # orders and auth are not read on the Django side: nothing of theirs is missing from it,
    # and their drift is the SQLAlchemy side's to find.
    assert errors(report) == {
        ("sqlalchemy", "database", "missing_index", "orders_order.orders_order_placed_at_idx"),
        ("sqlalchemy", "database", "missing_column", "catalog_product.name"),
        ("django", "database", "missing_column", "catalog_product.name"),
    }, stderr
    assert code == 1


def test_an_app_django_apps_names_but_settings_do_not_install_is_exit_2(
    migrated: str, tmp_path: Path
) -> None:
    project = copy_project(tmp_path, extra='django_apps = ["catalog", "billing"]\n')
    code, _report, stderr = validate(project, migrated)
    assert code == 2
    assert "billing" in stderr


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ('django_app_label = ["catalog", "orders"]\n', "django_app_label"),
        ('django_apps = ["catalog", 3]\n', "django_apps"),
        ('django_apps = "catalog"\n', "django_apps"),
        ("django_apps = []\n", "django_apps"),
        ('[tool.dualorm.ownership]\n"auth_*" = "djangoo"\n', "auth_*"),
        ('[tool.dualorm.ownership]\nauth_user = "partial:database"\n', "auth_user"),
        ('[tool.dualorm.ownership]\nauth_user = { owner = "django", mapped = 3 }\n', "auth_user"),
        (
            '[tool.dualorm.ownership]\nauth_user = "django"\n"public.auth_user" = "external"\n',
            "auth_user",
        ),
        ("ownership = 3\n", "ownership"),
        (
            '[tool.dualorm.ownership]\nx = "django"\n[tool.dualorm.tables]\ny = "django"\n',
            "tables",
        ),
    ],
    ids=[
        "label-list",
        "apps-non-string",
        "apps-string",
        "apps-empty",
        "unknown-owner",
        "partial-database",
        "unknown-entry-key",
        "one-table-twice",
        "ownership-not-a-table",
        "both-table-names",
    ],
)
def test_a_config_value_of_the_wrong_shape_is_exit_2_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config: str,
    named: str,
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.dualorm]\n{config}")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--sources", "sqlalchemy,django"]) == 2
    assert named in capsys.readouterr().err


# -- ownership rules, without a database --------------------------------------------------------


def test_an_exact_name_wins_over_a_glob_and_a_longer_glob_over_a_shorter() -> None:
    rules = OwnershipMap(
        {
            "auth_*": "external",
            "auth_user*": "django",
            "auth_user": "sqlalchemy",
            "reports.*": "external",
            "*": "shared",
        }
    )
    assert rules.policy("auth_user").owner is Ownership.SQLALCHEMY
    assert rules.policy("auth_user_groups").owner is Ownership.DJANGO
    assert rules.policy("auth_group").owner is Ownership.EXTERNAL
    assert rules.policy("reports.daily").owner is Ownership.EXTERNAL
    # A pattern without a dot names tables of public, as a plain name always did.
    assert rules.rule("audit.auth_group") is None
    assert rules.rule("orders_order") == ("*", Rule(owner=Ownership.SHARED))


def test_two_globs_of_one_length_with_different_rules_are_refused() -> None:
    rules = OwnershipMap({"auth_*": "django", "*_user": "external", "*_users": "external"})
    with pytest.raises(ConfigError, match=r"'auth_\*' and '\*_user' both match public.auth_user"):
        rules.policy("auth_user")
    assert OwnershipMap({"a*": "django", "*b": "django"}).policy("ab").owner is Ownership.DJANGO


def test_owners_not_configured_come_from_the_model_sets() -> None:
    rules = OwnershipMap(
        {"auth_user": "partial:sqlalchemy"},
        django_apps={("public", "auth_user"): "auth", ("public", "orders_order"): "orders"},
        read_apps=["catalog", "auth"],
        sqlalchemy_tables=[("public", "reports"), ("public", "auth_user")],
    )
    assert rules.policy("auth_user") == Policy(Ownership.DJANGO, "auth", frozenset({"sqlalchemy"}))
    assert not rules.policy("auth_user").expects("sqlalchemy")
    assert rules.policy("auth_user").expects("django")
    assert rules.policy("orders_order").unread == {"django"}
    assert not rules.policy("orders_order").expects("django")
    assert rules.policy("reports").owner is Ownership.SQLALCHEMY
    assert not rules.policy("reports").expects("django")
    assert rules.policy("stray").expects("sqlalchemy") and rules.policy("stray").expects("django")


def test_the_app_registry_is_read_once_and_only_when_an_owner_decides_something() -> None:
    calls: list[str] = []

    def registry() -> dict[tuple[str, str], str]:
        calls.append("read")
        return {("public", "auth_user"): "auth"}

    rules = OwnershipMap(django_apps=registry)
    users = schema([table("users", [ID])])
    # Both sides hold the same tables: no owner is asked, Django is not set up.
    assert compare(users, users, ownership=rules) == [] and calls == []
    # A table the models lack is reported unless Django's registry says an app owns it.
    database = schema([table("users", [ID]), table("auth_user", [ID]), table("stray", [ID])])
    found = compare(users, database, source="sqlalchemy", target="database", ownership=rules)
    assert [(d.kind, d.object) for d in found] == [("extra_table", "stray")]
    assert rules.policy("auth_user").owner is Ownership.DJANGO
    assert calls == ["read"]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("external", Rule(owner=Ownership.EXTERNAL)),
        ("partial:sqlalchemy", Rule(partial=frozenset({"sqlalchemy"}))),
        ("partial:sqlalchemy,django", Rule(partial=frozenset({"sqlalchemy", "django"}))),
        ({"owner": "shared", "partial": "django"}, Rule(Ownership.SHARED, frozenset({"django"}))),
        ({"partial": ["sqlalchemy"]}, Rule(partial=frozenset({"sqlalchemy"}))),
    ],
    ids=["owner", "partial", "partial-both", "table", "table-partial-only"],
)
def test_rule_forms(value: object, rule: Rule) -> None:
    assert parse_rule(value, "t") == rule


# -- partial mappings in the diff ---------------------------------------------------------------

ID = Column("id", "integer", nullable=False)
USERNAME = Column("username", "character varying(150)", nullable=False)
EMAIL = Column("email", "character varying(254)", nullable=False)
PASSWORD = Column("password", "character varying(128)", nullable=False)

FULL = schema(
    [
        table(
            "auth_user",
            [ID, PASSWORD, USERNAME, EMAIL],
            primary_key=PrimaryKey("auth_user_pkey", ("id",)),
            uniques=[UniqueConstraint("auth_user_username_key", ("username",))],
            checks=[CheckConstraint("auth_user_password_check", "length(password) > 8")],
            indexes=[
                Index("auth_user_password_idx", ("password",)),
                Index("auth_user_lower_idx", ("lower((password)::text)",)),
                Index("auth_user_email_idx", ("email",), where="password IS NOT NULL"),
                Index("auth_user_username_idx", ("username",)),
            ],
        )
    ]
)


def _mapped(*columns: Column, indexes: tuple[Index, ...] = ()) -> Schema:
    return schema(
        [
            table(
                "auth_user",
                columns,
                primary_key=PrimaryKey("auth_user_pkey", ("id",)),
                uniques=[UniqueConstraint("auth_user_username_key", ("username",))],
                indexes=indexes,
            )
        ]
    )


def found(a: Schema, b: Schema, source: str, target: str, rules: dict[str, str]) -> set[str]:
    diffs = compare(a, b, source=source, target=target, ownership=rules)
    return {f"{d.kind}:{d.object}" for d in diffs if d.is_error}


def test_a_partial_model_set_is_compared_on_the_columns_it_maps_only() -> None:
    partial = _mapped(
        ID, USERNAME, EMAIL, indexes=(Index("auth_user_username_idx", ("username",)),)
    )
    rules = {"auth_user": "partial:sqlalchemy"}
    assert found(partial, FULL, "sqlalchemy", "database", rules) == set()
    # Without the rule every unmapped column and what stands on it is an error.
    assert found(partial, FULL, "sqlalchemy", "database", {}) == {
        "extra_column:auth_user.password",
        "extra_index:auth_user.auth_user_password_idx",
        "extra_index:auth_user.auth_user_lower_idx",
        "extra_index:auth_user.auth_user_email_idx",
        "extra_constraint:auth_user.auth_user_password_check",
    }


def test_what_a_partial_model_set_maps_is_compared_in_full() -> None:
    narrow_email = Column("email", "character varying(100)", nullable=False)
    nickname = Column("nickname", "text")
    partial = _mapped(ID, USERNAME, narrow_email, nickname)
    rules = {"auth_user": "partial:sqlalchemy"}
    assert found(partial, FULL, "sqlalchemy", "database", rules) == {
        "type_mismatch:auth_user.email",
        "missing_column:auth_user.nickname",
        # On a mapped column, an index of the other side is still reported.
        "extra_index:auth_user.auth_user_username_idx",
    }
    # The partial side as the target: the same, seen from the other end.
    assert found(FULL, partial, "django", "sqlalchemy", rules) == {
        "type_mismatch:auth_user.email",
        "extra_column:auth_user.nickname",
        "missing_index:auth_user.auth_user_username_idx",
    }


def test_a_model_set_mapping_an_external_table_is_compared_on_what_it_maps() -> None:
    partial = _mapped(ID, USERNAME, Column("email", "text", nullable=False))
    rules = {"auth_*": "external"}
    assert found(partial, FULL, "sqlalchemy", "database", rules) == {
        "type_mismatch:auth_user.email",
        "extra_index:auth_user.auth_user_username_idx",
    }
    assert found(Schema(), FULL, "sqlalchemy", "database", rules) == set()
    assert found(Schema(), FULL, "sqlalchemy", "database", {}) == {"extra_table:auth_user"}


def test_the_ownership_example_in_the_docs_reads_as_it_says(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "ownership.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    example = next(b for b in blocks if "[tool.dualorm.ownership]" in b)
    (tmp_path / "pyproject.toml").write_text(f"[tool.dualorm]\n{example}")
    rules = OwnershipMap(Config.load(tmp_path, environ={}).ownership)
    assert rules.policy("catalog_product").owner is Ownership.SHARED
    assert rules.policy("legacy_orders").owner is Ownership.EXTERNAL
    assert rules.policy("reports.daily").owner is Ownership.SQLALCHEMY
    assert rules.policy("auth_user").maps_part("sqlalchemy")
    assert rules.policy("billing_invoice") == Policy(
        Ownership.SHARED, partial=frozenset({"django"})
    )


def test_a_foreign_key_the_database_cannot_defer_is_an_error_for_django(shop_copy: str) -> None:
    with connection(shop_copy, autocommit=True) as conn:
        [(name,)] = conn.execute(
            "SELECT conname FROM pg_constraint"
            " WHERE conrelid = 'orders_order'::regclass AND contype = 'f'"
        ).fetchall()
        conn.execute(
            sql.SQL("ALTER TABLE orders_order ALTER CONSTRAINT {} NOT DEFERRABLE").format(
                sql.Identifier(name)
            )
        )
    code, report, stderr = validate(SHOP, shop_copy)
    # The SQLAlchemy side declares it deferred too, under its own name.
    assert {(s, t, k) for s, t, k, _obj in errors(report)} == {
        ("django", "database", "constraint_mismatch"),
        ("sqlalchemy", "database", "constraint_mismatch"),
    }, stderr
    [found] = [e for e in report["errors"] if e["source"] == "django"]
    assert found["object"] == f"orders_order.{name}"
    assert "relies on deferring it" in found["detail"]
    assert code == 1


LONG_NAMED = '''


class Ledger(models.Model):
    """Names PostgreSQL cuts to 63 bytes: Django sends them as written."""

    amount = models.IntegerField(
        db_column="amount_in_the_smallest_unit_of_the_currency_the_ledger_is_kept_in"
    )

    class Meta:
        db_table = "catalog_ledger_entries_kept_for_every_product_sold_or_returned_by_anyone"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0),
                name="catalog_ledger_entries_amount_is_never_negative_whatever_happens",
            ),
            models.UniqueConstraint(
                fields=["amount"], name="überprüfung_der_eindeutigkeit_des_betrags_je_eintrag"
            ),
        ]
'''


def test_django_names_over_63_bytes_compare_as_postgresql_cut_them(
    tmp_path: Path, admin_url: str
) -> None:
    project = copy_project(
        tmp_path, '[tool.dualorm.ownership]\n"auth_user" = "partial:sqlalchemy"\n'
    )
    models = project / "catalog" / "models.py"
    models.write_text(models.read_text() + LONG_NAMED)
    env = project_env(project, "") | {"DJANGO_SETTINGS_MODULE": "shop.settings"}
    made = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "catalog", "-v", "0"],
        cwd=project,
        env={k: v for k, v in env.items() if k != "DATABASE_URL"},
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    with scratch_database(admin_url, prefix="shop") as url:
        django_migrate(project, url)
        code, report, stderr = validate(project, url, "--sources", "django,database")
    assert report["errors"] == [], stderr
    assert code == 0
