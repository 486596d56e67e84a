"""The columns phase: missing and extra columns, then type, nullability, default, identity,
generation (a stored generated column's expression), collation and comment."""

from __future__ import annotations

from dualorm.diff.base import Difference, DiffKind, Pair, common, qualified
from dualorm.diff.explain import (
    changed,
    comment_difference,
    ident,
    is_sequence_default,
    null,
    one_sided,
    show,
)
from dualorm.schema import Column, Schema, Table

__all__ = ["compare_columns"]


def compare_columns(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report missing and extra columns, then type, nullability, default, identity and
    generation."""
    out: list[Difference] = []
    for ta, tb in common(a, b):
        if ta.columns == tb.columns:
            continue
        theirs = {c.name: c for c in tb.columns}
        mine = {c.name: c for c in ta.columns}
        for c in ta.columns:
            other = theirs.get(c.name)
            if other is None:
                out.append(_lonely_column(pair, ta, c, DiffKind.MISSING_COLUMN))
            else:
                out += _column_differences(ta, c, other, pair)
        out += [
            _lonely_column(pair, tb, c, DiffKind.EXTRA_COLUMN)
            for c in tb.columns
            if c.name not in mine
        ]
    return out


def _lonely_column(pair: Pair, t: Table, c: Column, kind: DiffKind) -> Difference:
    obj = qualified(t, c.name)
    return one_sided(pair, kind, obj, f"column {obj} ({c.type})", c.type)


def _column_differences(t: Table, x: Column, y: Column, pair: Pair) -> list[Difference]:
    obj = qualified(t, x.name)
    out: list[Difference] = []
    if x.type != y.type:
        out.append(changed(pair, DiffKind.TYPE_MISMATCH, obj, obj, x.type, y.type))
    if x.nullable != y.nullable:
        out.append(changed(pair, DiffKind.NULLABILITY_MISMATCH, obj, obj, null(x), null(y)))
    identity = _identity_difference(t, x, y, pair)
    if x.generated != y.generated:
        out.append(
            pair.diff(
                DiffKind.GENERATED_MISMATCH,
                obj,
                f"{obj} is {_generation(x)} in {pair.source} but {_generation(y)} in {pair.target}",
                from_value=x.generated,
                to_value=y.generated,
            )
        )
    if x.collation != y.collation:
        out.append(
            pair.diff(
                DiffKind.COLLATION_MISMATCH,
                obj,
                f"{obj} is collated {_collation(x)} in {pair.source} but {_collation(y)} in "
                f"{pair.target}; sorting, comparison and the indexes LIKE can use differ",
                from_value=x.collation,
                to_value=y.collation,
            )
        )
    if x.comment != y.comment:
        out.append(comment_difference(pair, f"column {obj}", obj, x.comment, y.comment))
    if identity is not None:
        out.append(identity)
    elif x.default != y.default:
        out.append(
            pair.diff(
                DiffKind.DEFAULT_MISMATCH,
                obj,
                f"{obj} defaults to {show(x.default)} in {pair.source} "
                f"but {show(y.default)} in {pair.target}",
                from_value=x.default,
                to_value=y.default,
            )
        )
    return out


def _collation(c: Column) -> str:
    return "by its type's default" if c.collation is None else f'"{c.collation}"'


def _generation(c: Column) -> str:
    if c.generated is None:
        return "a plain column"
    expression = c.generated
    if not (expression.startswith("(") and expression.endswith(")")):
        expression = f"({expression})"
    return f"generated always as {expression} stored"


def _identity_difference(t: Table, x: Column, y: Column, pair: Pair) -> Difference | None:
    if x.identity == y.identity:
        return None
    obj = qualified(t, x.name)
    if x.identity is not None and y.identity is None and is_sequence_default(y.default):
        detail = (
            f"{obj} is an identity column (GENERATED {x.identity.upper()} AS IDENTITY) in "
            f"{pair.source} but a serial column (sequence default) in {pair.target}"
        )
    elif y.identity is not None and x.identity is None and is_sequence_default(x.default):
        detail = (
            f"{obj} is a serial column (sequence default) in {pair.source} but an identity "
            f"column (GENERATED {y.identity.upper()} AS IDENTITY) in {pair.target}"
        )
    else:
        detail = f"{obj} identity differs: {ident(x)} in {pair.source}, {ident(y)} in {pair.target}"
    return pair.diff(
        DiffKind.IDENTITY_MISMATCH,
        obj,
        detail,
        from_value=ident(x) if x.identity is None else x.identity.value,
        to_value=ident(y) if y.identity is None else y.identity.value,
    )
