"""PostgreSQL's names: the default name of an unnamed constraint or index, and identifiers cut
to ``NAMEDATALEN - 1`` bytes as the server cuts them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from dualorm.schema import Table, normalized

NAMEDATALEN = 64


def default_name(table_name: str, columns: Iterable[str], label: str) -> str:
    """Return the name PostgreSQL gives an unnamed constraint or index (``makeObjectName``).

    ``label`` is ``pkey``, ``key``, ``fkey``, ``check`` or ``idx``; the longer of the table
    and column parts is cut until the name fits in 63 bytes.

    >>> default_name("users", ["email"], "key")
    'users_email_key'
    >>> default_name("users", [], "pkey")
    'users_pkey'
    """
    name1 = table_name.encode()
    name2 = "_".join(columns).encode()
    overhead = len(label) + 1 + (1 if name2 else 0)
    room = NAMEDATALEN - 1 - overhead
    while len(name1) + len(name2) > room:
        if len(name1) > len(name2):
            name1 = name1[:-1]
        else:
            name2 = name2[:-1]
    parts = [name1.decode(errors="ignore"), name2.decode(errors="ignore"), label]
    return "_".join(part for part in parts if part)


def choose_name(table_name: str, columns: Iterable[str], label: str, taken: set[str]) -> str:
    """Return the name PostgreSQL chooses for an unnamed object of a table, and take it.

    ``ChooseConstraintName``/``ChooseRelationName``: :func:`default_name`, and while that name
    is in ``taken`` the label numbered from 1 (``users_email_check1``), cut to fit like any
    other name. ``taken`` holds the names already given on the table; the result is added.
    """
    columns = tuple(columns)
    name, number = default_name(table_name, columns, label), 0
    while name in taken:
        number += 1
        name = default_name(table_name, columns, f"{label}{number}")
    taken.add(name)
    return name


def check_name_columns(referenced: Iterable[str] | None) -> tuple[str, ...]:
    """The column part of an unnamed CHECK's name: the column when the expression references
    exactly one distinct column, else none (the name is then ``<table>_check``), as
    ``AddRelationNewConstraints`` decides."""
    found = tuple(dict.fromkeys(referenced or ()))
    return found if len(found) == 1 else ()


def truncate_identifier(name: str) -> str:
    """Return ``name`` as PostgreSQL stores it: at most ``NAMEDATALEN - 1`` (63) bytes, never
    cutting a multibyte character (``truncate_identifier``, ``pg_mbcliplen``).

    >>> len(truncate_identifier("x" * 70)), truncate_identifier("é" * 40) == "é" * 31
    (63, True)
    """
    raw = name.encode()
    if len(raw) < NAMEDATALEN:
        return name
    return raw[: NAMEDATALEN - 1].decode(errors="ignore")


def truncated(t: Table) -> Table:
    """Return ``t`` with every identifier it names cut as PostgreSQL cuts it (see
    :func:`truncate_identifier`): table, columns, constraints, indexes and what they list.
    Expressions are left to the server, which cuts the identifiers inside them itself."""
    if not _names_too_long(t):
        return t
    cut = truncate_identifier
    names = {c.name for c in t.columns}

    def keys(columns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(cut(c) if c in names else c for c in columns)

    def each(columns: Iterable[str]) -> tuple[str, ...]:
        return tuple(cut(c) for c in columns)

    pk = t.primary_key
    # replace() keeps every other field of each object as it is.
    return normalized(
        replace(
            t,
            name=cut(t.name),
            schema=cut(t.schema),
            columns=tuple(replace(c, name=cut(c.name)) for c in t.columns),
            primary_key=None
            if pk is None
            else replace(pk, name=cut(pk.name), columns=each(pk.columns)),
            uniques=tuple(replace(u, name=cut(u.name), columns=each(u.columns)) for u in t.uniques),
            checks=tuple(replace(c, name=cut(c.name)) for c in t.checks),
            foreign_keys=tuple(
                replace(
                    f,
                    name=cut(f.name),
                    columns=each(f.columns),
                    ref_table=cut(f.ref_table),
                    ref_schema=cut(f.ref_schema),
                    ref_columns=each(f.ref_columns),
                )
                for f in t.foreign_keys
            ),
            indexes=tuple(
                replace(i, name=cut(i.name), columns=keys(i.columns), include=each(i.include))
                for i in t.indexes
            ),
        )
    )


def _names_too_long(t: Table) -> bool:
    named: list[str] = [t.name, t.schema]
    named += (c.name for c in t.columns)
    named += (u.name for u in t.uniques)
    named += (c.name for c in t.checks)
    named += (i.name for i in t.indexes)
    for f in t.foreign_keys:
        named += (f.name, f.ref_table, *f.ref_columns)
    if t.primary_key is not None:
        named.append(t.primary_key.name)
    # A name of fewer than 16 characters cannot reach 64 bytes.
    return any(len(n) >= NAMEDATALEN // 4 and len(n.encode()) >= NAMEDATALEN for n in named)
