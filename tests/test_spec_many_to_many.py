"""``many_to_many:`` on ``create_table``: the table a Django ``ManyToManyField`` creates.

The key is read and checked by the table builder (the owner table exists at that point, the
table has the shape Django gives such a table; otherwise one ``file:line`` error, exit 2),
kept on the operation, carried through the replay to a later ``drop_table``, written by the
spec writer and kept by the spec cache; the Django emitter states the create as the field's
``AddField`` and the drop as its ``RemoveField``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dualorm.django_setup import setup
from dualorm.emit.django import django_operation
from dualorm.emit.django_state import StateContext
from dualorm.emit.django_target import DjangoTarget
from dualorm.errors import SpecError, exit_code
from dualorm.spec.apps import assign
from dualorm.spec.codec import decode, encode
from dualorm.spec.load import load_specs
from dualorm.spec.ops import CreateTable, DropTable
from dualorm.spec.replay import replay

setup(offline=True)

BASE = """\
id: "0001_base"
name: Base
dependencies: []
operations:
  - create_table:
      name: shop_tag
      columns:
        - {name: id, type: bigint, primary_key: true, identity: by default}
  - create_table:
      name: shop_product
      columns:
        - {name: id, type: bigint, primary_key: true, identity: by default}
"""

THROUGH = """\
  - create_table:
      name: shop_product_tags
      many_to_many: {table: shop_product, field: tags}
      columns:
        - {name: id, type: bigint, primary_key: true, identity: by default}
        - {name: product_id, type: bigint, nullable: false}
        - {name: tag_id, type: bigint, nullable: false}
      uniques:
        - {name: shop_product_tags_product_id_tag_id_uniq, columns: [product_id, tag_id]}
      foreign_keys:
        - {name: shop_product_tags_product_fk, columns: [product_id], references: shop_product(id)}
        - {name: shop_product_tags_tag_fk, columns: [tag_id], references: shop_tag(id)}
"""


def _specs(tmp_path: Path, through: str, *later: str) -> Path:
    (tmp_path / "0001_base.yaml").write_text(BASE + through, encoding="utf-8")
    parent = "0001_base"
    for number, operations in enumerate(later, start=2):
        spec_id = f"000{number}_next"
        head = f'id: "{spec_id}"\nname: Next\ndependencies: ["{parent}"]\noperations:\n'
        (tmp_path / f"{spec_id}.yaml").write_text(head + operations, encoding="utf-8")
        parent = spec_id
    return tmp_path / "0001_base.yaml"


def test_the_fact_is_read_kept_and_carried_to_the_drop(tmp_path: Path) -> None:
    _specs(tmp_path, THROUGH, "  - drop_table: {name: shop_product_tags}\n")
    migrations = load_specs(tmp_path)
    created = migrations[0].operations[-1]
    assert isinstance(created, CreateTable)
    assert (created.many_to_many.table, created.many_to_many.field) == ("shop_product", "tags")
    assert decode(encode(created)) == created
    placed = assign(migrations, "shop")["0002_next"]
    assert placed.through[("public", "shop_product_tags")] == created.many_to_many
    assert placed.owners[("public", "shop_product_tags")] == "shop"


def _state(op: CreateTable | DropTable, before: object, target: DjangoTarget) -> list:
    made = django_operation(op, StateContext(target, before, op.apply(before)))  # type: ignore[arg-type]
    return list(made.state_operations)


def test_the_django_state_is_the_field_without_the_models(tmp_path: Path) -> None:
    """Without models (the field gone from them), the create is the conventional field's
    AddField and the drop its RemoveField; no model of the table is ever stated."""
    from django.db import migrations, models

    _specs(tmp_path, THROUGH, "  - drop_table: {name: shop_product_tags}\n")
    specs = load_specs(tmp_path)
    create, drop = specs[0].operations[-1], specs[1].operations[0]
    assert isinstance(create, CreateTable) and isinstance(drop, DropTable)
    through = {"shop_product_tags": create.many_to_many}
    target = DjangoTarget("shop", through=through)  # type: ignore[arg-type]
    before = replay(specs[:0])
    for op in specs[0].operations[:-1]:
        before = op.apply(before)
    (added,) = _state(create, before, target)
    assert isinstance(added, migrations.AddField)
    assert (added.model_name, added.name) == ("shopproduct", "tags")
    assert isinstance(added.field, models.ManyToManyField)
    assert added.field.remote_field.model == "shop.shoptag"
    assert "db_table" not in added.field.deconstruct()[3]
    (removed,) = _state(drop, create.apply(before), target)
    assert isinstance(removed, migrations.RemoveField)
    assert (removed.model_name, removed.name) == ("shopproduct", "tags")


def test_a_table_not_named_as_django_names_it_keeps_db_table(tmp_path: Path) -> None:
    from django.db import migrations

    renamed = THROUGH.replace("name: shop_product_tags\n", "name: shop_product_labels\n", 1)
    _specs(tmp_path, renamed)
    create = load_specs(tmp_path)[0].operations[-1]
    assert isinstance(create, CreateTable)
    before = replay(load_specs(tmp_path)).without(create.definition.key)
    (added,) = _state(create, before, DjangoTarget("shop"))
    assert isinstance(added, migrations.AddField)
    assert added.field.deconstruct()[3]["db_table"] == "shop_product_labels"


def test_the_spec_writer_writes_the_fact(tmp_path: Path) -> None:
    from dualorm.autogen.write import spec_mapping

    _specs(tmp_path, THROUGH)
    create = load_specs(tmp_path)[0].operations[-1]
    written = spec_mapping(create)["create_table"]
    assert dict(written["many_to_many"]) == {"table": "shop_product", "field": "tags"}


BAD = [
    (
        "unknown_owner",
        THROUGH.replace("{table: shop_product, field", "{table: shop_gone, field"),
        15,
        "many_to_many: table shop_gone does not exist at this point",
    ),
    (
        "a_fourth_column",
        THROUGH.replace(
            "        - {name: tag_id, type: bigint, nullable: false}\n",
            "        - {name: tag_id, type: bigint, nullable: false}\n"
            "        - {name: added_at, type: timestamptz}\n",
        ),
        15,
        "exactly the columns id and two <name>_id columns",
    ),
    (
        "no_unique_pair",
        THROUGH.replace(
            "      uniques:\n"
            "        - {name: shop_product_tags_product_id_tag_id_uniq,"
            " columns: [product_id, tag_id]}\n",
            "",
        ),
        15,
        "one unique constraint, on (product_id, tag_id)",
    ),
    (
        "nullable_column",
        THROUGH.replace(
            "{name: tag_id, type: bigint, nullable: false}", "{name: tag_id, type: bigint}"
        ),
        15,
        "must be not null",
    ),
    (
        "not_the_owner",
        THROUGH.replace("{table: shop_product, field", "{table: shop_tag, field").replace(
            "references: shop_tag(id)", "references: shop_product(id)"
        ),
        15,
        "neither of its foreign keys references shop_tag",
    ),
    (
        "unknown_key",
        THROUGH.replace("field: tags}", "field: tags, through: x}"),
        15,
        "unknown field through",
    ),
    (
        "not_an_identifier",
        THROUGH.replace("field: tags}", "field: 'my tags'}"),
        15,
        "is not a model field name",
    ),
]


@pytest.mark.parametrize(
    ("through", "line", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_a_bad_many_to_many_is_refused_with_file_and_line(
    tmp_path: Path, through: str, line: int, message: str
) -> None:
    path = _specs(tmp_path, through)
    with pytest.raises(SpecError) as caught:
        load_specs(tmp_path)
    error = caught.value
    assert (error.path, error.line) == (str(path), line), str(error)
    assert message in error.message, error.message
    assert str(error).startswith(f"{path}:{line}: ")
    assert exit_code(error) == 2
