"""One rule says whether an index key is a column: every reader and renderer agrees with it.

An entry of ``Index.columns`` is a column name as PostgreSQL stores it, or an expression as
``pg_get_indexdef`` prints it. Replaying a spec used to ask ``str.isidentifier()`` (so
``price$`` and ``2fa`` were expressions there and their existence went unchecked) while the
renderers and the spec reader called them columns; now all of them ask
:func:`dualorm.schema.is_column_key`.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dualorm.django_setup import setup
from dualorm.emit import sql as sql_emit
from dualorm.emit.alembic_objects import create_index_op
from dualorm.emit.django_indexes import index_state
from dualorm.emit.django_target import DjangoTarget
from dualorm.errors import SpecError
from dualorm.schema import Column, Index, is_column_key, schema, table
from dualorm.spec.object_reader import index_column_names
from dualorm.spec.ops import CreateIndex
from dualorm.spec.sqltext import quote_ident

setup(offline=True)

COLUMNS = ["email", "UserName", "price$", "2fa"]
"""Keys that name a column: mixed case kept, ``$`` and a leading digit allowed."""

EXPRESSIONS = ["lower(email)", '"UserName"', 'email COLLATE "C"', "(a + b)", "first name"]
"""Keys that are expressions: a call, a quoted name, a collation, an operator, a space."""

KEYS = [(key, True) for key in COLUMNS] + [(key, False) for key in EXPRESSIONS]


@pytest.mark.parametrize(("key", "column"), KEYS, ids=[k for k, _ in KEYS])
def test_every_reader_and_renderer_classifies_a_key_as_the_one_rule_does(
    key: str, column: bool
) -> None:
    assert is_column_key(key) is column
    index = Index("t_idx", (key,))

    # the SQL emitter: a quoted name, or the expression in parentheses
    assert sql_emit.index_key(key) == (quote_ident(key) if column else f"({key})")

    # the Alembic emitter: the column's name, or the expression as text
    (element,) = create_index_op("t", index, False).columns
    assert isinstance(element, str) is column
    assert isinstance(element, sa.TextClause) is not column

    # the Django state: ``fields`` for columns, expressions otherwise
    t = table("t", [Column(key, "text") if column else Column("id", "integer")])
    made = index_state(DjangoTarget(), t, index)
    assert bool(made.fields) is column
    assert bool(made.expressions) is not column

    # the spec reader's default name: a column keeps its name, an expression is named for it
    assert (index_column_names([key]) == [key]) is column

    # replaying a spec: a column key must name a column of the table
    empty = schema([table("t", [Column("id", "integer")])])
    if column:
        with pytest.raises(SpecError, match="does not exist"):
            CreateIndex("t", index).apply(empty)
    else:
        assert CreateIndex("t", index).apply(empty).get("t") is not None
