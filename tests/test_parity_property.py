"""Property: random valid operation sequences, emitted for Alembic and Django, give identical
catalogs on two fresh databases, and down-then-up gives the same catalog again."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parity import ROOT, alembic_config, catalog, django_admin

from dualorm.emit.alembic import render_revision
from dualorm.emit.django import DjangoTarget, render_migration
from dualorm.errors import SpecError
from dualorm.schema import Column, Index, PrimaryKey, Schema, UniqueConstraint, table
from dualorm.spec.model import Migration
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


@st.composite
def operations(draw: st.DrawFn) -> list[Operation]:
    schema, ops = Schema(), []
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
            elif kind == "alter" and column.name != "id":
                # PostgreSQL refuses DROP NOT NULL on a primary key column.
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
                        where=None if draw(st.booleans()) else "id > 0",
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


def _emit(ops: list[Operation], cut: int, work: Path) -> None:
    token = uuid.uuid4().hex[:8]
    specs = [ops[:cut], ops[cut:]] if 0 < cut < len(ops) else [ops]
    versions = work / "alembic" / "versions"
    versions.mkdir(parents=True)
    shutil.copy(ROOT / "migrations/alembic/env.py", work / "alembic/env.py")
    package = work / f"prop_{token}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (work / f"prop_settings_{token}.py").write_text(
        "from django_app.settings import *  # noqa: F403\n"
        f"MIGRATION_MODULES = {{'django_app': 'prop_{token}'}}\n"
    )
    before, previous = Schema(), ()
    for number, chunk in enumerate(specs, start=1):
        m = Migration(f"{number:04d}_p{token}", "step", "", "", previous, tuple(chunk), token)
        (versions / f"{m.id}.py").write_text(render_revision(m, "generated"))
        (package / f"{m.id}.py").write_text(
            render_migration(m, "generated", before, DjangoTarget())
        )
        for op in chunk:
            before = op.apply(before)
        previous = (m.id,)


@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations(), cut=st.integers(0, 4))
def test_emitted_migrations_build_identical_catalogs(
    admin_url: str, tmp_path_factory: pytest.TempPathFactory, ops: list[Operation], cut: int
) -> None:
    work = tmp_path_factory.mktemp("prop")
    _emit(ops, cut, work)
    settings_module = next(p.stem for p in work.glob("prop_settings_*.py"))
    with scratch_database(admin_url, "qa") as a, scratch_database(admin_url, "qb") as b:
        config = alembic_config(a, work / "alembic")
        command.upgrade(config, "head")
        done = django_admin(b, "migrate", "--no-input", settings=settings_module, path=work)
        assert done.returncode == 0, done.stderr
        first = catalog(a)
        assert first == catalog(b)
        command.downgrade(config, "base")
        done = django_admin(
            b, "migrate", "django_app", "zero", "--no-input", settings=settings_module, path=work
        )
        assert done.returncode == 0, done.stderr
        assert catalog(a) == catalog(b) == Schema()
        command.upgrade(config, "head")
        done = django_admin(b, "migrate", "--no-input", settings=settings_module, path=work)
        assert done.returncode == 0, done.stderr
        assert catalog(a) == first == catalog(b)
