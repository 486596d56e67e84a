"""A :class:`~dualorm.schema.Schema` as SQLAlchemy 2.0 declarative models.

One class per table (``Mapped[]`` annotations and ``mapped_column``), every constraint and
index with its name written out unless it is the name PostgreSQL would give it anyway, a
many-to-one ``relationship()`` named after each single-column foreign key's column
(``user_id`` -> ``user``) to every table rendered with it. Reading the module back through
:mod:`dualorm.sources.sqlalchemy` gives the schema it was rendered from.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from dualorm.errors import UsageError
from dualorm.models_render.code import (
    LINE,
    Imports,
    Names,
    attribute,
    call,
    class_name,
    literal,
)
from dualorm.ownership import PARTIAL_INFO
from dualorm.pgnames import default_name
from dualorm.pgtypes import ColumnType, parse_type
from dualorm.schema import (
    Column,
    FkAction,
    ForeignKey,
    Identity,
    Index,
    Schema,
    Table,
    index_opclasses,
    index_orders,
)

__all__ = ["render_sqlalchemy"]

_SIMPLE = {
    "integer": ("Integer", "int"),
    "bigint": ("BigInteger", "int"),
    "smallint": ("SmallInteger", "int"),
    "boolean": ("Boolean", "bool"),
    "text": ("Text", "str"),
    "real": ("REAL", "float"),
    "double precision": ("Double", "float"),
    "uuid": ("Uuid", "uuid.UUID"),
    "json": ("JSON", "Any"),
    "date": ("Date", "datetime.date"),
    "bytea": ("LargeBinary", "bytes"),
    "timestamp with time zone": ("DateTime(timezone=True)", "datetime.datetime"),
    "timestamp without time zone": ("DateTime", "datetime.datetime"),
    "time without time zone": ("Time", "datetime.time"),
    "time with time zone": ("Time(timezone=True)", "datetime.time"),
    "character varying": ("String", "str"),
    "numeric": ("Numeric", "decimal.Decimal"),
}
_WITH_ZONE = frozenset(
    {
        "timestamp with time zone",
        "timestamp without time zone",
        "time with time zone",
        "time without time zone",
    }
)
_DIALECT = {
    "jsonb": "Any",
    "interval": "datetime.timedelta",
    "inet": "str",
    "cidr": "str",
    "macaddr": "str",
    "macaddr8": "str",
    "money": "str",
    "tsvector": "str",
    "int4range": "Any",
    "int8range": "Any",
    "numrange": "Any",
    "daterange": "Any",
    "tsrange": "Any",
    "tstzrange": "Any",
    "citext": "str",
}


def _type(
    spelling: str, imports: Imports, where: str, enums: dict[str, str] | None = None
) -> tuple[str, str]:
    """Return the SQLAlchemy type expression and the Python type of ``spelling``;
    ``enums`` maps an enum type's reference to the module constant declaring it."""
    if enums and spelling in enums:
        return enums[spelling], "str"
    parsed = parse_type(spelling)
    if parsed.dimensions:
        inner, python = _type(parsed.item.spelling, imports, where, enums)
        imports.add("sqlalchemy", "ARRAY")
        return f"ARRAY({inner})", f"list[{python}]"
    if spelling in _SIMPLE:
        expression, python = _SIMPLE[spelling]
        imports.add("sqlalchemy", expression.split("(")[0])
        return expression, python
    if spelling in _DIALECT:
        name = spelling.upper()
        imports.add("sqlalchemy.dialects.postgresql", name)
        return name, _DIALECT[spelling]
    if parsed.args and all(arg.isdigit() for arg in parsed.args):
        return _modified(parsed, imports)
    raise UsageError(f"column {where} has type {spelling}, which the renderer cannot write")


def _modified(parsed: ColumnType, imports: Imports) -> tuple[str, str]:
    base, args, numbers = parsed.name, ",".join(parsed.args), ", ".join(parsed.args)
    if base == "character varying":
        imports.add("sqlalchemy", "String")
        return f"String({numbers})", "str"
    if base == "character":
        imports.add("sqlalchemy", "CHAR")
        return f"CHAR({numbers})", "str"
    if base == "numeric":
        imports.add("sqlalchemy", "Numeric")
        return f"Numeric({numbers})", "decimal.Decimal"
    if base in _WITH_ZONE:
        kind = base.partition(" ")[0]
        zone = base.endswith(" with time zone")
        name = kind.upper()
        imports.add("sqlalchemy.dialects.postgresql", name)
        python = "datetime.datetime" if kind == "timestamp" else "datetime.time"
        return f"{name}(timezone={zone}, precision={args})", python
    if base in ("bit", "bit varying"):
        imports.add("sqlalchemy.dialects.postgresql", "BIT")
        varying = ", varying=True" if base == "bit varying" else ""
        return f"BIT({args}{varying})", "str"
    if base == "interval":
        imports.add("sqlalchemy.dialects.postgresql", "INTERVAL")
        return f"INTERVAL(precision={args})", "datetime.timedelta"
    raise UsageError(f"type {parsed.spelling} cannot be written by the renderer")


def _collated(type_: str, collation: str, where: str) -> str:
    """``type_`` with SQLAlchemy's ``collation=`` (its string types take one)."""
    option = f"collation={literal(collation)}"
    name, paren, rest = type_.partition("(")
    if name not in ("String", "Text", "CHAR", "VARCHAR", "CITEXT"):
        raise UsageError(
            f"column {where} has collation {collation} on {type_}, which the renderer cannot write"
        )
    if not paren:
        return f"{name}({option})"
    return f"{name}({rest[:-1]}, {option})" if rest != ")" else f"{name}({option})"


def _python_type(python: str, imports: Imports) -> str:
    for module in ("datetime", "decimal", "uuid"):
        if f"{module}." in python:
            imports.add(module)
    if "Any" in python:
        imports.add("typing", "Any")
    return python


def _serial_default(t: Table, c: Column) -> str:
    seq = default_name(t.name, [c.name], "seq")
    if t.schema != "public":
        seq = f"{t.schema}.{seq}"
    return f"nextval('{seq}'::regclass)"


def _action(action: FkAction) -> str | None:
    return None if action is FkAction.NO_ACTION else action.value


def _fk_options(fk: ForeignKey) -> list[str]:
    out = []
    if (action := _action(fk.on_delete)) is not None:
        out.append(f"ondelete={literal(action)}")
    if (action := _action(fk.on_update)) is not None:
        out.append(f"onupdate={literal(action)}")
    if fk.deferrable:
        out.append("deferrable=True")
    if fk.initially_deferred:
        out.append('initially="DEFERRED"')
    return out


def _ref(fk: ForeignKey, column: str) -> str:
    return f"{fk.ref_qualified_name}.{column}"


class _Table:
    """One table's class body, built member by member."""

    def __init__(
        self,
        t: Table,
        cls: str,
        imports: Imports,
        names: Names,
        enums: dict[str, str],
        plain: bool = False,
    ) -> None:
        # ``plain``: a ``Table(...)`` of ``Column(...)`` on the metadata, not a mapped class.
        self.t, self.cls, self.imports, self.enums, self.plain = t, cls, imports, enums, plain
        self.taken: set[str] = set()
        current = names.get(t.name, ("", {}))[1]
        self.attrs = {c.name: attribute(c.name, self.taken, current.get(c.name)) for c in t.columns}
        pk = t.primary_key
        order = tuple(c.name for c in t.columns if pk is not None and c.name in pk.columns)
        self.inline_pk = (
            pk is not None and pk.name == default_name(t.name, [], "pkey") and order == pk.columns
        )
        self.inline_unique = {
            u.columns[0]
            for u in t.uniques
            if len(u.columns) == 1
            and not u.deferrable
            and u.name == default_name(t.name, u.columns, "key")
        }
        self.inline_fk = {
            fk.columns[0]: fk
            for fk in t.foreign_keys
            if len(fk.columns) == 1
            and sum(1 for other in t.foreign_keys if other.columns == fk.columns) == 1
        }

    def column(self, c: Column) -> str:
        where = f"{self.t.qualified_name}.{c.name}"
        type_, python = _type(c.type, self.imports, where, self.enums)
        if c.collation is not None:
            type_ = _collated(type_, c.collation, where)
        args = [] if self.attrs[c.name] == c.name and not self.plain else [literal(c.name)]
        args.append(type_)
        fk = self.inline_fk.get(c.name)
        if fk is not None:
            self.imports.add("sqlalchemy", "ForeignKey")
            options = [literal(_ref(fk, fk.ref_columns[0]))]
            if fk.name != default_name(self.t.name, fk.columns, "fkey"):
                options.append(f"name={literal(fk.name)}")
            args.append(call("ForeignKey", options + _fk_options(fk)))
        if c.identity is not None:
            self.imports.add("sqlalchemy", "Identity")
            args.append("Identity(always=True)" if c.identity is Identity.ALWAYS else "Identity()")
        if c.generated is not None:
            self.imports.add("sqlalchemy", "Computed")
            args.append(f"Computed({literal(c.generated)}, persisted=True)")
        in_pk = self.inline_pk and self.t.primary_key is not None
        if in_pk and c.name in self.t.primary_key.columns:  # type: ignore[union-attr]
            args.append("primary_key=True")
            if c.type in ("integer", "bigint", "smallint") and c.identity is None:
                serial = c.default == _serial_default(self.t, c)
                if not serial:
                    args.append("autoincrement=False")
                if serial and self.t.primary_key.columns == (c.name,):  # type: ignore[union-attr]
                    c = Column(c.name, c.type, c.nullable, None, comment=c.comment)
        elif self.t.primary_key is not None and c.name in self.t.primary_key.columns:
            args.append("autoincrement=False") if c.type in ("integer", "bigint") else None
        if c.name in self.inline_unique:
            args.append("unique=True")
        nullable_implied = not (
            self.inline_pk
            and self.t.primary_key is not None
            and c.name in self.t.primary_key.columns
        )
        if c.nullable and not nullable_implied:
            args.append("nullable=True")
        elif self.plain and not c.nullable and nullable_implied:
            args.append("nullable=False")  # a Column is nullable unless told
        if c.default is not None:
            self.imports.add("sqlalchemy", "text")
            args.append(f"server_default=text({literal(c.default)})")
        if c.comment is not None:
            args.append(f"comment={literal(c.comment)}")
        if self.plain:
            self.imports.add("sqlalchemy", "Column")
            return call("Column", args)
        self.imports.add("sqlalchemy.orm", "Mapped", "mapped_column")
        python = _python_type(python, self.imports)
        hint = f"{python} | None" if c.nullable else python
        return call("mapped_column", args, 4, f"{self.attrs[c.name]}: Mapped[{hint}] = ")

    def table_args(self) -> list[str]:
        t, out = self.t, []
        pk = t.primary_key
        if pk is not None and not self.inline_pk:
            self.imports.add("sqlalchemy", "PrimaryKeyConstraint")
            out.append(
                call(
                    "PrimaryKeyConstraint", [*map(literal, pk.columns), f"name={literal(pk.name)}"]
                )
            )
        for u in t.uniques:
            if len(u.columns) == 1 and u.columns[0] in self.inline_unique:
                continue
            self.imports.add("sqlalchemy", "UniqueConstraint")
            extra = ["deferrable=True"] if u.deferrable else []
            out.append(
                call(
                    "UniqueConstraint",
                    [*map(literal, u.columns), f"name={literal(u.name)}", *extra],
                )
            )
        for k in t.checks:
            self.imports.add("sqlalchemy", "CheckConstraint")
            out.append(call("CheckConstraint", [literal(k.expression), f"name={literal(k.name)}"]))
        for fk in t.foreign_keys:
            if len(fk.columns) == 1 and self.inline_fk.get(fk.columns[0]) is fk:
                continue
            self.imports.add("sqlalchemy", "ForeignKeyConstraint")
            refs = [_ref(fk, c) for c in fk.ref_columns]
            out.append(
                call(
                    "ForeignKeyConstraint",
                    [
                        literal(list(fk.columns)),
                        literal(refs),
                        f"name={literal(fk.name)}",
                        *_fk_options(fk),
                    ],
                )
            )
        out += [self.index(i) for i in t.indexes]
        if self.options() and not self.plain:
            out.append(literal(self.options()))
        return out

    def options(self) -> dict[str, str]:
        """The table's keyword options: its schema outside ``public``, its comment."""
        options = {}
        if self.t.schema != "public":
            options["schema"] = self.t.schema
        if self.t.comment is not None:
            options["comment"] = self.t.comment
        return options

    def index(self, i: Index) -> str:
        names = {c.name for c in self.t.columns}
        keys = []
        for key, order in zip(i.columns, index_orders(i), strict=True):
            if key in names and not order:
                keys.append(literal(key))
                continue
            self.imports.add("sqlalchemy", "text")
            if key in names:
                self.imports.add("sqlalchemy", "column")
                element = f"column({literal(key)})"
            else:
                element = f"text({literal(key)})"
            for word in order.split():
                if word == "DESC":
                    self.imports.add("sqlalchemy", "desc")
                    element = f"desc({element})"
            if "NULLS FIRST" in order:
                self.imports.add("sqlalchemy", "nulls_first")
                element = f"nulls_first({element})"
            elif "NULLS LAST" in order:
                self.imports.add("sqlalchemy", "nulls_last")
                element = f"nulls_last({element})"
            keys.append(element)
        self.imports.add("sqlalchemy", "Index")
        args = [literal(i.name), *keys]
        if i.unique:
            args.append("unique=True")
        if i.method != "btree":
            args.append(f"postgresql_using={literal(i.method)}")
        if i.include:
            args.append(f"postgresql_include={literal(list(i.include))}")
        if i.where is not None:
            self.imports.add("sqlalchemy", "text")
            args.append(f"postgresql_where=text({literal(i.where)})")
        ops = {k: o for k, o in zip(i.columns, index_opclasses(i), strict=True) if o}
        if ops:
            if any(k not in names for k in ops):
                raise UsageError(
                    f"index {self.t.qualified_name}.{i.name}: SQLAlchemy cannot give an "
                    "expression key an operator class"
                )
            args.append(f"postgresql_ops={literal(ops)}")
        return call("Index", args)

    def relationships(self, classes: dict[tuple[str, str], str]) -> list[str]:
        out = []
        for column, fk in self.inline_fk.items():
            target = classes.get(fk.ref_key)
            if target is None:
                continue
            base = column[:-3] if column.endswith("_id") and len(column) > 3 else f"{column}_ref"
            name = attribute(base, self.taken)
            hint = f'"{target}"' if not self.t.column(column).nullable else f'"{target} | None"'  # type: ignore[union-attr]
            args = [f"foreign_keys=[{self.attrs[column]}]"]
            if fk.ref_key == self.t.key:
                args.append(f"remote_side=[{self.attrs[fk.ref_columns[0]]}]")
            self.imports.add("sqlalchemy.orm", "relationship")
            # Quoted: the class may be defined further down (the module evaluates annotations
            # as it runs, which SQLAlchemy reads several times faster than strings).
            out.append(call("relationship", args, 4, f"{name}: Mapped[{hint}] = "))
        return out


_DOC = '"""Tables of the change specs at head, as SQLAlchemy models."""'


def render_sqlalchemy(
    s: Schema,
    *,
    header: str,
    names: Names | None = None,
    foreign: Sequence[tuple[Table, str]] = (),
) -> str:
    """Return the module declaring every table of ``s``; ``header`` is its first comment,
    ``names`` the class and attribute names the current models use (kept).

    ``foreign`` are the tables other owners create that ``s`` references, each cut to the
    columns its foreign keys reference, with its owner as a sentence names it: each is a
    plain ``Table`` on the metadata, marked as mapped in part, so the keys resolve.
    """
    names = names or {}
    imports = Imports()
    imports.add("sqlalchemy.orm", "DeclarativeBase")
    taken: set[str] = {"Base"}
    enums, declared = _enums(s, imports, taken)
    declared += [_partial_table(t, owner, imports, enums, taken) for t, owner in foreign]
    tables = [(t, class_name(t.name, taken, names)) for t in s]
    classes = {t.key: cls for t, cls in tables}
    bodies = []
    for t, cls in tables:
        built = _Table(t, cls, imports, names, enums)
        lines = [f"class {cls}(Base):", f"    __tablename__ = {literal(t.name)}"]
        args = built.table_args()
        if args:
            inner = "".join(f"        {a.replace(chr(10), chr(10) + '        ')},\n" for a in args)
            lines.append(f"    __table_args__ = (\n{inner}    )")
        lines.append("")
        lines += [built.column(c) for c in t.columns]
        relations = built.relationships(classes)
        if relations:
            lines.append("")
            lines += relations
        bodies.append("\n".join(lines))
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    base = "class Base(DeclarativeBase):\n    pass" + "".join(f"\n\n\n{d}" for d in declared)
    return f"{comment}{_DOC}\n\n{imports.render()}\n\n\n{base}\n\n\n" + "\n\n\n".join(bodies) + "\n"


def _partial_table(
    t: Table, owner: str, imports: Imports, enums: dict[str, str], taken: set[str]
) -> str:
    """``t``, a table ``owner`` creates, as a plain ``Table`` of the columns it is given, on
    the metadata (``create_all`` and ``sorted_tables`` see the keys' target), commented."""
    built = _Table(t, "", imports, {}, enums, plain=True)
    args = [literal(t.name), "Base.metadata"]
    args += [built.column(c) for c in t.columns] + built.table_args()
    args += [f"{k}={literal(v)}" for k, v in built.options().items()]
    args.append(f"info={literal({PARTIAL_INFO: True})}")
    imports.add("sqlalchemy", "Table")
    comment = textwrap.fill(
        f"{t.qualified_name} is created by {owner}, not by these models: declared with only "
        "the columns the foreign keys here reference, so that they resolve (a partial map, "
        "compared on these columns alone).",
        LINE,
        initial_indent="# ",
        subsequent_indent="# ",
        break_on_hyphens=False,
    )
    return comment + "\n" + call("Table", args, 0, f"{attribute(t.name, taken)} = ")


def _enums(s: Schema, imports: Imports, taken: set[str]) -> tuple[dict[str, str], list[str]]:
    """The module constants declaring ``s``'s enum types on the metadata (each created once,
    used by its columns), keyed by the reference a column's type gives."""
    constants: dict[str, str] = {}
    declared = []
    for e in s.enums:
        imports.add("sqlalchemy", "Enum")
        base = re.sub(r"\W+", "_", e.name).strip("_").upper() or "ENUM"
        name = base if base[0].isalpha() else f"ENUM_{base}"
        while name in taken:
            name += "_"
        taken.add(name)
        args = [literal(label) for label in e.labels] + [f"name={literal(e.name)}"]
        if e.schema != "public":
            args.append(f"schema={literal(e.schema)}")
        args.append("metadata=Base.metadata")
        declared.append(call("Enum", args, 0, f"{name} = "))
        constants[e.reference] = name
    return constants, declared
