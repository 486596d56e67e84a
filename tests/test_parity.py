"""Parity on the reference specs: Alembic on A, Django on B and ``dualorm migrate up`` on C give
the same catalog, names included.

After upgrading, ``alembic check`` finds nothing to add and ``makemigrations --check`` is
clean; going down to zero with any of the three leaves no table of the schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from parity import ROOT, alembic_config, catalog, django_admin, schema_dump, user_tables
from reference import REFERENCE_TABLES

from dualorm.api import migrate_down, migrate_up
from dualorm.config import Config
from dualorm.testing import scratch_database
from tests.reference import REFERENCE_APP


def _migrate_both(url_a: str, url_b: str) -> None:
    command.upgrade(alembic_config(url_a), "head")
    done = django_admin(url_b, "migrate", "--no-input")
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def trio(admin_url: str) -> Iterator[tuple[str, str, str]]:
    with (
        scratch_database(admin_url, "pa") as a,
        scratch_database(admin_url, "pb") as b,
        scratch_database(admin_url, "pc") as c,
    ):
        _migrate_both(a, b)
        migrate_up(Config(root=ROOT, migrations_dir="migrations", **REFERENCE_APP, database_url=c))
        yield a, b, c


def test_all_three_create_the_reference_schema(trio: tuple[str, str, str]) -> None:
    for url in trio:
        assert set(user_tables(url)) == REFERENCE_TABLES


def test_catalogs_are_identical_names_included(trio: tuple[str, str, str]) -> None:
    a, b, c = trio
    assert catalog(a) == catalog(b) == catalog(c)


def test_schema_dumps_are_identical(trio: tuple[str, str, str]) -> None:
    a, b, c = trio
    assert schema_dump(a) == schema_dump(b) == schema_dump(c)


def test_alembic_check_finds_no_new_operations(trio: tuple[str, str, str]) -> None:
    command.check(alembic_config(trio[0]))


def test_makemigrations_check_is_clean(trio: tuple[str, str, str]) -> None:
    done = django_admin(trio[1], "makemigrations", "--check", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr


def test_going_down_to_zero_leaves_no_table(admin_url: str) -> None:
    with (
        scratch_database(admin_url, "pa") as a,
        scratch_database(admin_url, "pb") as b,
        scratch_database(admin_url, "pc") as c,
    ):
        _migrate_both(a, b)
        config = Config(root=ROOT, migrations_dir="migrations", **REFERENCE_APP, database_url=c)
        migrate_up(config)
        command.downgrade(alembic_config(a), "base")
        done = django_admin(b, "migrate", "django_app", "zero", "--no-input")
        assert done.returncode == 0, done.stderr
        migrate_down(config, migration_id="0001_initial", cascade=True)
        assert user_tables(a) == []
        assert user_tables(b) == []
        assert user_tables(c) == []
