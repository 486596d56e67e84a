"""The sequences phase: standalone sequences one side lacks.

A standalone sequence is one no column owns (``CREATE SEQUENCE``, SQLAlchemy's
``Sequence``): the application calls ``nextval`` on it by name, so one renamed or dropped
fails every INSERT that uses it. A serial's or an identity's own sequence is part of its
column and compared there (its default, its identity). A side that cannot declare sequences
(Django models, specs: see ``Schema.declares_sequences``) is not compared on them.

A sequence is expected on a side when a table that side is expected to hold takes its
default from it, or, when no table does, when ownership expects the sequence's own name
there; so an ownership map keeping a table (or a name pattern) away from one side keeps its
sequences away too, and a database a model set maps only partly shows no false extras.
"""

from __future__ import annotations

from dualorm.diff.base import IGNORED_SCHEMAS, Difference, DiffKind, Pair, Severity
from dualorm.schema import Schema, Sequence, TableKey
from dualorm.spec.sqltext import pg_quote_ident

__all__ = ["compare_sequences"]


def compare_sequences(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report standalone sequences present on one side only."""
    if not (a.declares_sequences and b.declares_sequences) or a.sequences == b.sequences:
        return []
    mine = {q.key: q for q in a.sequences if q.schema not in IGNORED_SCHEMAS}
    theirs = {q.key: q for q in b.sequences if q.schema not in IGNORED_SCHEMAS}
    out = [
        _lonely(pair, q, DiffKind.MISSING_SEQUENCE)
        for key, q in sorted(mine.items())
        if key not in theirs and _expected(pair, pair.target, q, a, b)
    ]
    out += [
        _lonely(pair, q, DiffKind.EXTRA_SEQUENCE)
        for key, q in sorted(theirs.items())
        if key not in mine and _expected(pair, pair.source, q, a, b)
    ]
    return out


def _reference(q: Sequence) -> str:
    """How a ``nextval`` default names ``q`` (``'auth.order_no'::regclass``)."""
    name = pg_quote_ident(q.name)
    regclass = name if q.schema == "public" else f"{pg_quote_ident(q.schema)}.{name}"
    return "nextval('" + regclass.replace("'", "''") + "'::regclass)"


def _users(q: Sequence, *schemas: Schema) -> set[TableKey]:
    call = _reference(q)
    return {
        t.key
        for s in schemas
        for t in s
        if any(c.default is not None and call in c.default for c in t.columns)
    }


def _expected(pair: Pair, side: str, q: Sequence, a: Schema, b: Schema) -> bool:
    users = _users(q, a, b)
    if users:
        return any(pair.expects(side, key) for key in users)
    return pair.expects(side, q.key)


def _lonely(pair: Pair, q: Sequence, kind: DiffKind) -> Difference:
    missing = kind is DiffKind.MISSING_SEQUENCE
    has, lacks = (pair.source, pair.target) if missing else (pair.target, pair.source)
    detail = f"sequence {q.qualified_name} ({q.definition}) is in {has} but not in {lacks}"
    if missing:
        detail += f"; nextval('{q.qualified_name}') fails there"
    return pair.diff(
        kind,
        q.qualified_name,
        detail,
        severity=Severity.ERROR if missing else Severity.WARNING,
        from_value=q.definition if missing else None,
        to_value=None if missing else q.definition,
    )
