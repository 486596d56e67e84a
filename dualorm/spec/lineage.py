"""Which spec follows which, beyond the declared dependencies: the parents each emitted
Alembic and Django file runs after, and where squashes go in the graph.

Alembic and Django both refuse a history with two heads, while specs without an order between
them are fine (they run by id). :func:`chain_parents` therefore emits the order dualorm runs
them in: each file runs after its spec's dependencies and after the migration before it in
that order, which keeps one head and never contradicts a declared dependency. A squash
(:mod:`dualorm.spec.squash`) comes right after the last spec it replaces
(:func:`squash_order`) and starts a new emitted chain (:func:`emitted_parents`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from dualorm.spec.graph import MigrationGraph
from dualorm.spec.model import Migration

__all__ = [
    "chain_parents",
    "emitted_parents",
    "present_squashes",
    "replaced_ids",
    "squash_order",
]


def chain_parents(migrations: Sequence[Migration]) -> dict[str, tuple[str, ...]]:
    """Return, per migration id, the ids its emitted file runs after.

    ``migrations`` are in apply order (as :func:`~dualorm.spec.load.load_specs` returns them).
    A declared dependency already implied by the previous migration is left out.
    """
    graph = MigrationGraph({m.id: m.dependencies for m in migrations})
    parents: dict[str, tuple[str, ...]] = {}
    previous: str | None = None
    for m in migrations:
        if previous is None or previous in m.dependencies:
            parents[m.id] = tuple(m.dependencies)
        else:
            covered = graph.ancestors(previous)
            extra = tuple(d for d in m.dependencies if d not in covered)
            parents[m.id] = (previous, *extra)
        previous = m.id
    return parents


def squash_order(
    dependencies: Mapping[str, Sequence[str]], squashes: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    """Return ``dependencies`` with each squash after the last spec it replaces, and every
    dependency of another spec on a replaced one pointing at the squash instead.

    ``squashes`` maps a squash's id to the ids it replaces (all present), in apply order.
    """
    replaced_by = {r: s for s, replaced in squashes.items() for r in replaced}
    out: dict[str, tuple[str, ...]] = {}
    for node, deps in dependencies.items():
        if node in squashes:
            out[node] = (squashes[node][-1], *deps)
        elif node in replaced_by:
            out[node] = tuple(deps)
        else:
            out[node] = tuple(dict.fromkeys(replaced_by.get(d, d) for d in deps))
    return out


def present_squashes(migrations: Sequence[Migration]) -> dict[str, tuple[str, ...]]:
    """The squashes of ``migrations`` whose replaced specs are loaded too."""
    ids = {m.id for m in migrations}
    return {m.id: m.replaces for m in migrations if m.replaces and m.replaces[0] in ids}


def replaced_ids(migrations: Sequence[Migration]) -> set[str]:
    """The ids some loaded squash replaces (present or not)."""
    return {r for m in migrations for r in m.replaces}


def emitted_parents(migrations: Sequence[Migration]) -> dict[str, tuple[str, ...]]:
    """Return, per migration id, what its emitted Alembic and Django files run after.

    The replaced specs keep their own chain; the squash starts a new one (it is a base) and
    the specs after it follow it.
    """
    squashes = present_squashes(migrations)
    replaced_by = {r: s for s, replaced in squashes.items() for r in replaced}
    old = [m for m in migrations if m.id in replaced_by]
    new = [
        _with_dependencies(m, tuple(dict.fromkeys(replaced_by.get(d, d) for d in m.dependencies)))
        for m in migrations
        if m.id not in replaced_by
    ]
    return {**chain_parents(old), **chain_parents(new)}


def _with_dependencies(m: Migration, deps: tuple[str, ...]) -> Migration:
    return dataclasses.replace(m, dependencies=deps)
