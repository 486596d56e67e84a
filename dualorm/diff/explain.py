"""The human side of a difference: how objects and values are spelled in a detail sentence.

Every phase words its details with these helpers, so an index, a unique constraint or a
foreign key reads the same whichever phase mentions it. :func:`changed`, :func:`one_sided` and
:func:`renamed` are the one wording of a value that differs, of an object only one side
holds, and of a difference of name only.
"""

from __future__ import annotations

from typing import Any

from dualorm.diff.base import Difference, DiffKind, Pair, Severity, qualified
from dualorm.schema import (
    Column,
    ForeignKey,
    Index,
    Table,
    UniqueConstraint,
    index_opclasses,
    index_orders,
)

__all__ = [
    "LIKE_NOTE",
    "changed",
    "cols",
    "comment_difference",
    "deferral",
    "describe_fk",
    "describe_index",
    "describe_unique",
    "ident",
    "is_sequence_default",
    "null",
    "one_sided",
    "renamed",
    "show",
]

LIKE_NOTE = (
    "; Django adds a varchar_pattern_ops/text_pattern_ops '_like' index beside db_index and "
    "unique character fields so LIKE queries can use an index, which other tools do not create"
)


def is_sequence_default(default: str | None) -> bool:
    """Return whether ``default`` is a serial column's ``nextval(...)``."""
    return default is not None and default.startswith("nextval(")


def ident(c: Column) -> str:
    """Return ``identity (...)``, ``serial`` or ``no identity`` for ``c``."""
    if c.identity is not None:
        return f"identity ({c.identity.value})"
    return "serial" if is_sequence_default(c.default) else "no identity"


def null(c: Column) -> str:
    return "NULL" if c.nullable else "NOT NULL"


def show(value: str | None) -> str:
    """Return a default expression, or ``no default``."""
    return "no default" if value is None else value


def cols(key: Any) -> str:
    """Return a key's columns joined, or ``none`` for no key."""
    return "none" if key is None else ", ".join(key.columns)


def describe_index(i: Index) -> str:
    keys = ", ".join(
        " ".join(part for part in (c, opclass, order) if part)
        for c, opclass, order in zip(i.columns, index_opclasses(i), index_orders(i), strict=True)
    )
    text = f"{'UNIQUE ' if i.unique else ''}{i.method} ({keys})"
    if i.include:
        text += f" INCLUDE ({', '.join(i.include)})"
    return f"{text} WHERE {i.where}" if i.where else text


def describe_unique(u: UniqueConstraint) -> str:
    return f"UNIQUE ({', '.join(u.columns)}){' DEFERRABLE' if u.deferrable else ''}"


def describe_fk(f: ForeignKey) -> str:
    ref = f.ref_qualified_name
    return f"({', '.join(f.columns)}) REFERENCES {ref} ({', '.join(f.ref_columns)})"


def deferral(f: ForeignKey) -> str:
    if not f.deferrable:
        return "NOT DEFERRABLE"
    return "DEFERRABLE INITIALLY " + ("DEFERRED" if f.initially_deferred else "IMMEDIATE")


def changed(
    pair: Pair,
    kind: DiffKind,
    obj: str,
    what: str,
    mine: str,
    theirs: str,
    *,
    note: str = "",
    severity: Severity = Severity.ERROR,
) -> Difference:
    """Return the difference for ``what``: ``mine`` in the source, ``theirs`` in the target."""
    return pair.diff(
        kind,
        obj,
        f"{what} is {mine} in {pair.source} but {theirs} in {pair.target}{note}",
        severity=severity,
        from_value=mine,
        to_value=theirs,
    )


_SOURCE_ONLY = frozenset(
    {
        DiffKind.MISSING_TABLE,
        DiffKind.MISSING_COLUMN,
        DiffKind.MISSING_INDEX,
        DiffKind.MISSING_CONSTRAINT,
    }
)


def one_sided(
    pair: Pair,
    kind: DiffKind,
    obj: str,
    what: str,
    value: object,
    *,
    note: str = "",
    severity: Severity = Severity.ERROR,
) -> Difference:
    """Return the difference for ``what``, which one side holds and the other lacks.

    A ``missing_*`` kind: the source holds it and ``value`` is the from value; an ``extra_*``
    kind: the target holds it and ``value`` is the to value.
    """
    in_source = kind in _SOURCE_ONLY
    has, lacks = (pair.source, pair.target) if in_source else (pair.target, pair.source)
    return pair.diff(
        kind,
        obj,
        f"{what} is in {has} but not in {lacks}{note}",
        severity=severity,
        from_value=value if in_source else None,
        to_value=None if in_source else value,
    )


def comment_difference(
    pair: Pair, what: str, obj: str, mine: str | None, theirs: str | None
) -> Difference:
    """Return the warning for the comment of ``what`` (a table or a column) that differs."""

    def worded(text: str | None) -> str:
        return "no comment" if text is None else f"comment {text!r}"

    return pair.diff(
        DiffKind.COMMENT_MISMATCH,
        obj,
        f"{what} has {worded(mine)} in {pair.source} but {worded(theirs)} in {pair.target}",
        severity=Severity.WARNING,
        from_value=mine,
        to_value=theirs,
    )


def renamed(pair: Pair, t: Table, what: str, mine: str, theirs: str) -> Difference:
    """Return the warning for ``what`` of ``t`` matched by definition but named differently."""
    return pair.diff(
        DiffKind.NAME_MISMATCH,
        qualified(t, mine),
        f"{what} {qualified(t, mine)} has the same definition as {theirs} in {pair.target}; "
        "only the name differs",
        severity=Severity.WARNING,
        from_value=mine,
        to_value=theirs,
    )
