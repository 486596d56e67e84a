"""A canonical type is split in one place, :func:`dualorm.pgtypes.parse_type`."""

from __future__ import annotations

import pytest

from dualorm.pgtypes import ColumnType, canonical_type, collatable, parse_type

PARSED = [
    ("character varying(100)", ColumnType("character varying", ("100",))),
    ("numeric(10,2)", ColumnType("numeric", ("10", "2"))),
    ("timestamp with time zone", ColumnType("timestamp with time zone")),
    ("timestamp(3) with time zone", ColumnType("timestamp with time zone", ("3",))),
    ("integer[]", ColumnType("integer", (), 1)),
    ("character varying(20)[][]", ColumnType("character varying", ("20",), 2)),
    ('"Ticket State"[]', ColumnType('"Ticket State"', (), 1)),
    ("auth.mood", ColumnType("auth.mood")),
]


@pytest.mark.parametrize(("spelling", "parsed"), PARSED, ids=[p[0] for p in PARSED])
def test_a_canonical_type_is_taken_apart_and_put_back_as_it_was(
    spelling: str, parsed: ColumnType
) -> None:
    assert parse_type(spelling) == parsed
    assert parsed.spelling == spelling


@pytest.mark.parametrize(
    "alias",
    ["varchar(100)", "timestamptz(3)", "numeric(10, 2)", "int8[]", "float(53)", "char", "time"],
)
def test_the_canonical_spelling_is_a_parsed_type_put_back(alias: str) -> None:
    canonical = canonical_type(alias)
    assert parse_type(canonical).spelling == canonical


def test_an_array_of_arrays_nests_one_level_at_a_time() -> None:
    matrix = parse_type("numeric(10,2)[][]")
    assert matrix.item == ColumnType("numeric", ("10", "2"), 1)
    assert matrix.item.item.spelling == "numeric(10,2)"
    assert (matrix.numbers, parse_type("character varying(x)").numbers) == ((10, 2), None)


def test_an_array_of_any_depth_of_strings_takes_a_collation() -> None:
    assert collatable("text[][]") and collatable("character varying(20)[]")
    assert not collatable("integer[]") and not collatable('"Mood"')
