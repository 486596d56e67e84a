"""Operations carry their own facts: each kind registers itself once with its spec name (the one
list the spec reader maps ``kind:`` through), says whether it runs inside a transaction and
whether it is opaque, and has its lock facts in runner/impact.py."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

import pytest

from dualorm.cli import main
from dualorm.emit.sql import migration_steps
from dualorm.runner.impact import impacts
from dualorm.schema import Column, Index, Schema, table
from dualorm.spec import builders
from dualorm.spec.load import load_specs
from dualorm.spec.ops import (
    OPERATIONS,
    CreateIndex,
    DropIndex,
    Operation,
    RunPython,
    RunSQL,
    operation_kinds,
)
from tests.project_files import use_project, write_project
from tests.test_docs import documented_operations


def test_every_spec_kind_is_registered_once_by_its_class() -> None:
    kinds = operation_kinds()
    assert set(kinds) == set(documented_operations())
    assert len(set(kinds.values())) == len(kinds)
    assert set(kinds.values()) == set(Operation.__subclasses__()) == set(OPERATIONS)
    for name, cls in kinds.items():
        assert cls.kind == name
    # The spec reader lists and builds exactly the registered kinds.
    assert builders.operation_names() == sorted(kinds)
    assert set(builders.BUILDERS) == set(kinds)


def test_a_kind_cannot_be_registered_twice() -> None:
    with pytest.raises(TypeError, match="drop_table is registered twice") as caught:

        @dataclass(frozen=True)
        class Again(Operation, kind="drop_table"):
            def apply(self, schema: Schema) -> Schema:
                return schema

            def describe(self) -> str:
                return "again"

    assert operation_kinds()["drop_table"].__name__ == "DropTable"
    # The refused class must not linger among the subclasses the coverage tests iterate.
    del caught
    gc.collect()
    assert all(cls.kind for cls in Operation.__subclasses__())


def test_every_kind_but_python_has_lock_facts() -> None:
    default = impacts.dispatch(Operation)
    missing = [
        cls.__name__
        for cls in operation_kinds().values()
        if impacts.dispatch(cls) is default and cls is not RunPython
    ]
    assert missing == []


SPEC = """\
id: "0001_base"
name: base
dependencies: []
operations:
  - create_table:
      name: items
      columns:
        - {name: id, type: bigint, primary_key: true}
  - KIND: {table: items, name: code}
"""


def test_an_unknown_kind_is_bad_input_naming_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SPEC.replace("KIND", "drop_colum")
    write_project(tmp_path, spec, settings={"django_app_label": "django_app"})
    use_project(monkeypatch, tmp_path, "postgresql://nobody@127.0.0.1:1/none")
    assert main(["migrate", "lint"]) == 2
    err = capsys.readouterr().err
    assert "0001_base.yaml:9" in err
    assert "unknown operation drop_colum" in err and "drop_column" in err


ITEMS = table("items", [Column("id", "bigint", nullable=False), Column("code", "text")])
INDEX = Index("items_code_idx", ("code",))


@pytest.mark.parametrize(
    ("op", "transactional", "opaque"),
    [
        (CreateIndex("items", INDEX), True, False),
        (CreateIndex("items", INDEX, concurrently=True), False, False),
        (DropIndex("items", INDEX), True, False),
        (DropIndex("items", INDEX, concurrently=True), False, False),
        (RunSQL("UPDATE items SET code = 'x' WHERE id = 2"), True, True),
        (RunPython("app.data:backfill"), True, True),
    ],
    ids=["index", "index-concurrently", "drop-index", "drop-index-concurrently", "sql", "py"],
)
def test_transactional_and_opaque_are_facts_of_the_operation(
    op: Operation, transactional: bool, opaque: bool
) -> None:
    assert op.transactional is transactional
    assert op.opaque is opaque
    form = op.transactional_form()
    assert form.transactional and form.describe() == op.describe()
    assert (form == op) is transactional


@pytest.mark.parametrize("cls", list(operation_kinds().values()), ids=lambda c: c.kind)
def test_only_the_escape_hatches_are_opaque(
    cls: type[Operation],
) -> None:
    assert cls.opaque is (cls in (RunSQL, RunPython))


def test_the_steps_follow_the_operation_facts(tmp_path: Path) -> None:
    (tmp_path / "0001_base.yaml").write_text(
        'id: "0001_base"\nname: base\ndependencies: []\noperations:\n'
        "  - create_table: {name: items, columns: [{name: id, type: bigint, primary_key: true},"
        " {name: code, type: text}]}\n"
    )
    (tmp_path / "0002_index.yaml").write_text(
        'id: "0002_index"\nname: index\ndependencies: ["0001_base"]\noperations:\n'
        "  - create_index: {name: items_code_idx, table: items, columns: [code], "
        "concurrently: true}\n"
    )
    _, migration = load_specs(tmp_path)
    (step,) = migration_steps(migration)
    assert step.transactional is False and step.operation.transactional is False
    (down,) = migration_steps(migration, "down")
    assert down.transactional is False and isinstance(down.operation, DropIndex)
