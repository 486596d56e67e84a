"""The indexes phase: missing, extra, changed, renamed and invalid indexes.

Indexes are matched by name, then by definition (keys with their ordering and operator class,
uniqueness, predicate, method, INCLUDE columns). A
Django ``_like`` pattern index alone on one side is a warning: other tools never create it.
"""

from __future__ import annotations

from collections.abc import Iterable

from dualorm.diff.base import (
    Difference,
    DiffKind,
    Pair,
    Severity,
    matched,
    qualified,
    same_named_stand_ins,
)
from dualorm.diff.explain import LIKE_NOTE, changed, describe_index, one_sided, renamed
from dualorm.schema import Index, Schema, Table

__all__ = ["compare_indexes"]


def index_signature(i: Index) -> object:
    return (i.columns, i.orders, i.opclasses, i.unique, i.where, i.method, i.include)


def _is_django_like(i: Index) -> bool:
    return i.name.endswith("_like") or any(o.endswith("_pattern_ops") for o in i.opclasses)


def compare_indexes(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report missing, extra, changed, renamed and invalid indexes."""
    out: list[Difference] = []
    for ta, tb, m in matched(a, b, lambda t: t.indexes, index_signature):
        for x, y in m.pairs:
            if index_signature(x) != index_signature(y):
                out.append(
                    changed(
                        pair,
                        DiffKind.INDEX_MISMATCH,
                        qualified(ta, x.name),
                        f"index {qualified(ta, x.name)}",
                        describe_index(x),
                        describe_index(y),
                    )
                )
        out += [renamed(pair, ta, "index", x.name, y.name) for x, y in m.renamed]
        # A unique index under the name of the other side's unique constraint is that
        # constraint, reported by the unique constraints phase.
        in_b, in_a = same_named_stand_ins(ta, tb), same_named_stand_ins(tb, ta)
        out += [
            _lonely_index(pair, ta, x, DiffKind.MISSING_INDEX)
            for x in m.only_a
            if x.name not in in_a
        ]
        out += [
            _lonely_index(pair, tb, y, DiffKind.EXTRA_INDEX) for y in m.only_b if y.name not in in_b
        ]
        out += _invalid_indexes(ta, tb, pair)
    return out


def _lonely_index(pair: Pair, t: Table, i: Index, kind: DiffKind) -> Difference:
    like = _is_django_like(i)
    return one_sided(
        pair,
        kind,
        qualified(t, i.name),
        f"index {qualified(t, i.name)} ({describe_index(i)})",
        describe_index(i),
        note=LIKE_NOTE if like else "",
        severity=Severity.WARNING if like else Severity.ERROR,
    )


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
