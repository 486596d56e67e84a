"""Property: random valid operation sequences, emitted for Alembic and Django, give identical
catalogs on two fresh databases, and down-then-up gives the same catalog again."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parity import catalog, emit

from dualorm.django_setup import setup
from dualorm.errors import SpecError
from dualorm.schema import Column, Index, PrimaryKey, Schema, UniqueConstraint, table
from dualorm.spec.ops import (
    AddColumn,
    AddUnique,
    AlterColumn,
    ChangeKind,
    CreateIndex,
    CreateTable,
    DropColumn,
    Operation,
    RenameColumn,
)
from dualorm.testing import scratch_database

TYPES = ["integer", "bigint", "text", "character varying(40)", "boolean", "jsonb"]
DEFAULTS = {
    "integer": "0",
    "bigint": "7",
    "text": "'x'::text",
    "boolean": "true",
    "jsonb": "'{}'::jsonb",
}
NAMES = st.sampled_from(["alpha", "beta", "gamma", "delta"])

# Rendering Django constraints reads settings (their default messages are lazy translations).
setup(offline=True)


@st.composite
def operations(draw: st.DrawFn) -> list[Operation]:
    schema: Schema = Schema()
    ops: list[Operation] = []
    for step in range(draw(st.integers(2, 7))):
        names = [t.name for t in schema]
        kind = draw(
            st.sampled_from(["create", "add", "drop", "alter", "rename", "index", "unique"])
        )
        op: Operation
        if kind == "create" or not names:
            name = f"t{step}_{draw(NAMES)}"
            op = CreateTable(
                table(
                    name,
                    [
                        Column("id", "bigint", nullable=False),
                        Column("v", draw(st.sampled_from(TYPES))),
                    ],
                    primary_key=PrimaryKey(f"{name}_pkey", ("id",)),
                )
            )
        else:
            t = schema.get(draw(st.sampled_from(names)))
            assert t is not None
            column = draw(st.sampled_from(t.columns))
            key = () if t.primary_key is None else t.primary_key.columns
            type_ = draw(st.sampled_from(TYPES))
            if kind == "add":
                default = DEFAULTS.get(type_) if draw(st.booleans()) else None
                new = Column(
                    f"c{step}",
                    type_,
                    nullable=draw(st.booleans()) or default is None,
                    default=default,
                )
                op = AddColumn(t.name, new if default else Column(new.name, type_))
            elif kind == "drop":
                op = DropColumn(t.name, column)
            elif kind == "alter" and column.name not in key:
                # A primary key column cannot be made nullable (apply refuses): rename it.
                op = AlterColumn(
                    t.name,
                    column,
                    Column(column.name, column.type, nullable=not column.nullable),
                    ChangeKind.NULL,
                )
            elif kind in ("alter", "rename"):
                op = RenameColumn(t.name, column.name, f"{column.name}_{step}")
            elif kind == "index":
                op = CreateIndex(
                    t.name,
                    Index(
                        f"{t.name}_{column.name}_idx{step}",
                        (column.name,),
                        where=None if draw(st.booleans()) else f"{column.name} IS NOT NULL",
                    ),
                )
            else:
                op = AddUnique(
                    t.name, UniqueConstraint(f"{t.name}_{column.name}_key{step}", (column.name,))
                )
        try:
            schema = op.apply(schema)
        except SpecError:
            continue
        ops.append(op)
    return ops


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations(), cut=st.integers(0, 4))
def test_emitted_migrations_build_identical_catalogs(
    admin_url: str, tmp_path_factory: pytest.TempPathFactory, ops: list[Operation], cut: int
) -> None:
    emitted = emit(ops, tmp_path_factory.mktemp("prop"), cut)
    with scratch_database(admin_url, "qa") as a, scratch_database(admin_url, "qb") as b:
        emitted.upgrade(a, b)
        first = catalog(a)
        assert first == catalog(b)
        emitted.downgrade(a, b)
        assert catalog(a) == catalog(b) == Schema()
        emitted.upgrade(a, b)
        assert catalog(a) == first == catalog(b)
