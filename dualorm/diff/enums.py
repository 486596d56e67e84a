"""The enum phase: enum types one side lacks, and labels added, removed or reordered.

Columns of an enum type compare by the type's name in the columns phase; the labels are
compared here, once per type. A side that declares no enum types at all (Django models: see
:mod:`dualorm.sources.django`) is not compared on them. An enum type is expected on a side
when a table that side is expected to hold uses it, or when no table uses it, so that an
ownership map keeping a table away from one side keeps its enum types away too.
"""

from __future__ import annotations

from dualorm.diff.base import IGNORED_SCHEMAS, Difference, DiffKind, Pair, Severity
from dualorm.schema import EnumType, Schema, TableKey

__all__ = ["compare_enums"]


def compare_enums(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report enum types present on one side only, then each label the sides disagree on."""
    if not (a.declares_enums and b.declares_enums) or a.enums == b.enums:
        return []
    mine = {e.key: e for e in a.enums if e.schema not in IGNORED_SCHEMAS}
    theirs = {e.key: e for e in b.enums if e.schema not in IGNORED_SCHEMAS}
    out: list[Difference] = []
    for key, e in sorted(mine.items()):
        other = theirs.get(key)
        if other is None:
            if _expected(pair, pair.target, e, a, b):
                out.append(_lonely(pair, e, DiffKind.MISSING_ENUM))
        elif other.labels != e.labels:
            out += _labels(pair, e, other)
    out += [
        _lonely(pair, e, DiffKind.EXTRA_ENUM)
        for key, e in sorted(theirs.items())
        if key not in mine and _expected(pair, pair.source, e, a, b)
    ]
    return out


def _users(e: EnumType, *schemas: Schema) -> set[TableKey]:
    reference = e.reference
    array = reference + "["
    return {
        t.key
        for s in schemas
        for t in s
        if any(c.type == reference or c.type.startswith(array) for c in t.columns)
    }


def _expected(pair: Pair, side: str, e: EnumType, a: Schema, b: Schema) -> bool:
    users = _users(e, a, b)
    return not users or any(pair.expects(side, key) for key in users)


def _shown(labels: tuple[str, ...]) -> str:
    return "(" + ", ".join(repr(label) for label in labels) + ")"


def _lonely(pair: Pair, e: EnumType, kind: DiffKind) -> Difference:
    in_source = kind is DiffKind.MISSING_ENUM
    has, lacks = (pair.source, pair.target) if in_source else (pair.target, pair.source)
    return pair.diff(
        kind,
        e.qualified_name,
        f"enum type {e.qualified_name} {_shown(e.labels)} is in {has} but not in {lacks}",
        from_value=e.labels if in_source else None,
        to_value=None if in_source else e.labels,
    )


def _labels(pair: Pair, x: EnumType, y: EnumType) -> list[Difference]:
    obj = x.qualified_name
    out: list[Difference] = []
    theirs, mine = set(y.labels), set(x.labels)
    for position, label in enumerate(x.labels):
        if label not in theirs:
            out.append(
                pair.diff(
                    DiffKind.ENUM_LABEL_MISSING,
                    obj,
                    f"enum type {obj} has label {label!r}{_place(x.labels, position)} in "
                    f"{pair.source} but not in {pair.target} (ALTER TYPE ... ADD VALUE)",
                    from_value=label,
                )
            )
    for label in y.labels:
        if label not in mine:
            out.append(
                pair.diff(
                    DiffKind.ENUM_LABEL_EXTRA,
                    obj,
                    f"enum type {obj} has label {label!r} in {pair.target} but not in "
                    f"{pair.source}; rows holding it cannot be read through {pair.source}",
                    severity=Severity.WARNING,
                    to_value=label,
                )
            )
    shared_x = tuple(label for label in x.labels if label in theirs)
    shared_y = tuple(label for label in y.labels if label in mine)
    if shared_x != shared_y:
        out.append(
            pair.diff(
                DiffKind.ENUM_LABEL_ORDER,
                obj,
                f"enum type {obj} orders its labels {_shown(shared_x)} in {pair.source} but "
                f"{_shown(shared_y)} in {pair.target}; ORDER BY and comparisons differ",
                severity=Severity.WARNING,
                from_value=shared_x,
                to_value=shared_y,
            )
        )
    return out


def _place(labels: tuple[str, ...], position: int) -> str:
    if position > 0:
        return f" (after {labels[position - 1]!r})"
    return f" (before {labels[1]!r})" if len(labels) > 1 else ""
