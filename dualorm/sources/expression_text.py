"""SQL expression text spelled as the other sources spell it.

Django compiles expressions with every identifier quoted and inside parentheses; PostgreSQL's
catalog and SQLAlchemy quote only where ``quote_ident`` would. These functions rewrite an
expression to that spelling, outside string literals, so the three sources compare as equal.
"""

from __future__ import annotations

from dualorm.schema import split_opclass, split_order

__all__ = ["bare_expression", "expression_key", "unquote_name"]


def unquote_name(name: str) -> str:
    """Return ``name`` without its double quotes (a doubled quote inside becomes one)."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name


# Keywords PostgreSQL's quote_ident quotes (every category but "unreserved"), PG 13-17.
_QUOTED_KEYWORDS = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization between bigint binary
    bit boolean both case cast char character check coalesce collate collation column
    concurrently constraint create cross current_catalog current_date current_role
    current_schema current_time current_timestamp current_user dec decimal default deferrable
    desc distinct do else end except exists extract false fetch float for foreign freeze from
    full grant greatest group grouping having ilike in initially inner inout int integer
    intersect interval into is isnull join json json_array json_arrayagg json_exists
    json_object json_objectagg json_query json_scalar json_serialize json_table json_value
    lateral leading least left like limit localtime localtimestamp merge_action national
    natural nchar none normalize not notnull null nullif numeric offset on only or order out
    outer overlaps overlay placing position precision primary real references returning right
    row select session_user setof similar smallint some substring symmetric system_user table
    tablesample then time timestamp to trailing treat trim true union unique user using values
    varchar variadic verbose when where window with xmlattributes xmlconcat xmlelement
    xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable""".split()
)


def _needs_quotes(identifier: str) -> bool:
    if not identifier or not (identifier[0].islower() or identifier[0] == "_"):
        return True
    if any(
        not (ch.islower() or ch.isdigit() or ch == "_") or not ch.isascii() for ch in identifier
    ):
        return True
    return identifier in _QUOTED_KEYWORDS


def expression_key(sql: str) -> tuple[str, str, str]:
    """An index key as Django compiles it: the expression, its operator class, its ordering."""
    key, order = split_order(sql.strip())
    key, opclass = split_opclass(_strip_outer_parens(key.strip()))
    return bare_expression(key), opclass, order


def bare_expression(sql: str) -> str:
    """Return ``sql`` with quotes only where ``quote_ident`` needs them, outer parens removed."""
    return _strip_outer_parens(_minimal_quotes(sql.strip()))


def _minimal_quotes(sql: str) -> str:
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not _word_char(sql[i - 2]))
            j = i + 1
            while j < n:
                if escapes and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1])
            i = j + 1
        elif ch == '"':
            j = i + 1
            while j < n:
                if sql[j] == '"':
                    if j + 1 < n and sql[j + 1] == '"':
                        j += 2
                        continue
                    break
                j += 1
            quoted = sql[i : j + 1]
            identifier = unquote_name(quoted)
            out.append(quoted if _needs_quotes(identifier) else identifier)
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def _strip_outer_parens(sql: str) -> str:
    while sql.startswith("(") and sql.endswith(")") and _encloses(sql):
        sql = sql[1:-1].strip()
    return sql


def _encloses(sql: str) -> bool:
    """Whether the parenthesis opening ``sql`` closes at its very end (outside literals)."""
    depth = 0
    quote: str | None = None
    for i, ch in enumerate(sql):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i == len(sql) - 1
    return False
