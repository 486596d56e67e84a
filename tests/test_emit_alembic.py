"""The Alembic emitter: one renderer per operation, readable op.* calls, real revisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualorm.emit.alembic import render, render_revision
from dualorm.emit.alembic_types import sa_type
from dualorm.schema import CheckConstraint, Column, FkAction, ForeignKey, Index
from dualorm.spec.model import Migration
from dualorm.spec.ops import (
    AddCheck,
    AddColumn,
    AddForeignKey,
    AlterColumn,
    ChangeKind,
    CreateIndex,
    RunPython,
    RunSQL,
)


@pytest.mark.parametrize(
    ("canonical", "expected"),
    [
        ("character varying(255)", "VARCHAR(255)"),
        ("numeric(12,3)", "NUMERIC(12, 3)"),
        ("timestamp with time zone", "TIMESTAMP WITH TIME ZONE"),
        ("jsonb", "JSONB"),
        ("bigint[]", "BIGINT[]"),
    ],
)
def test_types_map_to_sqlalchemy(canonical: str, expected: str) -> None:
    from sqlalchemy.dialects import postgresql

    found = sa_type(canonical)
    assert found is not None
    assert found.compile(dialect=postgresql.dialect()) == expected


def test_unknown_type_falls_back_to_the_shared_sql() -> None:
    text, _ = render(AddColumn("users", Column("shape", "point")))
    assert text == 'op.execute(\'ALTER TABLE "users" ADD COLUMN "shape" point\')'


def test_partial_concurrent_index_runs_in_an_autocommit_block() -> None:
    index = Index("users_active_idx", ("email",), unique=True, where="is_active")
    text, _ = render(CreateIndex("users", index, concurrently=True))
    assert text == (
        "with op.get_context().autocommit_block():\n"
        "    op.create_index(op.f('users_active_idx'), 'users', ['email'], unique=True, "
        "postgresql_where=sa.text('is_active'), postgresql_concurrently=True)"
    )


def test_type_change_keeps_using_and_resets_the_default() -> None:
    before = Column("status", "character varying(10)", default="'a'::character varying")
    after = Column("status", "character varying(20)", default="'a'::character varying")
    text, _ = render(AlterColumn("users", before, after, ChangeKind.TYPE, using="status::text"))
    assert "server_default=None" in text.splitlines()[2]
    assert "postgresql_using='status::text'" in text
    assert text.rstrip(")").endswith("existing_nullable=True")


def test_not_valid_constraints_say_so() -> None:
    fk = ForeignKey(
        "a_b_fkey", ("b_id",), "b", ("id",), on_delete=FkAction.CASCADE, validated=False
    )
    text, _ = render(AddForeignKey("a", fk))
    assert "ondelete='CASCADE'" in text and "postgresql_not_valid=True" in text
    text, _ = render(AddCheck("a", CheckConstraint("a_x_check", "x > 0", validated=False)))
    assert (
        text
        == "op.create_check_constraint(op.f('a_x_check'), 'a', 'x > 0', postgresql_not_valid=True)"
    )


def test_multi_line_sql_is_one_literal_per_line() -> None:
    text, _ = render(RunSQL("UPDATE users\nSET name = 'x'", "SELECT 1"))
    assert text == "op.execute((\n    'UPDATE users\\n'\n    \"SET name = 'x'\"\n))"


def _migration(*ops: object, deps: tuple[str, ...] = ()) -> Migration:
    return Migration("0009_x", "X", "1.0", "", deps, tuple(ops), "abc123")  # type: ignore[arg-type]


def test_revision_chains_merges_and_refuses_irreversible_downgrade() -> None:
    text = render_revision(
        _migration(RunPython("pkg.mod:fill"), deps=("0007_a", "0008_b")), "x.yaml"
    )
    assert "revision = '0009_x'\ndown_revision = ('0007_a', '0008_b')\n" in text
    assert "Checksum: abc123" in text
    assert "run_python('pkg.mod:fill', op.get_bind())" in text
    assert "raise IrreversibleError(" in text
    compile(text, "0009_x.py", "exec")


def test_irreversible_downgrade_raises_when_run() -> None:
    from dualorm.errors import IrreversibleError

    namespace: dict[str, object] = {}
    exec(compile(render_revision(_migration(RunSQL("SELECT 1")), "x.yaml"), "r", "exec"), namespace)
    with pytest.raises(IrreversibleError, match="0009_x cannot be rolled back"):
        namespace["downgrade"]()  # type: ignore[operator]


# -- SQL text reaches PostgreSQL byte for byte -------------------------------------------------

TEXT_SPEC = """\
id: "0001_text"
name: SQL text with colons and percent signs
dependencies: []
operations:
  - create_table:
      name: notes
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: v, type: text, comment: "note :c 5% \\\\:d"}
        - {name: d, type: text, server_default: "'a:b%'"}
        - {name: n, type: integer}
        - {name: g, type: text, generated: "v || ' :g% \\\\:h'"}
      checks:
        - {name: notes_v_check, expression: "v <> 'no :way%'"}
      indexes:
        - {name: notes_v_idx, columns: [v], where: "v <> ':w%'"}
        - {name: notes_expr_idx, columns: ["(v || ':k%')"]}
  - add_column: {table: notes, name: e, type: text, server_default: "'hello :world 100%'"}
  - alter_column:
      table: notes
      name: n
      type: text
      using: "n::text || ':u%'"
      server_default: "'x :y%'"
  - add_check: {table: notes, name: notes_e_check, expression: "e <> 'z :c%'"}
  - run_sql:
      sql: |
        INSERT INTO notes (id, v) VALUES
          (1, 'hello :world'), (2, '100%'), (3, 'a\\:b'), (4, 'e:f::g %% %s :1')
"""

TEXT_ROWS = [
    (1, "hello :world"),
    (2, "100%"),
    (3, "a\\:b"),
    (4, "e:f::g %% %s :1"),
]


def _text_facts(url: str) -> dict[str, object]:
    from dualorm.db import connection

    with connection(url, autocommit=True) as conn:
        rows = conn.execute("SELECT id, v, d, n, e, g FROM notes ORDER BY id").fetchall()
        defaults = conn.execute(
            "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d"
            " JOIN pg_attribute a ON (a.attrelid, a.attnum) = (d.adrelid, d.adnum)"
            " WHERE d.adrelid = 'notes'::regclass ORDER BY 1"
        ).fetchall()
        checks = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'notes'::regclass AND contype = 'c' ORDER BY 1"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'notes' ORDER BY 1"
        ).fetchall()
        comment = conn.execute("SELECT col_description('notes'::regclass, 2)").fetchone()
    return {
        "rows": rows,
        "defaults": defaults,
        "checks": checks,
        "indexes": indexes,
        "comment": comment,
    }


def test_sql_text_is_not_rewritten_by_any_tool(tmp_path: Path, admin_url: str) -> None:
    """``:word``, ``\\:``, ``%`` and ``%%`` arrive as written through Alembic, Django and dualorm.

    SQLAlchemy's ``text()`` reads ``:world`` as a bind parameter (the upgrade failed, or the
    default became ``'hello NULL'``) and Alembic's renderer wrote ``'100%'`` as ``'100%%'``.
    """
    from dualorm.api import migrate_up
    from dualorm.config import Config
    from dualorm.django_setup import setup
    from dualorm.spec.load import load_specs
    from dualorm.testing import scratch_database
    from tests.parity import emit

    specs = tmp_path / "project" / "migrations"
    specs.mkdir(parents=True)
    (specs / "0001_text.yaml").write_text(TEXT_SPEC, encoding="utf-8")
    (migration,) = load_specs(specs)
    setup(offline=True)
    emitted = emit(migration.operations, tmp_path / "emitted")
    with (
        scratch_database(admin_url) as via_alembic,
        scratch_database(admin_url) as via_django,
        scratch_database(admin_url) as via_dualorm,
    ):
        emitted.upgrade(via_alembic, via_django)
        migrate_up(
            Config(
                root=specs.parent,
                migrations_dir="migrations",
                django_app_label="django_app",
                database_url=via_dualorm,
            )
        )
        facts = {url: _text_facts(url) for url in (via_alembic, via_django, via_dualorm)}
    alembic_facts = facts[via_alembic]
    rows = alembic_facts["rows"]
    assert [row[:2] for row in rows] == TEXT_ROWS  # type: ignore[attr-defined]
    assert {row[2:5] for row in rows} == {("a:b%", "x :y%", "hello :world 100%")}  # type: ignore[attr-defined]
    assert [row[5] for row in rows] == [f"{v} :g% \\:h" for _, v in TEXT_ROWS]  # type: ignore[attr-defined]
    checks = dict(alembic_facts["checks"])  # type: ignore[call-overload]
    assert "'no :way%'" in checks["notes_v_check"]
    assert "'z :c%'" in checks["notes_e_check"]
    indexes = dict(alembic_facts["indexes"])  # type: ignore[call-overload]
    assert "':w%'" in indexes["notes_v_idx"]
    assert "':k%'" in indexes["notes_expr_idx"]
    assert alembic_facts["comment"] == ("note :c 5% \\:d",)
    assert facts[via_django] == alembic_facts
    assert facts[via_dualorm] == alembic_facts


def test_colons_are_escaped_once_per_reading() -> None:
    """A revision's source escapes exactly the colons SQLAlchemy's text() would read."""
    text, _ = render(RunSQL("SELECT 'a :b', x::text, 'c\\:d', ':', 'e:f', '100%'"))
    assert text == "op.execute(\"SELECT 'a \\\\:b', x::text, 'c\\\\\\\\:d', ':', 'e:f', '100%'\")"
    text, _ = render(AddColumn("t", Column("c", "text", default="'hello :world 100%'")))
    assert "server_default=sa.text(\"'hello \\\\:world 100%'\")" in text


def test_enum_and_comment_operations_render_as_alembic_writes_them() -> None:
    from dualorm.schema import EnumType
    from dualorm.spec.ops import AddEnumValue, SetComment

    text, _ = render(AddEnumValue(EnumType("mood", labels=("sad",)), "it's", after="sad"))
    assert (
        text
        == "op.execute('ALTER TYPE \"public\".\"mood\" ADD VALUE \\'it\\'\\'s\\' AFTER \\'sad\\'')"
    )
    text, _ = render(SetComment("users", None, None, "people"))
    assert text == (
        "op.create_table_comment(\n    'users',\n    'people',\n    existing_comment=None,\n"
        "    schema=None\n)"
    )
    text, _ = render(SetComment("users", None, "people", None))
    assert text == (
        "op.drop_table_comment(\n    'users',\n    existing_comment='people',\n    schema=None\n)"
    )
    text, _ = render(AddColumn("users", Column("code", "character varying(9)", collation="C")))
    assert text == (
        "op.add_column('users', sa.Column('code', sa.String(length=9, collation='C'), "
        "nullable=True))"
    )
