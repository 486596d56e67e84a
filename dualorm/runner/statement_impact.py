"""The impact of each statement of hand-written SQL (``run_sql``), judged from the parse tree
(:func:`dualorm.spec.sqlcheck.statement_facts`) through the same helpers as the operations: a
``DROP TABLE`` there has the impact of a ``drop_table`` operation. An unclassified statement
is opaque (assumed to take ``ACCESS EXCLUSIVE`` on every table).
"""

from __future__ import annotations

from dualorm.pgtypes import canonical_type
from dualorm.runner.impact_model import (
    Action,
    Hazard,
    Impact,
    Lock,
    StatementRule,
    added_column,
    altered_column,
    catalog_change,
    check_impact,
    constraint_index_build,
    created_table,
    dropped_table,
    foreign_key_impacts,
    index_build,
    index_drop,
    not_null_proven,
    opaque_impact,
    type_change_rewrites,
    validate_impact,
)
from dualorm.schema import Schema, Table, as_key
from dualorm.spec.sqlcheck import Effect, StatementFact


def statement_impacts(fact: StatementFact, before: Schema) -> list[Impact]:
    """Return the impacts of one classified statement of ``run_sql`` on ``before``.

    The locks are those of the equivalent operation; an unclassified statement is opaque.
    """
    what = _STATEMENTS.get(fact.effect)
    found = None if what is None else what(fact, before)
    if found is None:
        text = fact.statement
        return [opaque_impact(f"{text[:60]}{'...' if len(text) > 60 else ''}" or "run SQL")]
    return found


def _subject(fact: StatementFact) -> str:
    return fact.name or ""


def _table(fact: StatementFact) -> str:
    return fact.tables[0]


def _losing(fact: StatementFact, before: Schema) -> list[Impact]:
    if fact.effect is Effect.DROPS_TABLE:
        return [dropped_table(t) for t in fact.tables]
    if fact.effect is Effect.TRUNCATES:
        return [
            Impact(t, Lock.ACCESS_EXCLUSIVE, note="removes every row", action=Action.TRUNCATE)
            for t in fact.tables
        ]
    # DELETE takes ROW EXCLUSIVE, which blocks no reader or writer, and reads every row.
    return [
        Impact(
            t,
            Lock.ROW_EXCLUSIVE,
            scans=True,
            note="deletes every row",
            action=Action.DELETE_ALL,
        )
        for t in fact.tables
    ]


def _writes(fact: StatementFact, before: Schema) -> list[Impact]:
    return [Impact(_table(fact), Lock.ROW_EXCLUSIVE, note="row locks", action=Action.WRITE_ROWS)]


def _creates(fact: StatementFact, before: Schema) -> list[Impact]:
    return created_table(set(fact.references))


def _column_type(before: Schema, table: str, column: str) -> str | None:
    found = before.get(table)
    current = found.column(column) if found is not None else None
    return None if current is None else current.type


def _alters_type(fact: StatementFact, before: Schema) -> list[Impact]:
    old = _column_type(before, _table(fact), _subject(fact))
    new = canonical_type(fact.type or "")
    # A USING expression, or a column the specs do not know, is assumed to rewrite.
    rewrites = fact.using or old is None or type_change_rewrites(old, new)
    hazards = Hazard.TYPE_REWRITE if rewrites else Hazard.NONE
    return [altered_column(_table(fact), _subject(fact), hazards, f"{old or '?'} -> {new}")]


def _sets_not_null(fact: StatementFact, before: Schema) -> list[Impact]:
    proven = not_null_proven(before, _table(fact), _subject(fact))
    hazards = Hazard.NONE if proven else Hazard.SETS_NOT_NULL
    return [altered_column(_table(fact), _subject(fact), hazards, "")]


def _adds_column(fact: StatementFact, before: Schema) -> list[Impact]:
    return [
        added_column(
            _table(fact),
            _subject(fact),
            default=fact.default,
            nullable=not fact.not_null,
            generated=fact.generated,
            identity=fact.identity,
        )
    ]


def _drops_index(fact: StatementFact, before: Schema) -> list[Impact] | None:
    owner = _index_owner(before, _subject(fact))
    if owner is None:
        return None
    name = as_key(_subject(fact))[1]
    return [index_drop(owner.qualified_name, name, fact.concurrently)]


def _index_owner(before: Schema, index: str) -> Table | None:
    schema_name, name = as_key(index)
    return next(
        (t for t in before if t.schema == schema_name and any(i.name == name for i in t.indexes)),
        None,
    )


def _adds_constraint_index(fact: StatementFact, before: Schema) -> list[Impact]:
    table = _table(fact)
    action = Action.ADD_UNIQUE if fact.effect is Effect.ADDS_UNIQUE else Action.ADD_PRIMARY_KEY
    scans = fact.using_index is None
    if not scans and action is Action.ADD_PRIMARY_KEY:
        # USING INDEX adopts the index; a primary key still scans for NULLs unless its
        # columns are NOT NULL already.
        found = before.get(table)
        index = (
            next((i for i in found.indexes if i.name == fact.using_index), None) if found else None
        )
        columns = [found.column(c) for c in index.columns] if found and index else [None]
        scans = any(c is None or c.nullable for c in columns)
    return [constraint_index_build(table, _subject(fact), action, scans)]


def _catalog_only(action: Action) -> StatementRule:
    def rule(fact: StatementFact, before: Schema) -> list[Impact]:
        return [catalog_change(t, action, _subject(fact)) for t in fact.tables]

    return rule


def _creates_index(fact: StatementFact, before: Schema) -> list[Impact]:
    return [index_build(_table(fact), _subject(fact), fact.concurrently)]


def _adds_foreign_key(fact: StatementFact, before: Schema) -> list[Impact]:
    return foreign_key_impacts(_table(fact), _subject(fact), fact.references[0], fact.validated)


def _adds_check(fact: StatementFact, before: Schema) -> list[Impact]:
    return [check_impact(_table(fact), _subject(fact), fact.validated)]


def _validates(fact: StatementFact, before: Schema) -> list[Impact]:
    return [validate_impact(_table(fact), _subject(fact))]


_STATEMENTS: dict[Effect, StatementRule] = {
    Effect.DROPS_TABLE: _losing,
    Effect.TRUNCATES: _losing,
    Effect.DELETES_ALL: _losing,
    Effect.WRITES_ROWS: _writes,
    Effect.CREATES_TABLE: _creates,
    Effect.RENAMES_TABLE: _catalog_only(Action.RENAME_TABLE),
    Effect.ADDS_COLUMN: _adds_column,
    Effect.DROPS_COLUMN: _catalog_only(Action.DROP_COLUMN),
    Effect.ALTERS_TYPE: _alters_type,
    Effect.SETS_NOT_NULL: _sets_not_null,
    Effect.ALTERS_COLUMN: _catalog_only(Action.ALTER_COLUMN),
    Effect.RENAMES_COLUMN: _catalog_only(Action.RENAME_COLUMN),
    Effect.CREATES_INDEX: _creates_index,
    Effect.DROPS_INDEX: _drops_index,
    Effect.ADDS_FOREIGN_KEY: _adds_foreign_key,
    Effect.ADDS_CHECK: _adds_check,
    Effect.ADDS_UNIQUE: _adds_constraint_index,
    Effect.ADDS_PRIMARY_KEY: _adds_constraint_index,
    Effect.VALIDATES_CONSTRAINT: _validates,
    Effect.DROPS_CONSTRAINT: _catalog_only(Action.DROP_CONSTRAINT),
}
"""How each classified statement effect locks, through the same helpers as the operations."""
