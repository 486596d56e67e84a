"""Where Django migrations go, what the app's models say, and how the state names things.

:class:`DjangoTarget` holds the app label and the models (``db_table`` -> model class) whose
fields, indexes and constraints the state takes where they agree with the schema. Anything the
models do not describe follows a plain convention: model ``UserPreference`` for table
``user_preference``, a field named as its column (``<name>`` for a single-column FK column
``<name>_id``). A state object is built from a :data:`Triple` (:func:`build`), the
``(dotted path, args, kwargs)`` that ``deconstruct()`` returns.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models

from dualorm.schema import DEFAULT_SCHEMA, ForeignKey, Table
from dualorm.spec.through import ManyToMany

__all__ = [
    "DjangoTarget",
    "Triple",
    "build",
    "field_name",
    "hint_field",
    "hint_option",
    "model_hints",
    "model_label",
    "model_name",
    "single_fk",
]

Triple = tuple[str, tuple[Any, ...], dict[str, Any]]
"""``(dotted path, args, kwargs)``: how an object is rebuilt, as ``deconstruct()`` returns it."""


@dataclass(frozen=True)
class DjangoTarget:
    """Where the migrations go and what the app's models say.

    ``models`` maps a table name to the model class that owns it (see :func:`model_hints`);
    empty means "no models", and every field follows the convention. ``foreign`` maps the
    table name of another app's model to ``(model label, swappable setting or None)``
    (``{"auth_user": ("auth.User", "AUTH_USER_MODEL")}``): an FK to it points at that model,
    and the migration depends on that app. ``models`` may hold the models of several apps
    (one spec may create tables in several), ``owners`` says which app each table is in.
    """

    app_label: str = "django_app"
    models: Mapping[str, type[models.Model]] = field(default_factory=dict)
    foreign: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    owners: Mapping[str, str] = field(default_factory=dict)
    """The app of each table the specs create, where it is not ``app_label``."""
    through: Mapping[str, ManyToMany] = field(default_factory=dict)
    """The ``ManyToManyField`` that creates each table whose ``create_table`` says so
    (``many_to_many``), kept after the table is dropped: the drop is that field's removal."""


def model_hints(app_label: str) -> dict[str, type[models.Model]]:
    """Return ``{db_table: model}`` for the concrete, managed models of an installed app."""

    found: dict[str, type[models.Model]] = {}
    for model in apps.get_app_config(app_label).get_models():
        meta = model._meta
        if meta.managed and not meta.proxy and not meta.abstract:
            found[meta.db_table] = model
    return found


# -- building objects from triples ------------------------------------------------------------


def build(triple: Triple) -> Any:
    """Instantiate a ``(dotted path, args, kwargs)`` triple."""
    path, args, kwargs = triple
    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)(*args, **kwargs)


def model_name(target: DjangoTarget, table: str) -> str:
    """The state's model name of ``table``: the model's class name, else the table in CamelCase."""
    model = target.models.get(table)
    if model is not None:
        return model.__name__
    return "".join(part[:1].upper() + part[1:] for part in table.split("_") if part)


def model_label(target: DjangoTarget, table: str) -> str:
    """The ``app.model`` an FK to ``table`` points at (another app's model for a foreign one)."""
    other = target.foreign.get(table)
    if other is not None:
        # Django's ForeignKey.deconstruct writes settings.AUTH_USER_MODEL for a swappable one.
        return other[0]
    app = target.owners.get(table, target.app_label)
    return f"{app}.{model_name(target, table).lower()}"


def hint_field(target: DjangoTarget, table: str, column: str) -> Any:
    """The model's field for ``column`` of ``table``, or None when the models do not say."""
    model = target.models.get(table)
    if model is None:
        return None
    for f in model._meta.local_fields:
        if getattr(f, "column", None) == column:
            return f
    return None


def field_name(target: DjangoTarget, t: Table, column: str) -> str:
    """The state's name of ``column`` of ``t``: the model's field name; else, as Django names a
    single-column FK whose column is ``<name>_id``, ``<name>``; else the column's own name."""
    hint = hint_field(target, t.name, column)
    if hint is not None:
        return str(hint.name)
    fk = single_fk(t, column)
    name = column[: -len("_id")]
    if (
        fk is not None
        and fk.ref_schema == DEFAULT_SCHEMA
        and column.endswith("_id")
        and name.isidentifier()
        and t.column(name) is None
        and target.models.get(t.name) is None
    ):
        return name
    return column


def single_fk(t: Table, column: str) -> ForeignKey | None:
    """The foreign key of ``t`` whose only column is ``column``, if any."""
    return next((fk for fk in t.foreign_keys if fk.columns == (column,)), None)


def hint_option(target: DjangoTarget, table: str, kind: str, name: str) -> Any:
    """The model's ``Meta.<kind>`` entry (``indexes``, ``constraints``) named ``name``, if any."""
    model = target.models.get(table)
    if model is None:
        return None
    return next((item for item in getattr(model._meta, kind) if item.name == name), None)
