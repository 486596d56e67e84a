"""The dependency graph of change specs: which migration runs before which.

The small API of Django's ``MigrationGraph``: :meth:`MigrationGraph.forwards_plan`,
:meth:`MigrationGraph.backwards_plan` and :meth:`MigrationGraph.ensure_not_cyclic`, sorted
with :class:`graphlib.TopologicalSorter`. Migrations with no order between them run by id, so
every plan is deterministic. A dependency on an unknown id names the spec that declared it.
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Iterable, Mapping

from dualorm.errors import GraphError


class MigrationGraph:
    """Migration ids and the ids each depends on."""

    def __init__(self, dependencies: Mapping[str, Iterable[str]]) -> None:
        self.dependencies: dict[str, tuple[str, ...]] = {
            node: tuple(deps) for node, deps in dependencies.items()
        }
        self.dependents: dict[str, set[str]] = {node: set() for node in self.dependencies}
        for node, deps in self.dependencies.items():
            for dep in deps:
                if dep not in self.dependencies:
                    raise GraphError(f"{node} depends on {dep}, which does not exist")
                self.dependents[dep].add(node)

    def ensure_not_cyclic(self) -> None:
        """Raise :class:`~dualorm.errors.GraphError` naming a cycle if there is one."""
        try:
            graphlib.TopologicalSorter(self.dependencies).prepare()
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            raise GraphError(
                "dependency cycle: " + " -> ".join(str(n) for n in reversed(cycle))
            ) from None

    def _ordered(self, nodes: set[str]) -> list[str]:
        """Return ``nodes`` in dependency order, ties broken by id (smallest first)."""
        self.ensure_not_cyclic()
        sorter = graphlib.TopologicalSorter(
            {n: [d for d in self.dependencies[n] if d in nodes] for n in nodes}
        )
        sorter.prepare()
        ready = list(sorter.get_ready())
        heapq.heapify(ready)
        order = []
        while ready:
            node = heapq.heappop(ready)
            order.append(node)
            sorter.done(node)
            for more in sorter.get_ready():
                heapq.heappush(ready, more)
        return order

    def _require(self, node: str) -> None:
        if node not in self.dependencies:
            raise GraphError(f"unknown migration {node}")

    def ancestors(self, node: str) -> set[str]:
        """Return ``node`` and everything it depends on, directly or not."""
        self._require(node)
        seen, todo = {node}, [node]
        while todo:
            for dep in self.dependencies[todo.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    def descendants(self, node: str) -> set[str]:
        """Return ``node`` and everything that depends on it, directly or not."""
        self._require(node)
        seen, todo = {node}, [node]
        while todo:
            for dep in self.dependents[todo.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    def forwards_plan(self, target: str | None = None) -> list[str]:
        """Return the ids to apply, in order, to reach ``target`` (None: every migration)."""
        nodes = set(self.dependencies) if target is None else self.ancestors(target)
        return self._ordered(nodes)

    def backwards_plan(self, target: str | None = None) -> list[str]:
        """Return the ids to roll back, in order, to remove ``target`` (None: everything).

        ``target`` and every migration depending on it are included, dependents first.
        """
        nodes = set(self.dependencies) if target is None else self.descendants(target)
        return list(reversed(self._ordered(nodes)))

    def leaf_nodes(self) -> list[str]:
        """Return the ids nothing depends on (the heads), sorted."""
        return sorted(node for node, deps in self.dependents.items() if not deps)

    def root_nodes(self) -> list[str]:
        """Return the ids that depend on nothing, sorted."""
        return sorted(node for node, deps in self.dependencies.items() if not deps)
