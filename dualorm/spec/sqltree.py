"""SQL text inside specs, read with PostgreSQL's own parser (pglast): the work behind
:mod:`dualorm.spec.sqlcheck`, which imports this module on the first text it is given.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pglast import ast, parse_sql, parser
from pglast.enums import (
    A_Expr_Kind,
    AlterTableType,
    CoercionForm,
    ConstrType,
    MinMaxOp,
    ObjectType,
)
from pglast.stream import RawStream

from dualorm.schema import DEFAULT_SCHEMA
from dualorm.spec.sqlfacts import Effect, SharedUse, StatementFact

__all__ = [
    "expression_column_name",
    "expression_fault",
    "run_sql_statements",
    "shared_use",
    "statement_facts",
]

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
    targets = select.targetList or ()
    if len(targets) != 1 or any(part for part in extra) or select.op != 0:
        return "is not one SQL expression (it reaches outside the parentheses)"
    value = targets[0].val
    # "1, 2" parses inside the parentheses as an implicit row, but the emitter writes it bare,
    # where the comma separates two expressions; an explicit ROW(1, 2) is one.
    if isinstance(value, ast.RowExpr) and value.row_format == CoercionForm.COERCE_IMPLICIT_CAST:
        return "is not one SQL expression (a comma separates several; write ROW(...) for a row)"
    return None


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
        outside = _outside_transaction(raw.stmt)
        if outside is not None:
            raise ValueError(
                f"holds {outside}, which PostgreSQL cannot run inside the migration's "
                "transaction"
                + (
                    "; use create_index or drop_index with concurrently: true"
                    if outside.endswith(" INDEX CONCURRENTLY")
                    else ""
                )
            )
        out.append(_statement_text(sql, raw))
    return tuple(s for s in out if s)


_NEVER_IN_TRANSACTION = {
    ast.VacuumStmt: "VACUUM",
    ast.CreatedbStmt: "CREATE DATABASE",
    ast.DropdbStmt: "DROP DATABASE",
    ast.AlterSystemStmt: "ALTER SYSTEM",
    ast.CreateTableSpaceStmt: "CREATE TABLESPACE",
    ast.DropTableSpaceStmt: "DROP TABLESPACE",
}


def _outside_transaction(stmt: ast.Node | None) -> str | None:
    """Name the statement if PostgreSQL refuses to run it inside a transaction block."""
    for kind, name in _NEVER_IN_TRANSACTION.items():
        if isinstance(stmt, kind):
            return name
    if isinstance(stmt, ast.IndexStmt) and stmt.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(stmt, ast.DropStmt) and stmt.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(stmt, ast.ReindexStmt) and any(
        isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in stmt.params or ()
    ):
        return "REINDEX CONCURRENTLY"
    return None


def _statement_text(sql: str, raw: ast.RawStmt) -> str:
    # stmt_location/stmt_len are byte offsets into the UTF-8 text.
    data = sql.encode()
    start = raw.stmt_location or 0
    end = start + raw.stmt_len if raw.stmt_len else len(data)
    return data[start:end].decode().strip()


def statement_facts(sql: str) -> tuple[StatementFact, ...]:
    """Return the effects of the statements of ``sql`` (already accepted by the loader), in order.

    Text the parser refuses is one opaque fact; an empty text has none.
    """
    try:
        tree = parse_sql(sql)
    except parser.ParseError:
        return (StatementFact(Effect.OTHER, (), sql.strip()),)
    facts: list[StatementFact] = []
    for raw in tree:
        text = _statement_text(sql, raw)
        facts.extend(replace(fact, statement=text) for fact in _facts(raw.stmt))
    return tuple(facts)


def _label(schema_name: str | None, name: str) -> str:
    return name if not schema_name or schema_name == DEFAULT_SCHEMA else f"{schema_name}.{name}"


def _name(relation: ast.RangeVar | None) -> str:
    if relation is None:
        return "*"
    return _label(relation.schemaname, str(relation.relname))


def _dotted(parts: tuple[ast.String, ...]) -> str:
    names = [str(part.sval) for part in parts]
    return _label(names[-2] if len(names) > 1 else None, names[-1])


def _deparse(node: ast.Node | None) -> str | None:
    return None if node is None else str(RawStream()(node))


def _other() -> tuple[StatementFact, ...]:
    return (StatementFact(Effect.OTHER, ()),)


def _facts(stmt: ast.Node | None) -> tuple[StatementFact, ...]:
    if isinstance(stmt, ast.DropStmt):
        return _drop(stmt)
    if isinstance(stmt, ast.TruncateStmt):
        return (StatementFact(Effect.TRUNCATES, tuple(_name(r) for r in stmt.relations or ())),)
    if isinstance(stmt, ast.DeleteStmt | ast.UpdateStmt | ast.InsertStmt):
        return _dml(stmt)
    if isinstance(stmt, ast.CreateStmt):
        return _create_table(stmt)
    if isinstance(stmt, ast.IndexStmt):
        return (
            StatementFact(
                Effect.CREATES_INDEX,
                (_name(stmt.relation),),
                name=stmt.idxname,
                concurrently=bool(stmt.concurrent),
            ),
        )
    if isinstance(stmt, ast.RenameStmt):
        return _rename(stmt)
    if isinstance(stmt, ast.AlterTableStmt) and stmt.objtype == ObjectType.OBJECT_TABLE:
        table = _name(stmt.relation)
        return tuple(fact for cmd in stmt.cmds or () for fact in _alter_table(table, cmd))
    return _other()


def _drop(stmt: ast.DropStmt) -> tuple[StatementFact, ...]:
    names = tuple(_dotted(obj) for obj in stmt.objects or ())
    if stmt.removeType == ObjectType.OBJECT_TABLE:
        return (StatementFact(Effect.DROPS_TABLE, names),)
    if stmt.removeType == ObjectType.OBJECT_INDEX:
        return tuple(
            StatementFact(Effect.DROPS_INDEX, (), name=n, concurrently=bool(stmt.concurrent))
            for n in names
        )
    return _other()


def _dml(stmt: ast.DeleteStmt | ast.UpdateStmt | ast.InsertStmt) -> tuple[StatementFact, ...]:
    # A WITH clause can hold further data-modifying statements on other tables.
    if stmt.withClause is not None:
        return _other()
    table = (_name(stmt.relation),)
    if isinstance(stmt, ast.DeleteStmt) and stmt.whereClause is None:
        return (StatementFact(Effect.DELETES_ALL, table),)
    return (StatementFact(Effect.WRITES_ROWS, table),)


def _create_table(stmt: ast.CreateStmt) -> tuple[StatementFact, ...]:
    if stmt.inhRelations or stmt.partbound is not None or stmt.ofTypename is not None:
        return _other()
    refs: set[str] = set()
    for element in stmt.tableElts or ():
        constraints = element.constraints if isinstance(element, ast.ColumnDef) else (element,)
        for constraint in constraints or ():
            if isinstance(constraint, ast.Constraint) and constraint.pktable is not None:
                refs.add(_name(constraint.pktable))
    table = _name(stmt.relation)
    return (
        StatementFact(Effect.CREATES_TABLE, (table,), references=tuple(sorted(refs - {table}))),
    )


def _rename(stmt: ast.RenameStmt) -> tuple[StatementFact, ...]:
    table = (_name(stmt.relation),)
    if stmt.renameType == ObjectType.OBJECT_TABLE:
        return (StatementFact(Effect.RENAMES_TABLE, table),)
    if stmt.renameType == ObjectType.OBJECT_COLUMN and stmt.relationType == ObjectType.OBJECT_TABLE:
        return (StatementFact(Effect.RENAMES_COLUMN, table, name=stmt.subname),)
    return _other()


# Column constraints ADD COLUMN may carry and still be judged as a plain column addition.
_COLUMN_PARTS = frozenset(
    {
        ConstrType.CONSTR_NULL,
        ConstrType.CONSTR_NOTNULL,
        ConstrType.CONSTR_DEFAULT,
        ConstrType.CONSTR_GENERATED,
        ConstrType.CONSTR_IDENTITY,
    }
)


def _alter_table(table: str, cmd: ast.Node) -> tuple[StatementFact, ...]:
    if not isinstance(cmd, ast.AlterTableCmd):
        return _other()
    tables = (table,)
    match cmd.subtype:
        case AlterTableType.AT_AddColumn:
            return _add_column(tables, cmd.def_)
        case AlterTableType.AT_DropColumn:
            return (StatementFact(Effect.DROPS_COLUMN, tables, name=cmd.name),)
        case AlterTableType.AT_AlterColumnType if isinstance(cmd.def_, ast.ColumnDef):
            return (
                StatementFact(
                    Effect.ALTERS_TYPE,
                    tables,
                    name=cmd.name,
                    type=_deparse(cmd.def_.typeName),
                    using=cmd.def_.raw_default is not None,
                ),
            )
        case AlterTableType.AT_SetNotNull:
            return (StatementFact(Effect.SETS_NOT_NULL, tables, name=cmd.name),)
        case AlterTableType.AT_DropNotNull | AlterTableType.AT_ColumnDefault:
            return (StatementFact(Effect.ALTERS_COLUMN, tables, name=cmd.name),)
        case AlterTableType.AT_AddConstraint if isinstance(cmd.def_, ast.Constraint):
            return _add_constraint(tables, cmd.def_)
        case AlterTableType.AT_ValidateConstraint:
            return (StatementFact(Effect.VALIDATES_CONSTRAINT, tables, name=cmd.name),)
        case AlterTableType.AT_DropConstraint:
            return (StatementFact(Effect.DROPS_CONSTRAINT, tables, name=cmd.name),)
    return _other()


def _add_column(tables: tuple[str, ...], column: object) -> tuple[StatementFact, ...]:
    if not isinstance(column, ast.ColumnDef):
        return _other()
    parts = {c.contype: c for c in column.constraints or () if isinstance(c, ast.Constraint)}
    if set(parts) - _COLUMN_PARTS or column.collClause is not None:
        return _other()
    default = parts.get(ConstrType.CONSTR_DEFAULT)
    return (
        StatementFact(
            Effect.ADDS_COLUMN,
            tables,
            name=column.colname,
            not_null=ConstrType.CONSTR_NOTNULL in parts or bool(column.is_not_null),
            default=None if default is None else _deparse(default.raw_expr),
            generated=ConstrType.CONSTR_GENERATED in parts,
            identity=ConstrType.CONSTR_IDENTITY in parts,
            type=_deparse(column.typeName),
        ),
    )


def _add_constraint(tables: tuple[str, ...], c: ast.Constraint) -> tuple[StatementFact, ...]:
    validated = not c.skip_validation
    match c.contype:
        case ConstrType.CONSTR_FOREIGN:
            return (
                StatementFact(
                    Effect.ADDS_FOREIGN_KEY,
                    tables,
                    name=c.conname,
                    validated=validated,
                    references=(_name(c.pktable),),
                ),
            )
        case ConstrType.CONSTR_CHECK:
            return (StatementFact(Effect.ADDS_CHECK, tables, name=c.conname, validated=validated),)
        case ConstrType.CONSTR_UNIQUE:
            effect = Effect.ADDS_UNIQUE
        case ConstrType.CONSTR_PRIMARY:
            effect = Effect.ADDS_PRIMARY_KEY
        case _:
            return _other()
    return (StatementFact(effect, tables, name=c.conname, using_index=c.indexname),)


# Statements whose objects belong to the whole database (or cluster), not to one schema.
_DATABASE_WIDE = (
    ast.CreateExtensionStmt,
    ast.AlterExtensionStmt,
    ast.AlterExtensionContentsStmt,
    ast.CreateSchemaStmt,
    ast.CreateRoleStmt,
    ast.AlterRoleStmt,
    ast.DropRoleStmt,
    ast.GrantRoleStmt,
    ast.CreateEventTrigStmt,
    ast.AlterEventTrigStmt,
    ast.CreatePLangStmt,
    ast.CreateFdwStmt,
    ast.CreateForeignServerStmt,
)
_DATABASE_WIDE_DROPS = frozenset(
    {
        ObjectType.OBJECT_EXTENSION,
        ObjectType.OBJECT_SCHEMA,
        ObjectType.OBJECT_EVENT_TRIGGER,
        ObjectType.OBJECT_LANGUAGE,
        ObjectType.OBJECT_FDW,
        ObjectType.OBJECT_FOREIGN_SERVER,
    }
)


def shared_use(sql: str) -> SharedUse:
    """Return the statements of ``sql`` that touch objects every schema of the database shares.

    Text the parser refuses shares nothing (the server refuses it too).
    """
    try:
        tree = parse_sql(sql)
    except parser.ParseError:
        return SharedUse()
    shared: list[str] = []
    unplaced: list[str] = []
    for raw in tree:
        stmt = raw.stmt
        wide = isinstance(stmt, _DATABASE_WIDE) or (
            isinstance(stmt, ast.DropStmt) and stmt.removeType in _DATABASE_WIDE_DROPS
        )
        if not wide:
            continue
        text = _statement_text(sql, raw)
        shared.append(text)
        if isinstance(stmt, ast.CreateExtensionStmt) and not any(
            isinstance(o, ast.DefElem) and o.defname == "schema" for o in stmt.options or ()
        ):
            unplaced.append(text)
    return SharedUse(tuple(shared), tuple(unplaced))


def expression_column_name(expression: str) -> str:
    """Return the name PostgreSQL gives an index key that is an expression: a select-list
    column's (``lower(email)`` is ``lower``), or ``expr`` when it has none."""
    try:
        statement: Any = parse_sql(f"SELECT ({expression})")[0].stmt
        node = statement.targetList[0].val
    except (parser.ParseError, AttributeError, IndexError, TypeError):
        return "expr"
    return _figure_name(node)[0] or "expr"


_FUNCTION_LIKE = {
    ast.A_ArrayExpr: "array",
    ast.RowExpr: "row",
    ast.CoalesceExpr: "coalesce",
    ast.GroupingFunc: "grouping",
}


def _figure_name(node: Any) -> tuple[str | None, int]:
    """PostgreSQL's ``FigureColnameInternal`` for what an index expression can hold: a name
    and its strength (2 a real name, 1 a fallback such as a cast's type, 0 none)."""
    kind = type(node)
    if kind is ast.ColumnRef or kind is ast.A_Indirection:
        parts = node.fields if kind is ast.ColumnRef else node.indirection
        names = [p.sval for p in parts or () if isinstance(p, ast.String)]
        if names:
            return names[-1], 2
        return _figure_name(node.arg) if kind is ast.A_Indirection else (None, 0)
    if kind is ast.FuncCall:
        return node.funcname[-1].sval, 2
    if kind is ast.A_Expr:
        return ("nullif", 2) if node.kind == A_Expr_Kind.AEXPR_NULLIF else (None, 0)
    if kind is ast.TypeCast:
        name, strength = _figure_name(node.arg)
        if strength <= 1 and node.typeName is not None:
            return node.typeName.names[-1].sval, 1
        return name, strength
    if kind is ast.CollateClause:
        return _figure_name(node.arg)
    if kind is ast.CaseExpr:
        name, strength = _figure_name(node.defresult)
        return (name, strength) if strength > 1 else ("case", 1)
    if kind is ast.MinMaxExpr:
        return ("greatest" if node.op == MinMaxOp.IS_GREATEST else "least"), 2
    if kind in _FUNCTION_LIKE:
        return _FUNCTION_LIKE[kind], 2
    return None, 0
