"""One registry of operation kinds, and every piece a kind needs checked against it.

A new operation is one :class:`~dualorm.spec.operation.Operation` subclass registering its
spec name (``kind=``), its builder (:mod:`dualorm.spec.builders`), three renderers (Alembic,
Django state, SQL) and its impact rule (:mod:`dualorm.runner.impact`). Everything else reads the
registry; :func:`missing_pieces` names what a registered kind lacks, including a module the
spec cache (:data:`dualorm.spec.codec.MODULES`) cannot name its class from.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields

import pytest

from dualorm.emit.alembic_ops import alembic_renderer
from dualorm.emit.django_state import state_renderer
from dualorm.emit.sql import sql_renderer
from dualorm.runner.impact import impacts
from dualorm.schema import Schema
from dualorm.spec import codec
from dualorm.spec.builders import has_builder
from dualorm.spec.operation import KINDS
from dualorm.spec.ops import OPERATIONS, Operation, operation_kinds


def _has_impact_rule(kind: type[Operation]) -> bool:
    """A rule of its own, or an opaque kind (Python), which the fallback judges the worst."""
    return impacts.dispatch(kind) is not impacts.dispatch(object) or kind.opaque


def _cacheable(kind: type[Operation]) -> bool:
    """Whether the spec cache may name the class: without it every cache write is refused as a
    miss, and specs are read again on every run, with no error to say why."""
    return kind.__module__ in codec.MODULES


PIECES: dict[str, Callable[[type[Operation]], bool]] = {
    "builder in dualorm.spec.builders": has_builder,
    "alembic renderer in dualorm.emit.alembic_ops": alembic_renderer.handles,
    "django state renderer in dualorm.emit.django_state": state_renderer.handles,
    "sql renderer in dualorm.emit.sql": sql_renderer.handles,
    "impact rule in dualorm.runner.impact": _has_impact_rule,
    "module of its class in dualorm.spec.codec": _cacheable,
}
"""What every registered operation kind needs, by where it goes."""


def missing_pieces(kinds: Iterable[type[Operation]]) -> list[str]:
    """``"<Class> (<kind>): no <piece>"`` for each piece a kind lacks."""
    return [
        f"{kind.__name__} ({kind.kind}): no {piece}"
        for kind in kinds
        for piece, present in PIECES.items()
        if not present(kind)
    ]


def test_every_registered_kind_has_its_builder_renderers_and_impact_rule() -> None:
    assert missing_pieces(operation_kinds().values()) == []


def test_the_registry_is_every_concrete_operation_class() -> None:
    assert set(operation_kinds().values()) == set(Operation.__subclasses__()) == set(OPERATIONS)
    assert all(name == cls.kind for name, cls in operation_kinds().items())


@pytest.fixture
def probe() -> Iterator[type[Operation]]:
    """A throwaway kind registered as a new operation would be, and unregistered after."""

    @dataclass(frozen=True)
    class ProbeOperation(Operation, kind="probe_operation"):
        table: str = "t"

        def apply(self, schema: Schema) -> Schema:
            return schema

        def describe(self) -> str:
            return "probe"

    yield ProbeOperation
    del KINDS["probe_operation"]
    del ProbeOperation
    gc.collect()


def test_a_kind_without_its_pieces_is_reported_for_each_one(probe: type[Operation]) -> None:
    assert missing_pieces(operation_kinds().values()) == [
        f"ProbeOperation (probe_operation): no {piece}" for piece in PIECES
    ]


def test_a_kind_inherits_the_pieces_of_the_operation_it_extends() -> None:
    (base,) = (cls for cls in OPERATIONS if cls.kind == "add_column")
    subclass = type("LoggedAddColumn", (base,), {"__module__": base.__module__})
    # The renderers and the impact rule follow the class hierarchy; the builder is per kind.
    assert missing_pieces([subclass]) == [
        "LoggedAddColumn (add_column): no builder in dualorm.spec.builders"
    ]
    del subclass
    gc.collect()


def test_every_operation_on_a_table_names_it_by_a_string() -> None:
    """``op.table`` is the table's name on every kind; a kind carrying the whole table holds it
    as ``definition``, so no reader has to ask which of the two ``table`` is."""
    for kind in OPERATIONS:
        declared = {f.name: f.type for f in fields(kind)}
        assert "Table" not in declared.values() or declared.get("definition") == "Table", kind
        if "table" in declared:
            assert declared["table"] == "str", kind
        elif hasattr(kind, "table"):
            prop = kind.table
            assert isinstance(prop, property), kind
            assert prop.fget is not None and prop.fget.__annotations__["return"] == "str", kind
