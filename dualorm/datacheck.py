"""Cross-ORM data checks: rows that break what a model declares but the database does not enforce.

A model may promise more than the catalog holds: a NOT NULL the column lacks, a ``varchar(50)``
over a ``text`` column, Django ``choices`` or a non-native SQLAlchemy ``Enum``, a relation with
no database foreign key, a ``unique=True`` with no unique index. Rows written by the other ORM
or by raw SQL can break those promises, and the first ORM then fails on read or on save.

:func:`plan_checks` compares a model ``Schema`` with the catalog ``Schema`` (pure, no database)
and returns one :class:`DataCheck` per unenforced promise; :func:`check_data` runs them in a
few round trips (one statement per :data:`BATCH` checks) and returns a :class:`DataIssue` per
check that found rows. Only counts and at most ``samples`` primary-key values are read, never
whole rows. Every identifier is quoted with ``psycopg.sql`` and every value is a parameter.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from dualorm.errors import DualormError
from dualorm.pgtypes import parse_type
from dualorm.runner.tenancy import ledger_of
from dualorm.schema import DEFAULT_SCHEMA, Column, ForeignKey, Schema, Table

__all__ = ["BATCH", "DataCheck", "DataIssue", "DataKind", "check_data", "plan_checks"]

BATCH = 200
"""How many checks share one statement (and so one round trip)."""


class DataKind(enum.StrEnum):
    NULL_VIOLATION = "null_violation"
    LENGTH_VIOLATION = "length_violation"
    CHOICE_VIOLATION = "choice_violation"
    ORPHAN = "orphan"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class DataCheck:
    """One query to run: the rows of a table that break one model promise.

    ``rows`` selects a single text column ``k`` (the row's primary key) for each offending
    row; ``params`` are its parameters in order.
    """

    kind: DataKind
    object: str
    detail: str
    rows: sql.Composable
    params: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class DataIssue:
    """Rows that break a model promise: how many, and a few of their primary keys."""

    kind: DataKind
    object: str
    source: str
    target: str
    count: int
    samples: tuple[str, ...]
    detail: str
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "object": self.object,
            "source": self.source,
            "target": self.target,
            "severity": self.severity,
            "detail": self.detail,
            "count": self.count,
            "samples": list(self.samples),
        }


# -- planning (pure) ---------------------------------------------------------------------------


def _max_length(type_: str) -> int | None:
    parsed = parse_type(type_)
    if parsed.name != "character varying" or parsed.dimensions or len(parsed.args) != 1:
        return None
    return int(parsed.args[0]) if parsed.args[0].isdecimal() else None


def _db_allows_longer(db_type: str, limit: int) -> bool:
    if db_type == "text":
        return True
    parsed = parse_type(db_type)
    if parsed.name != "character varying" or parsed.dimensions or len(parsed.args) > 1:
        return False
    if not parsed.args:
        return True
    return parsed.args[0].isdecimal() and int(parsed.args[0]) > limit


def _ref(t: Table, home: str) -> sql.Composable:
    # The tables the models leave unqualified (keyed public) are in the target's own schema:
    # a tenant's schema on a tenant's connection.
    return sql.Identifier(home if t.schema == DEFAULT_SCHEMA else t.schema, t.name)


def _col(alias: str, name: str) -> sql.Composable:
    return sql.Identifier(alias, name)


def _key(t: Table, alias: str = "t") -> sql.Composable:
    """Return the text expression that names a row: its primary key, else its ctid."""
    if t.primary_key is None:
        return sql.SQL("{}::text").format(_col(alias, "ctid"))
    cols = [_col(alias, c) for c in t.primary_key.columns]
    if len(cols) == 1:
        return sql.SQL("{}::text").format(cols[0])
    return sql.SQL("ROW({})::text").format(sql.SQL(", ").join(cols))


def _not_null(alias: str, columns: Sequence[str]) -> sql.Composable:
    return sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(_col(alias, c)) for c in columns)


def _where(db: Table, condition: sql.Composable, home: str) -> sql.Composable:
    return sql.SQL("SELECT {} AS k FROM {} AS t WHERE {}").format(
        _key(db), _ref(db, home), condition
    )


def _column_checks(db: Table, c: Column, d: Column, home: str) -> Iterable[DataCheck]:
    obj = f"{db.qualified_name}.{c.name}"
    here = _col("t", c.name)
    if not c.nullable and d.nullable:
        yield DataCheck(
            DataKind.NULL_VIOLATION,
            obj,
            f"{obj} is NOT NULL in the model but nullable in the database; rows hold NULL",
            _where(db, sql.SQL("{} IS NULL").format(here), home),
        )
    limit = _max_length(c.type)
    if limit is not None and _db_allows_longer(d.type, limit):
        yield DataCheck(
            DataKind.LENGTH_VIOLATION,
            obj,
            f"{obj} is {c.type} in the model but {d.type} in the database; rows hold longer "
            f"values than {limit} characters",
            _where(db, sql.SQL("char_length({}::text) > %s").format(here), home),
            (limit,),
        )
    if c.choices is not None:
        yield DataCheck(
            DataKind.CHOICE_VIOLATION,
            obj,
            f"{obj} accepts only {', '.join(c.choices)} in the model; rows hold other values",
            _where(
                db,
                sql.SQL("{0} IS NOT NULL AND {0}::text <> ALL(%s::text[])").format(here),
                home,
            ),
            (list(c.choices),),
        )


def _enforced_fk(db: Table, f: ForeignKey) -> bool:
    return any(
        g.validated
        and g.columns == f.columns
        and g.ref_key == f.ref_key
        and g.ref_columns == f.ref_columns
        for g in db.foreign_keys
    )


def _orphan_check(db: Table, parent: Table, f: ForeignKey, home: str) -> DataCheck:
    obj = f"{db.qualified_name}.{f.name}"
    matches = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(_col("p", rc), _col("t", c))
        for c, rc in zip(f.columns, f.ref_columns, strict=True)
    )
    condition = sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} AS p WHERE {})").format(
        _not_null("t", f.columns), _ref(parent, home), matches
    )
    return DataCheck(
        DataKind.ORPHAN,
        obj,
        f"the model relates {db.qualified_name} ({', '.join(f.columns)}) to "
        f"{parent.qualified_name} ({', '.join(f.ref_columns)}) but the database enforces no "
        "foreign key; rows point at nothing",
        _where(db, condition, home),
    )


def _model_uniques(t: Table) -> Iterable[tuple[str, tuple[str, ...]]]:
    if t.primary_key is not None:
        yield t.primary_key.name, t.primary_key.columns
    for u in t.uniques:
        yield u.name, u.columns
    for i in t.indexes:
        if i.unique and i.where is None:
            yield i.name, i.columns


def _db_unique_sets(t: Table) -> set[frozenset[str]]:
    return {frozenset(columns) for _, columns in _model_uniques(t)}


def _duplicate_check(db: Table, name: str, columns: tuple[str, ...], home: str) -> DataCheck:
    obj = f"{db.qualified_name}.{name}"
    partition = sql.SQL(", ").join(_col("t", c) for c in columns)
    rows = sql.SQL(
        "SELECT k FROM (SELECT {} AS k, count(*) OVER (PARTITION BY {}) AS n "
        "FROM {} AS t WHERE {}) AS d WHERE n > 1"
    ).format(_key(db), partition, _ref(db, home), _not_null("t", columns))
    return DataCheck(
        DataKind.DUPLICATE,
        obj,
        f"the model declares ({', '.join(columns)}) unique on {db.qualified_name} but the "
        "database has no unique constraint or index there; rows share a value",
        rows,
    )


def _table_checks(model: Table, db: Table, catalog: Schema, home: str) -> Iterable[DataCheck]:
    db_columns = {c.name: c for c in db.columns}
    for c in model.columns:
        d = db_columns.get(c.name)
        if d is not None:
            yield from _column_checks(db, c, d, home)
    for f in model.foreign_keys:
        parent = catalog.get(f.ref_key)
        if (
            parent is not None
            and all(c in db_columns for c in f.columns)
            and all(parent.column(c) is not None for c in f.ref_columns)
            and not _enforced_fk(db, f)
        ):
            yield _orphan_check(db, parent, f, home)
    enforced = _db_unique_sets(db)
    seen: set[frozenset[str]] = set()
    for name, columns in _model_uniques(model):
        wanted = frozenset(columns)
        if wanted in enforced or wanted in seen or not wanted <= db_columns.keys():
            continue
        seen.add(wanted)
        yield _duplicate_check(db, name, columns, home)


def plan_checks(model: Schema, catalog: Schema, home: str = DEFAULT_SCHEMA) -> list[DataCheck]:
    """Return the data checks for every promise ``model`` makes that ``catalog`` does not enforce.

    Only tables and columns present on both sides are checked; a missing table or column is
    a schema difference, reported by :func:`dualorm.diff.compare` instead. The queries read
    the tables keyed ``public`` in ``home`` (a tenant's schema, see
    :mod:`dualorm.target_catalog`).
    """
    checks: list[DataCheck] = []
    for t in model:
        db = catalog.get(t.key)
        if db is not None:
            checks.extend(_table_checks(t, db, catalog, home))
    return checks


# -- running -----------------------------------------------------------------------------------


def _statement(batch: Sequence[DataCheck], samples: int) -> tuple[sql.Composed, list[Any]]:
    ctes = sql.SQL(", ").join(
        sql.SQL("{} AS MATERIALIZED ({})").format(sql.Identifier(f"c{n}"), check.rows)
        for n, check in enumerate(batch)
    )
    selects = sql.SQL(" UNION ALL ").join(
        sql.SQL(
            "SELECT {n}, (SELECT count(*) FROM {c}), ARRAY(SELECT k FROM {c} ORDER BY k LIMIT {s})"
        ).format(n=sql.Literal(n), c=sql.Identifier(f"c{n}"), s=sql.Literal(samples))
        for n in range(len(batch))
    )
    params = [p for check in batch for p in check.params]
    return sql.SQL("WITH {} {}").format(ctes, selects), params


def check_data(
    conn: psycopg.Connection[Any],
    model: Schema,
    catalog: Schema,
    *,
    source: str = "sqlalchemy",
    target: str = "database",
    samples: int = 5,
) -> list[DataIssue]:
    """Run the checks :func:`plan_checks` finds and return one issue per check with rows.

    Args:
        conn: a connection to the database ``catalog`` was read from.
        model: the schema a model set declares (SQLAlchemy or Django).
        catalog: the schema the database holds.
        source: the model side's name in each issue.
        target: the database side's name in each issue.
        samples: at most this many primary-key values per issue.
    """
    checks = plan_checks(model, catalog, ledger_of(conn).tenant or DEFAULT_SCHEMA)
    issues: list[DataIssue] = []
    try:
        with conn.transaction():
            for start in range(0, len(checks), BATCH):
                batch = checks[start : start + BATCH]
                query, params = _statement(batch, samples)
                for n, count, keys in conn.execute(query, params).fetchall():
                    if count:
                        check = batch[n]
                        issues.append(
                            DataIssue(
                                kind=check.kind,
                                object=check.object,
                                source=source,
                                target=target,
                                count=int(count),
                                samples=tuple(str(k) for k in keys),
                                detail=f"{check.detail} ({count} row{'s' if count != 1 else ''})",
                            )
                        )
    except psycopg.Error as exc:
        raise DualormError(f"data check failed: {str(exc).strip().splitlines()[0]}") from None
    return issues
