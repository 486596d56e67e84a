"""Partial mappings: a model set that maps some columns of a table is compared on those only.

:func:`project` runs before every phase. Where a side maps only part of a table (see
:meth:`dualorm.ownership.Policy.maps_part`), the other side's table is cut down to the
columns the partial side maps, and everything on it that involves another column (an index
key, predicate or ``INCLUDE``, a unique, check or foreign key, the primary key) is dropped
from the comparison. What the partial side maps is then compared in full: a mapped column of
another type, or one the other side lacks, is still reported.

Which columns an expression involves is read with PostgreSQL's parser (pglast), never with
patterns.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import replace

from dualorm.diff.base import Pair
from dualorm.schema import Schema, Table

__all__ = ["project"]


def project(a: Schema, b: Schema, pair: Pair) -> tuple[Schema, Schema]:
    """Return ``a`` and ``b`` with each partially mapped table cut to the mapped columns."""
    if not pair.ownership.has_partial:
        return a, b
    cut_a: dict[tuple[str, str], Table] = {}
    cut_b: dict[tuple[str, str], Table] = {}
    for ta in a:
        tb = b.get(ta.key)
        if tb is None:
            continue
        policy = pair.ownership.policy(ta.key)
        if policy.maps_part(pair.source):
            tb = cut_b[ta.key] = restrict(tb, ta)
        if policy.maps_part(pair.target):
            cut_a[ta.key] = restrict(ta, tb)
    return _replaced(a, cut_a), _replaced(b, cut_b)


def _replaced(s: Schema, cut: dict[tuple[str, str], Table]) -> Schema:
    if not cut:
        return s
    return s.with_tables(cut.get(t.key, t) for t in s)


def restrict(full: Table, partial: Table) -> Table:
    """Return ``full`` cut down to the columns ``partial`` maps.

    Its primary key is taken from ``partial`` when it involves an unmapped column, so that
    a key the partial side cannot see is not reported either.
    """
    mapped = frozenset(c.name for c in partial.columns)
    names = frozenset(c.name for c in full.columns)
    if names <= mapped:
        return full

    def within(columns: Iterable[str], *expressions: str | None) -> bool:
        keys = list(columns)
        if not all(k in mapped for k in keys if k in names):
            return False
        # An expression key, a predicate or a check: the columns PostgreSQL reads in it.
        texts = [k for k in keys if k not in names] + [e for e in expressions if e]
        return all(_columns_in(text) & names <= mapped for text in texts)

    pk = full.primary_key
    if pk is not None and not within(pk.columns):
        pk = partial.primary_key
    return replace(
        full,
        columns=tuple(c for c in full.columns if c.name in mapped),
        primary_key=pk,
        indexes=tuple(i for i in full.indexes if within((*i.columns, *i.include), i.where)),
        uniques=tuple(u for u in full.uniques if within(u.columns)),
        checks=tuple(c for c in full.checks if within((), c.expression)),
        foreign_keys=tuple(f for f in full.foreign_keys if within(f.columns)),
    )


@functools.lru_cache(maxsize=4096)
def _columns_in(expression: str) -> frozenset[str]:
    """Return the column names ``expression`` refers to (none when it does not parse).

    An expression that does not parse is kept in the comparison: reporting it is better
    than hiding it.
    """
    from pglast import ast, parse_sql
    from pglast.parser import ParseError
    from pglast.visitors import Visitor

    found: set[str] = set()

    class _Columns(Visitor):
        def visit_ColumnRef(self, _ancestors: object, node: ast.ColumnRef) -> None:
            last = node.fields[-1] if node.fields else None
            if isinstance(last, ast.String) and last.sval is not None:
                found.add(last.sval)

    try:
        _Columns()(parse_sql(f"SELECT {expression}"))
    except ParseError:
        return frozenset()
    return frozenset(found)
