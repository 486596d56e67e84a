"""Index keys as PostgreSQL's own parser reads them (pglast), for sources that hold SQL text.

An ORM can hand an index key over as text (SQLAlchemy's ``text("created_at DESC")``, an
operator class appended by ``postgresql_ops``); what the server creates from it is decided by
the grammar of an index element, so that grammar reads it: a bare column, or an expression,
with its ordering and operator class apart, as the catalog reports them.
"""

from __future__ import annotations

from pglast import ast, parse_sql
from pglast.enums import SortByDir, SortByNulls
from pglast.parser import ParseError
from pglast.stream import RawStream

from dualorm.schema import key_order

__all__ = ["index_element"]


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
