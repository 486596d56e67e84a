"""``SchemaValidator``: the reference schema three ways, ownership, and the offline pair."""

from __future__ import annotations

import pytest
from psycopg import sql
from sqlalchemy import create_engine

from dualorm.config import Config
from dualorm.db import connection, sqlalchemy_url
from dualorm.errors import ConfigError
from dualorm.ownership import Ownership
from dualorm.validate import (
    MODEL_LOADERS,
    SOURCES,
    SchemaValidator,
    ValidationResult,
    parse_sources,
)
from sa_models.models import Base
from tests.reference import REFERENCE_APP


@pytest.fixture
def created(database_url: str) -> str:
    engine = create_engine(sqlalchemy_url(database_url))
    Base.metadata.create_all(engine)
    engine.dispose()
    return database_url


def validator(url: str | None, *sources: str, **config: object) -> SchemaValidator:
    return SchemaValidator(
        Config(database_url=url, **{**REFERENCE_APP, **config}),  # type: ignore[arg-type]
        sources=sources or ("sqlalchemy", "django", "database"),
    )


def test_sqlalchemy_against_create_all_is_valid(created: str) -> None:
    result = validator(created, "sqlalchemy", "database").validate_schema()
    assert result.errors == []
    assert result.valid
    assert result.to_dict() == {"valid": True, "errors": [], "warnings": []}


def test_reference_schema_agrees_three_ways(created: str) -> None:
    result = validator(created).validate_schema()
    assert result.pairs == [
        ("sqlalchemy", "django"),
        ("sqlalchemy", "database"),
        ("django", "database"),
    ]
    # The models declare every FK DEFERRABLE INITIALLY DEFERRED, as Django creates them.
    assert [e.to_dict() for e in result.errors] == []
    # What Django cannot put in the database is explained, not failed.
    details = " ".join(w.detail for w in result.warnings)
    assert "Django emulates ON DELETE CASCADE in Python" in details
    kinds = {w.kind for w in result.warnings}
    assert "name_mismatch" in kinds and "fk_action_mismatch" in kinds


def test_models_compare_without_any_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = validator(None, "sqlalchemy", "django").validate_schema()
    assert result.pairs == [("sqlalchemy", "django")]
    assert [e.to_dict() for e in result.errors] == []


def test_models_compare_when_the_optional_database_is_down() -> None:
    down = "postgresql://app:pw@127.0.0.1:1/nothing"
    result = validator(down, "sqlalchemy", "django").validate_schema()
    assert isinstance(result, ValidationResult)
    assert result.sources == ("sqlalchemy", "django")


@pytest.mark.parametrize(
    ("owner", "reported"),
    [(Ownership.EXTERNAL, False), (Ownership.DJANGO, False), (Ownership.SHARED, True)],
    ids=["external", "django-owned", "shared"],
)
def test_owned_tables_are_not_missing_from_the_other_orm(
    created: str, owner: Ownership, reported: bool
) -> None:
    with connection(created, autocommit=True) as conn:
        conn.execute("CREATE TABLE legacy_reports (id int PRIMARY KEY)")
    result = validator(
        created, "sqlalchemy", "database", ownership={"legacy_reports": owner}
    ).validate_schema()
    assert any(e.object == "legacy_reports" for e in result.errors) is reported


def test_data_issues_count_as_errors(created: str) -> None:
    with connection(created, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE accounts DROP CONSTRAINT accounts_user_id_fkey;"
            "INSERT INTO accounts (user_id, type, provider, provider_account_id)"
            " VALUES (gen_random_uuid(), 'fax', 'github', '1')"
        )
    v = SchemaValidator(
        Config(database_url=created, **REFERENCE_APP), sources=("sqlalchemy", "database"), data=True
    )
    result = v.validate_schema()
    kinds = {(e.kind, e.object) for e in result.errors}
    assert ("choice_violation", "accounts.type") in kinds
    assert ("orphan", "accounts.accounts_user_id_fkey") in kinds
    assert ("missing_constraint", "accounts.accounts_user_id_fkey") in kinds
    assert not result.valid


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("database,sqlalchemy", ("sqlalchemy", "database")),
        (" Django , database ", ("django", "database")),
        (["database", "django", "sqlalchemy"], ("sqlalchemy", "django", "database")),
        ("sqlalchemy,sqlalchemy,django", ("sqlalchemy", "django")),
    ],
    ids=["reordered", "spaces-and-case", "all-three", "duplicates"],
)
def test_parse_sources(value: str | list[str], expected: tuple[str, ...]) -> None:
    assert parse_sources(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("sqlalchemy,oracle", "oracle"), ("database", "at least two"), ("", "at least two")],
    ids=["unknown", "one", "none"],
)
def test_parse_sources_rejects(value: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_sources(value)


def test_a_not_deferrable_database_fk_is_an_error_for_django(created: str) -> None:
    with connection(created, autocommit=True) as conn:
        fks = conn.execute(
            "SELECT c.relname, conname FROM pg_constraint JOIN pg_class c ON c.oid = conrelid"
            " WHERE contype = 'f'"
        ).fetchall()
        for table, name in fks:
            conn.execute(
                sql.SQL("ALTER TABLE {} ALTER CONSTRAINT {} NOT DEFERRABLE").format(
                    sql.Identifier(table), sql.Identifier(name)
                )
            )
    result = validator(created, "django", "database").validate_schema()
    deferral = [e for e in result.errors if "relies on deferring it" in e.detail]
    assert len(deferral) == len(fks) > 0
    result = validator(created, "sqlalchemy", "database").validate_schema()
    assert {e.kind for e in result.errors} == {"constraint_mismatch"}
    assert len(result.errors) == len(fks)


def test_every_source_is_the_catalog_or_has_a_loader() -> None:
    """A source named in SOURCES but read by nobody would fail only when a user chose it."""
    assert [s for s in SOURCES if s != "database" and s not in MODEL_LOADERS] == []
    assert set(MODEL_LOADERS) <= set(SOURCES)
