"""What a model set changed since the specs: the renames, then the operations, verified.

:func:`plan_change` is the pure core of ``migrate new --autogenerate``: it compares the model
set's schema (``want``) with the replayed specs (``have``), settles the rename candidates
(:mod:`.renames`) first, turns the remaining differences into operations
(:mod:`.convert`), orders them (:mod:`.order`) and applies them to ``have`` to check that the
result agrees with the model set. Nothing here reads a project or writes a file
(:mod:`.generate` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dualorm.autogen.convert import Context, operations
from dualorm.autogen.order import arrange
from dualorm.autogen.renames import (
    Answers,
    Ask,
    Candidate,
    column_candidates,
    decide,
    table_candidates,
    value_candidates,
)
from dualorm.diff import Difference, DiffKind, Severity, compare
from dualorm.errors import DriftDetected, InternalError, SpecError
from dualorm.ownership import OwnershipMap
from dualorm.schema import Schema, TableKey
from dualorm.spec.ops import Operation

__all__ = ["Change", "changes_of", "plan_change", "require_agreement"]


@dataclass(frozen=True)
class Change:
    """The operations that bring the specs to a model set, and the renames left unanswered."""

    source: str
    operations: tuple[Operation, ...]
    unconfirmed: tuple[Candidate, ...] = ()
    differences: tuple[Difference, ...] = field(default=(), compare=False)


def changes_of(
    want: Schema,
    have: Schema,
    *,
    source: str,
    ownership: OwnershipMap | None = None,
    scope: frozenset[TableKey] | None = None,
) -> list[Difference]:
    """Return the differences between the model set and the replayed specs that are changes.

    ``scope`` (default: every table) limits the comparison to the tables the specs manage.
    A warning is a change only where a converter says so; an error always is.
    """
    if scope is not None:
        want, have = want.restrict(scope & set(want.keys())), have.restrict(scope)
    return compare(want, have, source=source, target="specs", ownership=ownership)


def _renamed(have: Schema, confirmed: Sequence[Candidate]) -> tuple[Schema, list[Operation]]:
    ops = [c.operation for c in confirmed]
    for op in ops:
        have = op.apply(have)
    return have, ops


def plan_change(
    want: Schema,
    have: Schema,
    *,
    source: str,
    ownership: OwnershipMap | None = None,
    scope: frozenset[TableKey] | None = None,
    answers: Answers | None = None,
    ask: Ask | None = None,
) -> Change:
    """Return the operations that make ``have`` (the replayed specs) agree with ``want``.

    Args:
        want: the model set's schema, as its ORM would have the server create it.
        have: the schema the specs build (foreign tables included: references to them hold).
        source: ``sqlalchemy`` or ``django``; what the model set can say decides which
            warnings are changes (Django cannot name a foreign key).
        ownership: who owns each table (a table the model set does not own is not dropped).
        scope: the tables the specs manage (default: all of ``want`` and ``have``).
        answers: renames given on the command line.
        ask: asks a person about each other rename candidate; ``None`` asks nobody.

    Raises:
        UsageError: an answer names no such rename, or a change a spec cannot express.
        InternalError: the operations do not bring ``have`` to ``want`` (a bug).
    """
    answers = answers or Answers()
    found = changes_of(want, have, source=source, ownership=ownership, scope=scope)
    confirmed, unconfirmed = decide(
        table_candidates(found, want, have), answers, want, have, column=False, ask=ask
    )
    renamed, rename_ops = _renamed(have, confirmed)
    if rename_ops:
        found = changes_of(want, renamed, source=source, ownership=ownership, scope=scope)
    confirmed, left = decide(
        column_candidates(found, want, renamed), answers, want, renamed, column=True, ask=ask
    )
    unconfirmed += left
    renamed, column_ops = _renamed(renamed, confirmed)
    confirmed, left = decide(
        value_candidates(want, renamed), answers, want, renamed, column=False, value=True, ask=ask
    )
    unconfirmed += left
    renamed, value_ops = _renamed(renamed, confirmed)
    if column_ops or value_ops:
        found = changes_of(want, renamed, source=source, ownership=ownership, scope=scope)
    converted = operations(found, Context(want, renamed, source))
    ordered = [*rename_ops, *column_ops, *value_ops, *arrange(converted, renamed)]
    _verify(ordered, want, have, source=source, ownership=ownership, scope=scope)
    return Change(source, tuple(ordered), tuple(unconfirmed), tuple(found))


def _verify(
    ops: Sequence[Operation],
    want: Schema,
    have: Schema,
    *,
    source: str,
    ownership: OwnershipMap | None,
    scope: frozenset[TableKey] | None,
) -> Schema:
    """Apply ``ops`` to ``have`` and check that no change is left against ``want``."""
    state = have
    for op in ops:
        try:
            state = op.apply(state)
        except SpecError as exc:
            raise InternalError(f"the autogenerated operations do not apply: {exc}") from exc
    left = changes_of(want, state, source=source, ownership=ownership, scope=scope)
    again = operations(left, Context(want, state, source))
    if again:
        shown = "; ".join(d.detail for d in left if d.severity is Severity.ERROR)[:400]
        raise InternalError(
            f"the autogenerated operations leave differences: {shown or again[0].describe()}"
        )
    return state


def require_agreement(sa: Change, dj: Change) -> None:
    """Refuse (exit 1) when the two model sets ask for different operations."""
    only = [
        (side, op)
        for side, mine, theirs in (("sqlalchemy", sa, dj), ("django", dj, sa))
        for op in mine.operations
        if op not in theirs.operations
    ]
    if not only:
        return
    disagreements = [
        Difference(
            DiffKind.MISSING_TABLE if op.category.value == "+" else DiffKind.EXTRA_TABLE,
            op.describe(),
            side,
            "specs",
            Severity.ERROR,
            f"{side} asks to {op.describe()}, "
            f"{'django' if side == 'sqlalchemy' else 'sqlalchemy'} does not",
        )
        for side, op in only
    ]
    raise DriftDetected(
        disagreements,
        f"the model sets disagree on {len(disagreements)} operation(s); nothing was written. "
        "Change both the same way, or say which one wins with --from sqlalchemy|django",
    )
