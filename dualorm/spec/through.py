"""The table a Django ``ManyToManyField`` creates itself, as a fact of its ``create_table``.

Django keeps no model of such a table (``catalog_product_tags``): its state holds the field
(``tags`` of ``catalog.Product``), and ``makemigrations`` adds and removes the field, not a
model. A ``create_table`` says so with ``many_to_many: {table: catalog_product, field: tags}``
(:class:`ManyToMany`); the Django emitter then states the create as that field's
``AddField`` and a later drop of the table as its ``RemoveField``. :func:`shape_problem` says
why a table is not one Django would give such a field. Nothing here changes the schema: the
SQL is the table's own, and the Alembic side ignores the fact.
"""

from __future__ import annotations

from dataclasses import dataclass

from dualorm.schema import Schema, Table

__all__ = ["ManyToMany", "shape_problem"]


@dataclass(frozen=True)
class ManyToMany:
    """The ``ManyToManyField`` ``field`` of the model of table ``table`` (its qualified name)
    creates the table this fact stands on."""

    table: str
    field: str


def shape_problem(t: Table, fact: ManyToMany, schema: Schema) -> str | None:
    """Why ``t`` is not the table Django creates for ``fact`` in ``schema``, or None.

    Django's table: the primary key ``id`` alone, two more columns ``<name>_id``, each not null
    with a foreign key of its own onto its table's primary key (one of them ``fact.table``),
    a unique constraint on the pair and no other constraint.
    """
    owner = schema.get(fact.table)
    if owner is None:
        return f"table {fact.table} does not exist at this point"
    if not fact.field.isidentifier():
        return f"field {fact.field!r} is not a model field name (an identifier)"
    if t.primary_key is None or t.primary_key.columns != ("id",):
        return "its primary key must be the column id alone"
    pair = tuple(c.name for c in t.columns if c.name != "id")
    if len(t.columns) != 3 or any(not n.endswith("_id") or n == "_id" for n in pair):
        return "it must have exactly the columns id and two <name>_id columns"
    if any(t.column(n).nullable for n in pair):  # type: ignore[union-attr]
        return f"its columns {pair[0]} and {pair[1]} must be not null"
    fks = {fk.columns: fk for fk in t.foreign_keys}
    if len(t.foreign_keys) != 2 or set(fks) != {(pair[0],), (pair[1],)}:
        return f"it must have one foreign key on {pair[0]} and one on {pair[1]}, and no other"
    if all(fk.ref_key != owner.key for fk in t.foreign_keys):
        return f"neither of its foreign keys references {fact.table}"
    for fk in t.foreign_keys:
        ref = schema.get(fk.ref_key) if fk.ref_key != t.key else t
        if ref is None or ref.primary_key is None or fk.ref_columns != ref.primary_key.columns:
            return f"its foreign key {fk.name} must reference the primary key of its table"
    if [set(u.columns) for u in t.uniques] != [set(pair)] or t.checks:
        return f"it must have one unique constraint, on ({pair[0]}, {pair[1]}), and no check"
    return None
