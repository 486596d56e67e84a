"""The tables phase: tables present on one side only, then table comments."""

from __future__ import annotations

from dualorm.diff.base import Difference, DiffKind, Pair, common, tracked
from dualorm.diff.explain import comment_difference, one_sided
from dualorm.schema import Schema, Table

__all__ = ["compare_table_comments", "compare_tables"]


def compare_tables(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report tables present on one side only, unless ownership says the other never has it."""
    mine, theirs = tracked(a), tracked(b)
    out = [
        _lonely_table(pair, t, DiffKind.MISSING_TABLE)
        for key, t in sorted(mine.items())
        if key not in theirs and pair.expects(pair.target, key)
    ]
    out += [
        _lonely_table(pair, t, DiffKind.EXTRA_TABLE)
        for key, t in sorted(theirs.items())
        if key not in mine and pair.expects(pair.source, key)
    ]
    return out


def _lonely_table(pair: Pair, t: Table, kind: DiffKind) -> Difference:
    return one_sided(pair, kind, t.qualified_name, f"table {t.qualified_name}", t.qualified_name)


def compare_table_comments(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report tables both sides hold whose comments differ (``COMMENT ON TABLE``)."""
    return [
        comment_difference(
            pair, f"table {ta.qualified_name}", ta.qualified_name, ta.comment, tb.comment
        )
        for ta, tb in common(a, b)
        if ta.comment != tb.comment
    ]
