"""Identifier and literal quoting, and identifier-aware rewriting of SQL expressions.

Emitted DDL always quotes identifiers (:func:`quote_ident`; :func:`quote_qualified` for a
dotted name); :func:`pg_quote_ident` quotes only when PostgreSQL would, which is how
``pg_get_expr`` prints names inside expressions.
:func:`expression_identifiers` and :func:`rename_identifier` walk an expression token by token
(skipping string literals and keeping quoted names intact) so that a column rename rewrites a
check or an index predicate the way the server does, without regular expressions over SQL.
"""

from __future__ import annotations

from collections.abc import Iterator

# PostgreSQL's reserved key words (appendix C, "reserved" and "reserved (can be function or
# type)"): an unquoted name from this set is a syntax error, so pg_get_expr quotes it.
_RESERVED = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user
    default deferrable desc distinct do else end except false fetch for foreign freeze from
    full grant group having ilike in initially inner intersect into is isnull join lateral
    leading left like limit localtime localtimestamp natural not notnull null offset on only
    or order outer overlaps placing primary references returning right select session_user
    similar some symmetric system_user table tablesample then to trailing true union unique
    user using variadic verbose when where window with
    """.split()
)

_IDENT_START = "abcdefghijklmnopqrstuvwxyz_"
_IDENT_CHARS = _IDENT_START + "0123456789$"


def quote_ident(name: str) -> str:
    """Return ``name`` as a double-quoted SQL identifier (always quoted, quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(*parts: str) -> str:
    """Return ``parts`` as one dotted SQL name, each part quoted: ``"app"."user"``."""
    return ".".join(quote_ident(part) for part in parts)


def quote_literal(value: str) -> str:
    """Return ``value`` as a standard SQL string literal (``standard_conforming_strings``)."""
    return "'" + value.replace("'", "''") + "'"


def needs_quotes(name: str) -> bool:
    """Return whether PostgreSQL would quote ``name`` when printing it."""
    if not name or name[0] not in _IDENT_START:
        return True
    return any(ch not in _IDENT_CHARS for ch in name) or name in _RESERVED


def pg_quote_ident(name: str) -> str:
    """Quote ``name`` only when PostgreSQL's ``quote_ident()`` would."""
    return quote_ident(name) if needs_quotes(name) else name


def _tokens(expression: str) -> Iterator[tuple[str, str]]:
    """Yield ``(kind, text)`` pairs: ``ident``, ``quoted``, ``string`` or ``other``."""
    i, n = 0, len(expression)
    while i < n:
        ch = expression[i]
        if ch in "'\"":
            j = i + 1
            while j < n:
                if expression[j] == ch:
                    if j + 1 < n and expression[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            yield ("string" if ch == "'" else "quoted", expression[i : j + 1])
            i = j + 1
        elif ch.lower() in _IDENT_START:
            j = i + 1
            while j < n and expression[j].lower() in _IDENT_CHARS:
                j += 1
            yield "ident", expression[i:j]
            i = j
        elif ch.isdigit():
            # A number such as 1e5 or 2.5 must not leave a trailing identifier behind.
            j = i + 1
            while j < n and (expression[j].isalnum() or expression[j] in "._"):
                j += 1
            yield "other", expression[i:j]
            i = j
        else:
            yield "other", ch
            i += 1


def _token_name(kind: str, text: str) -> str | None:
    if kind == "ident":
        return text.lower()
    if kind == "quoted":
        return text[1:-1].replace('""', '"')
    return None


def expression_identifiers(expression: str) -> set[str]:
    """Return every name an expression mentions (unquoted names folded to lower case).

    Function names and key words are included too: callers use this to ask "might this
    expression use column X", where a false yes is safe and a false no is not.
    """
    names = set()
    for kind, text in _tokens(expression):
        name = _token_name(kind, text)
        if name is not None:
            names.add(name)
    return names


def rename_identifier(expression: str, old: str, new: str) -> str:
    """Return ``expression`` with every mention of the name ``old`` replaced by ``new``.

    A mention directly followed by ``(`` is a function call and kept; one preceded by ``.``
    or ``::`` is a qualified name or a type and kept as well.
    """
    tokens = list(_tokens(expression))
    out = []
    for pos, (kind, text) in enumerate(tokens):
        name = _token_name(kind, text)
        following = _next_significant(tokens, pos)
        previous = tokens[pos - 1][1] if pos else ""
        if name == old and following != "(" and previous not in (".", ":"):
            out.append(pg_quote_ident(new))
        else:
            out.append(text)
    return "".join(out)


def _next_significant(tokens: list[tuple[str, str]], pos: int) -> str:
    for _kind, text in tokens[pos + 1 :]:
        if not text.isspace():
            return text
    return ""
