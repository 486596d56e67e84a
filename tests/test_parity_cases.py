"""Parity cases the property test found, kept as plain tests of the normal suite.

Each case is a short operation list, emitted as an Alembic revision and a Django migration,
applied to two fresh databases: the catalogs agree, down to zero empties both, and up again
gives the same catalog.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from parity import catalog, emit

from dualorm.django_setup import setup
from dualorm.schema import (
    Column,
    EnumType,
    ForeignKey,
    Index,
    PrimaryKey,
    Schema,
    Table,
    UniqueConstraint,
    table,
)
from dualorm.spec.ops import (
    AddForeignKey,
    AddUnique,
    CreateEnum,
    CreateIndex,
    CreateTable,
    DropEnumValue,
    DropTable,
    Operation,
    RenameColumn,
    enum_users,
    rebuild_dependents,
)
from dualorm.testing import scratch_database

setup(offline=True)


def _keyed(name: str, key_type: str) -> CreateTable:
    return CreateTable(
        table(
            name,
            [Column("id", key_type, nullable=False), Column("v", "integer")],
            primary_key=PrimaryKey(f"{name}_pkey", ("id",)),
        )
    )


def _keyed_with_unique(name: str) -> Table:
    return replace(
        _keyed(name, "bigint").definition, uniques=(UniqueConstraint(f"{name}_id_key1", ("id",)),)
    )


def _rebuilt_under_a_generated_column() -> list[Operation]:
    """An enum type losing a label while a stored generated column (indexed) reads its column."""
    mood = EnumType("e0_mood", labels=("new", "old", "x"))
    ops: list[Operation] = [
        CreateEnum(mood),
        CreateTable(
            table(
                "t1_alpha",
                [
                    Column("id", "bigint", nullable=False),
                    Column("v", "e0_mood"),
                    Column("g", "boolean", generated="(v IS NOT NULL)"),
                    Column("ref", "bigint"),
                ],
                primary_key=PrimaryKey("t1_alpha_pkey", ("id",)),
                indexes=[Index("t1_alpha_g_idx", ("g",))],
            )
        ),
    ]
    schema = Schema()
    for op in ops:
        schema = op.apply(schema)
    users = enum_users(schema, mood)
    return [*ops, DropEnumValue(mood, "old", users, rebuild_dependents(schema, mood, users))]


CASES: dict[str, list[Operation]] = {
    # ALTER COLUMN ... TYPE of the rebuilt enum type was refused: a generated column reads it.
    "enum_rebuilt_under_a_generated_column": _rebuilt_under_a_generated_column(),
    # SQLAlchemy made a lone integer primary key BIGSERIAL on the Alembic side only.
    "bigint_primary_key_stays_plain": [_keyed("t0_alpha", "bigint"), _keyed("t1_alpha", "integer")],
    "smallint_primary_key_stays_plain": [_keyed("t0_beta", "smallint")],
    # Rendering the unique constraint's Django state needs configured settings.
    "unique_on_the_primary_key": [
        _keyed("t0_gamma", "bigint"),
        AddUnique("t0_gamma", UniqueConstraint("t0_gamma_id_key1", ("id",))),
    ],
    # CREATE TABLE folds a UNIQUE on the primary key's columns into the key: re-creating the
    # dropped table on the way down lost the constraint, and dropping it then failed.
    "dropped_table_with_unique_on_its_key": [
        _keyed("t0_delta", "bigint"),
        AddUnique("t0_delta", UniqueConstraint("t0_delta_id_key1", ("id",))),
        DropTable(_keyed_with_unique("t0_delta")),
    ],
    "created_table_with_unique_on_its_key": [CreateTable(_keyed_with_unique("t0_eps"))],
    "created_table_with_two_equal_uniques": [
        CreateTable(
            replace(
                _keyed("t0_zeta", "bigint").definition,
                uniques=(
                    UniqueConstraint("t0_zeta_v_key", ("v",)),
                    UniqueConstraint("t0_zeta_v_key2", ("v",)),
                ),
            )
        )
    ],
    # Key orderings: "-field" in Django, ordered expressions where Django needs them.
    "index_key_orderings": [
        _keyed("t0_eta", "bigint"),
        CreateIndex("t0_eta", Index("t0_eta_v_id_idx", ("v", "id"), orders=("DESC", ""))),
        CreateIndex(
            "t0_eta",
            Index("t0_eta_nulls_idx", ("v", "id"), orders=("NULLS FIRST", "DESC NULLS LAST")),
        ),
        CreateIndex(
            "t0_eta",
            Index("t0_eta_unique_desc_idx", ("v",), unique=True, orders=("DESC",), include=("id",)),
        ),
    ],
    # A self-referencing foreign key names a renamed key column on both of its sides.
    "renamed_key_of_a_self_referencing_table": [
        CreateTable(
            table(
                "t0_theta",
                [
                    Column("id", "bigint", nullable=False),
                    Column("v", "integer"),
                    Column("ref", "bigint"),
                ],
                primary_key=PrimaryKey("t0_theta_pkey", ("id",)),
            )
        ),
        AddForeignKey("t0_theta", ForeignKey("t0_theta_ref_fk", ("ref",), "t0_theta", ("id",))),
        RenameColumn("t0_theta", "id", "id_4"),
    ],
}


@pytest.mark.parametrize("ops", CASES.values(), ids=CASES.keys())
def test_both_tools_build_the_same_catalog(
    admin_url: str, tmp_path: Path, ops: list[Operation]
) -> None:
    expected = Schema()
    for op in ops:
        expected = op.apply(expected)
    emitted = emit(ops, tmp_path)
    with scratch_database(admin_url, "ca") as a, scratch_database(admin_url, "cb") as b:
        emitted.upgrade(a, b)
        first = catalog(a)
        assert first == catalog(b)
        assert first == expected
        emitted.downgrade(a, b)
        assert catalog(a) == catalog(b) == Schema()
        emitted.upgrade(a, b)
        assert catalog(a) == first == catalog(b)
