"""Index operator classes (``varchar_pattern_ops``...) in every source, the diff, specs and
the emitters.

A key's operator class decides which queries an index serves (a ``LIKE 'abc%'`` needs a
pattern class under a non-C collation), so two indexes that differ only there are different
indexes: before, every source dropped the class and such drift validated clean.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from parity import catalog, emit
from sqlalchemy import func

from dualorm.db import connection, sqlalchemy_url
from dualorm.diff import DiffKind, compare
from dualorm.schema import Column, Index, PrimaryKey, Schema, table
from dualorm.sources import postgres
from dualorm.sources import sqlalchemy as sa_source
from dualorm.spec.load import load_specs
from dualorm.spec.ops import CreateIndex, CreateTable
from dualorm.testing import scratch_database

EXPECTED = (
    Index("notes_title_pattern_idx", ("title",), opclasses=("varchar_pattern_ops",)),
    Index("notes_body_lower_idx", ("title", "lower(body)"), opclasses=("", "text_pattern_ops")),
)
# A class and an ordering on one key (SQLAlchemy's postgresql_ops cannot reach a key wrapped
# in desc(): its compiler looks the class up by the outer element's key, and so does the source).
ORDERED = Index(
    "notes_body_desc_idx", ("lower(body)",), orders=("DESC",), opclasses=("text_pattern_ops",)
)


def _metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    notes = sa.Table(
        "notes",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("body", sa.Text),
    )
    sa.Index(
        "notes_title_pattern_idx", notes.c.title, postgresql_ops={"title": "varchar_pattern_ops"}
    )
    # The default class named explicitly is the default: it is not reported.
    sa.Index(
        "notes_body_lower_idx",
        notes.c.title,
        func.lower(notes.c.body).label("body_lower"),
        postgresql_ops={"body_lower": "text_pattern_ops"},
    )
    return metadata


def test_sqlalchemy_and_the_catalog_read_the_same_operator_classes(admin_url: str) -> None:
    metadata = _metadata()
    from_models = sa_source.load(metadata).get("notes")
    assert from_models is not None
    with scratch_database(admin_url, "op") as url:
        engine = sa.create_engine(sqlalchemy_url(url))
        metadata.create_all(engine)
        engine.dispose()
        with connection(url, autocommit=True) as conn:
            conn.execute("CREATE INDEX notes_explicit_default_idx ON notes (body text_ops)")
            loaded = postgres.load(conn).get("notes")
    assert loaded is not None
    assert set(EXPECTED) <= set(loaded.indexes)
    assert Index("notes_explicit_default_idx", ("body",)) in loaded.indexes
    assert sorted(from_models.indexes, key=lambda i: i.name) == sorted(
        EXPECTED, key=lambda i: i.name
    )


def test_an_index_differing_only_in_its_operator_class_is_reported() -> None:
    columns = [Column("title", "character varying(100)")]
    plain = Index("notes_title_idx", ("title",))
    pattern = Index("notes_title_idx", ("title",), opclasses=("varchar_pattern_ops",))
    a = Schema().with_table(table("notes", columns, indexes=(plain,)))
    b = Schema().with_table(table("notes", columns, indexes=(pattern,)))
    found = compare(a, b)
    assert [d.kind for d in found] == [DiffKind.INDEX_MISMATCH]
    assert "title varchar_pattern_ops" in found[0].detail


def test_specs_write_the_operator_class_after_the_key(tmp_path: Path) -> None:
    (tmp_path / "0001_notes.yaml").write_text(
        'id: "0001_notes"\nname: notes\ndependencies: []\noperations:\n'
        "  - create_table:\n      name: notes\n      columns:\n"
        "        - {name: id, type: bigint, primary_key: true}\n"
        "        - {name: title, type: varchar(100), nullable: false}\n"
        "        - {name: body, type: text}\n"
        "  - create_index:\n      name: notes_body_lower_idx\n      table: notes\n"
        "      columns: [title, lower(body) text_pattern_ops]\n"
        "  - create_index:\n      name: notes_body_desc_idx\n      table: notes\n"
        "      columns: [lower(body) text_pattern_ops DESC]\n"
        "  - create_index: {name: notes_title_pattern_idx, table: notes, "
        "columns: [title varchar_pattern_ops]}\n",
        encoding="utf-8",
    )
    created = [op.index for op in load_specs(tmp_path)[0].operations[1:]]  # type: ignore[attr-defined]
    assert sorted(created, key=lambda i: i.name) == sorted(
        (*EXPECTED, ORDERED), key=lambda i: i.name
    )


def test_alembic_and_django_build_the_same_operator_classes(admin_url: str, tmp_path: Path) -> None:
    notes = table(
        "notes",
        [
            Column("id", "bigint", nullable=False),
            Column("title", "character varying(100)", nullable=False),
            Column("body", "text"),
        ],
        primary_key=PrimaryKey("notes_pkey", ("id",)),
    )
    ops = [
        CreateTable(notes),
        *(CreateIndex("notes", index) for index in (*EXPECTED, ORDERED)),
        CreateIndex(
            "notes",
            Index(
                "notes_both_idx",
                ("title", "body"),
                opclasses=("varchar_pattern_ops", "text_pattern_ops"),
            ),
        ),
    ]
    emitted = emit(ops, tmp_path)
    with scratch_database(admin_url, "oa") as a, scratch_database(admin_url, "ob") as b:
        emitted.upgrade(a, b)
        built = catalog(a)
        assert built == catalog(b)
        indexes = built.get("notes").indexes  # type: ignore[union-attr]
        assert set(EXPECTED) <= set(indexes)
        assert (
            Index(
                "notes_both_idx",
                ("title", "body"),
                opclasses=("varchar_pattern_ops", "text_pattern_ops"),
            )
            in indexes
        )
        emitted.downgrade(a, b)
        assert catalog(a) == catalog(b) == Schema()
