"""The tables other owners create that rendered tables reference (Django's ``auth_user``).

The specs start from the foreign-table snapshot (:mod:`dualorm.spec.foreign`), so a managed
table may have a foreign key to a table no spec creates and ``--tables`` never selects. The
SQLAlchemy models declare such a table in part, as a service mapping a few columns of it
would (:func:`partial_tables`); the Django models point at the model that creates it, found
in the app registry (:func:`django_targets`). A foreign key to a managed table left out of
``--tables`` is refused (:func:`check_references`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from dualorm.errors import UsageError
from dualorm.models_render.code import literal
from dualorm.schema import Schema, Table, TableKey
from dualorm.spec.foreign import ForeignTable

__all__ = ["check_references", "django_targets", "partial_tables", "referenced"]


def referenced(
    chosen: Schema, foreign: Mapping[TableKey, ForeignTable]
) -> dict[TableKey, set[str]]:
    """``{foreign table: the columns the foreign keys of ``chosen`` reference in it}``."""
    found: dict[TableKey, set[str]] = {}
    for t in chosen:
        for fk in t.foreign_keys:
            if fk.ref_key in foreign:
                found.setdefault(fk.ref_key, set()).update(fk.ref_columns)
    return found


def check_references(chosen: Schema, foreign: Mapping[TableKey, ForeignTable]) -> None:
    """Refuse a foreign key of ``chosen`` to a table neither rendered nor foreign.

    Raises:
        UsageError: naming the table and the one it references.
    """
    for t in chosen:
        for fk in t.foreign_keys:
            if fk.ref_key not in chosen and fk.ref_key not in foreign:
                raise UsageError(
                    f"table {t.qualified_name} references {fk.ref_table}, which is not rendered: "
                    "widen --tables to it"
                )


def partial_tables(
    chosen: Schema, foreign: Mapping[TableKey, ForeignTable]
) -> list[tuple[Table, str]]:
    """The foreign tables ``chosen`` references, each cut to the columns referenced in it,
    with the owner as a sentence names it, in key order.

    A table is cut as ``validate`` cuts the other side of a partial map: its primary key
    when every column of it is kept, and every index, unique and check over kept columns
    alone, so the partial map compares clean with the table its owner creates. Its own
    foreign keys are left out (their targets are not declared).
    """
    # Imported here: the differ (dualorm.diff, about 10 ms) loads only when a rendered table
    # references a foreign one.
    from dualorm.diff.partial import restrict

    out = []
    for key, columns in sorted(referenced(chosen, foreign).items()):
        full = foreign[key].table
        pk = full.primary_key
        if pk is not None and not set(pk.columns) <= columns:
            pk = None
        kept = replace(full, columns=tuple(c for c in full.columns if c.name in columns))
        cut = restrict(full, replace(kept, primary_key=pk))
        out.append((replace(cut, foreign_keys=()), foreign[key].owned_by()))
    return out


def django_targets(
    settings_module: str | None, chosen: Schema, foreign: Mapping[TableKey, ForeignTable]
) -> dict[TableKey, str]:
    """The ``to`` of a ``ForeignKey`` to each foreign table ``chosen`` references, as Python:
    ``settings.AUTH_USER_MODEL`` for a swappable model (Django's own generated code writes
    it so), else the literal ``"app_label.ModelName"`` of the model that creates the table,
    as the snapshot records them from the app registry of ``settings_module`` (the emitted
    migrations point at the same model).

    Raises:
        UsageError: Django is not configured, or no installed model creates the table.
    """
    keys = sorted(referenced(chosen, foreign))
    if not keys:
        return {}
    if settings_module is None:
        raise UsageError(
            f"table {keys[0][1]} is created by {foreign[keys[0]].owned_by()}: a Django model "
            "can point at it only through the model that creates it; set django_settings in "
            "[tool.dualorm] so that it is found in the app registry"
        )
    out = {}
    for key in keys:
        table = foreign[key]
        if table.model is None:
            raise UsageError(
                f"table {key[1]} is created by {table.owned_by()}, but no model of an "
                f"installed app of {settings_module} creates it: install the app whose "
                "models create it, or render the tables referencing it for SQLAlchemy"
            )
        out[key] = f"settings.{table.swappable}" if table.swappable else literal(table.model)
    return out
