"""Canonical PostgreSQL types: the spelling ``format_type()`` prints, and what it holds.

Every ``Column.type`` of a :class:`dualorm.schema.Schema` is the canonical spelling
(``character varying(255)``, ``timestamp with time zone``, ``numeric(10,2)``, ``text[]``);
:func:`canonical_type` turns the usual aliases into it.
"""

from __future__ import annotations

import functools

_TYPE_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "serial": "integer",
    "int2": "smallint",
    "smallserial": "smallint",
    "int8": "bigint",
    "bigserial": "bigint",
    "bool": "boolean",
    "float8": "double precision",
    "float": "double precision",
    "float4": "real",
    "decimal": "numeric",
    "varchar": "character varying",
    "char": "character",
    "bpchar": "character",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "timetz": "time with time zone",
    "time": "time without time zone",
    "varbit": "bit varying",
}

_WITH_TZ = {
    "timestamp with time zone",
    "timestamp without time zone",
    "time with time zone",
    "time without time zone",
}


@functools.lru_cache(maxsize=4096)
def canonical_type(spelling: str) -> str:
    """Return the ``format_type()`` spelling of a PostgreSQL type name.

    >>> canonical_type("VARCHAR(255)")
    'character varying(255)'
    >>> canonical_type("timestamptz(3)")
    'timestamp(3) with time zone'
    >>> canonical_type("numeric(10, 2)")
    'numeric(10,2)'
    >>> canonical_type("int8[]")
    'bigint[]'
    >>> canonical_type("FLOAT(53)"), canonical_type("float(24)")
    ('double precision', 'real')
    >>> canonical_type('"Ticket State"[]')
    '"Ticket State"[]'
    """
    if '"' in spelling:
        # A quoted name (an enum or domain type named in mixed case) is kept as written.
        return spelling.strip()
    text = " ".join(spelling.strip().lower().split())
    array = ""
    while text.endswith("[]"):
        array += "[]"
        text = text[:-2].rstrip()
    base, paren, rest = text.partition("(")
    base = base.strip()
    modifier = ""
    if paren:
        inner, _, tail = rest.partition(")")
        modifier = "(" + ",".join(part.strip() for part in inner.split(",")) + ")"
        base = f"{base} {tail.strip()}".strip()
    if base == "float" and modifier:
        base, modifier = _float_precision(modifier)
    if not (base == "float" and modifier):
        base = _TYPE_ALIASES.get(base, base)
    if modifier and base in _WITH_TZ:
        head, _, zone = base.partition(" with")
        return f"{head}{modifier} with{zone}{array}"
    if base == "character" and not modifier:
        modifier = "(1)"
    return f"{base}{modifier}{array}"


def _float_precision(modifier: str) -> tuple[str, str]:
    """``float(p)`` as PostgreSQL's grammar reads it: ``real`` for 1 <= p <= 24, ``double
    precision`` for 25 <= p <= 53. Any other precision is left as written, for the server to
    refuse."""
    digits = modifier[1:-1]
    if digits.isdigit():
        precision = int(digits)
        if 1 <= precision <= 24:
            return "real", ""
        if 25 <= precision <= 53:
            return "double precision", ""
    return "float", modifier


_COLLATABLE = frozenset({"text", "character varying", "character", "citext", "name"})


def collatable(type_: str) -> bool:
    """Return whether a column of the canonical ``type_`` can have a collation (the string
    types and arrays of them; an enum or a number cannot)."""
    base = type_.removesuffix("[]").partition("(")[0].strip()
    return base in _COLLATABLE
