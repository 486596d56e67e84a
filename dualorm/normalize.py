"""Server-side normalisation: rewrite a model's SQL expressions into what PostgreSQL prints.

A model says ``server_default="'active'"`` or ``CheckConstraint("status IN ('a', 'b')")``; the
catalog then shows ``'active'::character varying`` and ``((status)::text = ANY (...))``. Rather
than guessing the server's spelling with regular expressions, :func:`normalize` does what
Atlas's dev database does: inside a transaction that is always rolled back it creates
temporary tables carrying the model's expressions, reads them back through the catalog loader
(:mod:`dualorm.sources.postgres`) and copies the server's text into the model's ``Schema``.

All the DDL goes to the server in one statement batch: one wide temporary table holds every
distinct ``(type, default)`` pair as a column (in chunks of a hundred),
and a temporary copy of a table (columns with their generation expressions, checks, partial
and expression indexes; never foreign keys) is made only for tables that have checks, index
predicates, index expressions or generated columns.
Only when the server rejects the batch are the pieces replayed one by one to name each piece
it refuses (a :class:`Rejection`); :func:`normalize_all` then runs the batch again without
them and keeps those expressions as the model wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from dualorm.errors import DualormError, ExpressionRejected, InternalError
from dualorm.schema import (
    DEFAULT_SCHEMA,
    CheckConstraint,
    Column,
    Index,
    Schema,
    Table,
    TableKey,
)
from dualorm.sources.postgres import TEMP_SCHEMA
from dualorm.sources.postgres import load as load_catalog
from dualorm.spec.sqltext import quote_ident, quote_literal, quote_qualified

__all__ = ["Rejection", "normalize", "normalize_all"]

# Well below PostgreSQL's 1,600-column limit, and small on purpose: pg_get_expr builds a
# deparse context of the whole table for every default it prints, so reading one scratch
# table costs its width squared.
_DEFAULTS_PER_TABLE = 100
_PREFIX = "dualorm_"
# Each round names every piece the server refuses; a piece refused only once others are
# left out (none is known) would need another round.
_ROUNDS = 3

_DefaultKey = tuple[str, str]
"""``(type, default expression)`` as the model states them."""

_Piece = tuple[str, ...]
"""One part of the batch that can be left out: ``("type", type)``, ``("default", type,
default)``, ``("copy", schema, table)``, ``("generated" | "check" | "index", schema, table,
name)``."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """An expression (or a type) of a model that PostgreSQL refuses.

    Attributes:
        table: the key of the table it belongs to.
        member: the column, check or index it belongs to (``None``: the table itself).
        what: ``"type"``, ``"default"``, ``"generated column"``, ``"check"``, ``"index"``
            or ``"index predicate"``.
        expression: the text the server refused, as the model states it.
        reason: the server's message (and hint).
    """

    table: TableKey
    member: str | None
    what: str
    expression: str
    reason: str

    @property
    def table_object(self) -> str:
        """The table's qualified name, as a ``Difference`` of the table carries it."""
        schema_name, name = self.table
        return name if schema_name == DEFAULT_SCHEMA else f"{schema_name}.{name}"

    @property
    def object(self) -> str:
        """The qualified name a ``Difference`` of the same object carries."""
        if self.member is None:
            return self.table_object
        return f"{self.table_object}.{self.member}"

    @property
    def where(self) -> str:
        """What the refused text belongs to, in words: ``users.age default``,
        ``users check users_age_check``, ``users index users_email_idx predicate``."""
        if self.member is None or self.what in ("type", "default", "generated column"):
            return f"{self.object} {self.what}"
        label = "index" if self.what.startswith("index") else self.what
        suffix = " predicate" if self.what == "index predicate" else ""
        return f"{self.table_object} {label} {self.member}{suffix}"


@dataclass(frozen=True, slots=True)
class _Probe:
    """One piece of the batch on its own, replayed only to name what the server rejects."""

    sql: str
    piece: _Piece
    what: str
    expression: str
    objects: tuple[tuple[TableKey, str | None], ...]
    needs: tuple[_Piece, ...] = ()
    """Pieces whose refusal makes this probe moot (a default of a refused type)."""
    otherwise: str | None = None
    """Run when the probe fails, so later probes find what they build on."""


@dataclass(slots=True)
class _Plan:
    statements: list[str] = field(default_factory=list)
    probes: list[_Probe] = field(default_factory=list)
    defaults: dict[_DefaultKey, tuple[str, str]] = field(default_factory=dict)
    """``(type, default)`` -> (scratch table, scratch column)."""
    copies: dict[TableKey, str] = field(default_factory=dict)
    """Original table key -> name of its scratch copy."""
    checks: dict[str, str] = field(default_factory=dict)
    """Scratch check name -> original check name."""
    indexes: dict[str, str] = field(default_factory=dict)
    """Scratch index name -> original index name."""
    model: Schema = field(default_factory=Schema)
    """The schema planned for (its enum types are created in the scratch transaction)."""


def normalize(schema: Schema, conn: psycopg.Connection[Any]) -> Schema:
    """Return ``schema`` with its SQL expressions spelled exactly as the server prints them.

    Column defaults, check expressions, index predicates and index expressions are created on
    scratch temporary tables and read back through the catalog, so a model-side ``Schema``
    compares equal to the catalog of the same DDL. Expressions already in canonical form come
    back unchanged, with the server's one exception: an ``IN`` list over a ``varchar`` column
    prints as ``(ARRAY[...])::text[]``, which PostgreSQL itself re-prints differently when that
    text is used in DDL; normalising it returns what such DDL would show.
    Nothing is left behind: the work runs in a transaction (or a savepoint, when ``conn`` is
    already in one) that is always rolled back. The model's expressions are trusted code, as
    in the migrations emitted from them: they are sent as DDL text.

    Raises:
        ExpressionRejected: the server refuses an expression (or a column type); the message
            names the table, the column, check or index, and the expression.
    """
    result, rejections = normalize_all(schema, conn)
    if rejections:
        first = rejections[0]
        raise ExpressionRejected(first.where, first.expression, first.reason)
    return result


def normalize_all(
    schema: Schema, conn: psycopg.Connection[Any]
) -> tuple[Schema, tuple[Rejection, ...]]:
    """Normalise as :func:`normalize` does, keeping what the server refuses as written.

    Returns the schema (every expression the server accepts in its spelling, each refused
    one as the model states it) and a :class:`Rejection` for each refused piece, in the
    order the pieces were planned: types, defaults, then each table's generated columns,
    checks and indexes. A model whose table or sequence the database lacks is not an
    error here: comparing the result with the catalog says what differs.

    Raises:
        InternalError: the server refuses the batch but accepts every piece of it alone.
    """
    skip: set[_Piece] = set()
    rejections: list[Rejection] = []
    for _round in range(_ROUNDS):
        plan = _plan(schema, skip)
        if not plan.statements:
            return schema, tuple(rejections)
        batch = ";\n".join(plan.statements)
        try:
            with conn.transaction(force_rollback=True):
                _scratch_enums(conn, schema)
                # Model SQL is DDL text by nature: it cannot be passed as a parameter.
                conn.execute(batch)
                scratch = load_catalog(conn, schemas=(TEMP_SCHEMA,))
        except psycopg.Error as exc:
            refused = _refused(conn, plan)
            if not refused:
                raise InternalError(
                    f"normalising the model's SQL expressions failed: {_reason(exc)}"
                ) from None
            for piece, found in refused:
                skip.add(piece)
                rejections += found
            continue
        return _apply(schema, plan, scratch), tuple(rejections)
    raise InternalError("normalising the model's SQL expressions did not settle")


# -- the model's enum types ------------------------------------------------------------------

_CATALOG_ENUMS = """
SELECT n.nspname::text, t.typname::text,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid
             ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e'
    AND (n.nspname::text, t.typname::text) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""


def _scratch_enums(conn: psycopg.Connection[Any], schema: Schema) -> None:
    """Make the model's enum types exist, with the model's labels, inside the scratch
    transaction: a default such as ``'draft'::status`` or a column of that type is read by
    the server against the labels the model states, not the ones the database has now.

    A type the database lacks is created; one whose labels differ is renamed aside and
    created afresh (a label added by ``ALTER TYPE ... ADD VALUE`` cannot be used in the
    transaction that adds it). Everything is rolled back with the scratch work.
    """
    if not schema.enums:
        return
    keys = [e.key for e in schema.enums]
    rows = conn.execute(_CATALOG_ENUMS, ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
    existing = {(r[0], r[1]): tuple(r[2]) for r in rows}
    statements = []
    for number, e in enumerate(schema.enums):
        found = existing.get(e.key)
        if found == e.labels:
            continue
        target = _type_name(e.schema, e.name)
        if found is not None:
            aside = quote_ident(f"{_PREFIX}enum_{number}")
            statements.append(f"ALTER TYPE {target} RENAME TO {aside}")
        elif e.schema != DEFAULT_SCHEMA:
            statements.append(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(e.schema)}")
        labels = ", ".join(quote_literal(label) for label in e.labels)
        statements.append(f"CREATE TYPE {target} AS ENUM ({labels})")
    if statements:
        conn.execute(";\n".join(statements))


def _type_name(schema_name: str, name: str) -> str:
    return quote_qualified(schema_name, name)


# -- planning --------------------------------------------------------------------------------


def _plan(schema: Schema, skip: set[_Piece]) -> _Plan:
    plan = _Plan(model=schema)
    used: set[str] = set()
    copies = []
    for t in schema:
        if ("copy", *t.key) in skip or any(("type", c.type) in skip for c in t.columns):
            continue
        indexes = [
            i for i in t.indexes if _needs_server(i, t) and ("index", *t.key, i.name) not in skip
        ]
        checks = [c for c in t.checks if ("check", *t.key, c.name) not in skip]
        if checks or indexes or any(c.generated is not None for c in t.columns):
            # The copy keeps the table's own name when it can, so that a check naming its
            # table (``CHECK (users.age > 0)``) still resolves.
            copies.append((t, checks, indexes, _fresh(t.name, used)))
    pairs = _default_pairs(schema, skip)
    _probe_types(plan, pairs, copies)
    for start in range(0, len(pairs), _DEFAULTS_PER_TABLE):
        _plan_defaults(plan, pairs[start : start + _DEFAULTS_PER_TABLE], used)
    for t, checks, indexes, name in copies:
        _plan_copy(plan, t, checks, indexes, name, skip)
    return plan


_Users = tuple[tuple[TableKey, str | None], ...]


def _default_pairs(schema: Schema, skip: set[_Piece]) -> list[tuple[_DefaultKey, _Users]]:
    """Return each distinct ``(type, default)`` once, with every column that uses it."""
    seen: dict[_DefaultKey, list[tuple[TableKey, str | None]]] = {}
    for t in schema:
        for c in t.columns:
            # An identity column cannot carry a default: the server would refuse both.
            if c.default is not None and c.identity is None:
                key = (c.type, c.default)
                if ("default", *key) not in skip and ("type", c.type) not in skip:
                    seen.setdefault(key, []).append((t.key, c.name))
    return [(key, tuple(users)) for key, users in seen.items()]


def _needs_server(index: Index, t: Table) -> bool:
    if index.where is not None:
        return True
    names = {c.name for c in t.columns}
    return any(key not in names for key in index.columns)


def _probe(plan: _Plan, body: str, **facts: Any) -> None:
    """Queue a stand-alone scratch table ``body`` to replay when the batch fails."""
    name = quote_ident(f"{_PREFIX}probe_{len(plan.probes)}")
    plan.probes.append(_Probe(f"CREATE TEMP TABLE {name} ({body})", **facts))


def _probe_types(
    plan: _Plan,
    pairs: list[tuple[_DefaultKey, _Users]],
    copies: list[tuple[Table, list[CheckConstraint], list[Index], str]],
) -> None:
    # Types first: a bad type would otherwise be blamed on the first default or check using it.
    users: dict[str, list[tuple[TableKey, str | None]]] = {}
    for (type_, _default), columns in pairs:
        users.setdefault(type_, []).extend(columns)
    for t, _checks, _indexes, _name in copies:
        for c in t.columns:
            users.setdefault(c.type, []).append((t.key, c.name))
    for type_, typed in users.items():
        objects = tuple(dict.fromkeys(typed))
        _probe(
            plan,
            f"c {type_}",
            piece=("type", type_),
            what="type",
            expression=type_,
            objects=objects,
        )


def _plan_defaults(plan: _Plan, chunk: list[tuple[_DefaultKey, _Users]], used: set[str]) -> None:
    name = _fresh(f"{_PREFIX}defaults_{len(plan.statements)}", used)
    definitions = []
    for position, ((type_, default), columns) in enumerate(chunk):
        column = f"c{position}"
        plan.defaults[(type_, default)] = (name, column)
        # The newline ends any trailing ``--`` comment inside the model's expression.
        definitions.append(f"{quote_ident(column)} {type_} DEFAULT ({default}\n)")
        _probe(
            plan,
            f"c {type_} DEFAULT ({default}\n)",
            piece=("default", type_, default),
            what="default",
            expression=default,
            objects=columns,
            needs=(("type", type_),),
        )
    plan.statements.append(f"CREATE TEMP TABLE {quote_ident(name)} ({', '.join(definitions)})")


def _plan_copy(
    plan: _Plan,
    t: Table,
    checks: list[CheckConstraint],
    indexes: list[Index],
    name: str,
    skip: set[_Piece],
) -> None:
    plan.copies[t.key] = name
    target = f"pg_temp.{quote_ident(name)}"
    copy: _Piece = ("copy", *t.key)
    generated = {c.name for c in t.columns if ("generated", *t.key, c.name) not in skip}
    columns = [_copied_column(c, c.name in generated) for c in t.columns]
    plain = [_copied_column(c, False) for c in t.columns if c.generated is None]
    plan.probes.append(
        _Probe(
            f"CREATE TEMP TABLE {target} ({', '.join(plain)})",
            piece=copy,
            what="table",
            expression=", ".join(plain),
            objects=((t.key, None),),
            needs=tuple(("type", c.type) for c in t.columns),
        )
    )
    for c in t.columns:
        if c.generated is not None and c.name in generated:
            plan.probes.append(
                _Probe(
                    f"ALTER TABLE {target} ADD COLUMN {_copied_column(c, True)}",
                    piece=("generated", *t.key, c.name),
                    what="generated column",
                    expression=c.generated,
                    objects=((t.key, c.name),),
                    needs=(copy,),
                    otherwise=f"ALTER TABLE {target} ADD COLUMN {_copied_column(c, False)}",
                )
            )
    parts = list(columns)
    for check in checks:
        scratch = f"{_PREFIX}ck_{len(plan.checks)}"
        plan.checks[scratch] = check.name
        constraint = f"CONSTRAINT {quote_ident(scratch)} CHECK ({check.expression}\n)"
        parts.append(constraint)
        plan.probes.append(
            _Probe(
                f"ALTER TABLE {target} ADD {constraint}",
                piece=("check", *t.key, check.name),
                what="check",
                expression=check.expression,
                objects=((t.key, check.name),),
                needs=(copy,),
            )
        )
    plan.statements.append(f"CREATE TEMP TABLE {target} ({', '.join(parts)})")
    for index in indexes:
        _plan_index(plan, t, index, target)


def _plan_index(plan: _Plan, t: Table, index: Index, target: str) -> None:
    scratch = f"{_PREFIX}ix_{len(plan.indexes)}"
    plan.indexes[scratch] = index.name
    names = {c.name for c in t.columns}
    unique = "UNIQUE " if index.unique else ""
    keys = ", ".join(quote_ident(k) if k in names else f"({k}\n)" for k in index.columns)
    using = f"ON {target} USING {quote_ident(index.method)} ({keys})"
    where = f" WHERE ({index.where}\n)" if index.where is not None else ""
    plan.statements.append(f"CREATE {unique}INDEX {quote_ident(scratch)} {using}{where}")
    piece: _Piece = ("index", *t.key, index.name)
    objects = ((t.key, index.name),)
    # Keys and predicate apart, so that the finding names the part the server refuses.
    plan.probes.append(
        _Probe(
            f"CREATE {unique}INDEX {quote_ident(scratch + '_keys')} {using}",
            piece=piece,
            what="index",
            expression=", ".join(index.columns),
            objects=objects,
            needs=(("copy", *t.key),),
        )
    )
    if index.where is not None:
        plan.probes.append(
            _Probe(
                f"CREATE {unique}INDEX {quote_ident(scratch)} {using}{where}",
                piece=piece,
                what="index predicate",
                expression=index.where,
                objects=objects,
                needs=(("copy", *t.key), piece),
            )
        )


def _copied_column(c: Column, generated: bool) -> str:
    text = f"{quote_ident(c.name)} {c.type}"
    if generated and c.generated is not None:
        text += f" GENERATED ALWAYS AS ({c.generated}\n) STORED"
    return text


def _fresh(name: str, used: set[str]) -> str:
    candidate, number = name, 0
    while candidate in used:
        candidate = f"{_PREFIX}copy_{number}"
        number += 1
    used.add(candidate)
    return candidate


# -- reading the server's answer -------------------------------------------------------------


def _apply(schema: Schema, plan: _Plan, scratch: Schema) -> Schema:
    defaults = _scratch_defaults(plan, scratch)
    tables = []
    for t in schema:
        columns = _columns(t.columns, defaults)
        copy = scratch.get((TEMP_SCHEMA, plan.copies[t.key])) if t.key in plan.copies else None
        if copy is None and columns is t.columns:
            tables.append(t)
            continue
        checks, indexes = t.checks, t.indexes
        if copy is not None:
            checks = _checks(t.checks, copy, plan)
            indexes = _indexes(t.indexes, copy, plan)
            columns = _generated(columns, copy)
        tables.append(replace(t, columns=columns, checks=checks, indexes=indexes))
    return schema.with_tables(tables)


def _scratch_defaults(plan: _Plan, scratch: Schema) -> dict[_DefaultKey, str | None]:
    by_table: dict[str, dict[str, str | None]] = {}
    for name, _column in set(plan.defaults.values()):
        if name not in by_table:
            t = scratch.get((TEMP_SCHEMA, name))
            by_table[name] = {c.name: c.default for c in t.columns} if t is not None else {}
    # A default that is NULL is not stored at all, hence None.
    return {key: by_table[name].get(column) for key, (name, column) in plan.defaults.items()}


def _columns(
    columns: tuple[Column, ...], defaults: dict[_DefaultKey, str | None]
) -> tuple[Column, ...]:
    changed = False
    result = []
    for c in columns:
        if c.default is not None and c.identity is None:
            canonical = defaults.get((c.type, c.default), c.default)
            if canonical != c.default:
                c = replace(c, default=canonical)
                changed = True
        result.append(c)
    return tuple(result) if changed else columns


def _generated(columns: tuple[Column, ...], copy: Table) -> tuple[Column, ...]:
    server = {c.name: c.generated for c in copy.columns}
    return tuple(
        replace(c, generated=server.get(c.name, c.generated)) if c.generated is not None else c
        for c in columns
    )


def _checks(
    checks: tuple[CheckConstraint, ...], copy: Table, plan: _Plan
) -> tuple[CheckConstraint, ...]:
    server = {plan.checks[c.name]: c.expression for c in copy.checks if c.name in plan.checks}
    return tuple(replace(c, expression=server.get(c.name, c.expression)) for c in checks)


def _indexes(indexes: tuple[Index, ...], copy: Table, plan: _Plan) -> tuple[Index, ...]:
    server = {plan.indexes[i.name]: i for i in copy.indexes if i.name in plan.indexes}
    result = []
    for index in indexes:
        found = server.get(index.name)
        if found is not None:
            index = replace(index, columns=found.columns, where=found.where)
        result.append(index)
    return tuple(result)


# -- naming what the server rejected ---------------------------------------------------------


def _refused(conn: psycopg.Connection[Any], plan: _Plan) -> list[tuple[_Piece, list[Rejection]]]:
    """Replay the batch piece by piece (rolled back) and return every piece the server
    refuses, with a rejection for each object that piece stands for."""
    failed: set[_Piece] = set()
    found: list[tuple[_Piece, list[Rejection]]] = []
    with conn.transaction(force_rollback=True):
        try:
            with conn.transaction():
                _scratch_enums(conn, plan.model)
        except psycopg.Error as rejected:
            raise DualormError(
                f"creating the model's enum types for normalising failed: {_reason(rejected)}"
            ) from None
        for probe in plan.probes:
            if any(need in failed for need in probe.needs):
                continue
            try:
                with conn.transaction():
                    conn.execute(probe.sql)
            except psycopg.Error as rejected:
                failed.add(probe.piece)
                reason = _reason(rejected)
                found.append(
                    (
                        probe.piece,
                        [
                            Rejection(key, member, probe.what, probe.expression, reason)
                            for key, member in probe.objects
                        ],
                    )
                )
                if probe.otherwise is not None:
                    with conn.transaction():
                        conn.execute(probe.otherwise)
    return found


def _reason(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary or str(exc).strip().splitlines()[0]
    hint = exc.diag.message_hint
    return f"{primary} ({hint})" if hint else primary
