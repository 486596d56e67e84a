"""The diff engine: compare two neutral ``Schema`` values into typed ``Difference`` values.

:func:`compare` runs an explicit, ordered list of pure phase functions (tables, columns,
primary keys, indexes, unique constraints, check constraints, foreign keys). Each phase reads
the two schemas and a frozen :class:`Pair` (the names of the two sides and the table
ownership) and returns its own differences; phases share no mutable state, so the order in
:data:`PHASES` is the order of the report and nothing else.

Direction: ``a`` is the *source* (usually a model set), ``b`` the *target* (usually the live
catalog). "missing" means present in the source and absent from the target; "extra" the
reverse. Values are compared with plain ``==`` because every source stores canonical
PostgreSQL spellings (see :mod:`dualorm.schema` and :mod:`dualorm.normalize`).

Objects matched by definition but not by name (an auto-generated index name, Django's hashed
foreign-key names) are reported once, as a ``name_mismatch`` warning, and then compared as the
same object.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dualorm.config import Ownership
from dualorm.schema import (
    CheckConstraint,
    Column,
    FkAction,
    ForeignKey,
    Index,
    Schema,
    Table,
    TableKey,
    UniqueConstraint,
    as_key,
)

__all__ = [
    "IGNORED_SCHEMAS",
    "IGNORED_TABLES",
    "PHASES",
    "DiffKind",
    "Difference",
    "Pair",
    "Severity",
    "compare",
]


class DiffKind(enum.StrEnum):
    """What moved between the two sides."""

    MISSING_TABLE = "missing_table"
    EXTRA_TABLE = "extra_table"
    MISSING_COLUMN = "missing_column"
    EXTRA_COLUMN = "extra_column"
    TYPE_MISMATCH = "type_mismatch"
    NULLABILITY_MISMATCH = "nullability_mismatch"
    DEFAULT_MISMATCH = "default_mismatch"
    IDENTITY_MISMATCH = "identity_mismatch"
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

_ORM_SIDES = {"sqlalchemy": Ownership.SQLALCHEMY, "django": Ownership.DJANGO}


@dataclass(frozen=True, slots=True)
class Pair:
    """The frozen context every phase reads: side names and table ownership."""

    source: str = "sqlalchemy"
    target: str = "database"
    ownership: Mapping[TableKey, Ownership] = field(default_factory=dict)

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
        owner = self.ownership.get(key, Ownership.SHARED)
        if owner is Ownership.SHARED:
            return True
        if owner is Ownership.EXTERNAL:
            return False
        return side not in _ORM_SIDES or _ORM_SIDES[side] is owner


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


Phase = Callable[[Schema, Schema, Pair], list[Difference]]


def compare(
    a: Schema,
    b: Schema,
    *,
    source: str = "sqlalchemy",
    target: str = "database",
    ownership: Mapping[str, Ownership] | None = None,
) -> list[Difference]:
    """Compare ``a`` (the source) with ``b`` (the target) and return every difference.

    Args:
        a: the schema read as the source, e.g. from the SQLAlchemy models.
        b: the schema read as the target, e.g. from the live catalog.
        source: the name of ``a`` in each ``Difference``.
        target: the name of ``b`` in each ``Difference``.
        ownership: ``{table: owner}`` from ``[tool.dualorm.tables]``; a table owned by one ORM
            or external is not reported missing from a side that does not own it (and so is
            never offered for dropping).

    Returns:
        Differences in phase order (see :data:`PHASES`), tables in key order within a phase.
    """
    pair = Pair(
        source=source,
        target=target,
        ownership={as_key(name): owner for name, owner in (ownership or {}).items()},
    )
    a, b = _without_settled(a, b)
    return [difference for phase in PHASES for difference in phase(a, b, pair)]


def _tracked(s: Schema) -> dict[TableKey, Table]:
    return {t.key: t for t in s if t.schema not in IGNORED_SCHEMAS and t.key not in IGNORED_TABLES}


def _common(a: Schema, b: Schema) -> Iterator[tuple[Table, Table]]:
    theirs = _tracked(b)
    for key, mine in _tracked(a).items():
        other = theirs.get(key)
        if other is not None:
            yield mine, other


def _without_settled(a: Schema, b: Schema) -> tuple[Schema, Schema]:
    """Drop the tables that are equal on both sides and carry nothing to warn about.

    No phase has anything to say about them; comparing each once here, rather than in every
    phase, keeps a clean 1,000-table schema at one equality test per table.
    """
    settled = {
        t.key for t in a if not _flagged(t) and (other := b.get(t.key)) is not None and other == t
    }
    if not settled:
        return a, b
    return (
        Schema(tables=tuple(t for t in a if t.key not in settled)),
        Schema(tables=tuple(t for t in b if t.key not in settled)),
    )


def _flagged(t: Table) -> bool:
    return (
        any(not i.valid for i in t.indexes)
        or any(not c.validated for c in t.checks)
        or any(not f.validated for f in t.foreign_keys)
    )


def _qualified(t: Table, name: str | None = None) -> str:
    return t.qualified_name if name is None else f"{t.qualified_name}.{name}"


# -- tables ------------------------------------------------------------------------------------


def compare_tables(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report tables present on one side only, unless ownership says the other never has it."""
    mine, theirs = _tracked(a), _tracked(b)
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


# -- columns -----------------------------------------------------------------------------------


def _is_sequence_default(default: str | None) -> bool:
    return default is not None and default.startswith("nextval(")


def _identity_difference(t: Table, x: Column, y: Column, pair: Pair) -> Difference | None:
    if x.identity == y.identity:
        return None
    obj = _qualified(t, x.name)
    if x.identity is not None and y.identity is None and _is_sequence_default(y.default):
        detail = (
            f"{obj} is an identity column (GENERATED {x.identity.upper()} AS IDENTITY) in "
            f"{pair.source} but a serial column (sequence default) in {pair.target}"
        )
    elif y.identity is not None and x.identity is None and _is_sequence_default(x.default):
        detail = (
            f"{obj} is a serial column (sequence default) in {pair.source} but an identity "
            f"column (GENERATED {y.identity.upper()} AS IDENTITY) in {pair.target}"
        )
    else:
        detail = (
            f"{obj} identity differs: {_ident(x)} in {pair.source}, {_ident(y)} in {pair.target}"
        )
    return pair.diff(
        DiffKind.IDENTITY_MISMATCH,
        obj,
        detail,
        from_value=_ident(x) if x.identity is None else x.identity.value,
        to_value=_ident(y) if y.identity is None else y.identity.value,
    )


def _ident(c: Column) -> str:
    if c.identity is not None:
        return f"identity ({c.identity.value})"
    return "serial" if _is_sequence_default(c.default) else "no identity"


def _column_differences(t: Table, x: Column, y: Column, pair: Pair) -> list[Difference]:
    obj = _qualified(t, x.name)
    out: list[Difference] = []
    if x.type != y.type:
        out.append(
            pair.diff(
                DiffKind.TYPE_MISMATCH,
                obj,
                f"{obj} is {x.type} in {pair.source} but {y.type} in {pair.target}",
                from_value=x.type,
                to_value=y.type,
            )
        )
    if x.nullable != y.nullable:
        out.append(
            pair.diff(
                DiffKind.NULLABILITY_MISMATCH,
                obj,
                f"{obj} is {_null(x)} in {pair.source} but {_null(y)} in {pair.target}",
                from_value=_null(x),
                to_value=_null(y),
            )
        )
    identity = _identity_difference(t, x, y, pair)
    if identity is not None:
        out.append(identity)
    elif x.default != y.default:
        out.append(
            pair.diff(
                DiffKind.DEFAULT_MISMATCH,
                obj,
                f"{obj} defaults to {_show(x.default)} in {pair.source} "
                f"but {_show(y.default)} in {pair.target}",
                from_value=x.default,
                to_value=y.default,
            )
        )
    return out


def _null(c: Column) -> str:
    return "NULL" if c.nullable else "NOT NULL"


def _show(value: str | None) -> str:
    return "no default" if value is None else value


def compare_columns(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report missing and extra columns, then type, nullability, default and identity."""
    out: list[Difference] = []
    for ta, tb in _common(a, b):
        if ta.columns == tb.columns:
            continue
        theirs = {c.name: c for c in tb.columns}
        mine = {c.name: c for c in ta.columns}
        for c in ta.columns:
            other = theirs.get(c.name)
            if other is None:
                out.append(
                    pair.diff(
                        DiffKind.MISSING_COLUMN,
                        _qualified(ta, c.name),
                        f"column {_qualified(ta, c.name)} ({c.type}) is in {pair.source} "
                        f"but not in {pair.target}",
                        from_value=c.type,
                    )
                )
            else:
                out += _column_differences(ta, c, other, pair)
        out += [
            pair.diff(
                DiffKind.EXTRA_COLUMN,
                _qualified(tb, c.name),
                f"column {_qualified(tb, c.name)} ({c.type}) is in {pair.target} "
                f"but not in {pair.source}",
                to_value=c.type,
            )
            for c in tb.columns
            if c.name not in mine
        ]
    return out


# -- primary keys ------------------------------------------------------------------------------


def compare_primary_keys(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report primary keys over different columns (error) or of different names (warning)."""
    out: list[Difference] = []
    for ta, tb in _common(a, b):
        x, y = ta.primary_key, tb.primary_key
        if x is None and y is None:
            continue
        if x is None or y is None or x.columns != y.columns:
            out.append(
                pair.diff(
                    DiffKind.PRIMARY_KEY_MISMATCH,
                    ta.qualified_name,
                    f"primary key of {ta.qualified_name} is ({_cols(x)}) in {pair.source} "
                    f"but ({_cols(y)}) in {pair.target}",
                    from_value=None if x is None else x.columns,
                    to_value=None if y is None else y.columns,
                )
            )
        elif x.name != y.name:
            out.append(_renamed(pair, ta, "primary key", x.name, y.name))
    return out


def _cols(key: Any) -> str:
    return "none" if key is None else ", ".join(key.columns)


def _renamed(pair: Pair, t: Table, what: str, mine: str, theirs: str) -> Difference:
    return pair.diff(
        DiffKind.NAME_MISMATCH,
        _qualified(t, mine),
        f"{what} {_qualified(t, mine)} has the same definition as {theirs} in {pair.target}; "
        "only the name differs",
        severity=Severity.WARNING,
        from_value=mine,
        to_value=theirs,
    )


# -- matching by name, then by definition ------------------------------------------------------

_N = TypeVar("_N", Index, UniqueConstraint, CheckConstraint, ForeignKey)


@dataclass(frozen=True, slots=True)
class _Matched:
    pairs: tuple[tuple[Any, Any], ...]
    renamed: tuple[tuple[Any, Any], ...]
    only_a: tuple[Any, ...]
    only_b: tuple[Any, ...]


def _match(xs: Sequence[_N], ys: Sequence[_N], signature: Callable[[_N], object]) -> _Matched:
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
    return _Matched(same, tuple(renamed), tuple(only_a), tuple(sorted(only_b, key=_name)))


def _name(item: Any) -> str:
    return str(item.name)


# -- indexes -----------------------------------------------------------------------------------


def _index_signature(i: Index) -> object:
    return (i.columns, i.unique, i.where, i.method)


def _describe_index(i: Index) -> str:
    text = f"{'UNIQUE ' if i.unique else ''}{i.method} ({', '.join(i.columns)})"
    return f"{text} WHERE {i.where}" if i.where else text


def _is_django_like(i: Index) -> bool:
    return i.name.endswith("_like") or any("_pattern_ops" in c for c in i.columns)


_LIKE_NOTE = (
    "; Django adds a varchar_pattern_ops/text_pattern_ops '_like' index beside db_index and "
    "unique character fields so LIKE queries can use an index, which other tools do not create"
)


def compare_indexes(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report missing, extra, changed, renamed and invalid indexes."""
    out: list[Difference] = []
    for ta, tb in _common(a, b):
        if ta.indexes == tb.indexes and not _flagged(ta):
            continue
        m = _match(ta.indexes, tb.indexes, _index_signature)
        for x, y in m.pairs:
            if _index_signature(x) != _index_signature(y):
                out.append(
                    pair.diff(
                        DiffKind.INDEX_MISMATCH,
                        _qualified(ta, x.name),
                        f"index {_qualified(ta, x.name)} is {_describe_index(x)} in "
                        f"{pair.source} but {_describe_index(y)} in {pair.target}",
                        from_value=_describe_index(x),
                        to_value=_describe_index(y),
                    )
                )
        out += [_renamed(pair, ta, "index", x.name, y.name) for x, y in m.renamed]
        for x in m.only_a:
            like = _is_django_like(x)
            out.append(
                pair.diff(
                    DiffKind.MISSING_INDEX,
                    _qualified(ta, x.name),
                    f"index {_qualified(ta, x.name)} ({_describe_index(x)}) is in {pair.source} "
                    f"but not in {pair.target}{_LIKE_NOTE if like else ''}",
                    severity=Severity.WARNING if like else Severity.ERROR,
                    from_value=_describe_index(x),
                )
            )
        for y in m.only_b:
            like = _is_django_like(y)
            out.append(
                pair.diff(
                    DiffKind.EXTRA_INDEX,
                    _qualified(tb, y.name),
                    f"index {_qualified(tb, y.name)} ({_describe_index(y)}) is in {pair.target} "
                    f"but not in {pair.source}{_LIKE_NOTE if like else ''}",
                    severity=Severity.WARNING if like else Severity.ERROR,
                    to_value=_describe_index(y),
                )
            )
        out += _invalid_indexes(ta, tb, pair)
    return out


def _invalid_indexes(ta: Table, tb: Table, pair: Pair) -> Iterable[Difference]:
    for side, t in ((pair.source, ta), (pair.target, tb)):
        for i in t.indexes:
            if not i.valid:
                yield pair.diff(
                    DiffKind.INVALID_INDEX,
                    _qualified(t, i.name),
                    f"index {_qualified(t, i.name)} is marked invalid in {side} (a failed "
                    "CREATE INDEX CONCURRENTLY?); it is not used and should be rebuilt",
                    severity=Severity.WARNING,
                )


# -- unique constraints ------------------------------------------------------------------------


def _unique_signature(u: UniqueConstraint) -> object:
    return u.columns


def _enforced_by_index(t: Table, columns: tuple[str, ...]) -> Index | None:
    return next(
        (i for i in t.indexes if i.unique and i.where is None and i.columns == columns), None
    )


def compare_uniques(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report unique constraints; one side's plain unique index counts with a warning."""
    out: list[Difference] = []
    for ta, tb in _common(a, b):
        if ta.uniques == tb.uniques:
            continue
        m = _match(ta.uniques, tb.uniques, _unique_signature)
        for x, y in m.pairs:
            if x != y:
                out.append(
                    pair.diff(
                        DiffKind.CONSTRAINT_MISMATCH,
                        _qualified(ta, x.name),
                        f"unique constraint {_qualified(ta, x.name)} is {_describe_unique(x)} "
                        f"in {pair.source} but {_describe_unique(y)} in {pair.target}",
                        from_value=_describe_unique(x),
                        to_value=_describe_unique(y),
                    )
                )
        out += [_renamed(pair, ta, "unique constraint", x.name, y.name) for x, y in m.renamed]
        for x in m.only_a:
            out.append(_lonely_unique(pair, ta, tb, x, DiffKind.MISSING_CONSTRAINT))
        for y in m.only_b:
            out.append(_lonely_unique(pair, tb, ta, y, DiffKind.EXTRA_CONSTRAINT))
    return out


def _describe_unique(u: UniqueConstraint) -> str:
    return f"UNIQUE ({', '.join(u.columns)}){' DEFERRABLE' if u.deferrable else ''}"


def _lonely_unique(
    pair: Pair, here: Table, there: Table, u: UniqueConstraint, kind: DiffKind
) -> Difference:
    has, lacks = (
        (pair.source, pair.target)
        if kind is DiffKind.MISSING_CONSTRAINT
        else (pair.target, pair.source)
    )
    index = _enforced_by_index(there, u.columns)
    missing = kind is DiffKind.MISSING_CONSTRAINT
    from_value = _describe_unique(u) if missing else None
    to_value = None if missing else _describe_unique(u)
    if index is not None:
        return pair.diff(
            DiffKind.CONSTRAINT_MISMATCH,
            _qualified(here, u.name),
            f"unique constraint {_qualified(here, u.name)} in {has} is enforced by the unique "
            f"index {index.name} in {lacks}; the same rows are refused",
            severity=Severity.WARNING,
            from_value=from_value,
            to_value=to_value,
        )
    return pair.diff(
        kind,
        _qualified(here, u.name),
        f"unique constraint {_qualified(here, u.name)} {_describe_unique(u)} is in {has} "
        f"but not in {lacks}",
        from_value=from_value,
        to_value=to_value,
    )


# -- check constraints -------------------------------------------------------------------------


def _check_signature(c: CheckConstraint) -> object:
    return c.expression


def compare_checks(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report missing, extra, changed, renamed and not-validated check constraints."""
    out: list[Difference] = []
    for ta, tb in _common(a, b):
        if ta.checks == tb.checks and not _flagged(ta):
            continue
        m = _match(ta.checks, tb.checks, _check_signature)
        for x, y in m.pairs:
            if x.expression != y.expression:
                out.append(
                    pair.diff(
                        DiffKind.CONSTRAINT_MISMATCH,
                        _qualified(ta, x.name),
                        f"check constraint {_qualified(ta, x.name)} is CHECK ({x.expression}) "
                        f"in {pair.source} but CHECK ({y.expression}) in {pair.target}",
                        from_value=x.expression,
                        to_value=y.expression,
                    )
                )
        out += [_renamed(pair, ta, "check constraint", x.name, y.name) for x, y in m.renamed]
        out += [
            pair.diff(
                DiffKind.MISSING_CONSTRAINT,
                _qualified(ta, x.name),
                f"check constraint {_qualified(ta, x.name)} CHECK ({x.expression}) is in "
                f"{pair.source} but not in {pair.target}",
                from_value=x.expression,
            )
            for x in m.only_a
        ]
        out += [
            pair.diff(
                DiffKind.EXTRA_CONSTRAINT,
                _qualified(tb, y.name),
                f"check constraint {_qualified(tb, y.name)} CHECK ({y.expression}) is in "
                f"{pair.target} but not in {pair.source}",
                to_value=y.expression,
            )
            for y in m.only_b
        ]
        out += _not_validated(ta, tb, pair, "checks")
    return out


def _not_validated(ta: Table, tb: Table, pair: Pair, attribute: str) -> Iterable[Difference]:
    what = "check constraint" if attribute == "checks" else "foreign key"
    for side, t in ((pair.source, ta), (pair.target, tb)):
        for c in getattr(t, attribute):
            if not c.validated:
                yield pair.diff(
                    DiffKind.NOT_VALIDATED_CONSTRAINT,
                    _qualified(t, c.name),
                    f"{what} {_qualified(t, c.name)} is NOT VALID in {side}: new rows are "
                    "checked, existing rows are not; run VALIDATE CONSTRAINT",
                    severity=Severity.WARNING,
                )


# -- foreign keys ------------------------------------------------------------------------------


def _fk_signature(f: ForeignKey) -> object:
    return (f.columns, f.ref_key, f.ref_columns)


def _describe_fk(f: ForeignKey) -> str:
    ref = f.ref_table if f.ref_schema == "public" else f"{f.ref_schema}.{f.ref_table}"
    return f"({', '.join(f.columns)}) REFERENCES {ref} ({', '.join(f.ref_columns)})"


def compare_foreign_keys(a: Schema, b: Schema, pair: Pair) -> list[Difference]:
    """Report foreign keys: presence, target, actions, deferral, names, validation."""
    out: list[Difference] = []
    for ta, tb in _common(a, b):
        if ta.foreign_keys == tb.foreign_keys and not _flagged(ta):
            continue
        m = _match(ta.foreign_keys, tb.foreign_keys, _fk_signature)
        for x, y in m.pairs:
            if _fk_signature(x) != _fk_signature(y):
                out.append(
                    pair.diff(
                        DiffKind.CONSTRAINT_MISMATCH,
                        _qualified(ta, x.name),
                        f"foreign key {_qualified(ta, x.name)} is {_describe_fk(x)} in "
                        f"{pair.source} but {_describe_fk(y)} in {pair.target}",
                        from_value=_describe_fk(x),
                        to_value=_describe_fk(y),
                    )
                )
            else:
                out += _fk_behaviour(ta, x, y, pair)
        for x, y in m.renamed:
            out.append(_renamed(pair, ta, "foreign key", x.name, y.name))
            out += _fk_behaviour(ta, x, y, pair)
        out += [
            pair.diff(
                DiffKind.MISSING_CONSTRAINT,
                _qualified(ta, x.name),
                f"foreign key {_qualified(ta, x.name)} {_describe_fk(x)} is in {pair.source} "
                f"but not in {pair.target}",
                from_value=_describe_fk(x),
            )
            for x in m.only_a
        ]
        out += [
            pair.diff(
                DiffKind.EXTRA_CONSTRAINT,
                _qualified(tb, y.name),
                f"foreign key {_qualified(tb, y.name)} {_describe_fk(y)} is in {pair.target} "
                f"but not in {pair.source}",
                to_value=_describe_fk(y),
            )
            for y in m.only_b
        ]
        out += _not_validated(ta, tb, pair, "foreign_keys")
    return out


def _fk_behaviour(t: Table, x: ForeignKey, y: ForeignKey, pair: Pair) -> list[Difference]:
    obj = _qualified(t, x.name)
    out: list[Difference] = []
    if x.on_delete != y.on_delete:
        out.append(_on_delete_difference(obj, x, y, pair))
    if x.on_update != y.on_update:
        out.append(
            pair.diff(
                DiffKind.FK_ACTION_MISMATCH,
                obj,
                f"foreign key {obj} is ON UPDATE {x.on_update} in {pair.source} "
                f"but ON UPDATE {y.on_update} in {pair.target}",
                from_value=f"ON UPDATE {x.on_update}",
                to_value=f"ON UPDATE {y.on_update}",
            )
        )
    if (x.deferrable, x.initially_deferred) != (y.deferrable, y.initially_deferred):
        # Django declares every FK DEFERRABLE INITIALLY DEFERRED; the rows accepted at
        # commit are the same, only when the check runs differs.
        emulating = x.emulated_on_delete is not None or y.emulated_on_delete is not None
        out.append(
            pair.diff(
                DiffKind.CONSTRAINT_MISMATCH,
                obj,
                f"foreign key {obj} is {_deferral(x)} in {pair.source} but {_deferral(y)} in "
                f"{pair.target}"
                + (
                    "; Django creates every foreign key DEFERRABLE INITIALLY DEFERRED"
                    if emulating
                    else ""
                ),
                severity=Severity.WARNING if emulating else Severity.ERROR,
                from_value=_deferral(x),
                to_value=_deferral(y),
            )
        )
    return out


def _deferral(f: ForeignKey) -> str:
    if not f.deferrable:
        return "NOT DEFERRABLE"
    return "DEFERRABLE INITIALLY " + ("DEFERRED" if f.initially_deferred else "IMMEDIATE")


def _on_delete_difference(obj: str, x: ForeignKey, y: ForeignKey, pair: Pair) -> Difference:
    base = (
        f"foreign key {obj} is ON DELETE {x.on_delete} in {pair.source} "
        f"but ON DELETE {y.on_delete} in {pair.target}"
    )
    for side, mine, other in ((pair.source, x, y), (pair.target, y, x)):
        emulated = mine.emulated_on_delete
        if emulated is None or mine.on_delete is not FkAction.NO_ACTION:
            continue
        if emulated == other.on_delete:
            return pair.diff(
                DiffKind.FK_ACTION_MISMATCH,
                obj,
                f"{base}; Django emulates ON DELETE {emulated} in Python ({side} on_delete), "
                "so deletes through the Django ORM behave the same but raw SQL and the other "
                "ORM do not get it from the database",
                severity=Severity.WARNING,
                from_value=f"ON DELETE {x.on_delete}",
                to_value=f"ON DELETE {y.on_delete}",
            )
        return pair.diff(
            DiffKind.FK_ACTION_MISMATCH,
            obj,
            f"{base}; Django emulates ON DELETE {emulated} in Python ({side} on_delete), "
            f"which still differs from ON DELETE {other.on_delete}",
            from_value=f"ON DELETE {x.on_delete}",
            to_value=f"ON DELETE {y.on_delete}",
        )
    return pair.diff(
        DiffKind.FK_ACTION_MISMATCH,
        obj,
        base,
        from_value=f"ON DELETE {x.on_delete}",
        to_value=f"ON DELETE {y.on_delete}",
    )


PHASES: tuple[Phase, ...] = (
    compare_tables,
    compare_columns,
    compare_primary_keys,
    compare_indexes,
    compare_uniques,
    compare_checks,
    compare_foreign_keys,
)
"""The order :func:`compare` runs the phases in, and so the order of the report."""
