"""Django indexes and constraints for the migration state.

:func:`index_state` and :func:`constraint_state` take the model's own ``Meta.indexes`` or
``Meta.constraints`` entry of the same name where it describes the same keys, and otherwise
build one: ``fields`` where every key is a column (``"-field"`` for ``DESC``), expressions
(``F``, ``RawSQL``, ``OpClass``, ``OrderBy``) where a key is an expression or carries what
``fields`` cannot say.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.indexes import OpClass
from django.db import models

from dualorm.emit.django_target import DjangoTarget, build, field_name, hint_option
from dualorm.schema import (
    CheckConstraint,
    Index,
    Table,
    UniqueConstraint,
    index_opclasses,
    index_orders,
    is_column_key,
)

__all__ = ["boolean_sql", "constraint_state", "index_state"]


def boolean_sql(sql: str) -> Any:
    """An SQL condition as a boolean ``RawSQL`` (a check, an index predicate)."""
    return models.expressions.RawSQL(sql, (), output_field=models.BooleanField())


def index_state(target: DjangoTarget, t: Table, index: Index) -> Any:
    """The state's ``Index`` (or ``UniqueConstraint``, for a unique index) of ``index`` of ``t``."""
    hint = hint_option(target, t.name, "indexes", index.name)
    if hint is None and index.unique:
        hint = hint_option(target, t.name, "constraints", index.name)
    orders = index_orders(index)
    names = [
        ("-" if order == "DESC" else "") + field_name(target, t, c)
        for c, order in zip(index.columns, orders, strict=True)
        if is_column_key(c)
    ]
    include = [field_name(target, t, c) for c in index.include]
    opclasses = index_opclasses(index)
    if (
        hint is not None
        and list(getattr(hint, "fields", ()) or ()) == names
        and list(getattr(hint, "include", ()) or ()) == include
        and tuple(getattr(hint, "opclasses", ()) or ()) == index.opclasses
    ):
        return hint.clone()
    kwargs: dict[str, Any] = {"name": index.name}
    if index.where is not None:
        kwargs["condition"] = models.Q(boolean_sql(index.where))
    if include:
        kwargs["include"] = include
    args: tuple[Any, ...] = ()
    # "-field" says DESC; NULLS FIRST/LAST, any ordering in a unique constraint, and operator
    # classes on some keys only (Django's opclasses name one per field) need expressions.
    if (
        all(is_column_key(c) for c in index.columns)
        and all(order in ("", "DESC") and not (order and index.unique) for order in orders)
        and (not index.opclasses or all(opclasses))
    ):
        kwargs["fields"] = names
        if index.opclasses:
            kwargs["opclasses"] = list(index.opclasses)
    else:
        args = tuple(
            _ordered(_with_opclass(_key_expression(target, t, c), opclass), order)
            for c, opclass, order in zip(index.columns, opclasses, orders, strict=True)
        )
    if index.unique:
        return build(("django.db.models.UniqueConstraint", args, kwargs))
    path = {
        "gin": "django.contrib.postgres.indexes.GinIndex",
        "gist": "django.contrib.postgres.indexes.GistIndex",
        "brin": "django.contrib.postgres.indexes.BrinIndex",
        "hash": "django.contrib.postgres.indexes.HashIndex",
        "spgist": "django.contrib.postgres.indexes.SpGistIndex",
    }.get(index.method, "django.db.models.Index")
    return build((path, args, kwargs))


def _key_expression(target: DjangoTarget, t: Table, key: str) -> Any:
    if is_column_key(key):
        return models.F(field_name(target, t, key))
    return models.expressions.RawSQL(key, ())


def _with_opclass(expression: Any, opclass: str) -> Any:
    """``expression`` with an operator class (``django.contrib.postgres``'s ``OpClass``)."""
    if not opclass:
        return expression
    return OpClass(expression, name=opclass)


def _ordered(expression: Any, order: str) -> Any:
    """``expression`` with an index key's ordering (``DESC``, ``NULLS FIRST|LAST``)."""
    if not order:
        return expression
    return models.OrderBy(
        expression,
        descending=order.startswith("DESC"),
        nulls_first=True if order.endswith("NULLS FIRST") else None,
        nulls_last=True if order.endswith("NULLS LAST") else None,
    )


def constraint_state(target: DjangoTarget, t: Table, c: UniqueConstraint | CheckConstraint) -> Any:
    """The state's ``UniqueConstraint`` or ``CheckConstraint`` of ``c`` of ``t``."""
    hint = hint_option(target, t.name, "constraints", c.name)
    if isinstance(c, UniqueConstraint):
        names = [field_name(target, t, col) for col in c.columns]
        if hint is not None and list(getattr(hint, "fields", ())) == names:
            return hint.clone()
        kwargs: dict[str, Any] = {"fields": names, "name": c.name}
        if c.deferrable:
            kwargs["deferrable"] = models.Deferrable.IMMEDIATE
        return build(("django.db.models.UniqueConstraint", (), kwargs))
    if isinstance(hint, models.CheckConstraint):
        return hint.clone()
    return build(
        (
            "django.db.models.CheckConstraint",
            (),
            {"condition": boolean_sql(c.expression), "name": c.name},
        )
    )
