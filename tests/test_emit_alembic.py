"""The Alembic emitter: one renderer per operation, readable op.* calls, real revisions."""

from __future__ import annotations

import pytest

from dualorm.emit.alembic import alembic_renderer, render, render_revision, sa_type
from dualorm.schema import CheckConstraint, Column, FkAction, ForeignKey, Index
from dualorm.spec.model import Migration
from dualorm.spec.ops import (
    OPERATIONS,
    AddCheck,
    AddColumn,
    AddForeignKey,
    AlterColumn,
    ChangeKind,
    CreateIndex,
    RunPython,
    RunSQL,
)


@pytest.mark.parametrize("kind", OPERATIONS, ids=lambda k: k.__name__)
def test_every_operation_has_a_renderer(kind: type) -> None:
    assert alembic_renderer.handles(kind)


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
