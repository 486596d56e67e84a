"""The tables phase: tables present on one side only."""

from __future__ import annotations

from dualorm.diff.base import Difference, DiffKind, Pair, tracked
from dualorm.diff.explain import one_sided
from dualorm.schema import Schema, Table

__all__ = ["compare_tables"]


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
