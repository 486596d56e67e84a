"""The diff engine: compare two neutral ``Schema`` values into typed ``Difference`` values.

:func:`compare` runs an explicit, ordered list of pure phase functions (enum types,
standalone sequences, tables,
table comments, columns, primary keys, indexes, unique constraints, check constraints,
foreign keys). Each phase reads
the two schemas and a frozen :class:`Pair` (the names of the two sides and the table
ownership) and returns its own differences; phases share no mutable state, so the order in
:data:`PHASES` is the order of the report and nothing else. Before the phases, a table that
one side maps only partly is cut to the columns that side maps (:mod:`.partial`).

Direction: ``a`` is the *source* (usually a model set), ``b`` the *target* (usually the live
catalog). "missing" means present in the source and absent from the target; "extra" the
reverse. Values are compared with plain ``==`` because every source stores canonical
PostgreSQL spellings (see :mod:`dualorm.schema` and :mod:`dualorm.normalize`).

Objects matched by definition but not by name (an auto-generated index name, Django's hashed
foreign-key names) are reported once, as a ``name_mismatch`` warning, and then compared as the
same object.

Layout: :mod:`.base` holds the vocabulary (``DiffKind``, ``Severity``, ``Difference``,
``Pair``) and the matching shared by phases; :mod:`.tables`, :mod:`.columns`,
:mod:`.indexes`, :mod:`.constraints`, :mod:`.enums` and :mod:`.sequences` hold the phases;
:mod:`.explain` words the details.
"""

from __future__ import annotations

from collections.abc import Mapping

from dualorm.diff.base import (
    IGNORED_SCHEMAS,
    IGNORED_TABLES,
    Difference,
    DiffKind,
    Pair,
    Phase,
    Severity,
    flagged,
)
from dualorm.diff.columns import compare_columns
from dualorm.diff.constraints import (
    compare_checks,
    compare_foreign_keys,
    compare_primary_keys,
    compare_uniques,
)
from dualorm.diff.enums import compare_enums
from dualorm.diff.indexes import compare_indexes
from dualorm.diff.partial import project
from dualorm.diff.sequences import compare_sequences
from dualorm.diff.tables import compare_table_comments, compare_tables
from dualorm.ownership import Ownership, OwnershipMap, Rule
from dualorm.schema import Schema

__all__ = [
    "IGNORED_SCHEMAS",
    "IGNORED_TABLES",
    "PHASES",
    "DiffKind",
    "Difference",
    "Pair",
    "Severity",
    "compare",
]

PHASES: tuple[Phase, ...] = (
    compare_enums,
    compare_sequences,
    compare_tables,
    compare_table_comments,
    compare_columns,
    compare_primary_keys,
    compare_indexes,
    compare_uniques,
    compare_checks,
    compare_foreign_keys,
)
"""The order :func:`compare` runs the phases in, and so the order of the report."""


def compare(
    a: Schema,
    b: Schema,
    *,
    source: str = "sqlalchemy",
    target: str = "database",
    ownership: OwnershipMap | Mapping[str, Rule | Ownership | str] | None = None,
    live_target: bool = False,
) -> list[Difference]:
    """Compare ``a`` (the source) with ``b`` (the target) and return every difference.

    Args:
        a: the schema read as the source, e.g. from the SQLAlchemy models.
        b: the schema read as the target, e.g. from the live catalog.
        source: the name of ``a`` in each ``Difference``.
        target: the name of ``b`` in each ``Difference``.
        ownership: an :class:`~dualorm.ownership.OwnershipMap`, or the ``{name or glob:
            rule}`` of ``[tool.dualorm.ownership]``. A table is not reported missing from a
            side that does not own it (and so is never offered for dropping), and a side
            that maps only some of its columns is compared on those (see
            :mod:`dualorm.diff.partial`). Without one, both sides must hold every table.
        live_target: ``b`` is a live catalog. What a model relies on but only declares
            (Django's deferred foreign keys) is then an error where ``b`` lacks it, rather
            than a difference of style between two model sets.

    Returns:
        Differences in phase order (see :data:`PHASES`), tables in key order within a phase.
    """
    owners = ownership if isinstance(ownership, OwnershipMap) else OwnershipMap(ownership)
    pair = Pair(source=source, target=target, ownership=owners, live_target=live_target)
    a, b = _without_settled(*project(a, b, pair))
    return [difference for phase in PHASES for difference in phase(a, b, pair)]


def _without_settled(a: Schema, b: Schema) -> tuple[Schema, Schema]:
    """Drop the tables that are equal on both sides and carry nothing to warn about.

    No phase has anything to say about them; comparing each once here, rather than in every
    phase, keeps a clean 1,000-table schema at one equality test per table.
    """
    settled = {
        t.key for t in a if not flagged(t) and (other := b.get(t.key)) is not None and other == t
    }
    if not settled:
        return a, b
    return (
        a.with_tables(t for t in a if t.key not in settled),
        b.with_tables(t for t in b if t.key not in settled),
    )
