"""Parity on the reference specs: Alembic on A, Django on B, the same catalog, names included.

After upgrading, ``alembic check`` finds nothing to add and ``makemigrations --check`` is
clean; going down to zero with either tool leaves no table of the schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from parity import alembic_config, catalog, django_admin, schema_dump, user_tables

from dualorm.testing import scratch_database

REFERENCE_TABLES = {
    "users",
    "accounts",
    "sessions",
    "verification_tokens",
    "roles",
    "permissions",
    "role_permissions",
    "user_roles",
    "api_keys",
    "audit_logs",
    "user_preferences",
}


def _migrate_both(url_a: str, url_b: str) -> None:
    command.upgrade(alembic_config(url_a), "head")
    done = django_admin(url_b, "migrate", "--no-input")
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def pair(admin_url: str) -> Iterator[tuple[str, str]]:
    with scratch_database(admin_url, "pa") as a, scratch_database(admin_url, "pb") as b:
        _migrate_both(a, b)
        yield a, b


def test_both_tools_create_the_reference_schema(pair: tuple[str, str]) -> None:
    a, b = pair
    assert set(user_tables(a)) == REFERENCE_TABLES
    assert set(user_tables(b)) == REFERENCE_TABLES


def test_catalogs_are_identical_names_included(pair: tuple[str, str]) -> None:
    a, b = pair
    assert catalog(a) == catalog(b)


def test_schema_dumps_are_identical(pair: tuple[str, str]) -> None:
    a, b = pair
    assert schema_dump(a) == schema_dump(b)


def test_alembic_check_finds_no_new_operations(pair: tuple[str, str]) -> None:
    command.check(alembic_config(pair[0]))


def test_makemigrations_check_is_clean(pair: tuple[str, str]) -> None:
    done = django_admin(pair[1], "makemigrations", "--check", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr


def test_going_down_to_zero_leaves_no_table(admin_url: str) -> None:
    with scratch_database(admin_url, "pa") as a, scratch_database(admin_url, "pb") as b:
        _migrate_both(a, b)
        command.downgrade(alembic_config(a), "base")
        done = django_admin(b, "migrate", "django_app", "zero", "--no-input")
        assert done.returncode == 0, done.stderr
        assert user_tables(a) == []
        assert user_tables(b) == []
