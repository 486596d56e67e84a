"""``migrate init --from-database``: the initial change spec of a database that exists already.

:func:`init_from_database` reads the live catalog (:mod:`dualorm.sources.postgres`), keeps the
tables dualorm is to manage (not the ledgers, not what the specs already create, not
``external`` ones, narrowed by ``--table``/``--exclude`` globs) and writes one spec whose
replay is that catalog, every name included, with the sequences behind its columns (how the
operations are laid out is :mod:`dualorm.spec.dump`'s). Expressions are
written as the server prints them, except where PostgreSQL prints an expression differently
once that text is used in DDL (an ``IN`` list over a ``varchar`` column): there the spelling
whose DDL prints the catalog's text is found with the server (:mod:`dualorm.normalize`). The
written text is loaded back through the spec loader and its replay compared with the catalog
before the file is created, so what lands on disk replays exactly. ``migrate baseline --to``
then records it applied.
"""

from __future__ import annotations

import fnmatch
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dualorm.config import Config
from dualorm.db import connect, resolve_url
from dualorm.diff import compare
from dualorm.errors import InternalError, SafetyError, SpecError, UsageError
from dualorm.normalize import normalize
from dualorm.ownership import Ownership, OwnershipMap
from dualorm.pgtypes import parse_type
from dualorm.schema import (
    CheckConstraint,
    Column,
    Index,
    Schema,
    Table,
    TableKey,
    is_column_key,
    schema,
)
from dualorm.sources.postgres import load
from dualorm.spec.builder_registry import enum_names
from dualorm.spec.dump import SpecSequence, render_spec, spec_operations
from dualorm.spec.files import next_id, spec_paths
from dualorm.spec.graph import MigrationGraph
from dualorm.spec.load import load_spec, load_specs
from dualorm.spec.reader import Reader
from dualorm.spec.replay import replay, start_schema

if TYPE_CHECKING:
    import psycopg

__all__ = ["InitResult", "init_from_database", "select_tables", "spelled_for_ddl"]

_ID = re.compile(r"^[A-Za-z0-9_]+$")
_NAME = "Adopt the existing database"


@dataclass(frozen=True)
class InitResult:
    """What ``migrate init --from-database`` wrote."""

    path: Path
    migration_id: str
    tables: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "id": self.migration_id,
            "tables": list(self.tables),
            "warnings": list(self.warnings),
        }


# The sequences behind the columns of the read tables: a serial's (its column default draws
# from it: pg_depend links the default to the sequence it names, and OWNED BY links the
# sequence to a column) and an identity's (deptype 'i').
_SEQUENCES = """
SELECT sn.nspname::text, sc.relname::text, format_type(s.seqtypid, NULL), s.seqstart,
    s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
    own_n.nspname::text, own_c.relname::text, own_a.attname::text, od.deptype = 'i',
    ARRAY(
        SELECT DISTINCT un.nspname::text || '.' || uc.relname::text
        FROM pg_depend ud
        JOIN pg_attrdef ad ON ud.classid = 'pg_attrdef'::regclass AND ud.objid = ad.oid
        JOIN pg_class uc ON uc.oid = ad.adrelid
        JOIN pg_namespace un ON un.oid = uc.relnamespace
        WHERE ud.refclassid = 'pg_class'::regclass AND ud.refobjid = sc.oid
    )
FROM pg_sequence s
JOIN pg_class sc ON sc.oid = s.seqrelid
JOIN pg_namespace sn ON sn.oid = sc.relnamespace
LEFT JOIN pg_depend od ON od.classid = 'pg_class'::regclass AND od.objid = sc.oid
    AND od.refclassid = 'pg_class'::regclass AND od.deptype IN ('a', 'i')
LEFT JOIN pg_class own_c ON own_c.oid = od.refobjid
LEFT JOIN pg_namespace own_n ON own_n.oid = own_c.relnamespace
LEFT JOIN pg_attribute own_a ON own_a.attrelid = od.refobjid AND own_a.attnum = od.refobjsubid
ORDER BY 1, 2
"""


def _sequences(conn: psycopg.Connection[Any], keys: set[TableKey]) -> list[SpecSequence]:
    """Return the sequences a column of the tables ``keys`` draws from or owns."""
    found = []
    for row in conn.execute(_SEQUENCES).fetchall():
        used = {_split_key(str(k)) for k in row[13]}
        owner = (str(row[9]), str(row[10]), str(row[11])) if row[10] is not None else None
        owned = owner is not None and owner[:2] in keys
        if not (owned or used & keys):
            continue
        found.append(
            SpecSequence(
                schema=str(row[0]),
                name=str(row[1]),
                type=str(row[2]),
                start=int(row[3]),
                increment=int(row[4]),
                minimum=int(row[5]),
                maximum=int(row[6]),
                cache=int(row[7]),
                cycle=bool(row[8]),
                owned_by=owner if owned else None,
                identity=bool(row[12]),
            )
        )
    return found


# What the catalog says about a table that the neutral Schema (and so a spec) does not
# carry. ``fault``: the replayed table would differ (partitioning, inheritance, persistence,
# exclusion constraints); otherwise the table is the same and what it lacks is
# behaviour (triggers, row security), named in a warning.
_UNSAID = """
SELECT n.nspname::text, c.relname::text, x.fault, x.what
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
    SELECT true, 'is partitioned' WHERE c.relkind = 'p'
    UNION ALL
    SELECT true, 'inherits from ' || p.relname::text
    FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = c.oid
    UNION ALL
    SELECT true, 'is unlogged' WHERE c.relpersistence = 'u'
    UNION ALL
    SELECT true, 'has exclusion constraint ' || k.conname::text
    FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'x'

    UNION ALL
    SELECT false, 'has trigger ' || g.tgname::text
    FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal
    UNION ALL
    SELECT false, 'has row level security' WHERE c.relrowsecurity
) AS x (fault, what)
WHERE c.relkind IN ('r', 'p')
ORDER BY 1, 2, 4
"""


def _unsaid(conn: psycopg.Connection[Any], chosen: Schema) -> tuple[list[str], tuple[str, ...]]:
    """Return the faults and the warnings about what ``chosen``'s catalog says beyond it."""
    faults: list[str] = []
    warnings: list[str] = []
    for schema_name, name, fault, what in conn.execute(_UNSAID).fetchall():
        found = chosen.get((str(schema_name), str(name)))
        if found is None:
            continue
        if fault:
            faults.append(f"table {found.qualified_name} {what}, which a change spec cannot create")
        else:
            warnings.append(
                f"table {found.qualified_name} {what}, which the spec does not hold; add it "
                "with run_sql in a later spec"
            )
    return faults, tuple(warnings)


def _split_key(text: str) -> TableKey:
    schema_name, _, name = text.partition(".")
    return (schema_name, name)


# -- which tables ------------------------------------------------------------------------------


def select_tables(
    catalog: Schema,
    config: Config,
    *,
    known: Schema,
    tables: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Schema:
    """Return the tables of ``catalog`` the initial spec creates.

    Left out: tables the specs already create (``known``), tables the ownership map marks
    ``external``, tables no ``tables`` glob matches (when any is given) and tables an
    ``exclude`` glob matches. Globs match the table name or ``schema.name``.
    """

    rules = OwnershipMap(config.ownership)

    def external(t: Table) -> bool:
        # The configured rule (exact name, else the longest glob) decides, as in validate.
        decided = rules.rule(t.key)
        return decided is not None and decided[1].owner is Ownership.EXTERNAL

    def matches(t: Table, globs: Iterable[str]) -> bool:
        return any(
            fnmatch.fnmatchcase(t.name, g) or fnmatch.fnmatchcase(f"{t.schema}.{t.name}", g)
            for g in globs
        )

    chosen = [
        t
        for t in catalog
        if t.key not in known
        and not external(t)
        and (not tables or matches(t, tables))
        and not matches(t, exclude)
    ]
    # The enum types the chosen tables use and the specs lack are created first.
    used = {parse_type(c.type).name for t in chosen for c in t.columns}
    enums = [e for e in catalog.enums if e.reference in used and known.enum(e.key) is None]
    return schema(chosen, enums)


def _inexpressible(chosen: Schema, known: Schema) -> list[str]:
    """Return what the spec format cannot say about ``chosen``, one sentence each."""

    reader = Reader(Path("catalog"))
    enums = enum_names(Schema(enums=chosen.enums + known.enums))
    mark = yaml.Mark("catalog", 0, 0, 0, "", 0)
    faults = []
    for t in chosen:
        for c in t.columns:
            try:
                reader.type(yaml.ScalarNode("tag:yaml.org,2002:str", c.type, mark, mark), "", enums)
            except SpecError:
                faults.append(
                    f"column {t.qualified_name}.{c.name} has type {c.type}, which a change "
                    "spec cannot create"
                )
        faults += [
            f"index {t.qualified_name}.{i.name} is invalid (a failed concurrent build); "
            "drop or rebuild it first"
            for i in t.indexes
            if not i.valid
        ]
        names = {c.name for c in t.columns}
        # A spec's index key is a plain column only when it looks like one; any other name
        # would be read as an expression.
        faults += [
            f"index {t.qualified_name}.{i.name} has key column {key!r}, which a spec can "
            "only write as an expression"
            for i in t.indexes
            for key in i.columns
            if key in names and not is_column_key(key)
        ]
        for fk in t.foreign_keys:
            if fk.ref_key not in chosen and fk.ref_key not in known:
                ref = fk.ref_qualified_name
                faults.append(
                    f"foreign key {t.qualified_name}.{fk.name} references {ref}, which is "
                    "not adopted"
                )
    return faults


# -- expressions the server re-prints ----------------------------------------------------------

_Slot = tuple[TableKey, str, str, int]
"""``(table, kind, object name, key position)``: where one SQL expression of a table lives."""


def _slots(t: Table) -> dict[_Slot, str]:
    found: dict[_Slot, str] = {}
    for c in t.columns:
        if c.default is not None:
            found[(t.key, "default", c.name, 0)] = c.default
        if c.generated is not None:
            found[(t.key, "generated", c.name, 0)] = c.generated
    for k in t.checks:
        found[(t.key, "check", k.name, 0)] = k.expression
    names = {c.name for c in t.columns}
    for i in t.indexes:
        if i.where is not None:
            found[(t.key, "where", i.name, 0)] = i.where
        for n, key in enumerate(i.columns):
            if key not in names:
                found[(t.key, "key", i.name, n)] = key
    return found


def _put(t: Table, slot: _Slot, text: str) -> Table:
    _, kind, name, n = slot

    def column(c: Column) -> Column:
        if c.name != name:
            return c
        return replace(c, default=text) if kind == "default" else replace(c, generated=text)

    def check(k: CheckConstraint) -> CheckConstraint:
        return replace(k, expression=text) if k.name == name else k

    def index(i: Index) -> Index:
        if i.name != name:
            return i
        if kind == "where":
            return replace(i, where=text)
        return replace(i, columns=(*i.columns[:n], text, *i.columns[n + 1 :]))

    if kind in ("default", "generated"):
        return replace(t, columns=tuple(column(c) for c in t.columns))
    if kind == "check":
        return replace(t, checks=tuple(check(k) for k in t.checks))
    return replace(t, indexes=tuple(index(i) for i in t.indexes))


def _rewritten(s: Schema, changes: dict[_Slot, str]) -> Schema:
    tables = []
    for t in s:
        for slot, text in changes.items():
            if slot[0] == t.key:
                t = _put(t, slot, text)
        tables.append(t)
    return schema(tables, s.enums)


def _in_lists(expression: str) -> str | None:
    """Return ``expression`` with ``(col)::text = ANY ((ARRAY[...])::text[])`` as an ``IN``
    list (``<> ALL`` as ``NOT IN``), which is the DDL PostgreSQL prints that way; ``None``
    when nothing changes."""
    from pglast import ast, enums, parse_sql
    from pglast.parser import ParseError
    from pglast.stream import RawStream
    from pglast.visitors import Visitor

    class InList(Visitor):
        changed = False

        def visit_A_Expr(self, ancestors: Any, node: Any) -> Any:
            operator = [getattr(n, "sval", None) for n in node.name]
            kind = enums.A_Expr_Kind
            if (node.kind, operator) not in (
                (kind.AEXPR_OP_ANY, ["="]),
                (kind.AEXPR_OP_ALL, ["<>"]),
            ):
                return None
            left, right = node.lexpr, node.rexpr
            if not (
                isinstance(left, ast.TypeCast)
                and isinstance(right, ast.TypeCast)
                and isinstance(right.arg, ast.A_ArrayExpr)
                and right.arg.elements
            ):
                return None
            self.changed = True
            return ast.A_Expr(
                kind=enums.A_Expr_Kind.AEXPR_IN,
                name=node.name,
                lexpr=left.arg,
                rexpr=right.arg.elements,
                location=node.location,
            )

    try:
        root = parse_sql(f"SELECT {expression}")
    except ParseError:
        return None
    visitor = InList()
    visitor(root)
    if not visitor.changed:
        return None
    statement: Any = root[0].stmt
    return str(RawStream()(statement.targetList[0].val))


def spelled_for_ddl(
    conn: psycopg.Connection[Any], wanted: Schema
) -> tuple[Schema, tuple[str, ...]]:
    """Return ``wanted`` with each expression spelled so that its DDL prints it back as is.

    Returns the schema the spec is to say, and a warning for each expression no spelling
    found reproduces (the spec keeps the catalog's text for it).
    """

    def printed(s: Schema) -> dict[_Slot, str]:
        return {slot: text for t in normalize(s, conn) for slot, text in _slots(t).items()}

    goal = {slot: text for t in wanted for slot, text in _slots(t).items()}
    off = [slot for slot, text in printed(wanted).items() if goal.get(slot) != text]
    if not off:
        return wanted, ()
    candidates = {slot: text for slot in off if (text := _in_lists(goal[slot])) is not None}
    trial = _rewritten(wanted, candidates)
    reprinted = printed(trial)
    kept = {slot: text for slot, text in candidates.items() if reprinted.get(slot) == goal[slot]}
    warnings = tuple(
        f"{_describe(slot)}: PostgreSQL prints {goal[slot]!r} differently once it is used in "
        "DDL; the spec keeps the catalog's text, so the replayed catalog will differ there"
        for slot in off
        if slot not in kept
    )
    return _rewritten(wanted, kept), warnings


def _describe(slot: _Slot) -> str:
    key, kind, name, n = slot
    where = key[1] if key[0] == "public" else ".".join(key)
    what = {
        "default": "the default of column",
        "generated": "the expression of generated column",
        "check": "check constraint",
        "where": "the predicate of index",
        "key": f"key {n + 1} of index",
    }[kind]
    return f"{what} {where}.{name}"


# -- the command ---------------------------------------------------------------------------------


def init_from_database(
    config: Config,
    *,
    spec_id: str | None = None,
    tables: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> InitResult:
    """Write the initial spec of the tables of the live database dualorm is to manage.

    Args:
        spec_id: the new spec's id; required when ``migrations_dir`` already holds specs
            (the new spec then creates only the tables they do not, after their heads).
        tables: globs of the tables to adopt (default: all).
        exclude: globs of tables to leave out.

    Raises:
        UsageError: the directory already holds specs and no ``spec_id`` names a new one, a
            bad id, no table to adopt, or a table the spec format cannot express.
        SafetyError: the spec file exists already (nothing is overwritten).
    """

    spec_id, path = _new_spec(config, spec_id)
    migrations = load_specs(config.migrations_path)
    # Tables other owners create (the foreign snapshot) are theirs: never adopted.
    known = replay(migrations, start_schema(config.migrations_path))
    heads = sorted(MigrationGraph({m.id: m.dependencies for m in migrations}).leaf_nodes())
    with connect(resolve_url(config), autocommit=True) as conn:
        chosen = select_tables(load(conn), config, known=known, tables=tables, exclude=exclude)
        if not chosen:
            raise UsageError("no table to adopt: the database holds none that the specs lack")
        faults, unsaid = _unsaid(conn, chosen)
        faults = _inexpressible(chosen, known) + faults
        if faults:
            raise UsageError(
                "cannot write these tables as a spec:\n  "
                + "\n  ".join(faults)
                + "\nleave them out with --exclude (or adopt what they reference)"
            )
        sequences = _sequences(conn, set(chosen.keys()))
        said, warnings = spelled_for_ddl(conn, chosen)
    text = render_spec(
        spec_id,
        _NAME,
        f"The {len(said)} table(s) of the existing database, exactly as its catalog defines "
        "them; recorded applied there by `dualorm migrate baseline`",
        spec_operations(said, sequences, known),
        heads,
        header=_HEADER.format(spec_id=spec_id),
    )
    _verify(text, spec_id, said, known)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise SafetyError(f"{path} exists already; it is not overwritten") from None
    return InitResult(path, spec_id, tuple(t.qualified_name for t in said), unsaid + warnings)


_HEADER = """\
Written by `dualorm migrate init --from-database` from the live catalog. Replaying
it on an empty database builds the same tables, names included; record it applied
on the database it came from with `dualorm migrate baseline --to {spec_id}`."""


def _new_spec(config: Config, spec_id: str | None) -> tuple[str, Path]:
    """Return the new spec's id and path, refusing a second first spec and any overwrite."""

    directory = config.migrations_path
    existing = spec_paths(directory)
    if existing and spec_id is None:
        raise UsageError(
            f"{directory} already holds {len(existing)} spec(s); `migrate init "
            "--from-database` writes the first one. To add a spec for the tables they do "
            "not create, name it with --id"
        )
    spec_id = spec_id or next_id(config.migrations_path, "initial")
    if not _ID.match(spec_id):
        raise UsageError(f"--id {spec_id!r}: use letters, digits and underscores only")
    path = directory / f"{spec_id}.yaml"
    taken = next((p for p in existing if p.stem == spec_id), None)
    if path.exists() or taken is not None:
        raise SafetyError(f"{taken or path} exists already; it is not overwritten")
    return spec_id, path


def _verify(text: str, spec_id: str, expected: Schema, known: Schema) -> None:
    """Load ``text`` back through the spec loader and check its replay is ``expected``."""

    with tempfile.TemporaryDirectory(prefix="dualorm-init-") as folder:
        written = Path(folder) / f"{spec_id}.yaml"
        written.write_text(text, encoding="utf-8")
        try:
            migration = load_spec(written, known)
        except SpecError as exc:
            raise InternalError(f"the spec written from the catalog does not load: {exc}") from exc
    replayed = replay([migration], known).restrict(expected.keys())
    wanted = {e.key for e in expected.enums}
    replayed = Schema(replayed.tables, tuple(e for e in replayed.enums if e.key in wanted))
    if replayed != expected:
        differences = compare(replayed, expected, source="spec", target="database")
        shown = "; ".join(d.detail for d in differences[:5]) or "a difference compare misses"
        raise InternalError(f"the spec written from the catalog replays differently: {shown}")
