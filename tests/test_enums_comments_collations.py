"""Enum types, comments and collations: read alike from SQLAlchemy, Django and the catalog,
and each difference reported as its own kind with its severity and the values a change needs."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import create_engine
from sqlalchemy.dialects import postgresql

from dualorm.db import connect, sqlalchemy_url
from dualorm.diff import DiffKind, Severity, compare
from dualorm.normalize import normalize
from dualorm.schema import Column, EnumType, schema, table
from dualorm.sources import postgres
from dualorm.sources import sqlalchemy as sa_source


def _metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Enum("low", "high", name="priority", metadata=metadata)
    sa.Table(
        "tickets",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "state",
            sa.Enum("open", "closed", name="Ticket State"),
            nullable=False,
            server_default="open",
        ),
        sa.Column("tags", postgresql.ARRAY(sa.Enum("bug", "idea", name="tag"))),
        sa.Column("code", sa.String(20, collation="C"), comment="sorted bytewise"),
        sa.Column("note", sa.Text(collation="POSIX")),
        sa.Column("external", postgresql.ENUM(name="made_elsewhere", create_type=False)),
        sa.Column("kind", sa.Enum("a", "b", native_enum=False)),
        comment="support tickets",
    )
    return metadata


def test_sqlalchemy_states_enum_types_collations_and_comments() -> None:
    s = sa_source.load(_metadata())
    assert s.enums == (
        EnumType("Ticket State", labels=("open", "closed")),
        EnumType("priority", labels=("low", "high")),
        EnumType("tag", labels=("bug", "idea")),
    )
    t = s.get("tickets")
    assert t is not None and t.comment == "support tickets"
    columns = {c.name: c for c in t.columns}
    assert columns["state"].type == '"Ticket State"'
    assert columns["tags"].type == "tag[]"
    # A create_type=False enum without labels refers to a type created elsewhere.
    assert columns["external"].type == "made_elsewhere"
    assert (columns["code"].type, columns["code"].collation) == ("character varying(20)", "C")
    assert columns["code"].comment == "sorted bytewise"
    assert (columns["note"].type, columns["note"].collation) == ("text", "POSIX")
    assert columns["kind"].type == "character varying(1)" and columns["kind"].choices


def test_create_all_reads_back_equal_from_the_catalog(database_url: str) -> None:
    metadata = _metadata()
    with connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TYPE made_elsewhere AS ENUM ('x')")
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    catalog = postgres.load(database_url)
    model = sa_source.load(metadata)
    with connect(database_url) as conn:
        model = normalize(model, conn)
    assert catalog.get("tickets") == model.get("tickets")
    # The catalog also holds the type created elsewhere; the model only names it.
    assert [e for e in catalog.enums if e.name != "made_elsewhere"] == list(model.enums)
    found = compare(model, catalog)
    assert [(d.kind, d.object) for d in found] == [(DiffKind.EXTRA_ENUM, "made_elsewhere")]


def test_drift_in_labels_comments_and_collations_is_reported(database_url: str) -> None:
    metadata = _metadata()
    engine = create_engine(sqlalchemy_url(database_url))
    with connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TYPE made_elsewhere AS ENUM ('x')")
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    with connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TYPE tag ADD VALUE 'chore' BEFORE 'bug'")
        conn.execute("ALTER TYPE tag RENAME VALUE 'idea' TO 'feature'")
        conn.execute("DROP TYPE priority")
        conn.execute("COMMENT ON TABLE tickets IS NULL")
        conn.execute("COMMENT ON COLUMN tickets.code IS 'bytes'")
        conn.execute('ALTER TABLE tickets ALTER COLUMN note TYPE text COLLATE "C"')
    model = sa_source.load(metadata)
    with connect(database_url) as conn:
        model = normalize(model, conn)
    found = [
        (d.kind, d.object, d.severity, d.from_value, d.to_value)
        for d in compare(model, postgres.load(database_url))
        if d.object != "made_elsewhere"
    ]
    assert found == [
        (DiffKind.MISSING_ENUM, "priority", Severity.ERROR, "low, high", None),
        (DiffKind.ENUM_LABEL_MISSING, "tag", Severity.ERROR, "idea", None),
        (DiffKind.ENUM_LABEL_EXTRA, "tag", Severity.WARNING, None, "chore"),
        (DiffKind.ENUM_LABEL_EXTRA, "tag", Severity.WARNING, None, "feature"),
        (DiffKind.COMMENT_MISMATCH, "tickets", Severity.WARNING, "support tickets", None),
        (DiffKind.COMMENT_MISMATCH, "tickets.code", Severity.WARNING, "sorted bytewise", "bytes"),
        (DiffKind.COLLATION_MISMATCH, "tickets.note", Severity.ERROR, "POSIX", "C"),
    ]


def test_label_order_and_details() -> None:
    a = schema([], [EnumType("mood", labels=("sad", "ok", "happy"))])
    b = schema([], [EnumType("mood", labels=("happy", "sad", "ok"))])
    (order,) = compare(a, b)
    assert order.kind is DiffKind.ENUM_LABEL_ORDER and order.severity is Severity.WARNING
    assert order.detail == (
        "enum type mood orders its labels ('sad', 'ok', 'happy') in sqlalchemy but "
        "('happy', 'sad', 'ok') in database; ORDER BY and comparisons differ"
    )
    (added,) = compare(
        schema([], [EnumType("mood", labels=("sad", "new", "ok"))]),
        schema([], [EnumType("mood", labels=("sad", "ok"))]),
    )
    assert added.detail == (
        "enum type mood has label 'new' (after 'sad') in sqlalchemy but not in database "
        "(ALTER TYPE ... ADD VALUE)"
    )


def test_a_source_without_enum_types_compares_enum_columns_by_name_only() -> None:
    column = Column("state", "ticket_state")
    models = schema([table("t", [column])], declares_enums=False)
    catalog = schema([table("t", [column])], [EnumType("ticket_state", labels=("a",))])
    assert compare(models, catalog, source="django") == []
    other = schema([table("t", [Column("state", "other_state")])], declares_enums=False)
    (found,) = compare(other, catalog, source="django")
    assert found.kind is DiffKind.TYPE_MISMATCH


def test_an_enum_used_only_by_a_table_the_source_does_not_own_is_not_extra() -> None:
    used = schema(
        [table("legacy", [Column("state", "legacy_state")])],
        [EnumType("legacy_state", labels=("a",))],
    )
    found = compare(schema(), used, ownership={"legacy": "django"})
    assert found == []
    assert [d.kind for d in compare(schema(), used)] == [
        DiffKind.EXTRA_ENUM,
        DiffKind.EXTRA_TABLE,
    ]


def test_an_enum_the_server_refuses_is_named_not_a_crash(database_url: str) -> None:
    import pytest

    from dualorm.errors import DualormError

    metadata = sa.MetaData()
    sa.Table(
        "t",
        metadata,
        sa.Column("state", sa.Enum("x" * 70, name="too_long"), server_default="x"),
    )
    with connect(database_url) as conn, pytest.raises(DualormError) as caught:
        normalize(sa_source.load(metadata), conn)
    assert "enum types" in str(caught.value) and "invalid enum label" in str(caught.value)


class _Priority(sa.TypeDecorator[str]):
    """An application's own column type over a native enum (the impl creates the type)."""

    impl = sa.Enum
    cache_ok = True


class _Code(sa.TypeDecorator[str]):
    impl = sa.String(20, collation="C")
    cache_ok = True


class _Key(sa.TypeDecorator[int]):
    impl = sa.BigInteger
    cache_ok = True


def _wrapped_metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Enum("draft", "live", name="page_state", metadata=metadata)
    postgresql.ENUM("eu", "us", name="region", metadata=metadata)
    sa.Table(
        "pages",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("priority", _Priority("low", "high", name="priority")),
        sa.Column(
            "kind",
            sa.String(10).with_variant(sa.Enum("a", "b", name="page_kind"), "postgresql"),
        ),
        sa.Column(
            "size",
            sa.String(10).with_variant(sa.Enum("s", "m", name="mysql_size"), "mysql"),
        ),
        sa.Column("labels", postgresql.ARRAY(_Priority("x", "y", name="label"))),
        sa.Column("code", _Code()),
        sa.Column("mode", _Priority("on", "off", native_enum=False)),
    )
    # The dialect renders a key of a TypeDecorator over an integer as BIGSERIAL too.
    sa.Table("revisions", metadata, sa.Column("id", _Key, primary_key=True))
    return metadata


def test_a_column_is_read_as_the_type_postgresql_gets_under_variants_and_decorators(
    database_url: str,
) -> None:
    # An enum declared on the MetaData alone, under a TypeDecorator, as the PostgreSQL
    # variant: each is a type create_all creates (an enum variant of another dialect is not).
    metadata = _wrapped_metadata()
    model = sa_source.load(metadata)
    assert {e.name: e.labels for e in model.enums} == {
        "label": ("x", "y"),
        "page_kind": ("a", "b"),
        "page_state": ("draft", "live"),
        "priority": ("low", "high"),
        "region": ("eu", "us"),
    }
    pages = model.get("pages")
    assert pages is not None
    columns = {c.name: c for c in pages.columns}
    assert columns["priority"].type == "priority" and columns["labels"].type == "label[]"
    assert columns["kind"].type == "page_kind"
    assert columns["size"].type == "character varying(10)"
    assert (columns["code"].type, columns["code"].collation) == ("character varying(20)", "C")
    assert columns["mode"].choices == ("on", "off")
    revisions = model.get("revisions")
    assert revisions is not None
    assert revisions.columns[0].default == "nextval('revisions_id_seq'::regclass)"
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    with connect(database_url) as conn:
        model = normalize(model, conn)
    assert compare(model, postgres.load(database_url)) == []
