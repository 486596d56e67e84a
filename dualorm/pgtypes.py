"""Canonical PostgreSQL types: the spelling ``format_type()`` prints, and what it holds.

Every ``Column.type`` of a :class:`dualorm.schema.Schema` is the canonical spelling
(``character varying(255)``, ``timestamp with time zone``, ``numeric(10,2)``, ``text[]``);
:func:`canonical_type` turns the usual aliases into it, and :func:`parse_type` takes it apart
into a :class:`ColumnType` (name, modifier arguments, array dimensions): the one place a type
string is split, for every renderer and rule that needs its parts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

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
    parsed = parse_type(" ".join(spelling.strip().lower().split()))
    name, args = parsed.name, parsed.args
    if name == "float" and args:
        name, args = _float_precision(args)
    if not (name == "float" and args):
        name = _TYPE_ALIASES.get(name, name)
    if name == "character" and not args:
        args = ("1",)
    return ColumnType(name, args, parsed.dimensions).spelling


def _float_precision(args: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """``float(p)`` as PostgreSQL's grammar reads it: ``real`` for 1 <= p <= 24, ``double
    precision`` for 25 <= p <= 53. Any other precision is left as written, for the server to
    refuse."""
    digits = ",".join(args)
    if digits.isdigit():
        precision = int(digits)
        if 1 <= precision <= 24:
            return "real", ()
        if 25 <= precision <= 53:
            return "double precision", ()
    return "float", args


_COLLATABLE = frozenset({"text", "character varying", "character", "citext", "name"})


def collatable(type_: str) -> bool:
    """Return whether a column of the canonical ``type_`` can have a collation (the string
    types and arrays of them; an enum or a number cannot)."""
    return parse_type(type_).name in _COLLATABLE


@dataclass(frozen=True, slots=True)
class ColumnType:
    """A type spelling taken apart: ``timestamp(3) with time zone[]`` is the name
    ``timestamp with time zone``, the arguments ``("3",)`` and one array dimension.

    ``args`` holds the modifier's parts as written, stripped (``numeric(10,2)`` has
    ``("10", "2")``); it is empty exactly when the spelling has no parentheses. A quoted name
    (``"Ticket State"``, an enum or domain type) is one name, whatever it holds.
    """

    name: str
    args: tuple[str, ...] = ()
    dimensions: int = 0

    @property
    def item(self) -> ColumnType:
        """What one level of this array type holds: the type with one dimension fewer (an
        array of arrays nests, as ``ARRAY(ARRAY(...))`` and ``ArrayField(ArrayField(...))``)."""
        return ColumnType(self.name, self.args, max(self.dimensions - 1, 0))

    @property
    def numbers(self) -> tuple[int, ...] | None:
        """The modifier's arguments as integers (``()`` without one); None when one is not."""
        try:
            return tuple(int(arg) for arg in self.args)
        except ValueError:
            return None

    @property
    def spelling(self) -> str:
        """The type as text again, the modifier where PostgreSQL writes it
        (``timestamp(3) with time zone``)."""
        modifier = f"({','.join(self.args)})" if self.args else ""
        array = "[]" * self.dimensions
        if modifier and self.name in _WITH_TZ:
            head, _, zone = self.name.partition(" with")
            return f"{head}{modifier} with{zone}{array}"
        return f"{self.name}{modifier}{array}"


@functools.lru_cache(maxsize=4096)
def parse_type(spelling: str) -> ColumnType:
    """Take a type spelling apart into its name, modifier arguments and array dimensions.

    The spelling is split, never rewritten: give it canonical (:func:`canonical_type`) to get
    the canonical name.

    >>> parse_type("character varying(100)")
    ColumnType(name='character varying', args=('100',), dimensions=0)
    >>> parse_type("timestamp(3) with time zone").name
    'timestamp with time zone'
    >>> parse_type("numeric(10,2)[]")
    ColumnType(name='numeric', args=('10', '2'), dimensions=1)
    >>> parse_type('"Ticket State"[]')
    ColumnType(name='"Ticket State"', args=(), dimensions=1)
    """
    text = spelling.strip()
    dimensions = 0
    while text.endswith("[]"):
        dimensions += 1
        text = text[:-2].rstrip()
    if '"' in text:
        return ColumnType(text, (), dimensions)
    head, paren, rest = text.partition("(")
    if not paren:
        return ColumnType(head, (), dimensions)
    inner, _, tail = rest.partition(")")
    name = f"{head.strip()} {tail.strip()}".strip()
    return ColumnType(name, tuple(part.strip() for part in inner.split(",")), dimensions)
