"""Stored generated columns (GENERATED ALWAYS AS (...) STORED) in every source, the diff,
specs and the emitters.

Before, every source dropped the generation (the catalog even hid the expression), so a
column generated on one side and plain on the other validated clean.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa
from parity import catalog, emit

from dualorm.db import connection, sqlalchemy_url
from dualorm.diff import DiffKind, compare
from dualorm.errors import SpecError
from dualorm.normalize import normalize
from dualorm.schema import Column, PrimaryKey, Schema, table
from dualorm.sources import postgres
from dualorm.sources import sqlalchemy as sa_source
from dualorm.spec.load import load_specs
from dualorm.spec.ops import AddColumn, CreateTable
from dualorm.testing import scratch_database


def _metadata(generated: bool) -> sa.MetaData:
    metadata = sa.MetaData()
    total = sa.Computed("price * quantity", persisted=True) if generated else None
    sa.Table(
        "lines",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("price", sa.Integer, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, *([total] if total is not None else [])),
    )
    return metadata


def test_a_generated_column_is_read_alike_and_a_plain_one_is_drift(admin_url: str) -> None:
    with scratch_database(admin_url, "gc") as url:
        engine = sa.create_engine(sqlalchemy_url(url))
        _metadata(True).create_all(engine)
        engine.dispose()
        with connection(url, autocommit=True) as conn:
            database = postgres.load(conn)
            generated = normalize(sa_source.load(_metadata(True)), conn)
            plain = normalize(sa_source.load(_metadata(False)), conn)
    column = database.get("lines").column("total")  # type: ignore[union-attr]
    assert column == Column("total", "integer", generated="(price * quantity)")
    assert compare(generated, database) == []
    found = compare(plain, database)
    assert [d.kind for d in found] == [DiffKind.GENERATED_MISMATCH]
    assert "generated always as (price * quantity) stored in database" in found[0].detail


def test_django_reads_a_generated_field_as_migrate_creates_it() -> None:
    from django.db import connections, models
    from django.test.utils import isolate_apps

    from dualorm.django_setup import setup
    from dualorm.sources.django import _Reader

    setup("django_app.settings", offline=True)
    reader = _Reader(connections["default"])
    with isolate_apps("django_app"):

        class Line(models.Model):
            price = models.IntegerField()
            total = models.GeneratedField(
                expression=models.F("price") * 2,
                output_field=models.IntegerField(),
                db_persist=True,
            )

            class Meta:
                app_label = "django_app"
                db_table = "lines"

        loaded = reader.table(Line)
    assert loaded.column("total") == Column("total", "integer", generated="price * 2")


def test_specs_take_a_generation_and_refuse_it_beside_a_default(tmp_path: Path) -> None:
    spec = (
        'id: "0001_lines"\nname: lines\ndependencies: []\noperations:\n'
        "  - create_table:\n      name: lines\n      columns:\n"
        "        - {name: id, type: bigint, primary_key: true}\n"
        "        - {name: price, type: integer, nullable: false}\n"
        '        - {name: total, type: integer, generated: "price * 2"}\n'
    )
    (tmp_path / "0001_lines.yaml").write_text(spec, encoding="utf-8")
    created = load_specs(tmp_path)[0].operations[0].definition  # type: ignore[attr-defined]
    assert created.column("total") == Column("total", "integer", generated="price * 2")
    (tmp_path / "0001_lines.yaml").write_text(
        spec.replace('generated: "price * 2"', 'generated: "price * 2", server_default: "0"'),
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match="0001_lines.yaml:10: column total is generated"):
        load_specs(tmp_path)


def test_alembic_and_django_build_the_same_generated_columns(
    admin_url: str, tmp_path: Path
) -> None:
    lines = table(
        "lines",
        [
            Column("id", "bigint", nullable=False),
            Column("price", "integer", nullable=False),
            Column("quantity", "integer", nullable=False),
            Column("total", "integer", generated="price * quantity"),
        ],
        primary_key=PrimaryKey("lines_pkey", ("id",)),
    )
    ops = [
        CreateTable(lines),
        AddColumn("lines", Column("label", "text", generated="'line ' || id::text")),
    ]
    expected = Schema()
    for op in ops:
        expected = op.apply(expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emitted = emit(ops, tmp_path)
    with scratch_database(admin_url, "ga") as a, scratch_database(admin_url, "gb") as b:
        emitted.upgrade(a, b)
        built = catalog(a)
        assert built == catalog(b)
        with connection(a, autocommit=True) as conn:
            assert built == normalize(expected, conn)
        emitted.downgrade(a, b)
        assert catalog(a) == catalog(b) == Schema()


def test_the_model_keeps_generated_columns_as_postgresql_does() -> None:
    from dualorm.spec.operation import ChangeKind
    from dualorm.spec.ops import AlterColumn, DropColumn, RenameColumn

    price = Column("price", "integer", nullable=False)
    total = Column("total", "integer", generated="price * 2")
    base = CreateTable(table("lines", [price, total])).apply(Schema())
    renamed = RenameColumn("lines", "price", "amount").apply(base)
    assert renamed.get("lines").column("total").generated == "amount * 2"  # type: ignore[union-attr]
    with pytest.raises(SpecError, match="generated column total"):
        DropColumn("lines", price).apply(base)
    with pytest.raises(SpecError, match="used by generated column"):
        AlterColumn(
            "lines", price, Column("price", "bigint", nullable=False), ChangeKind.TYPE
        ).apply(base)
    with pytest.raises(SpecError, match="cannot have a server_default"):
        AlterColumn(
            "lines", total, Column("total", "integer", default="0"), ChangeKind.DEFAULT
        ).apply(base)
