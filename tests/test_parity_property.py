"""Property: random valid operation sequences, emitted for Alembic and Django, give identical
catalogs on two fresh databases, equal to the schema the operations' own model predicts, and
down-then-up gives the same catalog again."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parity import catalog, emit

from dualorm.db import connect
from dualorm.django_setup import setup
from dualorm.errors import SpecError
from dualorm.normalize import normalize
from dualorm.schema import (
    CheckConstraint,
    Column,
    EnumType,
    FkAction,
    ForeignKey,
    Index,
    PrimaryKey,
    Schema,
    Table,
    UniqueConstraint,
    key_opclasses,
    key_orders,
    table,
)
from dualorm.spec.ops import (
    AddCheck,
    AddColumn,
    AddEnumValue,
    AddForeignKey,
    AddUnique,
    AlterColumn,
    ChangeKind,
    CreateEnum,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropEnum,
    DropEnumValue,
    DropTable,
    Operation,
    RenameColumn,
    RenameEnumValue,
    RenameTable,
    SetComment,
    enum_users,
    rebuild_dependents,
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
# Type changes both tools can make and undo on an empty table: (from, to, using, reverse_using).
RETYPES = [
    ("integer", "bigint", None, None),
    ("bigint", "integer", None, None),
    ("text", "character varying(40)", None, None),
    ("character varying(40)", "text", None, None),
    ("integer", "text", "{c}::text", "{c}::integer"),
]
ORDERS = st.sampled_from(["", "DESC", "NULLS FIRST", "DESC NULLS LAST"])
# A non-default operator class each character type can index with.
PATTERN_OPS = {"text": "text_pattern_ops", "character varying(40)": "varchar_pattern_ops"}
KINDS = [
    "create", "add", "drop", "alter", "rename", "index", "unique",
    "retype", "default", "fk", "check", "rename_table", "drop_table",
    "enum", "enum_value", "drop_enum_value", "rename_value", "drop_enum", "comment",
    "collation",
]  # fmt: skip
LABELS = st.sampled_from(["new", "old", "it's", "Mixed Case", "x"])
COLLATIONS = st.sampled_from(["C", "POSIX", None])
COLLATABLE = ("text", "character varying(40)")

# Rendering Django constraints reads settings (their default messages are lazy translations).
setup(offline=True)


@st.composite
def operations(draw: st.DrawFn) -> list[Operation]:
    schema: Schema = Schema()
    ops: list[Operation] = []
    for step in range(draw(st.integers(2, 7))):
        names = [t.name for t in schema]
        kind = draw(st.sampled_from(KINDS))
        op: Operation
        types = TYPES + [e.reference for e in schema.enums]
        if kind in ENUM_KINDS:
            found = _enum_operation(draw, schema, kind, step)
            if found is None:
                continue
            op = found
        elif kind == "create" or not names:
            name = f"t{step}_{draw(NAMES)}"
            op = CreateTable(
                table(
                    name,
                    [
                        Column("id", "bigint", nullable=False),
                        _drawn_column(draw, "v", draw(st.sampled_from(types))),
                        *([Column("ref", "bigint")] if draw(st.booleans()) else []),
                        # A stored generated column reading v, of a type any v can give.
                        *(
                            [Column("g", "boolean", generated="v IS NOT NULL")]
                            if draw(st.booleans())
                            else []
                        ),
                    ],
                    primary_key=PrimaryKey(f"{name}_pkey", ("id",)),
                )
            )
        else:
            t = schema.get(draw(st.sampled_from(names)))
            assert t is not None
            column = draw(st.sampled_from(t.columns))
            key = () if t.primary_key is None else t.primary_key.columns
            type_ = draw(st.sampled_from(types))
            if kind == "add":
                default = DEFAULTS.get(type_) if draw(st.booleans()) else None
                new = Column(
                    f"c{step}",
                    type_,
                    nullable=draw(st.booleans()) or default is None,
                    default=default,
                )
                plain = _drawn_column(draw, new.name, type_)
                op = AddColumn(t.name, new if default else plain)
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
            elif kind == "retype" and column.name not in key and not _in_fk(schema, t, column):
                choices = [r for r in RETYPES if r[0] == column.type and column.default is None]
                if not choices:
                    continue
                old, new_type, using, back = draw(st.sampled_from(choices))
                op = AlterColumn(
                    t.name,
                    column,
                    Column(column.name, new_type, nullable=column.nullable),
                    ChangeKind.TYPE,
                    using=using and using.format(c=column.name),
                    reverse_using=back and back.format(c=column.name),
                )
            elif kind == "default" and column.type in DEFAULTS:
                default = None if column.default else DEFAULTS[column.type]
                op = AlterColumn(
                    t.name,
                    column,
                    Column(column.name, column.type, nullable=column.nullable, default=default),
                    ChangeKind.DEFAULT,
                )
            elif kind == "fk" and (refs := [c for c in t.columns if _can_reference(t, c)]):
                column = draw(st.sampled_from(refs))
                target = schema.get(draw(st.sampled_from(names)))
                assert target is not None
                op = AddForeignKey(
                    t.name,
                    ForeignKey(
                        f"{t.name}_{column.name}_fk{step}",
                        (column.name,),
                        target.name,
                        ("id",),
                        on_delete=draw(st.sampled_from(list(FkAction))),
                    ),
                )
            elif kind == "check":
                op = AddCheck(
                    t.name,
                    CheckConstraint(f"{t.name}_ck{step}", f"{column.name} IS NOT NULL"),
                )
            elif kind == "comment":
                target = None if draw(st.booleans()) else column.name
                before = t.comment if target is None else column.comment
                comment = None if before is not None else draw(LABELS)
                op = SetComment(t.name, target, before, comment)
            elif kind == "collation" and column.type in COLLATABLE:
                others = [c for c in ("C", "POSIX", None) if c != column.collation]
                collation = draw(st.sampled_from(others))
                op = AlterColumn(
                    t.name, column, replace(column, collation=collation), ChangeKind.COLLATION
                )
            elif kind == "rename_table":
                op = RenameTable(t.name, f"r{step}_{draw(NAMES)}")
            elif kind == "drop_table":
                op = DropTable(t)
            elif kind in ("retype", "default", "fk", "collation"):
                continue  # not applicable to the drawn column
            elif kind == "index":
                others = [c.name for c in t.columns if c.name != column.name]
                include = (
                    draw(st.lists(st.sampled_from(others), unique=True, max_size=2))
                    if others
                    else []
                )
                op = CreateIndex(
                    t.name,
                    Index(
                        f"{t.name}_{column.name}_idx{step}",
                        (column.name,),
                        where=None if draw(st.booleans()) else f"{column.name} IS NOT NULL",
                        include=tuple(include),
                        orders=key_orders([draw(ORDERS)]),
                        opclasses=key_opclasses(
                            [PATTERN_OPS.get(column.type, "") if draw(st.booleans()) else ""]
                        ),
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


ENUM_KINDS = ("enum", "enum_value", "drop_enum_value", "rename_value", "drop_enum")


def _drawn_column(draw: st.DrawFn, name: str, type_: str) -> Column:
    """A nullable column of ``type_``, collated when its type can be and the draw says so."""
    collation = draw(COLLATIONS) if type_ in COLLATABLE else None
    return Column(name, type_, collation=collation)


def _enum_operation(draw: st.DrawFn, schema: Schema, kind: str, step: int) -> Operation | None:
    """An enum type operation fitting ``schema``, or None when ``kind`` has nothing to act on."""
    if kind == "enum" or not schema.enums:
        labels = draw(st.lists(LABELS, min_size=1, max_size=3, unique=True))
        name = draw(st.sampled_from([f"e{step}_mood", f"E{step} Mood"]))
        return CreateEnum(EnumType(name, labels=tuple(labels)))
    e = draw(st.sampled_from(schema.enums))
    users = enum_users(schema, e)
    restored = rebuild_dependents(schema, e, users)
    if kind == "enum_value":
        label = draw(LABELS.filter(lambda x: x not in e.labels))
        neighbour = draw(st.sampled_from([None, *e.labels]))
        before = neighbour if neighbour is not None and draw(st.booleans()) else None
        after = neighbour if before is None else None
        return AddEnumValue(e, label, before, after, users, restored=restored)
    if kind == "drop_enum_value" and e.labels:
        return DropEnumValue(e, draw(st.sampled_from(e.labels)), users, restored)
    if kind == "rename_value" and e.labels:
        new = draw(LABELS.filter(lambda x: x not in e.labels))
        return RenameEnumValue(e.qualified_name, draw(st.sampled_from(e.labels)), new)
    return None if users else DropEnum(e)


def _can_reference(t: Table, column: Column) -> bool:
    """Whether ``column`` can take a foreign key to another table's bigint ``id``."""
    key = () if t.primary_key is None else t.primary_key.columns
    return column.type == "bigint" and column.name not in key


def _in_fk(schema: Schema, t: Table, column: Column) -> bool:
    """Whether a foreign key uses ``column`` (retyping it would mismatch the other side)."""
    if any(column.name in fk.columns for fk in t.foreign_keys):
        return True
    return any(
        fk.ref_table == t.name and column.name in fk.ref_columns
        for other in schema
        for fk in other.foreign_keys
    )


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
    expected = Schema()
    for op in ops:
        expected = op.apply(expected)
    emitted = emit(ops, tmp_path_factory.mktemp("prop"), cut)
    with scratch_database(admin_url, "qa") as a, scratch_database(admin_url, "qb") as b:
        emitted.upgrade(a, b)
        first = catalog(a)
        assert first == catalog(b)
        with connect(a) as conn:
            assert first == normalize(expected, conn)  # what the specs say the schema is
        emitted.downgrade(a, b)
        assert catalog(a) == catalog(b) == Schema()
        emitted.upgrade(a, b)
        assert catalog(a) == first == catalog(b)
