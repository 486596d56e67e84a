"""The diff vocabulary: kinds, severities, ``Difference``, ``Pair`` and what phases share.

Everything here is immutable or a pure function: the phase modules (:mod:`.tables`,
:mod:`.columns`, :mod:`.indexes`, :mod:`.constraints`) read two schemas and a frozen
:class:`Pair` and return new ``Difference`` values, so no phase can see what another found.
:func:`match` pairs named objects (indexes, constraints) first by name, then by definition,
which is how a name-only difference becomes a warning rather than a drop and an add.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dualorm.ownership import OwnershipMap
from dualorm.schema import (
    CheckConstraint,
    ForeignKey,
    Index,
    Schema,
    Table,
    TableKey,
    UniqueConstraint,
)

__all__ = [
    "IGNORED_SCHEMAS",
    "IGNORED_TABLES",
    "DiffKind",
    "Difference",
    "Matched",
    "Pair",
    "Phase",
    "Severity",
    "common",
    "flagged",
    "match",
    "matched",
    "qualified",
    "same_named_stand_ins",
    "stand_in",
    "tracked",
]


class DiffKind(enum.StrEnum):
    """What moved between the two sides.

    The object and the from/to values of each kind hold what the change that settles it
    needs, read with the source schema: ``comment_mismatch`` names a table or a column and
    carries both comments (``None``: none); ``collation_mismatch`` a column and both
    collations (``None``: the type's default); the enum kinds name the enum type
    (``mood``, ``auth.mood``): ``missing_enum``/``extra_enum`` carry its labels,
    ``enum_label_missing`` the label the target lacks (its place is the source's order),
    ``enum_label_extra`` the label only the target has, and ``enum_label_order`` both
    orders of the labels the two sides share. ``missing_sequence``/``extra_sequence`` name
    a standalone sequence (``order_no``, ``billing.order_no``) and carry its ``CREATE
    SEQUENCE`` options (``AS bigint INCREMENT BY 1 START WITH 1``).
    """

    MISSING_TABLE = "missing_table"
    EXTRA_TABLE = "extra_table"
    MISSING_COLUMN = "missing_column"
    EXTRA_COLUMN = "extra_column"
    TYPE_MISMATCH = "type_mismatch"
    NULLABILITY_MISMATCH = "nullability_mismatch"
    DEFAULT_MISMATCH = "default_mismatch"
    IDENTITY_MISMATCH = "identity_mismatch"
    GENERATED_MISMATCH = "generated_mismatch"
    PRIMARY_KEY_MISMATCH = "primary_key_mismatch"
    MISSING_INDEX = "missing_index"
    EXTRA_INDEX = "extra_index"
    INDEX_MISMATCH = "index_mismatch"
    INVALID_INDEX = "invalid_index"
    MISSING_CONSTRAINT = "missing_constraint"
    EXTRA_CONSTRAINT = "extra_constraint"
    CONSTRAINT_MISMATCH = "constraint_mismatch"
    NOT_VALIDATED_CONSTRAINT = "not_validated_constraint"
    FK_ACTION_MISMATCH = "fk_action_mismatch"
    NAME_MISMATCH = "name_mismatch"
    REJECTED_EXPRESSION = "rejected_expression"
    """PostgreSQL refuses what one side states (a default, a check, an index, a type)."""
    COMMENT_MISMATCH = "comment_mismatch"
    COLLATION_MISMATCH = "collation_mismatch"
    MISSING_ENUM = "missing_enum"
    EXTRA_ENUM = "extra_enum"
    ENUM_LABEL_MISSING = "enum_label_missing"
    ENUM_LABEL_EXTRA = "enum_label_extra"
    ENUM_LABEL_ORDER = "enum_label_order"
    MISSING_SEQUENCE = "missing_sequence"
    EXTRA_SEQUENCE = "extra_sequence"


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement between two schemas.

    Attributes:
        kind: what moved.
        object: the qualified name, ``"users"``, ``"users.email"`` or
            ``"users.users_email_key"`` (a schema prefix appears outside ``public``).
        source: the name of the side read as ``a`` (``"sqlalchemy"``, ``"django"``, ...).
        target: the name of the side read as ``b`` (usually ``"database"``).
        severity: errors fail ``dualorm validate``; warnings are shown with ``--detailed``.
        detail: one human sentence saying what differs and, where an ORM cannot express
            what the other side does, why.
        from_value: the source's value, rendered as text (``None`` when absent).
        to_value: the target's value, rendered as text (``None`` when absent).
    """

    kind: DiffKind
    object: str
    source: str
    target: str
    severity: Severity
    detail: str
    from_value: str | None = None
    to_value: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "object": self.object,
            "source": self.source,
            "target": self.target,
            "severity": self.severity.value,
            "detail": self.detail,
            "from": self.from_value,
            "to": self.to_value,
        }


# The ledgers dualorm, Alembic and Django keep are never drift.
IGNORED_SCHEMAS = frozenset({"dualorm", "pg_catalog", "information_schema"})
IGNORED_TABLES = frozenset({("public", "alembic_version"), ("public", "django_migrations")})


@dataclass(frozen=True, slots=True)
class Pair:
    """The frozen context every phase reads: side names and table ownership."""

    source: str = "sqlalchemy"
    target: str = "database"
    ownership: OwnershipMap = field(default_factory=OwnershipMap)
    live_target: bool = False
    """Whether the target is a live catalog (what is, rather than what a model declares)."""

    def diff(
        self,
        kind: DiffKind,
        obj: str,
        detail: str,
        *,
        severity: Severity = Severity.ERROR,
        from_value: object = None,
        to_value: object = None,
    ) -> Difference:
        return Difference(
            kind=kind,
            object=obj,
            source=self.source,
            target=self.target,
            severity=severity,
            detail=detail,
            from_value=_text(from_value),
            to_value=_text(to_value),
        )

    def expects(self, side: str, key: TableKey) -> bool:
        """Return whether ``side`` is expected to hold table ``key`` under the ownership map."""
        return self.ownership.policy(key).expects(side)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


Phase = Callable[[Schema, Schema, Pair], list[Difference]]
"""A comparator phase: ``(a, b, pair) -> differences``, pure, sharing nothing."""


def tracked(s: Schema) -> dict[TableKey, Table]:
    """Return the tables of ``s`` that are compared at all (no ledgers, no system schemas)."""
    return {t.key: t for t in s if t.schema not in IGNORED_SCHEMAS and t.key not in IGNORED_TABLES}


def common(a: Schema, b: Schema) -> Iterator[tuple[Table, Table]]:
    """Yield ``(a's table, b's table)`` for every tracked table both sides hold, in a's order."""
    theirs = tracked(b)
    for key, mine in tracked(a).items():
        other = theirs.get(key)
        if other is not None:
            yield mine, other


def flagged(t: Table) -> bool:
    """Return whether ``t`` holds an invalid index or a not-validated constraint to warn about."""
    return (
        any(not i.valid for i in t.indexes)
        or any(not c.validated for c in t.checks)
        or any(not f.validated for f in t.foreign_keys)
    )


def qualified(t: Table, name: str | None = None) -> str:
    """Return ``t``'s qualified name, or that of its member ``name``."""
    return t.qualified_name if name is None else f"{t.qualified_name}.{name}"


# -- matching by name, then by definition ------------------------------------------------------

_N = TypeVar("_N", Index, UniqueConstraint, CheckConstraint, ForeignKey)


@dataclass(frozen=True, slots=True)
class Matched:
    """Named objects of two tables, paired: same name, same definition (renamed), or alone."""

    pairs: tuple[tuple[Any, Any], ...]
    renamed: tuple[tuple[Any, Any], ...]
    only_a: tuple[Any, ...]
    only_b: tuple[Any, ...]


def match(xs: Sequence[_N], ys: Sequence[_N], signature: Callable[[_N], object]) -> Matched:
    """Pair objects by name; pair the rest by ``signature`` (same definition, other name)."""
    by_name = {y.name: y for y in ys}
    same = tuple((x, by_name[x.name]) for x in xs if x.name in by_name)
    taken = {x.name for x, _ in same}
    rest_a = [x for x in xs if x.name not in taken]
    rest_b: dict[object, list[_N]] = {}
    for y in ys:
        if y.name not in taken:
            rest_b.setdefault(signature(y), []).append(y)
    renamed: list[tuple[_N, _N]] = []
    only_a: list[_N] = []
    for x in rest_a:
        candidates = rest_b.get(signature(x))
        if candidates:
            renamed.append((x, candidates.pop(0)))
        else:
            only_a.append(x)
    only_b = tuple(y for group in rest_b.values() for y in group)
    return Matched(same, tuple(renamed), tuple(only_a), tuple(sorted(only_b, key=_name)))


def _name(item: Any) -> str:
    return str(item.name)


def matched(
    a: Schema,
    b: Schema,
    members: Callable[[Table], Sequence[_N]],
    signature: Callable[[_N], object],
) -> Iterator[tuple[Table, Table, Matched]]:
    """Yield ``(a's table, b's table, their members matched)`` for common tables worth a look.

    Tables whose ``members`` are equal are skipped unless :func:`flagged`: an invalid index or
    a not-validated constraint is warned about even when both sides agree.
    """
    for ta, tb in common(a, b):
        xs, ys = members(ta), members(tb)
        if xs != ys or flagged(ta):
            yield ta, tb, match(xs, ys, signature)


def stand_in(u: UniqueConstraint, there: Table) -> Index | None:
    """Return the unique index of ``there`` that does what ``u`` does, if any: same columns,
    no predicate, preferring one that carries ``u``'s name (a constraint replaced by
    ``CREATE UNIQUE INDEX`` under its name)."""
    enforcing = [
        i for i in there.indexes if i.unique and i.where is None and i.columns == u.columns
    ]
    return next((i for i in enforcing if i.name == u.name), enforcing[0] if enforcing else None)


def same_named_stand_ins(here: Table, there: Table) -> set[str]:
    """Names of the unique indexes of ``there`` standing in for a unique constraint of
    ``here`` under that constraint's own name: one object, reported once, by the unique
    constraints phase."""
    constraints = {u.name for u in there.uniques}
    names = set()
    for u in here.uniques:
        if u.name not in constraints:
            index = stand_in(u, there)
            if index is not None and index.name == u.name:
                names.add(index.name)
    return names
