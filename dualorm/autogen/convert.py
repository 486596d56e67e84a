"""Differences become operations here, and only here: one converter per ``DiffKind``.

:func:`operations` reads what :func:`dualorm.diff.compare` found between the model set
(``want``, the comparison's source) and the replayed specs (``have``, its target) and asks
the converter registered for each difference's kind for the operations that make ``have``
agree with ``want`` (Alembic's compare step emitting its ops). A converter is registered with
``@converts(DiffKind.X)``; a kind without one is a :class:`LookupError` at once, and a test
walks :class:`~dualorm.diff.DiffKind` so a new kind cannot land without its converter.

Converters read the objects themselves from the two schemas (a ``Difference`` carries names
and text). A warning is a change only where the model set holds what it names: Django cannot
name a foreign key, defer it or leave its deletion to the database, and another tool never
creates Django's ``_like`` index, so those warnings are not changes of the model.
The operations come out unordered and possibly repeated; :mod:`dualorm.autogen.order` merges
and orders them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dualorm.diff import Difference, DiffKind, Severity
from dualorm.diff.constraints import check_signature, fk_signature, unique_signature
from dualorm.diff.indexes import index_signature
from dualorm.errors import UsageError
from dualorm.schema import (
    CheckConstraint,
    Column,
    EnumType,
    ForeignKey,
    Index,
    PrimaryKey,
    Schema,
    Table,
    UniqueConstraint,
    as_key,
)
from dualorm.spec.ops import (
    AddCheck,
    AddColumn,
    AddEnumValue,
    AddForeignKey,
    AddPrimaryKey,
    AddUnique,
    AlterColumn,
    AlterForeignKey,
    ChangeKind,
    CreateEnum,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropConstraint,
    DropEnum,
    DropEnumValue,
    DropIndex,
    DropTable,
    Operation,
    SetComment,
    column_users,
)

__all__ = ["CONVERTERS", "Context", "Converter", "converts", "is_change", "operations"]


@dataclass(frozen=True)
class Context:
    """What a converter reads: the model set's schema, the replayed one, the model set's name."""

    want: Schema
    have: Schema
    source: str

    def table(self, side: Schema, obj: str) -> Table:
        found = side.get(as_key(obj))
        if found is None:
            raise LookupError(f"table {obj} is not in the schema")
        return found

    def member(self, side: Schema, obj: str) -> tuple[Table, str]:
        """Split ``schema.table.member`` (``table.member`` in ``public``) against ``side``."""
        head, _, name = obj.rpartition(".")
        return self.table(side, head), name

    @property
    def names_foreign_keys(self) -> bool:
        """Whether the model set says what its foreign keys are called (Django derives it)."""
        return self.source != "django"


Converter = Callable[[Difference, Context], list[Operation]]

CONVERTERS: dict[DiffKind, Converter] = {}
"""The converter of each difference kind."""


def converts(*kinds: DiffKind) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of ``kinds``."""

    def register(function: Converter) -> Converter:
        for kind in kinds:
            if kind in CONVERTERS:
                raise TypeError(f"difference kind {kind} has two converters")
            CONVERTERS[kind] = function
        return function

    return register


def operations(differences: Iterable[Difference], context: Context) -> list[Operation]:
    """Return the operations that settle ``differences`` (unordered; repeats possible)."""
    out: list[Operation] = []
    for difference in differences:
        converter = CONVERTERS.get(difference.kind)
        if converter is None:
            raise LookupError(f"no converter turns a {difference.kind} difference into operations")
        out += converter(difference, context)
    return out


def is_change(difference: Difference, context: Context) -> bool:
    """Whether ``difference`` asks for an operation (one a spec cannot express counts)."""
    try:
        return bool(operations([difference], context))
    except UsageError:
        return True


# -- tables and columns ----------------------------------------------------------------------


@converts(DiffKind.MISSING_TABLE)
def _missing_table(d: Difference, ctx: Context) -> list[Operation]:
    return [CreateTable(ctx.table(ctx.want, d.object))]


@converts(DiffKind.EXTRA_TABLE)
def _extra_table(d: Difference, ctx: Context) -> list[Operation]:
    return [DropTable(ctx.table(ctx.have, d.object))]


def _columns(d: Difference, ctx: Context) -> tuple[Table, Column | None, Column | None]:
    t, name = ctx.member(ctx.want, d.object)
    other = ctx.have.get(t.key)
    return t, t.column(name), None if other is None else other.column(name)


@converts(DiffKind.MISSING_COLUMN)
def _missing_column(d: Difference, ctx: Context) -> list[Operation]:
    t, mine, _ = _columns(d, ctx)
    assert mine is not None
    return [AddColumn(t.qualified_name, mine)]


@converts(DiffKind.EXTRA_COLUMN)
def _extra_column(d: Difference, ctx: Context) -> list[Operation]:
    t, name = ctx.member(ctx.have, d.object)
    column = t.column(name)
    assert column is not None
    return [DropColumn(t.qualified_name, column)]


_ALTERED = {
    DiffKind.TYPE_MISMATCH: ChangeKind.TYPE,
    DiffKind.NULLABILITY_MISMATCH: ChangeKind.NULL,
    DiffKind.DEFAULT_MISMATCH: ChangeKind.DEFAULT,
}


@converts(*_ALTERED)
def _altered_column(d: Difference, ctx: Context) -> list[Operation]:
    # Imported here: a warm migrate check imports this module (through autogen.plan) without
    # converting; autogen.casts brings the spec reader and yaml (24 modules).
    from dualorm.autogen.casts import type_change_using

    t, mine, theirs = _columns(d, ctx)
    assert mine is not None and theirs is not None
    change = _ALTERED[d.kind]
    using = reverse = None
    if change is ChangeKind.TYPE:
        using = type_change_using(mine.name, theirs.type, mine.type)
        reverse = type_change_using(mine.name, mine.type, theirs.type)
    return [AlterColumn(t.qualified_name, theirs, mine, change, using, reverse)]


@converts(DiffKind.GENERATED_MISMATCH)
def _generated(d: Difference, ctx: Context) -> list[Operation]:
    # PostgreSQL cannot turn a plain column into a generated one or change what a generated
    # one computes: the column is dropped and added again (what it held is derived, or lost,
    # which the lint's destructive rule reports).
    t, mine, theirs = _columns(d, ctx)
    assert mine is not None and theirs is not None
    have = ctx.table(ctx.have, t.qualified_name)
    users = [_find(have, name) for name in column_users(have, ctx.have, theirs.name)]
    # What uses the column goes with it and comes back after it (same names).
    dropped = [_drop(t.qualified_name, u) for u in users if u is not None]
    added = [_add(t.qualified_name, m) for u in users if u is not None and (m := _find(t, u.name))]
    return [
        *dropped,
        DropColumn(t.qualified_name, theirs),
        AddColumn(t.qualified_name, mine),
        *added,
    ]


@converts(DiffKind.IDENTITY_MISMATCH)
def _identity(d: Difference, ctx: Context) -> list[Operation]:
    raise UsageError(
        f"{d.detail}: a change spec has no operation that adds or removes an identity; write "
        "this change by hand (run_sql) and leave the rest to --autogenerate"
    )


# -- primary keys, indexes, constraints ------------------------------------------------------


@converts(DiffKind.PRIMARY_KEY_MISMATCH)
def _primary_key(d: Difference, ctx: Context) -> list[Operation]:
    t = ctx.table(ctx.want, d.object)
    old = ctx.table(ctx.have, d.object).primary_key
    out: list[Operation] = []
    if old is not None:
        out.append(DropConstraint(t.qualified_name, old))
    if t.primary_key is not None:
        out.append(AddPrimaryKey(t.qualified_name, t.primary_key))
    return out


_Named = Any


def _groups(t: Table) -> Sequence[tuple[Sequence[_Named], Callable[[Any], object]]]:
    return (
        (t.indexes, index_signature),
        (t.uniques, unique_signature),
        (t.checks, check_signature),
        (t.foreign_keys, fk_signature),
    )


def _find(t: Table, name: str) -> _Named | None:
    for members, _ in _groups(t):
        for item in members:
            if item.name == name:
                return item
    pk = t.primary_key
    return pk if pk is not None and pk.name == name else None


def _counterpart(mine: _Named, want: Table, have: Table) -> _Named | None:
    """Return ``have``'s object that ``mine`` (of ``want``) stands for: same name, else the
    same definition of the same kind, as the diff matched them."""
    found = _find(have, mine.name)
    if found is not None:
        return found
    if isinstance(mine, PrimaryKey):
        return have.primary_key
    for (members, signature), (theirs, _) in zip(_groups(want), _groups(have), strict=True):
        if any(item is mine for item in members):
            taken = {item.name for item in members}
            return next(
                (y for y in theirs if y.name not in taken and signature(y) == signature(mine)),
                None,
            )
    return None


def _add(table: str, item: _Named) -> Operation:
    if isinstance(item, Index):
        return CreateIndex(table, item)
    if isinstance(item, ForeignKey):
        return AddForeignKey(table, item)
    if isinstance(item, UniqueConstraint):
        return AddUnique(table, item)
    if isinstance(item, CheckConstraint):
        return AddCheck(table, item)
    return AddPrimaryKey(table, item)


def _drop(table: str, item: _Named) -> Operation:
    if isinstance(item, Index):
        return DropIndex(table, item)
    return DropConstraint(table, item)


def _replaced(d: Difference, ctx: Context) -> list[Operation]:
    """Drop ``have``'s object and create ``want``'s, for a changed or renamed one."""
    want, name = ctx.member(ctx.want, d.object)
    have = ctx.table(ctx.have, want.qualified_name)
    mine = _find(want, name)
    if mine is None:
        return _dropped(d, ctx)
    theirs = _counterpart(mine, want, have)
    if isinstance(mine, ForeignKey) and not ctx.names_foreign_keys and theirs is not None:
        # The model set cannot say what this foreign key is called: keep the spec's name.
        mine = replace(mine, name=theirs.name)
        if fk_signature(mine) == fk_signature(theirs) and _same_behaviour(mine, theirs):
            return []
    if (
        isinstance(mine, ForeignKey)
        and isinstance(theirs, ForeignKey)
        and _only_timing(mine, theirs)
    ):
        # Only when the key is checked moved: PostgreSQL alters that in place.
        return [
            AlterForeignKey(want.qualified_name, theirs, mine.deferrable, mine.initially_deferred)
        ]
    out = [] if theirs is None else [_drop(want.qualified_name, theirs)]
    return [*out, _add(want.qualified_name, mine)]


def _only_timing(x: ForeignKey, y: ForeignKey) -> bool:
    """Whether ``x`` and ``y`` differ only in being deferrable or initially deferred."""
    timed = replace(x, deferrable=y.deferrable, initially_deferred=y.initially_deferred)
    return x != y and timed == y


def _same_behaviour(x: ForeignKey, y: ForeignKey) -> bool:
    """Whether Django's foreign key ``x`` behaves as the spec's ``y``: Django declares every
    key deferred and applies ``on_delete`` in Python, and neither is a change of the model."""
    emulated = x.emulated_on_delete
    on_delete = y.on_delete in (x.on_delete, emulated) if emulated is not None else True
    return on_delete and x.on_update == y.on_update


def _dropped(d: Difference, ctx: Context) -> list[Operation]:
    have, name = ctx.member(ctx.have, d.object)
    theirs = _find(have, name)
    return [] if theirs is None else [_drop(have.qualified_name, theirs)]


def _djangos_like(d: Difference) -> bool:
    """Whether ``d`` is about the ``_like`` index Django adds beside a character field: the
    other tools never create it, and a model set lacking it does not ask to drop it."""
    return d.severity is Severity.WARNING and d.object.endswith("_like")


@converts(DiffKind.MISSING_INDEX, DiffKind.MISSING_CONSTRAINT)
def _missing_member(d: Difference, ctx: Context) -> list[Operation]:
    if _djangos_like(d):
        return []
    want, name = ctx.member(ctx.want, d.object)
    mine = _find(want, name)
    assert mine is not None
    return [_add(want.qualified_name, mine)]


@converts(DiffKind.EXTRA_INDEX, DiffKind.EXTRA_CONSTRAINT)
def _extra_member(d: Difference, ctx: Context) -> list[Operation]:
    if _djangos_like(d):
        return []
    return _dropped(d, ctx)


@converts(DiffKind.INDEX_MISMATCH, DiffKind.CONSTRAINT_MISMATCH, DiffKind.FK_ACTION_MISMATCH)
def _changed_member(d: Difference, ctx: Context) -> list[Operation]:
    if d.severity is Severity.WARNING and not ctx.names_foreign_keys:
        return []
    if d.severity is Severity.WARNING and d.kind is DiffKind.CONSTRAINT_MISMATCH:
        # A unique constraint one side enforces with a unique index: the same rows refused.
        want, name = ctx.member(ctx.want, d.object)
        if _find(want, name) is None or not isinstance(_find(want, name), ForeignKey):
            return []
    return _replaced(d, ctx)


@converts(DiffKind.NAME_MISMATCH)
def _renamed_member(d: Difference, ctx: Context) -> list[Operation]:
    if ctx.source == "django":
        want, name = ctx.member(ctx.want, d.object)
        if isinstance(_find(want, name), ForeignKey):
            return []
    return _replaced(d, ctx)


@converts(DiffKind.INVALID_INDEX, DiffKind.NOT_VALIDATED_CONSTRAINT)
def _state_only(d: Difference, ctx: Context) -> list[Operation]:
    # Whether a build failed or a constraint is validated is the database's state, not
    # something a model set says: nothing to write.
    return []


# -- comments, collations, refused expressions -----------------------------------------------


@converts(DiffKind.COMMENT_MISMATCH)
def _comment(d: Difference, ctx: Context) -> list[Operation]:
    if d.detail.startswith("table ") and ctx.want.get(as_key(d.object)) is not None:
        t = ctx.table(ctx.want, d.object)
        old = ctx.table(ctx.have, d.object).comment
        return [SetComment(t.qualified_name, None, old, t.comment)]
    t, mine, theirs = _columns(d, ctx)
    assert mine is not None and theirs is not None
    return [SetComment(t.qualified_name, mine.name, theirs.comment, mine.comment)]


@converts(DiffKind.COLLATION_MISMATCH)
def _collation(d: Difference, ctx: Context) -> list[Operation]:
    t, mine, theirs = _columns(d, ctx)
    assert mine is not None and theirs is not None
    return [AlterColumn(t.qualified_name, theirs, mine, ChangeKind.COLLATION)]


@converts(DiffKind.REJECTED_EXPRESSION)
def _rejected(d: Difference, ctx: Context) -> list[Operation]:
    raise UsageError(
        f"{d.detail}; a spec cannot hold what PostgreSQL refuses: correct the expression of "
        f"{d.object} in the {ctx.source} models and run --autogenerate again"
    )


@converts(DiffKind.MISSING_SEQUENCE, DiffKind.EXTRA_SEQUENCE)
def _sequence(d: Difference, ctx: Context) -> list[Operation]:
    # The replayed specs declare no standalone sequences, so this pair never reports one;
    # should a model set's comparison do so, say how to write it rather than guess.
    definition = d.from_value or d.to_value or ""
    raise UsageError(
        f"{d.detail}; specs have no sequence operation: write it as run_sql "
        f"(CREATE SEQUENCE {d.object} {definition}, reverse_sql DROP SEQUENCE {d.object})"
    )


# -- enum types ------------------------------------------------------------------------------


def _enum(side: Schema, d: Difference) -> EnumType:
    found = side.enum(d.object)
    if found is None:
        raise LookupError(f"enum type {d.object} is not in the schema")
    return found


@converts(DiffKind.MISSING_ENUM)
def _missing_enum(d: Difference, ctx: Context) -> list[Operation]:
    return [CreateEnum(_enum(ctx.want, d))]


@converts(DiffKind.EXTRA_ENUM)
def _extra_enum(d: Difference, ctx: Context) -> list[Operation]:
    return [DropEnum(_enum(ctx.have, d))]


@converts(DiffKind.ENUM_LABEL_MISSING, DiffKind.ENUM_LABEL_EXTRA, DiffKind.ENUM_LABEL_ORDER)
def _relabelled(d: Difference, ctx: Context) -> list[Operation]:
    # Each label difference of one type yields the same whole relabelling (merged as one).
    return relabel(_enum(ctx.have, d), _enum(ctx.want, d).labels, ctx.have)


def relabel(enum: EnumType, labels: tuple[str, ...], have: Schema) -> list[Operation]:
    """Return the operations that turn ``enum``'s labels into ``labels``, in order.

    PostgreSQL cannot reorder labels: the labels no longer wanted go, and so do those out of
    the order ``labels`` gives them (all but the longest run already in order); then each
    missing label is added after the one it follows in ``labels`` (before the first).
    """
    kept = _in_order([x for x in enum.labels if x in labels], labels)
    out: list[Operation] = []
    current, state = enum, have
    # Each rebuild restores the generated columns and constraints depending on the type as
    # the operations before it left them (a restored column moves to the end of its table).
    for label in enum.labels:
        if label not in kept:
            drop = DropEnumValue.on(state, current, label)
            out.append(drop)
            state = drop.apply(state)
            current = replace(current, labels=tuple(x for x in current.labels if x != label))
    for position, label in enumerate(labels):
        if label in current.labels:
            continue
        after = labels[position - 1] if position > 0 else None
        before = current.labels[0] if after is None and current.labels else None
        add = AddEnumValue.on(state, current, label, before, after)
        out.append(add)
        state = add.apply(state)
        current = replace(current, labels=add.labels())
    return out


def _in_order(have: list[str], want: tuple[str, ...]) -> set[str]:
    """The largest set of ``have``'s labels whose order ``want`` keeps (a longest common
    subsequence: both hold the same labels, ``have`` in another order)."""
    rank = {label: i for i, label in enumerate(want)}
    best: list[list[str]] = []
    for label in have:
        before = [run for run in best if rank[run[-1]] < rank[label]]
        longest: list[str] = max(before, key=len) if before else []
        best.append([*longest, label])
    if not best:
        return set()
    chosen: list[str] = max(best, key=len)
    return set(chosen)
