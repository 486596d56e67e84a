"""SQL text inside specs, checked with PostgreSQL's own parser (pglast), never with patterns.

An expression field (a default, a check, an index predicate, a generated column, a ``using``
cast) is emitted inside a larger statement, so it must be exactly one SQL expression: no second
statement, no comment that swallows what the emitter writes after it, no unbalanced quote.
:func:`expression_fault` parses it as ``SELECT (<expression>)`` and accepts only a single
SELECT with one target and nothing else. :func:`run_sql_statements` splits ``run_sql`` text into
statements the way the server does and refuses transaction control, which would end the
migration's own transaction, and the statements PostgreSQL refuses inside one (``CREATE INDEX
CONCURRENTLY``, ``VACUUM`` ...), which would fail every run. :func:`statement_facts` says what
each statement does to the tables it names (drops, truncates, deletes every row, builds an
index, adds a column ...), so the plan and the lint judge a hand-written ``DROP TABLE`` like a
``drop_table`` operation and a ``CREATE INDEX`` like ``create_index``.

The parsing is :mod:`dualorm.spec.sqltree`, imported by each function here on its first call:
the parser (pglast) costs a run about 23 ms to import, and a project whose specs hold no SQL
text (no expression field, no ``run_sql``) applies, plans and reports without it. The values
the parse yields are :mod:`dualorm.spec.sqlfacts`, re-exported here.
"""

from __future__ import annotations

from dualorm.spec.sqlfacts import LOSES_DATA, Effect, SharedUse, StatementFact

__all__ = [
    "LOSES_DATA",
    "Effect",
    "SharedUse",
    "StatementFact",
    "expression_column_name",
    "expression_fault",
    "method_fault",
    "run_sql_statements",
    "shared_use",
    "statement_facts",
]


def expression_fault(text: str) -> str | None:
    """Return why ``text`` is not exactly one SQL expression, or None when it is."""
    # Imported on the first text to read: a run whose specs hold none never loads pglast.
    from dualorm.spec.sqltree import expression_fault as parsed_fault

    return parsed_fault(text)


def expression_column_name(expression: str) -> str:
    """Return the name PostgreSQL gives an index key that is an expression: a select-list
    column's (``lower(email)`` is ``lower``), or ``expr`` when it has none."""
    # Imported on the first text to read: a run whose specs hold none never loads pglast.
    from dualorm.spec.sqltree import expression_column_name as parsed_name

    return parsed_name(expression)


def method_fault(text: str) -> str | None:
    """Return why ``text`` is not an index access-method name (a plain identifier)."""
    lowered = text.lower()
    if lowered.isascii() and lowered.isidentifier():
        return None
    return "must be an access-method name such as btree, hash, gist, gin, spgist or brin"


def run_sql_statements(sql: str) -> tuple[str, ...]:
    """Return the statements of ``sql``; raise ValueError saying why it cannot be run
    (transaction control, a statement PostgreSQL refuses inside a transaction)."""
    # Imported on the first text to read: a run whose specs hold none never loads pglast.
    from dualorm.spec.sqltree import run_sql_statements as parsed_statements

    return parsed_statements(sql)


def statement_facts(sql: str) -> tuple[StatementFact, ...]:
    """Return the effects of the statements of ``sql`` (already accepted by the loader), in order.

    Text the parser refuses is one opaque fact; an empty text has none.
    """
    # Imported on the first text to read: a run whose specs hold none never loads pglast.
    from dualorm.spec.sqltree import statement_facts as parsed_facts

    return parsed_facts(sql)


def shared_use(sql: str) -> SharedUse:
    """Return the statements of ``sql`` that touch objects every schema of the database shares.

    Text the parser refuses shares nothing (the server refuses it too).
    """
    # Imported on the first text to read: a run whose specs hold none never loads pglast.
    from dualorm.spec.sqltree import shared_use as parsed_shared_use

    return parsed_shared_use(sql)
