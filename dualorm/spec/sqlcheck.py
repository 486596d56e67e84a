"""SQL text inside specs, checked with PostgreSQL's own parser (pglast), never with patterns.

An expression field (a default, a check, an index predicate, a generated column, a ``using``
cast) is emitted inside a larger statement, so it must be exactly one SQL expression: no second
statement, no comment that swallows what the emitter writes after it, no unbalanced quote.
:func:`expression_fault` parses it as ``SELECT (<expression>)`` and accepts only a single
SELECT with one target and nothing else. :func:`run_sql_statements` splits ``run_sql`` text into
statements the way the server does and refuses transaction control, which would end the
migration's own transaction. :func:`statement_facts` says which statements lose data, so the
plan and the lint judge a hand-written ``DROP TABLE`` like a ``drop_table`` operation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pglast import ast, parse_sql, parser
from pglast.enums import AlterTableType, ObjectType

# Tokens that would let an expression comment out what the emitter writes after it.
_COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})


def expression_fault(text: str) -> str | None:
    """Return why ``text`` is not exactly one SQL expression, or None when it is."""
    if "\x00" in text:
        return "contains a NUL byte"
    wrapped = f"SELECT ({text})"
    try:
        tokens = parser.scan(wrapped)
        tree = parse_sql(wrapped)
    except parser.ParseError as exc:
        return f"is not one SQL expression ({exc})"
    if any(token.name in _COMMENTS for token in tokens):
        return "contains an SQL comment; write the expression alone"
    if len(tree) != 1 or not isinstance(tree[0].stmt, ast.SelectStmt):
        return "is not one SQL expression (it holds further statements)"
    select = tree[0].stmt
    extra = (
        select.fromClause,
        select.whereClause,
        select.groupClause,
        select.havingClause,
        select.windowClause,
        select.sortClause,
        select.limitCount,
        select.limitOffset,
        select.withClause,
        select.distinctClause,
        select.lockingClause,
        select.intoClause,
        select.valuesLists,
    )
    if len(select.targetList or ()) != 1 or any(part for part in extra) or select.op != 0:
        return "is not one SQL expression (it reaches outside the parentheses)"
    return None


def method_fault(text: str) -> str | None:
    """Return why ``text`` is not an index access-method name (a plain identifier)."""
    lowered = text.lower()
    if lowered.isascii() and lowered.isidentifier():
        return None
    return "must be an access-method name such as btree, hash, gist, gin, spgist or brin"


def run_sql_statements(sql: str) -> tuple[str, ...]:
    """Return the statements of ``sql``; raise ValueError saying why it cannot be run.

    Transaction control is refused: it would commit or roll back the migration's transaction
    halfway, so a dry run would leave changes behind and a failing run would half-apply.
    """
    if "\x00" in sql:
        raise ValueError("contains a NUL byte")
    try:
        tree = parse_sql(sql)
    except parser.ParseError as exc:
        raise ValueError(f"is not valid SQL ({exc})") from None
    out = []
    for raw in tree:
        if isinstance(raw.stmt, ast.TransactionStmt):
            word = _statement_text(sql, raw).split(None, 1)[0].upper()
            raise ValueError(
                f"holds transaction control ({word}); each migration already runs in its "
                "own transaction"
            )
        out.append(_statement_text(sql, raw))
    return tuple(s for s in out if s)


def _statement_text(sql: str, raw: ast.RawStmt) -> str:
    # stmt_location/stmt_len are byte offsets into the UTF-8 text.
    data = sql.encode()
    start = raw.stmt_location or 0
    end = start + raw.stmt_len if raw.stmt_len else len(data)
    return data[start:end].decode().strip()


class Effect(enum.Enum):
    """What a hand-written statement does to the rows of a table."""

    DROPS_TABLE = "drops table"
    DROPS_COLUMN = "drops a column of"
    TRUNCATES = "truncates"
    DELETES_ALL = "deletes every row of"
    OTHER = "runs"


@dataclass(frozen=True)
class StatementFact:
    """One statement of ``run_sql``: the tables it names and what it does to them."""

    effect: Effect
    tables: tuple[str, ...]

    @property
    def loses_data(self) -> bool:
        return self.effect is not Effect.OTHER


def statement_facts(sql: str) -> tuple[StatementFact, ...]:
    """Return one fact per statement of ``sql`` (already accepted by the loader)."""
    try:
        tree = parse_sql(sql)
    except parser.ParseError:
        return (StatementFact(Effect.OTHER, ()),)
    return tuple(_fact(raw.stmt) for raw in tree)


def _name(relation: ast.RangeVar | None) -> str:
    if relation is None:
        return "*"
    name = str(relation.relname)
    return f"{relation.schemaname}.{name}" if relation.schemaname else name


def _fact(stmt: ast.Node | None) -> StatementFact:
    if isinstance(stmt, ast.DropStmt) and stmt.removeType == ObjectType.OBJECT_TABLE:
        names = tuple(".".join(part.sval for part in obj) for obj in stmt.objects or ())
        return StatementFact(Effect.DROPS_TABLE, names)
    if isinstance(stmt, ast.TruncateStmt):
        return StatementFact(Effect.TRUNCATES, tuple(_name(r) for r in stmt.relations or ()))
    if isinstance(stmt, ast.DeleteStmt) and stmt.whereClause is None:
        return StatementFact(Effect.DELETES_ALL, (_name(stmt.relation),))
    if isinstance(stmt, ast.AlterTableStmt) and any(
        isinstance(cmd, ast.AlterTableCmd) and cmd.subtype == AlterTableType.AT_DropColumn
        for cmd in stmt.cmds or ()
    ):
        return StatementFact(Effect.DROPS_COLUMN, (_name(stmt.relation),))
    return StatementFact(Effect.OTHER, ())
