"""PostgreSQL types as SQLAlchemy types, for the Alembic emitter.

:func:`sa_type` maps a canonical PostgreSQL type (``character varying(255)``, ``bigint[]``) to
the SQLAlchemy type whose DDL creates it, or None when SQLAlchemy has no class for it; the
Alembic emitter then writes the shared SQL instead (:func:`mappable` says which).
:func:`render_type` writes a type as Alembic's autogenerate does (``sa.String(length=20)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import _repr_type
from sqlalchemy.dialects import postgresql

from dualorm.pgtypes import ColumnType, parse_type
from dualorm.schema import Column

if TYPE_CHECKING:
    from sqlalchemy.types import TypeEngine

__all__ = ["column_type", "mappable", "render_type", "sa_type"]

_SIMPLE_TYPES: dict[str, Callable[[], TypeEngine[Any]]] = {
    "text": sa.Text,
    "integer": sa.Integer,
    "bigint": sa.BigInteger,
    "smallint": sa.SmallInteger,
    "boolean": sa.Boolean,
    "uuid": sa.UUID,
    "jsonb": postgresql.JSONB,
    "json": sa.JSON,
    "date": sa.Date,
    "bytea": sa.LargeBinary,
    "double precision": sa.Double,
    "real": sa.REAL,
    "inet": postgresql.INET,
    "cidr": postgresql.CIDR,
    "macaddr": postgresql.MACADDR,
    "interval": postgresql.INTERVAL,
    "tsvector": postgresql.TSVECTOR,
    "timestamp with time zone": lambda: sa.DateTime(timezone=True),
    "timestamp without time zone": sa.DateTime,
    "time with time zone": lambda: sa.Time(timezone=True),
    "time without time zone": sa.Time,
    "character varying": sa.String,
    "numeric": sa.Numeric,
}


def sa_type(canonical: str) -> TypeEngine[Any] | None:
    """Return the SQLAlchemy type that creates the canonical PostgreSQL type, or None."""
    return _sa_type(parse_type(canonical))


def _sa_type(parsed: ColumnType) -> TypeEngine[Any] | None:
    if parsed.dimensions:
        item = _sa_type(parsed.item)
        return None if item is None else postgresql.ARRAY(item)
    if not parsed.args:
        simple = _SIMPLE_TYPES.get(parsed.name)
        return None if simple is None else simple()
    base, numbers = parsed.name, parsed.numbers
    if numbers is None:
        return None
    if base == "character varying" and len(numbers) == 1:
        return sa.String(numbers[0])
    if base == "character" and len(numbers) == 1:
        return sa.CHAR(numbers[0])
    if base == "numeric" and len(numbers) in (1, 2):
        return sa.Numeric(numbers[0], numbers[1] if len(numbers) == 2 else None)
    if base in ("timestamp with time zone", "timestamp without time zone") and len(numbers) == 1:
        return postgresql.TIMESTAMP(timezone=base.endswith("with time zone"), precision=numbers[0])
    if base in ("time with time zone", "time without time zone") and len(numbers) == 1:
        return postgresql.TIME(timezone=base.endswith("with time zone"), precision=numbers[0])
    return None


def column_type(column: Column) -> TypeEngine[Any] | None:
    """The SQLAlchemy type of ``column``, its collation included (None: no class for it)."""
    type_ = sa_type(column.type)
    if type_ is None or column.collation is None:
        return type_
    if not isinstance(type_, sa.String) or column.collation.startswith('"'):
        return None
    type_.collation = column.collation
    return type_


def mappable(columns: Iterable[Column]) -> bool:
    """Whether SQLAlchemy has a type for every one of ``columns``."""
    return all(column_type(c) is not None for c in columns)


def render_type(type_: TypeEngine[Any], context: AutogenContext) -> str:
    """Return ``type_`` as Alembic writes it (``sa.String(length=20)``), noting imports."""
    return _repr_type(type_, context)
