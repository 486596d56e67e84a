"""SQLAlchemy ``MetaData`` as a neutral ``Schema``: what ``create_all`` would create.

Types are compiled by the PostgreSQL dialect's type compiler, server defaults, check
expressions and index predicates by its DDL compiler, and names come from the metadata's
naming convention exactly as the DDL compiler applies it. What only Python sees (the values
of a non-native ``Enum``) lands in ``Column.choices``. No database is needed.

A native ``Enum`` (and ``postgresql.ENUM``) is an enum type of the schema, whether a column
uses it or it is declared on the ``MetaData`` alone (``Enum(..., metadata=metadata)``); one
with ``create_type=False`` is still declared when it lists its labels (the model states
them, a migration creates them), and is a mere reference to a type created elsewhere when
it lists none. A column's type is the one PostgreSQL gets: its ``postgresql`` variant
(``with_variant``), a ``TypeDecorator``'s implementation. A column's collation
(``String(collation="C")``) is its own attribute, not part of the type.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import CheckConstraint as SACheck
from sqlalchemy import Column as SAColumn
from sqlalchemy import (
    Enum,
    MetaData,
    Sequence,
    TypeDecorator,
)
from sqlalchemy import ForeignKeyConstraint as SAForeignKey
from sqlalchemy import Index as SAIndex
from sqlalchemy import Table as SATable
from sqlalchemy import UniqueConstraint as SAUnique
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IdentifierError
from sqlalchemy.sql import ClauseElement, sqltypes

from dualorm.errors import ConfigError
from dualorm.importpath import resolve
from dualorm.ownership import PARTIAL_INFO
from dualorm.pgnames import (
    check_name_columns,
    choose_name,
    default_name,
    truncate_identifier,
    truncated,
)
from dualorm.pgtypes import canonical_type
from dualorm.schema import (
    DEFAULT_SCHEMA,
    CheckConstraint,
    Column,
    EnumType,
    FkAction,
    ForeignKey,
    Identity,
    Index,
    PrimaryKey,
    Schema,
    Table,
    TableKey,
    UniqueConstraint,
    enum_reference,
    is_column_key,
    key_opclasses,
    key_orders,
    schema,
    table,
)
from dualorm.schema import Sequence as SchemaSequence
from dualorm.sources.parsed import index_element, referenced_columns

__all__ = ["load", "partial_tables", "resolve_metadata"]

_SERIAL_TYPES = (sqltypes.Integer,)
_NO_INDEX_OPTIONS = {"ops": None, "where": None, "using": None, "include": None}


def resolve_metadata(path: str) -> MetaData:
    """Return the ``MetaData`` named by ``"module:attr.path"`` (``"sa_models:Base.metadata"``).

    The attribute may also be a declarative base (its ``metadata`` is used). Anything that
    does not resolve to a ``MetaData`` is a ``ConfigError`` naming ``path``.
    """
    target = resolve(path, "sa_metadata", "package.module:Base.metadata")
    if not isinstance(target, MetaData):
        target = getattr(target, "metadata", target)
    if not isinstance(target, MetaData):
        raise ConfigError(
            f"sa_metadata {path!r} is a {type(target).__name__}, not a sqlalchemy MetaData"
        )
    return target


def load(metadata: MetaData) -> Schema:
    """Return the tables and enum types of ``metadata`` as PostgreSQL would create them."""
    compiler = _Compiler()
    # Names longer than PostgreSQL keeps are cut as the server cuts them on CREATE.
    tables = [truncated(compiler.table(t)) for t in metadata.tables.values()]
    return schema(tables, compiler.enums(metadata), sequences=compiler.sequences(metadata))


def partial_tables(metadata: MetaData) -> set[TableKey]:
    """The tables ``metadata`` declares it maps only in part (``info`` holds
    :data:`~dualorm.ownership.PARTIAL_INFO`): compared on the columns they declare."""
    return {
        (t.schema or DEFAULT_SCHEMA, truncate_identifier(t.name))
        for t in metadata.tables.values()
        if t.info.get(PARTIAL_INFO)
    }


class _Compiler:
    """The PostgreSQL dialect's compilers, shared by every table of one load."""

    def __init__(self) -> None:
        self.dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        self.ddl = self.dialect.ddl_compiler(self.dialect, None)  # type: ignore[arg-type]
        self.preparer = self.dialect.identifier_preparer
        # What TypeEngine.compile(dialect=...) calls, without its per-call dispatch.
        self.types = self.dialect.type_compiler_instance
        self.declared: dict[tuple[str, str], EnumType] = {}

    def sequences(self, metadata: MetaData) -> list[SchemaSequence]:
        """The sequences ``create_all`` creates: those of the metadata and of column defaults.

        An ``optional`` one is skipped on PostgreSQL (its column is a serial, whose sequence
        is the column's own), and an identity is no ``Sequence`` at all.
        """
        out = []
        for seq in metadata._sequences.values():
            if seq.optional:
                continue
            increment = 1 if seq.increment is None else int(seq.increment)
            start = seq.start if seq.start is not None else (1 if increment > 0 else -1)
            data_type = "bigint"
            if seq.data_type is not None:
                data_type = canonical_type(self.types.process(seq.data_type))
            name = truncate_identifier(str(seq.name))
            out.append(
                SchemaSequence(name, seq.schema or DEFAULT_SCHEMA, data_type, increment, int(start))
            )
        return out

    def enums(self, metadata: MetaData) -> list[EnumType]:
        """The enum types the columns read so far use, and those the metadata declares."""
        for listener in metadata.dispatch.before_create:
            target = _declared_on_metadata(listener)
            if isinstance(target, Enum) and target.native_enum:
                self.enum_type(target)
        return list(self.declared.values())

    def enum_type(self, type_: Enum) -> str:
        """Record a native enum's type and return how a column names it."""
        if not type_.name:
            raise ConfigError(
                f"a native Enum of {list(type_.enums)!r} has no name; PostgreSQL needs one"
            )
        key = (type_.schema or DEFAULT_SCHEMA, str(type_.name))
        labels = tuple(str(label) for label in type_.enums)
        if labels or getattr(type_, "create_type", True):
            self.declared.setdefault(key, EnumType(key[1], key[0], labels))
        return enum_reference(*key)

    def created_type(self, type_: Any) -> Any:
        """The type ``create_all`` renders on PostgreSQL for a column declared ``type_``."""
        while True:
            variants = type_._variant_mapping
            if variants and "postgresql" in variants:
                type_ = variants["postgresql"]
            elif isinstance(type_, TypeDecorator):
                impl = type_.load_dialect_impl(self.dialect)
                if impl is type_:
                    return type_
                type_ = impl
            else:
                return type_

    def column_type(self, type_: Any) -> tuple[str, str | None]:
        """Return a created type's canonical spelling and its collation (None: the default)."""
        if isinstance(type_, Enum) and type_.native_enum:
            return self.enum_type(type_), None
        if isinstance(type_, sqltypes.ARRAY):
            item_type = self.created_type(type_.item_type)
            item, collation = self.column_type(item_type)
            if isinstance(item_type, Enum) and item_type.native_enum:
                return item + "[]" * (type_.dimensions or 1), collation
        collation = getattr(type_, "collation", None)
        if collation is not None:
            # Compiled with it, the type reads ``VARCHAR(20) COLLATE "C"``.
            type_ = copy.copy(type_)
            type_.collation = None
        return canonical_type(self.types.process(type_)), collation

    def table(self, t: SATable) -> Table:
        # Unnamed objects are named in the order PostgreSQL names them for create_all's DDL:
        # CHECKs (inline ones first), then the primary key and unique constraints, then
        # foreign keys, then the CREATE INDEX statements; a repeated name gets a number.
        taken: set[str] = set()
        column_checks = [ck for c in t.columns for ck in c.constraints if isinstance(ck, SACheck)]
        # A table-level constraint carries the dialect's create rule (the CHECK of a
        # Boolean or Enum with create_constraint=True is skipped where the type is native):
        # what the DDL compiler would leave out is not created. Column constraints have none.
        created = [c for c in t._sorted_constraints if c._should_create_for_compiler(self.ddl)]
        table_checks = [c for c in created if isinstance(c, SACheck)]
        checks = [self.check(t, ck, taken) for ck in [*column_checks, *table_checks]]
        primary_key = self.primary_key(t, taken)
        uniques = [self.unique(t, c, taken) for c in created if isinstance(c, SAUnique)]
        fks = [self.foreign_key(t, c, taken) for c in created if isinstance(c, SAForeignKey)]
        indexes = [self.index(t, i, taken) for i in t.indexes]
        return table(
            t.name,
            (self.column(c) for c in t.columns),
            schema=t.schema or DEFAULT_SCHEMA,
            primary_key=primary_key,
            uniques=uniques,
            checks=checks,
            foreign_keys=fks,
            indexes=indexes,
            comment=t.comment,
        )

    def column(self, c: SAColumn[Any]) -> Column:
        identity = None
        if c.identity is not None:
            identity = Identity.ALWAYS if c.identity.always else Identity.BY_DEFAULT
        created = self.created_type(c.type)
        type_, collation = self.column_type(created)
        return Column(
            name=c.name,
            type=type_,
            nullable=bool(c.nullable),
            default=self.default(c, created),
            identity=identity,
            comment=c.comment,
            choices=_choices(created),
            generated=None if c.computed is None else self.expression(c.computed.sqltext),
            collation=collation,
        )

    def default(self, c: SAColumn[Any], created: Any) -> str | None:
        if c.computed is not None or c.identity is not None:
            return None
        if _is_serial(c, created):
            # The dialect renders SERIAL/BIGSERIAL: PostgreSQL owns a sequence and defaults
            # the column to it, named <table>_<column>_seq.
            table_ = c.table
            seq = default_name(table_.name, [c.name], "seq")
            if table_.schema and table_.schema != DEFAULT_SCHEMA:
                seq = f"{table_.schema}.{seq}"
            return f"nextval('{seq}'::regclass)"
        text = self.ddl.get_column_default_string(c)
        return None if text is None else str(text)

    def name(
        self, t: SATable, constraint: Any, columns: Iterable[str], label: str, taken: set[str]
    ) -> str:
        name = None
        if constraint.name is not None:
            try:
                name = self.preparer.format_constraint(constraint, _alembic_quote=False)
            except IdentifierError:
                # SQLAlchemy refuses an explicit name over 63 characters; the database may
                # still hold the object (made by other DDL), under the name the server cut.
                name = str(constraint.name)
        if name:
            taken.add(str(name))
            return str(name)
        return choose_name(t.name, columns, label, taken)

    def primary_key(self, t: SATable, taken: set[str]) -> PrimaryKey | None:
        pk = t.primary_key
        columns = [c.name for c in pk.columns]
        if not columns:
            return None
        return PrimaryKey(self.name(t, pk, [], "pkey", taken), tuple(columns))

    def unique(self, t: SATable, u: SAUnique, taken: set[str]) -> UniqueConstraint:
        columns = [c.name for c in u.columns]
        return UniqueConstraint(
            self.name(t, u, columns, "key", taken), tuple(columns), deferrable=bool(u.deferrable)
        )

    def check(self, t: SATable, ck: SACheck, taken: set[str]) -> CheckConstraint:
        expression = str(
            self.ddl.sql_compiler.process(ck.sqltext, include_table=False, literal_binds=True)
        )
        columns = check_name_columns(referenced_columns(expression))
        return CheckConstraint(self.name(t, ck, columns, "check", taken), expression)

    def foreign_key(self, t: SATable, fk: SAForeignKey, taken: set[str]) -> ForeignKey:
        columns = [c.name for c in fk.columns]
        targets = [element.column for element in fk.elements]
        ref = targets[0].table
        return ForeignKey(
            name=self.name(t, fk, columns, "fkey", taken),
            columns=tuple(columns),
            ref_table=ref.name,
            ref_columns=tuple(c.name for c in targets),
            ref_schema=getattr(ref, "schema", None) or DEFAULT_SCHEMA,
            on_delete=_action(t, fk, "ondelete", fk.ondelete),
            on_update=_action(t, fk, "onupdate", fk.onupdate),
            deferrable=bool(fk.deferrable),
            initially_deferred=(fk.initially or "").upper() == "DEFERRED",
        )

    def index(self, t: SATable, ix: SAIndex, taken: set[str]) -> Index:
        # The PostgreSQL options exist once the index was given one (postgresql_where=...);
        # dialect_options["postgresql"] would build the dialect's table of defaults (each one
        # meaning "none") for every index.
        options: Any = ix.dialect_options.get("postgresql")
        if options is None:
            options = _NO_INDEX_OPTIONS
        ops = options["ops"] or {}
        keys = [self.index_key(e, ops) for e in ix.expressions]
        columns = [key for key, _order, _opclass in keys]
        where = options["where"]
        return Index(
            name=self.name(t, ix, [c for c in columns if is_column_key(c)], "idx", taken),
            columns=tuple(columns),
            unique=bool(ix.unique),
            where=None if where is None else self.expression(where),
            method=str(options["using"] or "btree").lower(),
            include=tuple(getattr(c, "name", c) for c in options["include"] or ()),
            orders=key_orders(order for _key, order, _opclass in keys),
            opclasses=key_opclasses(opclass for _key, _order, opclass in keys),
        )

    def index_key(self, element: Any, ops: dict[str, str]) -> tuple[str, str, str]:
        """One index key as ``(column or expression, ordering, operator class)``.

        A column is read directly; anything else (``desc()``, a function, ``text("col
        DESC")``) is compiled exactly as the dialect's ``CREATE INDEX`` compiles it and read
        back with PostgreSQL's own parser.
        """
        if isinstance(element, SAColumn):
            return element.name, "", _opclass(element, ops)
        grouped = element.self_group() if isinstance(element, ClauseElement) else element
        compiled = self.expression(grouped) + (
            f" {ops[element.key]}"
            if isinstance(getattr(element, "key", None), str) and element.key in ops
            else ""
        )
        return index_element(compiled)

    def expression(self, element: Any) -> str:
        if isinstance(element, str):
            return element
        if isinstance(element, ClauseElement):
            compiled = self.ddl.sql_compiler.process(
                element, include_table=False, literal_binds=True
            )
            return str(compiled)
        return str(element)


def _opclass(element: Any, ops: dict[str, str]) -> str:
    """A key's operator class from ``postgresql_ops``, looked up as SQLAlchemy's compiler
    does: by the element's ``key`` (a column's name, an expression's label)."""
    key = getattr(element, "key", None)
    return ops.get(key, "") if isinstance(key, str) else ""


def _choices(type_: Any) -> tuple[str, ...] | None:
    if isinstance(type_, Enum) and not type_.native_enum:
        return tuple(str(value) for value in type_.enums)
    return None


def _declared_on_metadata(listener: Any) -> Any:
    """The type a ``MetaData`` ``before_create`` listener creates when the type was declared
    on the metadata (``Enum(..., metadata=metadata)``); ``None`` for any other listener.

    Such a type listens with its bound ``_on_metadata_create`` (SQLAlchemy 2.0 wraps it in a
    ``portable_instancemethod``: ``target``). A type attached through a column listens too,
    with the column's variant mapping (2.1: a ``functools.partial``; 2.0: the wrapper's
    ``kwargs``); that one is read with its column, where the type PostgreSQL gets is known: an
    enum variant of another dialect is no type of this schema.
    """
    if isinstance(listener, functools.partial):
        return None
    target = getattr(listener, "target", None)
    if target is not None:
        return None if "variant_mapping" in (getattr(listener, "kwargs", None) or ()) else target
    return getattr(listener, "__self__", None)


def _is_serial(c: SAColumn[Any], created: Any) -> bool:
    """Whether the dialect renders ``c`` SERIAL: its table's autoincrement key, of an integer
    type as created (a ``TypeDecorator`` over ``Integer`` too), with no other default."""
    t = c.table
    if not (c.primary_key and c is t.autoincrement_column and c.server_default is None):
        return False
    if c.default is not None and not (isinstance(c.default, Sequence) and c.default.optional):
        return False
    return isinstance(created, _SERIAL_TYPES)


def _action(t: SATable, fk: SAForeignKey, option: str, value: str | None) -> FkAction:
    if not value:
        return FkAction.NO_ACTION
    try:
        return FkAction(" ".join(value.upper().split()))
    except ValueError:
        name = fk.name or ", ".join(c.name for c in fk.columns)
        raise ConfigError(
            f"table {t.name!r}, foreign key {name}: {option}={value!r} is not a PostgreSQL "
            "referential action"
        ) from None
