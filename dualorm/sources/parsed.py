"""SQL text the model sources hold, read with PostgreSQL's own parser (pglast).

An ORM can hand an index key over as text (SQLAlchemy's ``text("created_at DESC")``, an
operator class appended by ``postgresql_ops``); what the server creates from it is decided by
the grammar of an index element, so that grammar reads it: a bare column, or an expression,
with its ordering and operator class apart, as the catalog reports them. The name PostgreSQL
gives an unnamed CHECK depends on the columns its expression references, read the same way.

pglast is imported on the first text that needs reading, not with the module: a model set
whose index keys are all columns and that declares no CHECK never loads the parser.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from dualorm.schema import key_order

__all__ = ["ExpressionNames", "expression_names", "index_element", "referenced_columns"]


def index_element(text: str) -> tuple[str, str, str]:
    """Return ``(column or expression, ordering, operator class)`` of one index key.

    The ordering is spelled as :func:`dualorm.schema.key_order` spells it, the operator class
    is ``""`` for the type's default. Text that is not one index element is returned as the
    key unchanged, for the server to judge when the model is normalised.

    >>> index_element("created_at DESC")
    ('created_at', 'DESC', '')
    >>> index_element("(lower(email)) text_pattern_ops NULLS FIRST")
    ('lower(email)', 'NULLS FIRST', 'text_pattern_ops')
    """
    from pglast import ast, parse_sql
    from pglast.enums import SortByDir, SortByNulls
    from pglast.parser import ParseError
    from pglast.stream import RawStream

    try:
        statements = parse_sql(f"CREATE INDEX i ON t ({text}\n)")
    except ParseError:
        return text, "", ""
    statement = statements[0].stmt if len(statements) == 1 else None
    params = statement.indexParams if isinstance(statement, ast.IndexStmt) else None
    if not params or len(params) != 1:
        return text, "", ""
    element = params[0]
    if element.name is not None:
        key = str(element.name)
    else:
        key = str(RawStream()(element.expr))
    descending = element.ordering == SortByDir.SORTBY_DESC
    nulls = element.nulls_ordering
    nulls_first = (
        None
        if nulls == SortByNulls.SORTBY_NULLS_DEFAULT
        else (nulls == SortByNulls.SORTBY_NULLS_FIRST)
    )
    opclass = ".".join(str(part.sval) for part in element.opclass or ())
    return key, key_order(descending, nulls_first), opclass


@functools.cache
def _column_refs() -> Any:
    """The visitor class collecting column references and cast types (made once, when pglast
    is loaded)."""
    from pglast import ast
    from pglast.visitors import Visitor

    class ColumnRefs(Visitor):
        def __init__(self) -> None:
            self.found: dict[str, None] = {}
            self.casts: set[tuple[str, ...]] = set()

        def visit_ColumnRef(self, ancestors: object, node: ast.ColumnRef) -> None:  # noqa: N802
            fields = node.fields or ()
            last = fields[-1] if fields else None
            # ``t.*`` is a whole-row reference: one Var to the server, like a column.
            self.found.setdefault(str(last.sval) if isinstance(last, ast.String) else "*")

        def visit_TypeCast(self, ancestors: object, node: ast.TypeCast) -> None:  # noqa: N802
            names = (node.typeName.names or ()) if node.typeName is not None else ()
            cast = tuple(str(n.sval) for n in names if isinstance(n, ast.String))
            if cast:
                self.casts.add(cast)

    return ColumnRefs


@dataclass(frozen=True)
class ExpressionNames:
    """What one SQL expression reads (see :func:`expression_names`)."""

    columns: tuple[str, ...] = ()
    """The distinct columns it references, in order of first mention."""
    casts: frozenset[tuple[str, ...]] = frozenset()
    """The types it casts to, each as its dotted name (``("mood",)``, ``("auth", "mood")``)."""


@functools.lru_cache(maxsize=4096)
def expression_names(expression: str) -> ExpressionNames | None:
    """Return the columns ``expression`` references and the types it casts to, as the parser
    reads them (a name inside a string literal is no reference).

    ``None`` when the text is not one expression (the server will say why).
    """
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        statements = parse_sql(f"SELECT ({expression}\n)")
    except ParseError:
        return None
    if len(statements) != 1:
        return None
    visitor = _column_refs()()
    visitor(statements[0])
    return ExpressionNames(tuple(visitor.found), frozenset(visitor.casts))


def referenced_columns(expression: str) -> tuple[str, ...] | None:
    """Return the distinct columns ``expression`` references, in order of first mention.

    ``None`` when the text is not one expression (the server will say why).

    >>> referenced_columns("a > 0 AND t.a < b")
    ('a', 'b')
    """
    names = expression_names(expression)
    return None if names is None else names.columns
