"""The indexes phase: missing, extra, changed, renamed and invalid indexes.

Indexes are matched by name, then by definition (columns, uniqueness, predicate, method). A
Django ``_like`` pattern index alone on one side is a warning: other tools never create it.
"""

from __future__ import annotations

from collections.abc import Iterable

from dualorm.diff.base import (
    Difference,
    DiffKind,
    Pair,
    Severity,
    common,
    flagged,
    match,
    qualified,
)
from dualorm.diff.explain import LIKE_NOTE, describe_index, renamed
from dualorm.schema import Index, Schema, Table

__all__ = ["compare_indexes"]


def _index_signature(i: Index) -> object:
    return (i.columns, i.unique, i.where, i.method)


def _is_django_like(i: Index) -> bool:
    return i.name.endswith("_like") or any("_pattern_ops" in c for c in i.columns)


def compare_indexes(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report missing, extra, changed, renamed and invalid indexes."""
    out: list[Difference] = []
    for ta, tb in common(a, b):
        if ta.indexes == tb.indexes and not flagged(ta):
            continue
        m = match(ta.indexes, tb.indexes, _index_signature)
        for x, y in m.pairs:
            if _index_signature(x) != _index_signature(y):
                out.append(
                    pair.diff(
                        DiffKind.INDEX_MISMATCH,
                        qualified(ta, x.name),
                        f"index {qualified(ta, x.name)} is {describe_index(x)} in "
                        f"{pair.source} but {describe_index(y)} in {pair.target}",
                        from_value=describe_index(x),
                        to_value=describe_index(y),
                    )
                )
        out += [renamed(pair, ta, "index", x.name, y.name) for x, y in m.renamed]
        for x in m.only_a:
            like = _is_django_like(x)
            out.append(
                pair.diff(
                    DiffKind.MISSING_INDEX,
                    qualified(ta, x.name),
                    f"index {qualified(ta, x.name)} ({describe_index(x)}) is in {pair.source} "
                    f"but not in {pair.target}{LIKE_NOTE if like else ''}",
                    severity=Severity.WARNING if like else Severity.ERROR,
                    from_value=describe_index(x),
                )
            )
        for y in m.only_b:
            like = _is_django_like(y)
            out.append(
                pair.diff(
                    DiffKind.EXTRA_INDEX,
                    qualified(tb, y.name),
                    f"index {qualified(tb, y.name)} ({describe_index(y)}) is in {pair.target} "
                    f"but not in {pair.source}{LIKE_NOTE if like else ''}",
                    severity=Severity.WARNING if like else Severity.ERROR,
                    to_value=describe_index(y),
                )
            )
        out += _invalid_indexes(ta, tb, pair)
    return out


def _invalid_indexes(ta: Table, tb: Table, pair: Pair) -> Iterable[Difference]:
    for side, t in ((pair.source, ta), (pair.target, tb)):
        for i in t.indexes:
            if not i.valid:
                yield pair.diff(
                    DiffKind.INVALID_INDEX,
                    qualified(t, i.name),
                    f"index {qualified(t, i.name)} is marked invalid in {side} (a failed "
                    "CREATE INDEX CONCURRENTLY?); it is not used and should be rebuilt",
                    severity=Severity.WARNING,
                )
