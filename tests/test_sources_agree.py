"""The contract: the SQLAlchemy and Django model sets describe one schema, and so does the catalog.

The two model sets may differ only where Django 5.2 cannot do what SQLAlchemy does, and those
differences are asserted exactly, so that any other drift between ``sa_models`` and
``django_app.models`` fails here:

* foreign key names: Django hashes them (``<table>_<column>_<hash>_fk_<to_table>_<to_column>``);
* foreign key behaviour: both declare every FK ``DEFERRABLE INITIALLY DEFERRED``; Django
  creates it with no referential action and applies ``on_delete`` in Python
  (``emulated_on_delete``);
* Django's ``_like`` pattern index beside an indexed ``varchar``/``text`` column (here the
  ``varchar`` primary key of ``user_preferences``).
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlalchemy import create_engine

from dualorm.db import connection, sqlalchemy_url
from dualorm.schema import FkAction, ForeignKey, Index, Schema, Table, normalized
from dualorm.sources import django as django_source
from dualorm.sources import postgres
from dualorm.sources import sqlalchemy as sa_source
from dualorm.validate import SOURCES
from sa_models import Base

DJANGO_FK_NAME = re.compile(r"^(?P<table>\w+?)_(?P<column>\w+)_[0-9a-f]{8}_fk_(?P<to>\w+)$")
EXPECTED_LIKE_INDEXES = {("user_preferences", ("id",))}


@pytest.fixture(scope="module")
def sa_schema() -> Schema:
    return sa_source.load(sa_source.resolve_metadata("sa_models:Base.metadata"))


@pytest.fixture(scope="module")
def django_schema() -> Schema:
    return django_source.load(("django_app",), "django_app.settings")


def _neutral_fk(fk: ForeignKey) -> ForeignKey:
    return replace(
        fk, name="", on_delete=FkAction.NO_ACTION, deferrable=False, initially_deferred=False
    )


def _is_like(index: Index) -> bool:
    return index.name.endswith("_like")


def _without_documented_differences(t: Table) -> Table:
    return normalized(
        replace(
            t,
            foreign_keys=tuple(_neutral_fk(fk) for fk in t.foreign_keys),
            indexes=tuple(i for i in t.indexes if not _is_like(i)),
        )
    )


def _assert_agree_up_to_documented_differences(sa: Schema, dj: Schema) -> None:
    """Assert ``sa`` and ``dj`` differ exactly by the documented differences, table by table."""
    assert sa.keys() == dj.keys()
    like_indexes = set()
    for sa_table, dj_table in zip(sa, dj, strict=True):
        assert _without_documented_differences(sa_table) == _without_documented_differences(
            dj_table
        ), sa_table.name
        assert not any(_is_like(i) for i in sa_table.indexes)
        for index in dj_table.indexes:
            if _is_like(index):
                like_indexes.add((dj_table.name, index.columns))
                assert index.name.startswith(f"{dj_table.name}_{index.columns[0]}_")
        _assert_foreign_keys_differ_as_documented(sa_table, dj_table)
    assert like_indexes == EXPECTED_LIKE_INDEXES


def _assert_foreign_keys_differ_as_documented(sa_table: Table, dj_table: Table) -> None:
    sa_fks = {fk.columns: fk for fk in sa_table.foreign_keys}
    dj_fks = {fk.columns: fk for fk in dj_table.foreign_keys}
    assert sa_fks.keys() == dj_fks.keys()
    for columns, sa_fk in sa_fks.items():
        dj_fk = dj_fks[columns]
        assert sa_fk.name == f"{sa_table.name}_{'_'.join(columns)}_fkey"
        match = DJANGO_FK_NAME.match(dj_fk.name)
        assert match is not None, dj_fk.name
        assert match["to"] == f"{sa_fk.ref_table}_{sa_fk.ref_columns[0]}"
        assert (sa_fk.deferrable, sa_fk.initially_deferred) == (True, True)
        assert (dj_fk.deferrable, dj_fk.initially_deferred) == (True, True)
        assert dj_fk.on_delete == FkAction.NO_ACTION
        assert sa_fk.emulated_on_delete is None
        assert dj_fk.emulated_on_delete == sa_fk.on_delete, dj_fk.name


def test_model_sets_agree_up_to_documented_differences(
    sa_schema: Schema, django_schema: Schema
) -> None:
    _assert_agree_up_to_documented_differences(sa_schema, django_schema)


def test_model_sets_agree_on_python_side_choices(sa_schema: Schema, django_schema: Schema) -> None:
    def choices(s: Schema) -> dict[tuple[str, str], tuple[str, ...]]:
        return {(t.name, c.name): c.choices for t in s for c in t.columns if c.choices}

    assert (
        choices(sa_schema)
        == choices(django_schema)
        == {("accounts", "type"): ("oauth", "oidc", "email", "credentials")}
    )


def _drift(s: Schema, kind: str) -> Schema:
    users = s.get("users")
    user_roles = s.get("user_roles")
    assert users is not None and user_roles is not None
    if kind == "type":
        columns = tuple(
            replace(c, type="character varying(254)") if c.name == "email" else c
            for c in users.columns
        )
        return s.with_table(replace(users, columns=columns))
    if kind == "default":
        columns = tuple(
            replace(c, default="statement_timestamp()") if c.name == "created_at" else c
            for c in users.columns
        )
        return s.with_table(replace(users, columns=columns))
    if kind == "index":
        return s.with_table(replace(users, indexes=users.indexes[:1]))
    if kind == "check":
        return s.with_table(replace(users, checks=users.checks[:1]))
    if kind == "emulated on_delete":
        fks = tuple(
            replace(fk, emulated_on_delete=FkAction.CASCADE) for fk in user_roles.foreign_keys
        )
        return s.with_table(replace(user_roles, foreign_keys=fks))
    assert kind == "extra like index"
    extra = Index("users_email_0123abcd_like", ("email",))
    return s.with_table(normalized(replace(users, indexes=(*users.indexes, extra))))


@pytest.mark.parametrize(
    "kind", ["type", "default", "index", "check", "emulated on_delete", "extra like index"]
)
def test_any_other_drift_fails_the_contract(
    sa_schema: Schema, django_schema: Schema, kind: str
) -> None:
    with pytest.raises(AssertionError):
        _assert_agree_up_to_documented_differences(sa_schema, _drift(django_schema, kind))


def test_sources_and_catalog_agree(
    database_url: str, sa_schema: Schema, django_schema: Schema
) -> None:
    from dualorm.normalize import normalize

    engine = create_engine(sqlalchemy_url(database_url))
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    with connection(database_url) as conn:
        catalog = postgres.load(conn)
        sa_normal = normalize(sa_schema, conn)
        django_normal = normalize(django_schema, conn)
    assert sa_normal == catalog
    _assert_agree_up_to_documented_differences(catalog, django_normal)


AGREEMENT = {
    "sqlalchemy": "sa_schema",
    "django": "django_schema",
    "database": "test_sources_and_catalog_agree",
}
"""Where each source of :data:`dualorm.validate.SOURCES` loads the reference schema here."""


def test_every_source_loads_the_reference_schema_here() -> None:
    missing = [s for s in SOURCES if globals().get(AGREEMENT.get(s, "")) is None]
    assert missing == [], "load the reference schema through these sources in this module"
