"""The constraint phases: primary keys, unique constraints, check constraints, foreign keys.

Named constraints are matched by name, then by definition, so a difference of name only is a
single ``name_mismatch`` warning. Where Django emulates what the other side declares (an
``on_delete`` applied in Python, every foreign key ``DEFERRABLE INITIALLY DEFERRED``) the
detail says so and, when the rows accepted are the same, the difference is a warning.
"""

from __future__ import annotations

from collections.abc import Iterable

from dualorm.diff.base import (
    Difference,
    DiffKind,
    Pair,
    Severity,
    common,
    matched,
    qualified,
    stand_in,
)
from dualorm.diff.explain import (
    changed,
    cols,
    deferral,
    describe_fk,
    describe_unique,
    one_sided,
    renamed,
)
from dualorm.schema import (
    CheckConstraint,
    FkAction,
    ForeignKey,
    Schema,
    Table,
    UniqueConstraint,
)

__all__ = ["compare_checks", "compare_foreign_keys", "compare_primary_keys", "compare_uniques"]


# -- primary keys ------------------------------------------------------------------------------


def compare_primary_keys(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report primary keys over different columns (error) or of different names (warning)."""
    out: list[Difference] = []
    for ta, tb in common(a, b):
        x, y = ta.primary_key, tb.primary_key
        if x is None and y is None:
            continue
        if x is None or y is None or x.columns != y.columns:
            out.append(
                pair.diff(
                    DiffKind.PRIMARY_KEY_MISMATCH,
                    ta.qualified_name,
                    f"primary key of {ta.qualified_name} is ({cols(x)}) in {pair.source} "
                    f"but ({cols(y)}) in {pair.target}",
                    from_value=None if x is None else x.columns,
                    to_value=None if y is None else y.columns,
                )
            )
        elif x.name != y.name:
            out.append(renamed(pair, ta, "primary key", x.name, y.name))
    return out


# -- unique constraints ------------------------------------------------------------------------


def unique_signature(u: UniqueConstraint) -> object:
    return u.columns


def compare_uniques(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report unique constraints; one side's plain unique index counts with a warning."""
    out: list[Difference] = []
    for ta, tb, m in matched(a, b, lambda t: t.uniques, unique_signature):
        for x, y in m.pairs:
            if x != y:
                out.append(
                    changed(
                        pair,
                        DiffKind.CONSTRAINT_MISMATCH,
                        qualified(ta, x.name),
                        f"unique constraint {qualified(ta, x.name)}",
                        describe_unique(x),
                        describe_unique(y),
                    )
                )
        out += [renamed(pair, ta, "unique constraint", x.name, y.name) for x, y in m.renamed]
        for x in m.only_a:
            out.append(_lonely_unique(pair, ta, tb, x, DiffKind.MISSING_CONSTRAINT))
        for y in m.only_b:
            out.append(_lonely_unique(pair, tb, ta, y, DiffKind.EXTRA_CONSTRAINT))
    return out


def _lonely_unique(
    pair: Pair, here: Table, there: Table, u: UniqueConstraint, kind: DiffKind
) -> Difference:
    index = stand_in(u, there)
    if index is None:
        return one_sided(
            pair,
            kind,
            qualified(here, u.name),
            f"unique constraint {qualified(here, u.name)} {describe_unique(u)}",
            describe_unique(u),
        )
    missing = kind is DiffKind.MISSING_CONSTRAINT
    has, lacks = (pair.source, pair.target) if missing else (pair.target, pair.source)
    detail = (
        f"unique constraint {qualified(here, u.name)} in {has} is enforced by the unique "
        f"index {index.name} in {lacks}; the same rows are refused"
    )
    severity = Severity.WARNING
    if index.name == u.name:
        # The same object, made another way: DDL that names the constraint (DROP
        # CONSTRAINT, as both ORMs' migrations emit it; ON CONFLICT ON CONSTRAINT) fails.
        detail += f", but statements naming the constraint {u.name} fail in {lacks}"
        severity = Severity.ERROR
    if u.deferrable:
        detail += f", and the index cannot be DEFERRABLE as the constraint is in {has}"
        severity = Severity.ERROR
    return pair.diff(
        DiffKind.CONSTRAINT_MISMATCH,
        qualified(here, u.name),
        detail,
        severity=severity,
        from_value=describe_unique(u) if missing else None,
        to_value=None if missing else describe_unique(u),
    )


# -- check constraints -------------------------------------------------------------------------


def check_signature(c: CheckConstraint) -> object:
    return c.expression


def compare_checks(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report missing, extra, changed, renamed and not-validated check constraints."""
    out: list[Difference] = []
    for ta, tb, m in matched(a, b, lambda t: t.checks, check_signature):
        for x, y in m.pairs:
            if x.expression != y.expression:
                out.append(
                    pair.diff(
                        DiffKind.CONSTRAINT_MISMATCH,
                        qualified(ta, x.name),
                        f"check constraint {qualified(ta, x.name)} is CHECK ({x.expression}) "
                        f"in {pair.source} but CHECK ({y.expression}) in {pair.target}",
                        from_value=x.expression,
                        to_value=y.expression,
                    )
                )
        out += [renamed(pair, ta, "check constraint", x.name, y.name) for x, y in m.renamed]
        out += [_lonely_check(pair, ta, x, DiffKind.MISSING_CONSTRAINT) for x in m.only_a]
        out += [_lonely_check(pair, tb, y, DiffKind.EXTRA_CONSTRAINT) for y in m.only_b]
        out += _not_validated(ta, tb, pair, "checks")
    return out


def _lonely_check(pair: Pair, t: Table, c: CheckConstraint, kind: DiffKind) -> Difference:
    obj = qualified(t, c.name)
    return one_sided(
        pair, kind, obj, f"check constraint {obj} CHECK ({c.expression})", c.expression
    )


def _not_validated(ta: Table, tb: Table, pair: Pair, attribute: str) -> Iterable[Difference]:
    what = "check constraint" if attribute == "checks" else "foreign key"
    for side, t in ((pair.source, ta), (pair.target, tb)):
        for c in getattr(t, attribute):
            if not c.validated:
                yield pair.diff(
                    DiffKind.NOT_VALIDATED_CONSTRAINT,
                    qualified(t, c.name),
                    f"{what} {qualified(t, c.name)} is NOT VALID in {side}: new rows are "
                    "checked, existing rows are not; run VALIDATE CONSTRAINT",
                    severity=Severity.WARNING,
                )


# -- foreign keys ------------------------------------------------------------------------------


def fk_signature(f: ForeignKey) -> object:
    return (f.columns, f.ref_key, f.ref_columns)


def compare_foreign_keys(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report foreign keys: presence, target, actions, deferral, names, validation."""
    out: list[Difference] = []
    for ta, tb, m in matched(a, b, lambda t: t.foreign_keys, fk_signature):
        for x, y in m.pairs:
            if fk_signature(x) != fk_signature(y):
                out.append(
                    changed(
                        pair,
                        DiffKind.CONSTRAINT_MISMATCH,
                        qualified(ta, x.name),
                        f"foreign key {qualified(ta, x.name)}",
                        describe_fk(x),
                        describe_fk(y),
                    )
                )
            else:
                out += _fk_behaviour(ta, x, y, pair)
        for x, y in m.renamed:
            out.append(renamed(pair, ta, "foreign key", x.name, y.name))
            out += _fk_behaviour(ta, x, y, pair)
        out += [_lonely_fk(pair, ta, x, DiffKind.MISSING_CONSTRAINT) for x in m.only_a]
        out += [_lonely_fk(pair, tb, y, DiffKind.EXTRA_CONSTRAINT) for y in m.only_b]
        out += _not_validated(ta, tb, pair, "foreign_keys")
    return out


def _lonely_fk(pair: Pair, t: Table, f: ForeignKey, kind: DiffKind) -> Difference:
    obj = qualified(t, f.name)
    return one_sided(pair, kind, obj, f"foreign key {obj} {describe_fk(f)}", describe_fk(f))


def _fk_behaviour(t: Table, x: ForeignKey, y: ForeignKey, pair: Pair) -> list[Difference]:
    obj = qualified(t, x.name)
    out: list[Difference] = []
    if x.on_delete != y.on_delete:
        out.append(_on_delete_difference(obj, x, y, pair))
    if x.on_update != y.on_update:
        out.append(
            changed(
                pair,
                DiffKind.FK_ACTION_MISMATCH,
                obj,
                f"foreign key {obj}",
                f"ON UPDATE {x.on_update}",
                f"ON UPDATE {y.on_update}",
            )
        )
    if (x.deferrable, x.initially_deferred) != (y.deferrable, y.initially_deferred):
        out.append(_deferral_difference(obj, x, y, pair))
    return out


def _deferral_difference(obj: str, x: ForeignKey, y: ForeignKey, pair: Pair) -> Difference:
    # Django declares every FK DEFERRABLE INITIALLY DEFERRED; between two model sets the rows
    # accepted at commit are the same, only when the check runs differs. Django also relies
    # on it (fixtures with forward references, objects saved in any order within a
    # transaction), so a live database whose FK cannot be deferred breaks it.
    note, severity = "", Severity.ERROR
    if x.emulated_on_delete is not None or y.emulated_on_delete is not None:
        note = "; Django creates every foreign key DEFERRABLE INITIALLY DEFERRED"
        severity = Severity.WARNING
        if pair.live_target and x.emulated_on_delete is not None and not y.deferrable:
            note += (
                " and relies on deferring it (fixtures, forward references), which fails "
                f"on a NOT DEFERRABLE foreign key in {pair.target}"
            )
            severity = Severity.ERROR
    return changed(
        pair,
        DiffKind.CONSTRAINT_MISMATCH,
        obj,
        f"foreign key {obj}",
        deferral(x),
        deferral(y),
        note=note,
        severity=severity,
    )


def _on_delete_difference(obj: str, x: ForeignKey, y: ForeignKey, pair: Pair) -> Difference:
    note, severity = "", Severity.ERROR
    for side, mine, other in ((pair.source, x, y), (pair.target, y, x)):
        emulated = mine.emulated_on_delete
        if emulated is None or mine.on_delete is not FkAction.NO_ACTION:
            continue
        note = f"; Django emulates ON DELETE {emulated} in Python ({side} on_delete), "
        if emulated == other.on_delete:
            note += (
                "so deletes through the Django ORM behave the same but raw SQL and the other "
                "ORM do not get it from the database"
            )
            severity = Severity.WARNING
        else:
            note += f"which still differs from ON DELETE {other.on_delete}"
        break
    return changed(
        pair,
        DiffKind.FK_ACTION_MISMATCH,
        obj,
        f"foreign key {obj}",
        f"ON DELETE {x.on_delete}",
        f"ON DELETE {y.on_delete}",
        note=note,
        severity=severity,
    )
