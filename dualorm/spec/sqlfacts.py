"""What hand-written SQL does, as values: the effects of ``run_sql`` statements
(:class:`StatementFact`) and what they touch beyond their schema (:class:`SharedUse`).

Plain data, apart from the parser that finds them (:mod:`dualorm.spec.sqltree`), so the plan,
the lint and the operations name them without loading pglast.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["LOSES_DATA", "Effect", "SharedUse", "StatementFact"]


class Effect(enum.Enum):
    """What a hand-written statement does, in the terms the operations use.

    Only forms whose effect the parse tree states reliably are classified; everything else is
    :attr:`OTHER`, which the plan and the lint treat as opaque (the worst lock assumed).
    """

    DROPS_TABLE = "drops table"
    DROPS_COLUMN = "drops a column of"
    TRUNCATES = "truncates"
    DELETES_ALL = "deletes every row of"
    WRITES_ROWS = "writes rows of"
    CREATES_TABLE = "creates table"
    RENAMES_TABLE = "renames table"
    ADDS_COLUMN = "adds a column to"
    ALTERS_TYPE = "changes a column type of"
    SETS_NOT_NULL = "sets NOT NULL on"
    ALTERS_COLUMN = "alters a column of"
    RENAMES_COLUMN = "renames a column of"
    CREATES_INDEX = "creates an index on"
    DROPS_INDEX = "drops index"
    ADDS_FOREIGN_KEY = "adds a foreign key to"
    ADDS_CHECK = "adds a check to"
    ADDS_UNIQUE = "adds a unique constraint to"
    ADDS_PRIMARY_KEY = "adds a primary key to"
    VALIDATES_CONSTRAINT = "validates a constraint of"
    DROPS_CONSTRAINT = "drops a constraint of"
    OTHER = "runs"


LOSES_DATA = frozenset(
    {Effect.DROPS_TABLE, Effect.DROPS_COLUMN, Effect.TRUNCATES, Effect.DELETES_ALL}
)


@dataclass(frozen=True)
class StatementFact:
    """One effect of one statement of ``run_sql`` (an ``ALTER TABLE`` gives one per command).

    ``tables`` are labelled like operation tables (``users``, ``auth.users``); ``name`` is the
    column, index or constraint concerned. The remaining fields are read off the parse tree
    for the effects they apply to; :mod:`dualorm.runner.impact` turns them into locks.
    """

    effect: Effect
    tables: tuple[str, ...]
    statement: str = ""
    name: str | None = None
    concurrently: bool = False
    validated: bool = True
    not_null: bool = False
    default: str | None = None
    generated: bool = False
    identity: bool = False
    type: str | None = None
    using: bool = False
    using_index: str | None = None
    references: tuple[str, ...] = ()

    @property
    def loses_data(self) -> bool:
        return self.effect in LOSES_DATA

    @property
    def opaque(self) -> bool:
        return self.effect is Effect.OTHER


@dataclass(frozen=True)
class SharedUse:
    """What ``run_sql`` text does outside the schema it runs in (see :func:`shared_use`)."""

    statements: tuple[str, ...] = ()
    """Statements creating, changing or dropping objects of the whole database (extensions,
    schemas, roles ...): tenants of one database running them at once race on them."""
    unplaced: tuple[str, ...] = ()
    """``CREATE EXTENSION`` statements naming no ``SCHEMA``: the extension lands in the first
    schema of ``search_path``."""
