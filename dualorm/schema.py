"""The neutral schema: frozen, typed, canonical values that every source produces.

A ``Schema`` is what the SQLAlchemy models, the Django models, the live catalog and the
replayed change specs all turn into. Comparing two of them is plain ``==`` on these values,
so every field holds the *canonical* PostgreSQL spelling:

* ``Column.type`` is what ``format_type()`` prints: ``character varying(255)``, ``integer``,
  ``timestamp with time zone``, ``numeric(10,2)``, ``jsonb``, ``uuid``, ``text[]``.
  :func:`dualorm.pgtypes.canonical_type` turns the usual aliases (``varchar(255)``,
  ``timestamptz``, ``int8``) into that spelling.
* ``Column.default``, ``CheckConstraint.expression`` and ``Index.where`` hold the text
  ``pg_get_expr`` would print. Sources that cannot ask the server (offline model loading)
  store what the model says; :mod:`dualorm.normalize` rewrites it through the server.
* Identifiers are stored as PostgreSQL stores them (unquoted names are lower case).

Collections are tuples sorted by name, so two equal schemas compare equal whatever order a
source read them in. Builders take any iterable and sort; use :func:`table` and
:func:`schema` rather than the constructors when building by hand.
"""

from __future__ import annotations

import bisect
import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TypeVar

from dualorm.spec.sqltext import pg_quote_ident

DEFAULT_SCHEMA = "public"

TableKey = tuple[str, str]
"""``(schema, name)``: how tables are keyed everywhere."""


class FkAction(enum.StrEnum):
    """Referential actions, as PostgreSQL spells them in DDL."""

    NO_ACTION = "NO ACTION"
    RESTRICT = "RESTRICT"
    CASCADE = "CASCADE"
    SET_NULL = "SET NULL"
    SET_DEFAULT = "SET DEFAULT"


class Identity(enum.StrEnum):
    """``GENERATED ... AS IDENTITY`` kinds."""

    ALWAYS = "always"
    BY_DEFAULT = "by default"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    identity: Identity | None = None
    comment: str | None = None
    # What a model validates in Python only (Django choices, a non-native SQLAlchemy Enum).
    # Not part of equality: the database never sees it; ``validate --data`` checks rows.
    choices: tuple[str, ...] | None = field(default=None, compare=False)
    # A stored generated column's expression (GENERATED ALWAYS AS (...) STORED); it has no
    # default then.
    generated: str | None = None
    # The column's collation when it is not its type's default, as the catalog names it:
    # ``C``, ``en_US``, ``und-x-icu`` (``"schema"."name"``, quoted, outside pg_catalog).
    collation: str | None = None


@dataclass(frozen=True, slots=True)
class PrimaryKey:
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UniqueConstraint:
    name: str
    columns: tuple[str, ...]
    deferrable: bool = False


@dataclass(frozen=True, slots=True)
class CheckConstraint:
    name: str
    expression: str
    validated: bool = True


@dataclass(frozen=True, slots=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    ref_schema: str = DEFAULT_SCHEMA
    on_delete: FkAction = FkAction.NO_ACTION
    on_update: FkAction = FkAction.NO_ACTION
    deferrable: bool = False
    initially_deferred: bool = False
    validated: bool = True
    # The action an ORM applies in Python instead of the database (Django's on_delete).
    # Not part of equality; the diff uses it to explain an on_delete difference.
    emulated_on_delete: FkAction | None = field(default=None, compare=False)

    @property
    def ref_key(self) -> TableKey:
        return (self.ref_schema, self.ref_table)

    @property
    def ref_qualified_name(self) -> str:
        """The referenced table as a spec names it: schema-qualified outside ``public``."""
        if self.ref_schema == DEFAULT_SCHEMA:
            return self.ref_table
        return f"{self.ref_schema}.{self.ref_table}"


@dataclass(frozen=True, slots=True)
class Index:
    """A non-constraint index. ``columns`` holds column names or canonical expressions;
    ``include`` the non-key columns stored in the index (``INCLUDE (...)``), in order;
    ``orders`` each key's ordering as PostgreSQL prints it after the key (see
    :func:`key_order`), empty when every key is ascending with nulls last; ``opclasses`` each
    key's operator class (``varchar_pattern_ops``), ``""`` for the type's default, empty when
    every key uses the default."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None
    method: str = "btree"
    valid: bool = True
    include: tuple[str, ...] = ()
    orders: tuple[str, ...] = ()
    opclasses: tuple[str, ...] = ()


def is_column_key(key: str) -> bool:
    """Return whether an index key (an entry of :attr:`Index.columns`) names a column; any
    other key is an expression, which DDL writes in parentheses.

    A column key is the name as PostgreSQL stores it (case kept, never quoted); an expression
    is the text ``pg_get_indexdef`` prints, which always holds something no name does
    (parentheses, an operator, a space, a quote). So a key is a column when it is only word
    characters: letters, digits, ``_`` and ``$`` (``UserName``, ``price$``, ``2fa``).

    >>> is_column_key("UserName"), is_column_key("price$"), is_column_key("lower(email)")
    (True, True, False)
    >>> is_column_key('"UserName"'), is_column_key('email COLLATE "C"')
    (False, False)
    """
    return bool(key) and all(ch.isalnum() or ch in "_$" for ch in key)


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    schema: str = DEFAULT_SCHEMA
    columns: tuple[Column, ...] = ()
    primary_key: PrimaryKey | None = None
    uniques: tuple[UniqueConstraint, ...] = ()
    checks: tuple[CheckConstraint, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    comment: str | None = None

    @property
    def key(self) -> TableKey:
        return (self.schema, self.name)

    @property
    def qualified_name(self) -> str:
        return self.name if self.schema == DEFAULT_SCHEMA else f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def constraint_names(self) -> set[str]:
        names = {u.name for u in self.uniques}
        names.update(c.name for c in self.checks)
        names.update(f.name for f in self.foreign_keys)
        if self.primary_key is not None:
            names.add(self.primary_key.name)
        return names


@dataclass(frozen=True, slots=True)
class EnumType:
    """A PostgreSQL enum type (``CREATE TYPE ... AS ENUM``): its labels in their sort order.

    A column of this type has :func:`enum_reference` of it as its ``type``, the spelling
    ``format_type()`` prints (``mood``, ``"Mood"``, ``auth.mood``), so columns compare by type
    name and the labels are compared once, here.
    """

    name: str
    schema: str = DEFAULT_SCHEMA
    labels: tuple[str, ...] = ()

    @property
    def key(self) -> TableKey:
        return (self.schema, self.name)

    @property
    def qualified_name(self) -> str:
        return self.name if self.schema == DEFAULT_SCHEMA else f"{self.schema}.{self.name}"

    @property
    def reference(self) -> str:
        """How a column's ``type`` names this enum (see :func:`enum_reference`)."""
        return enum_reference(self.schema, self.name)


def enum_reference(schema_name: str, name: str) -> str:
    """Return the type name ``format_type()`` prints for enum ``schema_name.name``: quoted
    only where PostgreSQL quotes, schema-qualified outside ``public``.

    >>> enum_reference("public", "mood"), enum_reference("public", "Mood")
    ('mood', '"Mood"')
    """
    name_part = pg_quote_ident(name)
    return (
        name_part if schema_name == DEFAULT_SCHEMA else f"{pg_quote_ident(schema_name)}.{name_part}"
    )


@dataclass(frozen=True, slots=True)
class Sequence:
    """A standalone sequence (``CREATE SEQUENCE``): one no identity or serial column owns.

    A serial's or an identity's own sequence belongs to its column (its default or
    ``Column.identity``) and is never one of these. ``data_type``, ``increment`` and
    ``start`` are what ``CREATE SEQUENCE`` needs to build it again.
    """

    name: str
    schema: str = DEFAULT_SCHEMA
    data_type: str = "bigint"
    increment: int = 1
    start: int = 1

    @property
    def key(self) -> TableKey:
        return (self.schema, self.name)

    @property
    def qualified_name(self) -> str:
        return self.name if self.schema == DEFAULT_SCHEMA else f"{self.schema}.{self.name}"

    @property
    def definition(self) -> str:
        """``AS bigint INCREMENT BY 1 START WITH 1``: the options of ``CREATE SEQUENCE``."""
        return f"AS {self.data_type} INCREMENT BY {self.increment} START WITH {self.start}"


@dataclass(frozen=True, slots=True)
class Schema:
    """A set of tables, enum types and standalone sequences, each sorted by key. Build with
    :func:`schema`."""

    tables: tuple[Table, ...] = ()
    enums: tuple[EnumType, ...] = ()
    # Whether the source states enum types at all: Django has no native enum (its choices
    # live in Python), so a schema read from Django models holds none and says so here; the
    # diff then compares its enum columns by type name only.
    declares_enums: bool = field(default=True, compare=False)
    sequences: tuple[Sequence, ...] = ()
    # Whether the source states standalone sequences: the SQLAlchemy models (``Sequence``)
    # and the catalog do; Django models and specs cannot, so they hold none and say so.
    declares_sequences: bool = field(default=False, compare=False)
    # The tables by key, and whether ``tables`` is strictly in key order (what every builder
    # gives): then adding or replacing one table is a binary search, never a sort of all.
    _index: dict[TableKey, Table] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )
    _ordered: bool = field(default=True, compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        if self._index or not self.tables:
            return  # derived by _derive, which hands over the index of its tables
        keys = [t.key for t in self.tables]
        self._index.update(zip(keys, self.tables, strict=True))
        ordered = all(a < b for a, b in zip(keys, keys[1:], strict=False))
        object.__setattr__(self, "_ordered", ordered)

    def __iter__(self) -> Iterator[Table]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def get(self, key: TableKey | str) -> Table | None:
        return self._index.get(as_key(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple | str) and as_key(key) in self._index

    def keys(self) -> list[TableKey]:
        return [t.key for t in self.tables]

    def with_table(self, new: Table) -> Schema:
        """Return a copy with ``new`` added or replacing the table of the same key."""
        if not self._ordered:
            others = (t for t in self.tables if t.key != new.key)
            return self.with_tables(sorted([*others, new], key=_table_key))
        key = new.key
        start, end = self._span(key)
        index = dict(self._index)
        index[key] = new
        return self._derive((*self.tables[:start], new, *self.tables[end:]), index)

    def without(self, key: TableKey | str) -> Schema:
        k = as_key(key)
        if not self._ordered:
            return self.with_tables(t for t in self.tables if t.key != k)
        start, end = self._span(k)
        index = dict(self._index)
        index.pop(k, None)
        return self._derive(self.tables[:start] + self.tables[end:], index)

    def _span(self, key: TableKey) -> tuple[int, int]:
        """Where the table ``key`` is (``start, start + 1``) or would go (``start, start``)."""
        start = bisect.bisect_left(self.tables, key, key=_table_key)
        found = start < len(self.tables) and self.tables[start].key == key
        return start, start + 1 if found else start

    def _derive(self, tables: tuple[Table, ...], index: dict[TableKey, Table]) -> Schema:
        """A copy holding ``tables`` (in key order, no key twice), ``index`` their index."""
        return Schema(
            tables,
            self.enums,
            self.declares_enums,
            self.sequences,
            self.declares_sequences,
            index,
        )

    def restrict(self, keys: Iterable[TableKey]) -> Schema:
        """Return only the tables whose key is in ``keys`` (and every enum type)."""
        wanted = set(keys)
        return self.with_tables(t for t in self.tables if t.key in wanted)

    def with_tables(self, tables: Iterable[Table]) -> Schema:
        """Return a copy holding ``tables`` (given in key order) instead of this one's; the
        enum types are kept."""
        return Schema(
            tuple(tables), self.enums, self.declares_enums, self.sequences, self.declares_sequences
        )

    def enum(self, key: TableKey | str) -> EnumType | None:
        """Return the enum type ``key`` (``"mood"``, ``"auth.mood"``), or None."""
        k = as_key(key)
        return next((e for e in self.enums if e.key == k), None)

    def enum_named(self, reference: str) -> EnumType | None:
        """Return the enum type a column's ``type`` names (``mood``, ``"Mood"``), or None."""
        return next((e for e in self.enums if e.reference == reference), None)

    def with_enum(self, new: EnumType) -> Schema:
        """Return a copy with ``new`` added or replacing the enum type of the same key."""
        others = [e for e in self.enums if e.key != new.key]
        return self._with_enums(_enum_order([*others, new]))

    def without_enum(self, key: TableKey | str) -> Schema:
        k = as_key(key)
        return self._with_enums(tuple(e for e in self.enums if e.key != k))

    def _with_enums(self, enums: tuple[EnumType, ...]) -> Schema:
        return Schema(
            self.tables, enums, self.declares_enums, self.sequences, self.declares_sequences
        )


def _table_key(t: Table) -> TableKey:
    return t.key


def _enum_order(enums: Iterable[EnumType]) -> tuple[EnumType, ...]:
    return tuple(sorted(enums, key=lambda e: e.key))


def as_key(key: TableKey | str) -> TableKey:
    """Accept ``"users"``, ``"auth.users"`` or ``("auth", "users")``."""
    if isinstance(key, tuple):
        return key
    schema_name, dot, name = key.rpartition(".")
    return (schema_name if dot else DEFAULT_SCHEMA, name)


_Named = TypeVar("_Named", Column, UniqueConstraint, CheckConstraint, ForeignKey, Index)


def _by_name(items: Iterable[_Named]) -> tuple[_Named, ...]:
    return tuple(sorted(items, key=lambda item: item.name))


def table(
    name: str,
    columns: Iterable[Column] = (),
    *,
    schema: str = DEFAULT_SCHEMA,
    primary_key: PrimaryKey | None = None,
    uniques: Iterable[UniqueConstraint] = (),
    checks: Iterable[CheckConstraint] = (),
    foreign_keys: Iterable[ForeignKey] = (),
    indexes: Iterable[Index] = (),
    comment: str | None = None,
) -> Table:
    """Build a ``Table`` with its collections in canonical order (columns keep theirs)."""
    return Table(
        name=name,
        schema=schema,
        columns=tuple(columns),
        primary_key=primary_key,
        uniques=_by_name(uniques),
        checks=_by_name(checks),
        foreign_keys=_by_name(foreign_keys),
        indexes=_by_name(indexes),
        comment=comment,
    )


def normalized(t: Table) -> Table:
    """Return ``t`` with its collections sorted (after a ``dataclasses.replace``)."""
    return replace(
        t,
        uniques=_by_name(t.uniques),
        checks=_by_name(t.checks),
        foreign_keys=_by_name(t.foreign_keys),
        indexes=_by_name(t.indexes),
    )


def schema(
    tables: Iterable[Table] = (),
    enums: Iterable[EnumType] = (),
    *,
    declares_enums: bool = True,
    sequences: Iterable[Sequence] | None = None,
) -> Schema:
    """Build a ``Schema`` with its tables, enum types and sequences sorted by key.

    ``sequences`` given (even empty) means the source states its standalone sequences.
    """
    return Schema(
        tuple(sorted(tables, key=_table_key)),
        _enum_order(enums),
        declares_enums,
        tuple(sorted(sequences or (), key=lambda q: q.key)),
        sequences is not None,
    )


# -- index keys ------------------------------------------------------------------------------


def key_order(descending: bool, nulls_first: bool | None = None) -> str:
    """An index key's ordering as PostgreSQL prints it: ``""``, ``"DESC"``, ``"NULLS FIRST"``
    or ``"DESC NULLS LAST"`` (nulls come first by default exactly when descending)."""
    if nulls_first is None:
        nulls_first = descending
    words = ["DESC"] if descending else []
    if nulls_first != descending:
        words.append("NULLS FIRST" if nulls_first else "NULLS LAST")
    return " ".join(words)


def _per_key(values: Iterable[str]) -> tuple[str, ...]:
    # A per-key attribute of an Index is stored empty when every key has the default ("").
    found = tuple(values)
    return found if any(found) else ()


def key_orders(orders: Iterable[str]) -> tuple[str, ...]:
    """The canonical :attr:`Index.orders`: empty when every key has the default ordering."""
    return _per_key(orders)


def index_orders(index: Index) -> tuple[str, ...]:
    """One ordering per key of ``index`` (``""`` for the default), whatever ``orders`` holds."""
    return index.orders or ("",) * len(index.columns)


def key_opclasses(opclasses: Iterable[str]) -> tuple[str, ...]:
    """The canonical :attr:`Index.opclasses`: empty when every key uses the default class."""
    return _per_key(opclasses)


def index_opclasses(index: Index) -> tuple[str, ...]:
    """One operator class per key of ``index`` (``""`` for the default)."""
    return index.opclasses or ("",) * len(index.columns)


_ORDERED_KEY = re.compile(
    r"^(?P<key>.*?\S)\s+(?:(?P<direction>ASC|DESC)(?:\s+NULLS\s+(?P<nulls_after>FIRST|LAST))?"
    r"|NULLS\s+(?P<nulls>FIRST|LAST))$",
    re.IGNORECASE,
)


def split_order(text: str) -> tuple[str, str]:
    """Split ``"created_at DESC NULLS LAST"`` into the key and its canonical ordering."""
    found = _ORDERED_KEY.match(text.strip())
    if found is None:
        return text, ""
    nulls = found["nulls"] or found["nulls_after"]
    descending = (found["direction"] or "").upper() == "DESC"
    return found["key"], key_order(descending, None if nulls is None else nulls.upper() == "FIRST")


_OPCLASS_KEY = re.compile(
    r"^(?P<key>[A-Za-z_][\w$]*|.*\))\s+(?P<opclass>[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)$"
)


def split_opclass(key: str) -> tuple[str, str]:
    """Split ``"email varchar_pattern_ops"`` or ``"lower(email) text_pattern_ops"`` into the
    key and its operator class; a key without one comes back with ``""``."""
    found = _OPCLASS_KEY.match(key.strip())
    if found is None:
        return key, ""
    return found["key"], found["opclass"]
