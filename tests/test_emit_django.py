"""The Django emitter: the database side is the shared SQL, the state follows the models."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from dualorm.django_setup import setup
from dualorm.emit import sql as sql_emit
from dualorm.emit.django import django_operation, render_migration
from dualorm.emit.django_state import StateContext
from dualorm.emit.django_target import DjangoTarget
from dualorm.schema import Column, Index, PrimaryKey, Schema, table
from dualorm.schema import schema as build_schema
from dualorm.spec.model import Migration
from dualorm.spec.ops import (
    AddColumn,
    CreateIndex,
    Operation,
    RunPython,
    ValidateConstraint,
)

setup(offline=True)
TARGET = DjangoTarget()


def test_the_django_emitter_loads_without_sqlalchemy_or_the_alembic_emitter() -> None:
    """A Django-only project renders its migrations without SQLAlchemy being imported."""
    code = (
        "import sys, dualorm.emit.django; "
        "print([m for m in ('sqlalchemy', 'dualorm.emit.alembic') if m in sys.modules])"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


def _schema() -> Schema:
    return build_schema(
        [
            table(
                "widget_parts",
                [Column("id", "bigint", nullable=False), Column("label", "text")],
                primary_key=PrimaryKey("widget_parts_pkey", ("id",)),
            )
        ]
    )


def test_database_side_is_exactly_the_shared_sql() -> None:
    from django.db import migrations

    op = AddColumn("widget_parts", Column("size", "character varying(20)", nullable=False))
    before = _schema()
    made = django_operation(op, StateContext(DjangoTarget(), before, op.apply(before)))
    assert isinstance(made, migrations.SeparateDatabaseAndState)
    (database,) = made.database_operations
    assert list(database.sql.statements) == list(sql_emit.statements(op))
    assert list(database.reverse_sql.statements) == list(sql_emit.statements(op.reverse()))
    (state,) = made.state_operations
    assert (state.model_name, state.name) == ("widgetparts", "size")
    assert state.field.max_length == 20 and not state.field.null


def test_concurrent_index_and_validation_have_no_state_or_just_an_index() -> None:
    from django.db import migrations

    before = _schema()
    validate = ValidateConstraint("widget_parts", "widget_parts_pkey")
    made = django_operation(validate, StateContext(DjangoTarget(), before, before))
    assert isinstance(made, migrations.RunSQL)
    op = CreateIndex("widget_parts", Index("widget_parts_label_idx", ("label",)), concurrently=True)
    made = django_operation(op, StateContext(DjangoTarget(), before, op.apply(before)))
    assert made.state_operations[0].index.name == "widget_parts_label_idx"


def _migration(spec_id: str, operations: tuple[Operation, ...]) -> Migration:
    return Migration(spec_id, spec_id, "", "", ("0001_base",), operations, "0" * 64)


def test_a_migration_building_an_index_concurrently_is_not_atomic() -> None:
    """Django must not wrap it in a transaction: PostgreSQL refuses the concurrent build."""
    covering = Index("widget_parts_label_idx", ("label",), include=("id",))
    ops = (CreateIndex("widget_parts", covering, concurrently=True),)
    text = render_migration(_migration("0002_x", ops), "x.yaml", _schema(), TARGET)
    namespace: dict[str, Any] = {}
    exec(compile(text, "0002_x.py", "exec"), namespace)  # the file as Django imports it
    made = namespace["Migration"]("0002_x", "app")
    assert made.atomic is False
    (index_op,) = made.operations[0].state_operations
    assert index_op.index.include == ("id",)
    plain = (CreateIndex("widget_parts", covering),)
    text = render_migration(_migration("0002_y", plain), "y.yaml", _schema(), TARGET)
    assert "atomic" not in text


def test_run_python_hands_the_function_a_psycopg_connection() -> None:
    from dualorm.emit.django import RunFunction

    made = django_operation(
        RunPython("json:dumps", "json:loads"), StateContext(DjangoTarget(), Schema(), Schema())
    )
    assert isinstance(made, RunFunction)
    assert made.deconstruct() == (
        "RunFunction",
        [],
        {"function": "json:dumps", "reverse_function": "json:loads"},
    )
    assert made.reversible


def test_enum_types_have_no_state_and_comments_and_collations_do() -> None:
    from django.db import migrations

    from dualorm.schema import EnumType
    from dualorm.spec.ops import AlterColumn, ChangeKind, CreateEnum, SetComment

    before = _schema()
    create = CreateEnum(EnumType("mood", labels=("sad", "happy")))
    made = django_operation(create, StateContext(TARGET, before, create.apply(before)))
    assert isinstance(made, migrations.RunSQL)
    assert list(made.sql.statements) == ["CREATE TYPE \"public\".\"mood\" AS ENUM ('sad', 'happy')"]

    comment = SetComment("widget_parts", None, None, "parts of widgets")
    made = django_operation(comment, StateContext(TARGET, before, comment.apply(before)))
    (state,) = made.state_operations
    assert isinstance(state, migrations.AlterModelTableComment)
    assert (state.name, state.table_comment) == ("WidgetParts", "parts of widgets")

    label = before.get("widget_parts").column("label")  # type: ignore[union-attr]
    assert label is not None
    collate = AlterColumn(
        "widget_parts", label, Column("label", "text", collation="C"), ChangeKind.COLLATION
    )
    made = django_operation(collate, StateContext(TARGET, before, collate.apply(before)))
    (state,) = made.state_operations
    assert state.field.db_collation == "C"
