"""The tables phase: tables present on one side only."""

from __future__ import annotations

from dualorm.diff.base import Difference, DiffKind, Pair, tracked
from dualorm.schema import Schema

__all__ = ["compare_tables"]


def compare_tables(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report tables present on one side only, unless ownership says the other never has it."""
    mine, theirs = tracked(a), tracked(b)
    out = [
        pair.diff(
            DiffKind.MISSING_TABLE,
            t.qualified_name,
            f"table {t.qualified_name} is in {pair.source} but not in {pair.target}",
            from_value=t.qualified_name,
        )
        for key, t in sorted(mine.items())
        if key not in theirs and pair.expects(pair.target, key)
    ]
    out += [
        pair.diff(
            DiffKind.EXTRA_TABLE,
            t.qualified_name,
            f"table {t.qualified_name} is in {pair.target} but not in {pair.source}",
            to_value=t.qualified_name,
        )
        for key, t in sorted(theirs.items())
        if key not in mine and pair.expects(pair.source, key)
    ]
    return out
