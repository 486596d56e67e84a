"""The migration dependency graph: plans, tie-breaking by id, unknown and cyclic dependencies."""

from __future__ import annotations

import pytest

from dualorm.errors import GraphError
from dualorm.spec.graph import MigrationGraph

DIAMOND = {
    "0001_a": [],
    "0003_c": ["0001_a"],
    "0002_b": ["0001_a"],
    "0004_d": ["0002_b", "0003_c"],
}


def test_forwards_plan_orders_by_dependency_then_id() -> None:
    assert MigrationGraph(DIAMOND).forwards_plan() == ["0001_a", "0002_b", "0003_c", "0004_d"]


def test_ties_run_by_id_even_when_a_later_id_is_ready_first() -> None:
    graph = MigrationGraph({"0001": [], "0002": ["0009"], "0009": [], "0005": []})
    # 0002 waits for 0009, but 0005 (ready from the start) still runs before 0009.
    assert graph.forwards_plan() == ["0001", "0005", "0009", "0002"]


def test_forwards_plan_to_a_target_takes_only_its_ancestors() -> None:
    assert MigrationGraph(DIAMOND).forwards_plan("0003_c") == ["0001_a", "0003_c"]


def test_backwards_plan_removes_dependents_first() -> None:
    graph = MigrationGraph(DIAMOND)
    assert graph.backwards_plan("0002_b") == ["0004_d", "0002_b"]
    assert graph.backwards_plan() == ["0004_d", "0003_c", "0002_b", "0001_a"]


def test_leaves_and_roots() -> None:
    graph = MigrationGraph(DIAMOND)
    assert graph.leaf_nodes() == ["0004_d"]
    assert graph.root_nodes() == ["0001_a"]


def test_unknown_dependency_names_its_origin() -> None:
    with pytest.raises(GraphError, match="0002 depends on 0007, which does not exist"):
        MigrationGraph({"0001": [], "0002": ["0007"]})


def test_cycle_is_named() -> None:
    graph = MigrationGraph({"a": ["c"], "b": ["a"], "c": ["b"]})
    with pytest.raises(GraphError, match=r"dependency cycle: .*a.*->.*") as caught:
        graph.ensure_not_cyclic()
    assert all(node in str(caught.value) for node in "abc")
    with pytest.raises(GraphError):
        graph.forwards_plan()


def test_unknown_target() -> None:
    with pytest.raises(GraphError, match="unknown migration 0099"):
        MigrationGraph(DIAMOND).forwards_plan("0099")
