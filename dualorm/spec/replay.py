"""Replaying change specs into a :class:`~dualorm.schema.Schema`: the "replayed specs" source.

Each operation's :meth:`~dualorm.spec.ops.Operation.apply` is pure, so the schema a set of
specs describes is a fold over their operations in dependency order. ``validate`` compares
this schema with the models and the live catalog like any other source. A history starts
from the tables other owners create (:func:`start_schema`, the committed snapshot of
:mod:`dualorm.spec.foreign`), never from nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from dualorm.schema import Schema
from dualorm.spec import foreign
from dualorm.spec.model import Migration


def replay(migrations: Iterable[Migration], schema: Schema | None = None) -> Schema:
    """Return ``schema`` (default: empty) with every migration's operations applied in order.

    A squash after the specs it replaces is skipped: it builds what they built.
    """
    state = Schema() if schema is None else schema
    seen: set[str] = set()
    for migration in migrations:
        state = _step(migration, state, seen)
    return state


def _step(migration: Migration, state: Schema, seen: set[str]) -> Schema:
    if not (migration.replaces and seen.issuperset(migration.replaces)):
        for op in migration.operations:
            state = op.apply(state)
    seen.add(migration.id)
    return state


def start_schema(directory: Path | str) -> Schema:
    """Return the schema the specs of ``directory`` start from: the tables other owners
    create (``foreign_tables.json``), or an empty schema when there is no snapshot."""
    return foreign.start_schema(directory)


def start_of(migrations: Sequence[Migration]) -> Schema:
    """Return :func:`start_schema` of the directory ``migrations`` were loaded from (empty
    when there are none, or they were not loaded from files)."""
    for migration in migrations:
        if migration.path is not None:
            return start_schema(Path(migration.path).parent)
    return Schema()
