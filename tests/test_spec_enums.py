"""Specs write enum types, labels, comments and collations; faults name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from project_files import spec_project

from dualorm.api import migrate_down, migrate_up
from dualorm.db import connect, connection
from dualorm.errors import SpecError
from dualorm.normalize import normalize
from dualorm.runner.impact import impacts
from dualorm.schema import Column, EnumType, Schema
from dualorm.sources.postgres import load
from dualorm.spec.load import load_specs
from dualorm.spec.ops import (
    AddEnumValue,
    AlterColumn,
    ChangeKind,
    CreateEnum,
    DropEnumValue,
    RenameEnumValue,
    SetComment,
)
from dualorm.spec.replay import replay

HEAD = 'id: "0001_base"\nname: base\ndependencies: []\noperations:\n'
SPEC = (
    HEAD
    + """\
  - create_enum: {name: ticket_state, labels: [open, closed]}
  - create_table:
      name: tickets
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: state, type: ticket_state, nullable: false, server_default: "'open'::ticket_state"}
        - {name: history, type: "ticket_state[]"}
        - {name: code, type: text, collation: C}
  - add_enum_value: {enum: ticket_state, label: on_hold, after: open}
  - rename_enum_value: {enum: ticket_state, label: closed, new_label: done}
  - drop_enum_value: {enum: ticket_state, label: on_hold}
  - set_comment: {table: tickets, comment: support tickets}
  - set_comment: {table: tickets, column: code, comment: null}
  - alter_column: {table: tickets, name: code, collation: null}
"""
)


def test_a_spec_builds_enum_comment_and_collation_operations(tmp_path: Path) -> None:
    (tmp_path / "0001_base.yaml").write_text(SPEC)
    (migration,) = load_specs(tmp_path)
    ops = migration.operations
    state = Column("state", "ticket_state", nullable=False, default="'open'::ticket_state")
    history = Column("history", "ticket_state[]")
    users = (("tickets", state), ("tickets", history))
    assert ops[0] == CreateEnum(EnumType("ticket_state", labels=("open", "closed")))
    tickets = ops[1].definition  # type: ignore[attr-defined]
    assert tickets.columns[1:] == (state, history, Column("code", "text", collation="C"))
    assert ops[2] == AddEnumValue(
        EnumType("ticket_state", labels=("open", "closed")), "on_hold", None, "open", users
    )
    assert ops[3] == RenameEnumValue("ticket_state", "closed", "done")
    assert ops[4] == DropEnumValue(
        EnumType("ticket_state", labels=("open", "on_hold", "done")), "on_hold", users
    )
    assert ops[5] == SetComment("tickets", None, None, "support tickets")
    assert ops[6] == SetComment("tickets", "code", None, None)
    assert isinstance(ops[7], AlterColumn) and ops[7].changes is ChangeKind.COLLATION
    assert ops[7].to.collation is None


@pytest.mark.parametrize(
    ("operation", "line", "message"),
    [
        ("- add_column: {table: t, name: s, type: mood}", 7, "unknown type 'mood'"),
        ("- add_enum_value: {enum: mood, label: x}", 7, "enum type mood does not exist"),
        ("- create_enum: {name: e, labels: [a, a]}", 7, "'a' is given twice"),
        (
            "- add_enum_value: {enum: e0, label: x, before: a, after: a}",
            7,
            "give before or after, not both",
        ),
        ("- drop_enum: {name: e0}", 7, ""),
    ],
    ids=["unknown-type", "unknown-enum", "repeated-label", "both-places", "drop-ok"],
)
def test_enum_faults_name_the_line(tmp_path: Path, operation: str, line: int, message: str) -> None:
    text = (
        HEAD
        + "  - create_table: {name: t, columns: [{name: id, type: bigint}]}\n"
        + "  - create_enum: {name: e0, labels: [a]}\n"
        + f"  {operation}\n"
    )
    (tmp_path / "0001_base.yaml").write_text(text)
    if not message:
        load_specs(tmp_path)
        return
    with pytest.raises(SpecError) as caught:
        load_specs(tmp_path)
    assert caught.value.line == line and message in str(caught.value)


REBUILT = (
    HEAD
    + """\
  - create_enum: {name: ticket_state, labels: [open, on_hold, closed]}
  - create_table:
      name: tickets
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: state, type: ticket_state}
        - {name: stated, type: boolean, generated: "state IS NOT NULL", comment: has a state}
        - {name: note, type: text}
  - create_index: {name: tickets_stated_idx, table: tickets, columns: [stated]}
  - add_check:
      {name: tickets_state_check, table: tickets, expression: "state <> 'closed'::ticket_state"}
"""
)
DROPPED = (
    'id: "0002_drop"\nname: drop\ndependencies: ["0001_base"]\noperations:\n'
    "  - drop_enum_value: {enum: ticket_state, label: on_hold}\n"
)


def catalog(url: str) -> Schema:
    return load(url).without("django_migrations").without("alembic_version")


def replayed(url: str, schema: Schema) -> Schema:
    with connect(url) as conn:
        return normalize(schema, conn)


def test_a_rebuilt_enum_type_restores_the_generated_column_reading_it(
    tmp_path: Path, database_url: str
) -> None:
    config = spec_project(tmp_path, database_url, ("0001_base", REBUILT), ("0002_drop", DROPPED))
    migrate_up(config, to="0001_base")
    with connection(database_url) as conn:
        conn.execute(
            "INSERT INTO tickets (id, state, note) VALUES (1, 'open', 'a'), (2, NULL, 'b')"
        )
        conn.commit()
    migrate_up(config)
    migrations = load_specs(tmp_path / "migrations")
    assert catalog(database_url) == replayed(database_url, replay(migrations))
    tickets = load(database_url).get("tickets")
    assert tickets is not None
    assert [c.name for c in tickets.columns] == ["id", "state", "note", "stated"]
    assert [i.name for i in tickets.indexes] == ["tickets_stated_idx"]
    assert [c.comment for c in tickets.columns if c.name == "stated"] == ["has a state"]
    query = "SELECT id, state::text, stated, note FROM tickets ORDER BY id"
    with connection(database_url) as conn:
        assert conn.execute(query).fetchall() == [(1, "open", True, "a"), (2, None, False, "b")]
    migrate_down(config, steps=1)
    # The way down adds the label back; the generated column stays where it came back.
    down = replay(migrations).with_enum(
        EnumType("ticket_state", labels=("open", "on_hold", "closed"))
    )
    assert catalog(database_url) == replayed(database_url, down)
    with connection(database_url) as conn:
        assert conn.execute(query).fetchall() == [(1, "open", True, "a"), (2, None, False, "b")]


def test_the_lint_names_the_generated_column_the_rebuild_adds_again(tmp_path: Path) -> None:
    (tmp_path / "0001_base.yaml").write_text(REBUILT, encoding="utf-8")
    (tmp_path / "0002_drop.yaml").write_text(DROPPED, encoding="utf-8")
    base, drop = load_specs(tmp_path)
    (op,) = drop.operations
    found = {(i.subject, i.rewrites, i.note) for i in impacts(op, replay([base]))}
    assert found == {
        ("state", True, "ticket_state rebuilt without 'on_hold' rewrites the table"),
        ("stated", True, "generated column added again rewrites the table"),
    }


def test_a_dry_run_rehearses_an_added_label_under_a_generated_column(
    tmp_path: Path, database_url: str
) -> None:
    # The rehearsal keeps every pending migration in one transaction: it rebuilds the type.
    added = (
        'id: "0002_add"\nname: add\ndependencies: ["0001_base"]\noperations:\n'
        "  - add_enum_value: {enum: ticket_state, label: waiting, after: open}\n"
    )
    config = spec_project(tmp_path, database_url, ("0001_base", REBUILT), ("0002_add", added))
    migrate_up(config, dry_run=True)
    migrate_up(config)
    migrations = load_specs(tmp_path / "migrations")
    assert catalog(database_url) == replayed(database_url, replay(migrations))
