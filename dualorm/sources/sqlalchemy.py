"""SQLAlchemy ``MetaData`` as a neutral ``Schema``: what ``create_all`` would create.

Types are compiled by the PostgreSQL dialect's type compiler, server defaults, check
expressions and index predicates by its DDL compiler, and names come from the metadata's
naming convention exactly as the DDL compiler applies it. What only Python sees (the values
of a non-native ``Enum``) lands in ``Column.choices``. No database is needed.

A native ``Enum`` (and ``postgresql.ENUM``) is an enum type of the schema, whether a column
uses it or it is declared on the ``MetaData`` alone (``Enum(..., metadata=metadata)``); one
with ``create_type=False`` is still declared when it lists its labels (the model states
them, a migration creates them), and is a mere reference to a type created elsewhere when
it lists none. A column's collation (``String(collation="C")``) is its own attribute, not
part of the type.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

from sqlalchemy import CheckConstraint as SACheck
from sqlalchemy import Column as SAColumn
from sqlalchemy import (
    Enum,
    MetaData,
    Sequence,
)
from sqlalchemy import ForeignKeyConstraint as SAForeignKey
from sqlalchemy import Index as SAIndex
from sqlalchemy import Table as SATable
from sqlalchemy import UniqueConstraint as SAUnique
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement, operators, sqltypes
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.visitors import iterate

from dualorm.errors import ConfigError
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
    UniqueConstraint,
    canonical_type,
    default_name,
    enum_reference,
    key_opclasses,
    key_order,
    key_orders,
    schema,
    table,
)

__all__ = ["load", "resolve_metadata"]

_SERIAL_TYPES = (sqltypes.Integer,)


def resolve_metadata(path: str) -> MetaData:
    """Return the ``MetaData`` named by ``"module:attr.path"`` (``"sa_models:Base.metadata"``).

    The attribute may also be a declarative base (its ``metadata`` is used). Anything that
    does not resolve to a ``MetaData`` is a ``ConfigError`` naming ``path``.
    """
    module_name, sep, attr_path = path.partition(":")
    if not sep or not module_name or not attr_path:
        raise ConfigError(f"sa_metadata {path!r} must look like 'package.module:Base.metadata'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"sa_metadata {path!r}: cannot import {module_name!r}: {exc}") from None
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise ConfigError(f"sa_metadata {path!r}: no attribute {attr!r}") from None
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
    tables = [compiler.table(t) for t in metadata.tables.values()]
    return schema(tables, compiler.enums(metadata))


class _Compiler:
    """The PostgreSQL dialect's compilers, shared by every table of one load."""

    def __init__(self) -> None:
        self.dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        self.ddl = self.dialect.ddl_compiler(self.dialect, None)  # type: ignore[arg-type]
        self.preparer = self.dialect.identifier_preparer
        self.declared: dict[tuple[str, str], EnumType] = {}

    def enums(self, metadata: MetaData) -> list[EnumType]:
        """The enum types the columns read so far use, and those the metadata declares."""
        for listener in metadata.dispatch.before_create:
            target = getattr(listener, "target", None)
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

    def column_type(self, type_: Any) -> tuple[str, str | None]:
        """Return a column type's canonical spelling and its collation (None: the default)."""
        if isinstance(type_, Enum) and type_.native_enum:
            return self.enum_type(type_), None
        if isinstance(type_, sqltypes.ARRAY):
            item, collation = self.column_type(type_.item_type)
            if isinstance(type_.item_type, Enum) and type_.item_type.native_enum:
                return item + "[]" * (type_.dimensions or 1), collation
        collation = getattr(type_, "collation", None)
        if collation is not None:
            # Compiled with it, the type reads ``VARCHAR(20) COLLATE "C"``.
            type_ = copy.copy(type_)
            type_.collation = None
        return canonical_type(type_.compile(dialect=self.dialect)), collation

    def table(self, t: SATable) -> Table:
        uniques = []
        checks = []
        fks = []
        column_checks = [ck for c in t.columns for ck in c.constraints if isinstance(ck, SACheck)]
        for constraint in [*t.constraints, *column_checks]:
            if isinstance(constraint, SAUnique):
                uniques.append(self.unique(t, constraint))
            elif isinstance(constraint, SACheck):
                checks.append(self.check(t, constraint))
            elif isinstance(constraint, SAForeignKey):
                fks.append(self.foreign_key(t, constraint))
        return table(
            t.name,
            (self.column(c) for c in t.columns),
            schema=t.schema or DEFAULT_SCHEMA,
            primary_key=self.primary_key(t),
            uniques=uniques,
            checks=checks,
            foreign_keys=fks,
            indexes=(self.index(t, i) for i in t.indexes),
            comment=t.comment,
        )

    def column(self, c: SAColumn[Any]) -> Column:
        identity = None
        if c.identity is not None:
            identity = Identity.ALWAYS if c.identity.always else Identity.BY_DEFAULT
        type_, collation = self.column_type(c.type)
        return Column(
            name=c.name,
            type=type_,
            nullable=bool(c.nullable),
            default=self.default(c),
            identity=identity,
            comment=c.comment,
            choices=_choices(c),
            generated=None if c.computed is None else self.expression(c.computed.sqltext),
            collation=collation,
        )

    def default(self, c: SAColumn[Any]) -> str | None:
        if c.computed is not None or c.identity is not None:
            return None
        if _is_serial(c):
            # The dialect renders SERIAL/BIGSERIAL: PostgreSQL owns a sequence and defaults
            # the column to it, named <table>_<column>_seq.
            table_ = c.table
            seq = default_name(table_.name, [c.name], "seq")
            if table_.schema and table_.schema != DEFAULT_SCHEMA:
                seq = f"{table_.schema}.{seq}"
            return f"nextval('{seq}'::regclass)"
        text = self.ddl.get_column_default_string(c)
        return None if text is None else str(text)

    def name(self, t: SATable, constraint: Any, columns: list[str], label: str) -> str:
        name = None
        if constraint.name is not None:
            name = self.preparer.format_constraint(constraint, _alembic_quote=False)
        return str(name) if name else default_name(t.name, columns, label)

    def primary_key(self, t: SATable) -> PrimaryKey | None:
        pk = t.primary_key
        columns = [c.name for c in pk.columns]
        if not columns:
            return None
        return PrimaryKey(self.name(t, pk, [], "pkey"), tuple(columns))

    def unique(self, t: SATable, u: SAUnique) -> UniqueConstraint:
        columns = [c.name for c in u.columns]
        return UniqueConstraint(
            self.name(t, u, columns, "key"), tuple(columns), deferrable=bool(u.deferrable)
        )

    def check(self, t: SATable, ck: SACheck) -> CheckConstraint:
        expression = self.ddl.sql_compiler.process(
            ck.sqltext, include_table=False, literal_binds=True
        )
        # PostgreSQL names an unnamed check after the first column it references.
        first = next((e for e in iterate(ck.sqltext) if isinstance(e, SAColumn)), None)
        if first is None and ck.parent is not None and isinstance(ck.parent, SAColumn):
            first = ck.parent
        columns = [first.name] if first is not None else []
        return CheckConstraint(self.name(t, ck, columns, "check"), str(expression))

    def foreign_key(self, t: SATable, fk: SAForeignKey) -> ForeignKey:
        columns = [c.name for c in fk.columns]
        targets = [element.column for element in fk.elements]
        ref = targets[0].table
        return ForeignKey(
            name=self.name(t, fk, columns, "fkey"),
            columns=tuple(columns),
            ref_table=ref.name,
            ref_columns=tuple(c.name for c in targets),
            ref_schema=getattr(ref, "schema", None) or DEFAULT_SCHEMA,
            on_delete=_action(t, fk, "ondelete", fk.ondelete),
            on_update=_action(t, fk, "onupdate", fk.onupdate),
            deferrable=bool(fk.deferrable),
            initially_deferred=(fk.initially or "").upper() == "DEFERRED",
        )

    def index(self, t: SATable, ix: SAIndex) -> Index:
        columns = [self.index_key(e) for e in ix.expressions]
        options = ix.dialect_options["postgresql"]
        where = options["where"]
        return Index(
            name=self.name(t, ix, [c for c in columns if c.isidentifier()], "idx"),
            columns=tuple(columns),
            unique=bool(ix.unique),
            where=None if where is None else self.expression(where),
            method=str(options["using"] or "btree").lower(),
            include=tuple(getattr(c, "name", c) for c in options["include"] or ()),
            orders=key_orders(_key_order(e) for e in ix.expressions),
            opclasses=key_opclasses(_opclass(e, options["ops"] or {}) for e in ix.expressions),
        )

    def index_key(self, element: Any) -> str:
        # Ordering (see _key_order) and operator classes are not part of the key.
        while isinstance(element, UnaryExpression) and element.element is not None:
            element = element.element
        if isinstance(element, SAColumn):
            return element.name
        return self.expression(element)

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


def _key_order(element: Any) -> str:
    """The ordering ``desc()``, ``nulls_first()`` and ``nulls_last()`` wrap an index key in."""
    descending, nulls_first = False, None
    while isinstance(element, UnaryExpression) and element.element is not None:
        if element.modifier is operators.desc_op:
            descending = True
        elif element.modifier is operators.nulls_first_op:
            nulls_first = True if nulls_first is None else nulls_first
        elif element.modifier is operators.nulls_last_op:
            nulls_first = False if nulls_first is None else nulls_first
        element = element.element
    return key_order(descending, nulls_first)


def _choices(c: SAColumn[Any]) -> tuple[str, ...] | None:
    type_ = c.type
    if isinstance(type_, Enum) and not type_.native_enum:
        return tuple(str(value) for value in type_.enums)
    return None


def _is_serial(c: SAColumn[Any]) -> bool:
    t = c.table
    if not (c.primary_key and c is t.autoincrement_column and c.server_default is None):
        return False
    if c.default is not None and not (isinstance(c.default, Sequence) and c.default.optional):
        return False
    return isinstance(c.type, _SERIAL_TYPES)


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
