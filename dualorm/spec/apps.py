"""Which Django app each spec operation belongs to, read off the spec history alone.

A table a spec creates belongs to the app its ``create_table`` names (``app:``), else to the
project's ``default_app``; it keeps that app through renames, and every later operation on it
goes to that app's migrations. An operation without a table (``run_sql``, ``run_python``)
goes with the operation before it (or, first in its spec, the one after it; alone, the
default app). A spec therefore lands in one or several apps: :func:`assign` says which
operations go where, :func:`spec_apps` only which apps (what the runner records in
``django_migrations``). Nothing here imports Django; :mod:`dualorm.spec.make` checks that the
apps exist and are the project's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dualorm.schema import TableKey, as_key
from dualorm.spec.model import Migration
from dualorm.spec.operation import label
from dualorm.spec.ops import CreateTable, Operation, RenameTable
from dualorm.spec.through import ManyToMany

__all__ = ["AppOperations", "Placement", "assign", "spec_apps", "table_of"]


@dataclass(frozen=True)
class AppOperations:
    """The operations of one spec that go to one app, by their index in the spec."""

    app: str
    indexes: tuple[int, ...]


def table_of(op: Operation) -> TableKey | None:
    """The table ``op`` changes (``None`` for ``run_sql``, ``run_python``)."""
    value: Any = getattr(op, "table", None)
    return as_key(value) if isinstance(value, str) else None


def _op_apps(
    migration: Migration, owners: dict[TableKey, str], default_app: str
) -> list[str | None]:
    """Each operation's app (``None`` where it has no table), moving ``owners`` along."""
    found: list[str | None] = []
    for op in migration.operations:
        key = table_of(op)
        if isinstance(op, CreateTable):
            # The table a ManyToManyField creates is in the app of the field's model.
            fact = op.many_to_many
            owner = None if fact is None else owners.get(as_key(fact.table))
            owners[op.definition.key] = op.app or owner or default_app
        app = None if key is None else owners.get(key, default_app)
        if isinstance(op, RenameTable) and key is not None:
            owners[(key[0], op.new_name)] = owners.pop(key, default_app)
        found.append(app)
    return found


def _fill(apps: list[str | None], default_app: str) -> list[str]:
    """Give each operation without a table the app of its neighbour (before, else after)."""
    known = [a for a in apps if a is not None]
    current = known[0] if known else default_app
    filled = []
    for app in apps:
        current = app if app is not None else current
        filled.append(current)
    return filled


@dataclass(frozen=True)
class Placement:
    """Where one spec lands: its operations by app (apps in the order their first operation
    stands in the spec) and the app of every spec-created table once it has run."""

    groups: tuple[AppOperations, ...]
    owners: Mapping[TableKey, str]
    through: Mapping[TableKey, ManyToMany] = field(default_factory=dict)
    """The ``ManyToManyField`` of each spec-created table its ``create_table`` says creates
    it (``many_to_many``), kept after a drop: the emitter states that drop as the field's."""


def _follow(op: Operation, through: dict[TableKey, ManyToMany]) -> None:
    """Move ``through`` along ``op``: a created table's fact, renamed tables' names."""
    if isinstance(op, CreateTable):
        key = op.definition.key
        through.pop(key, None)
        if op.many_to_many is not None:
            through[key] = op.many_to_many
    elif isinstance(op, RenameTable):
        old, new = as_key(op.table), (as_key(op.table)[0], op.new_name)
        if old in through:
            through[new] = through.pop(old)
        for key, fact in through.items():
            if as_key(fact.table) == old:
                through[key] = replace(fact, table=label(new))


def assign(migrations: Sequence[Migration], default_app: str) -> dict[str, Placement]:
    """Return, per migration id (``migrations`` in apply order), where it lands.

    A spec without operations goes to ``default_app``.
    """
    owners: dict[TableKey, str] = {}
    through: dict[TableKey, ManyToMany] = {}
    out: dict[str, Placement] = {}
    for m in migrations:
        apps = _fill(_op_apps(m, owners, default_app), default_app)
        for op in m.operations:
            _follow(op, through)
        groups: dict[str, list[int]] = {}
        for index, app in enumerate(apps):
            groups.setdefault(app, []).append(index)
        if not groups:
            groups[default_app] = []
        placed = tuple(AppOperations(app, tuple(ix)) for app, ix in groups.items())
        out[m.id] = Placement(placed, dict(owners), dict(through))
    return out


def spec_apps(migrations: Sequence[Migration], default_app: str) -> dict[str, tuple[str, ...]]:
    """Return, per migration id, the apps whose migrations it has a file in."""
    placed = assign(migrations, default_app)
    return {m: tuple(g.app for g in p.groups) for m, p in placed.items()}
