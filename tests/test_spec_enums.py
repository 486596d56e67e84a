"""Specs write enum types, labels, comments and collations; faults name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualorm.errors import SpecError
from dualorm.schema import Column, EnumType
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
