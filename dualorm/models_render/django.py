"""A :class:`~dualorm.schema.Schema` as Django models.

One model per table with ``db_table``, every unique, check and index in ``Meta`` with its
name, ``db_default`` for server defaults, foreign keys named after their column
(``user_id`` -> ``user``) with ``db_index=False`` (the indexes are explicit) and no reverse
accessor. SQL a model cannot spell with lookups (checks, predicates, expression keys,
defaults) is written as ``RawSQL``, which Django sends to the server as it is.

What Django cannot say is refused (:class:`~dualorm.errors.UsageError` naming the object):
a table without a primary key or outside ``public``, a primary key not named
``<table>_pkey``, an ``ALWAYS`` identity, a type without a Django field. What Django says
differently is left as Django says it and reported by ``validate`` as a warning: it names
foreign keys itself, declares them ``DEFERRABLE INITIALLY DEFERRED`` and applies
``on_delete`` in Python.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dualorm.errors import UsageError
from dualorm.models_render.code import Imports, Names, attribute, call, class_name, literal
from dualorm.pgnames import default_name
from dualorm.pgtypes import parse_type
from dualorm.schema import (
    Column,
    EnumType,
    FkAction,
    Identity,
    Index,
    Schema,
    Table,
    TableKey,
    index_opclasses,
    index_orders,
)

__all__ = ["render_django"]

_FIELDS = {
    "integer": "IntegerField",
    "bigint": "BigIntegerField",
    "smallint": "SmallIntegerField",
    "boolean": "BooleanField",
    "text": "TextField",
    "uuid": "UUIDField",
    "jsonb": "JSONField",
    "date": "DateField",
    "timestamp with time zone": "DateTimeField",
    "time without time zone": "TimeField",
    "double precision": "FloatField",
    "bytea": "BinaryField",
    "interval": "DurationField",
    "inet": "GenericIPAddressField",
    "character varying": "CharField",
}
_AUTO = {"integer": "AutoField", "bigint": "BigAutoField", "smallint": "SmallAutoField"}
_ACTIONS = {
    FkAction.CASCADE: "CASCADE",
    FkAction.SET_NULL: "SET_NULL",
    FkAction.SET_DEFAULT: "SET_DEFAULT",
    FkAction.RESTRICT: "RESTRICT",
    FkAction.NO_ACTION: "DO_NOTHING",
}
_METHODS = {
    "gin": "GinIndex",
    "gist": "GistIndex",
    "brin": "BrinIndex",
    "hash": "HashIndex",
    "spgist": "SpGistIndex",
}


def _field(
    c: Column, where: str, imports: Imports, enums: dict[str, str] | None = None
) -> tuple[str, list[str]]:
    """Return the field class (``models.X``, an imported name or one of the module's enum
    fields, ``enums`` mapping a type's reference to it) and its type arguments."""
    if enums and c.type in enums:
        return enums[c.type], []
    parsed = parse_type(c.type)
    if parsed.dimensions:
        inner, args = _field(Column(c.name, parsed.item.spelling), where, imports, enums)
        imports.add("django.contrib.postgres.fields", "ArrayField")
        return "ArrayField", [call(inner, args)]
    if c.type in _FIELDS:
        return f"models.{_FIELDS[c.type]}", []
    if parsed.args and all(arg.isdigit() for arg in parsed.args):
        base, numbers = parsed.name, parsed.args
        if base == "character varying":
            return "models.CharField", [f"max_length={numbers[0]}"]
        if base == "numeric" and len(numbers) == 2:
            return "models.DecimalField", [
                f"max_digits={numbers[0]}",
                f"decimal_places={numbers[1]}",
            ]
    raise UsageError(f"column {where} has type {c.type}, which no Django field creates")


def _raw(sql: str, imports: Imports, boolean: bool = False) -> str:
    imports.add("django.db.models.expressions", "RawSQL")
    if boolean:
        return f"RawSQL({literal(sql)}, (), output_field=models.BooleanField())"
    return f"RawSQL({literal(sql)}, ())"


def _default(c: Column, imports: Imports) -> str:
    text = c.default or ""
    if text in ("true", "false"):
        return "True" if text == "true" else "False"
    if re.fullmatch(r"-?\d+", text):
        return text
    return _raw(text, imports)


class _Model:
    """One table's model body, built member by member."""

    def __init__(
        self,
        t: Table,
        cls: str,
        s: Schema,
        classes: dict[tuple[str, str], str],
        imports: Imports,
        current: dict[str, str],
        foreign: Mapping[TableKey, tuple[str, Table]],
    ) -> None:
        self.t, self.cls, self.schema, self.classes, self.imports = t, cls, s, classes, imports
        self.foreign = foreign
        self.schema_enums = enum_fields(s)
        if t.schema != "public":
            raise UsageError(f"table {t.qualified_name}: Django models live in schema public")
        pk = t.primary_key
        if pk is None:
            raise UsageError(f"table {t.name} has no primary key, which a Django model needs")
        if pk.name != default_name(t.name, [], "pkey"):
            raise UsageError(
                f"table {t.name}: Django names its primary key {default_name(t.name, [], 'pkey')}"
                f", not {pk.name}"
            )
        self.taken: set[str] = {"pk"} if len(pk.columns) > 1 else set()
        self.fks = {
            fk.columns[0]: fk
            for fk in t.foreign_keys
            if len(fk.columns) == 1 and (fk.ref_key in classes or fk.ref_key in foreign)
        }
        self.names: dict[str, str] = {}
        for c in t.columns:
            base = c.name[:-3] if c.name in self.fks and c.name.endswith("_id") else c.name
            self.names[c.name] = attribute(base, self.taken, current.get(c.name))
        for fk in t.foreign_keys:
            if fk.columns[0] not in self.fks or len(fk.columns) > 1:
                raise UsageError(
                    f"foreign key {t.name}.{fk.name}: a Django model can only declare a "
                    "single-column foreign key to a table rendered with it or a model "
                    "of an installed app"
                )

    def field(self, c: Column) -> str:
        where = f"{self.t.name}.{c.name}"
        name = self.names[c.name]
        pk = self.t.primary_key
        assert pk is not None
        fk = self.fks.get(c.name)
        args: list[str] = []
        if fk is not None:
            target, ref = self.target(fk.ref_key)
            kind = "models.ForeignKey"
            action = fk.emulated_on_delete or fk.on_delete
            args = [target, f"on_delete=models.{_ACTIONS[action]}"]
            target_pk = ref.primary_key if ref is not None else None
            if target_pk is None or target_pk.columns != fk.ref_columns:
                args.append(f"to_field={literal(fk.ref_columns[0])}")
            if name + "_id" != c.name:
                args.append(f"db_column={literal(c.name)}")
            args += ["db_index=False", 'related_name="+"']
        elif c.identity is not None:
            if c.identity is Identity.ALWAYS or c.type not in _AUTO or pk.columns != (c.name,):
                raise UsageError(
                    f"column {where}: Django creates identity columns only as its "
                    "GENERATED BY DEFAULT primary key (AutoField)"
                )
            kind = f"models.{_AUTO[c.type]}"
        else:
            kind, args = _field(c, where, self.imports, self.schema_enums)
            if name != c.name:
                args.append(f"db_column={literal(c.name)}")
        if pk.columns == (c.name,):
            args.append("primary_key=True")
        if c.nullable:
            args += ["null=True", "blank=True"]
        if c.generated is not None:
            args = [
                f"expression={_raw(c.generated, self.imports)}",
                f"output_field={call(kind, args)}",
                "db_persist=True",
            ]
            kind = "models.GeneratedField"
        if c.default is not None:
            args.append(f"db_default={_default(c, self.imports)}")
        if c.collation is not None:
            args.append(f"db_collation={literal(c.collation)}")
        if c.comment is not None:
            args.append(f"db_comment={literal(c.comment)}")
        return call(kind, args, 4, f"{name} = ")

    def target(self, key: TableKey) -> tuple[str, Table | None]:
        """The ``to`` of a foreign key to table ``key``, as Python, and that table: a model
        of this module, or the installed model that creates a foreign table."""
        if key in self.foreign:
            to, table = self.foreign[key]
            if to.startswith("settings."):
                self.imports.add("django.conf", "settings")
            return to, table
        return literal(self.classes[key]), self.schema.get(key)

    def meta(self, app_label: str | None) -> list[str]:
        t = self.t
        lines = ["    class Meta:", f"        db_table = {literal(t.name)}"]
        if app_label:
            lines.append(f"        app_label = {literal(app_label)}")
        if t.comment is not None:
            lines.append(f"        db_table_comment = {literal(t.comment)}")
        constraints = [self.unique(u.name, u.columns, u.deferrable) for u in t.uniques]
        constraints += [
            call(
                "models.CheckConstraint",
                [f"condition={_raw(k.expression, self.imports, True)}", f"name={literal(k.name)}"],
            )
            for k in t.checks
        ]
        indexes: list[str] = []
        for i in t.indexes:
            (constraints if i.unique else indexes).append(self.index(i))
        for label, items in (("constraints", constraints), ("indexes", indexes)):
            if items:
                body = "".join(
                    f"            {item.replace(chr(10), chr(10) + '            ')},\n"
                    for item in items
                )
                lines.append(f"        {label} = [\n{body}        ]")
        return lines

    def unique(self, name: str, columns: tuple[str, ...], deferrable: bool) -> str:
        args = [f"fields={literal([self.names[c] for c in columns])}", f"name={literal(name)}"]
        if deferrable:
            args.append("deferrable=models.Deferrable.IMMEDIATE")
        return call("models.UniqueConstraint", args)

    def index(self, i: Index) -> str:
        columns = {c.name for c in self.t.columns}
        plain = all(k in columns for k in i.columns) and all(
            o in ("", "DESC") for o in index_orders(i)
        )
        args: list[str] = []
        if plain and not (i.unique and any(index_opclasses(i))):
            if i.unique:
                args.append(f"fields={literal([self.names[k] for k in i.columns])}")
            else:
                fields = [
                    ("-" if order == "DESC" else "") + self.names[k]
                    for k, order in zip(i.columns, index_orders(i), strict=True)
                ]
                args.append(f"fields={literal(fields)}")
            if i.opclasses:
                args.append(f"opclasses={literal(list(index_opclasses(i)))}")
            if i.unique and any(index_orders(i)):
                raise UsageError(f"index {self.t.name}.{i.name}: a unique index with ordered keys")
        else:
            args += [
                self.key(k, o, c, columns)
                for k, o, c in zip(i.columns, index_orders(i), index_opclasses(i), strict=True)
            ]
        args.append(f"name={literal(i.name)}")
        if i.include:
            args.append(f"include={literal([self.names.get(c, c) for c in i.include])}")
        if i.where is not None:
            self.imports.add("django.db.models", "Q")
            args.append(f"condition=Q({_raw(i.where, self.imports, True)})")
        if i.unique:
            if i.method != "btree":
                raise UsageError(f"index {self.t.name}.{i.name}: a unique {i.method} index")
            if not (i.where or i.include or i.opclasses) and plain:
                # Without one of these Django would create a constraint, not an index.
                args = [self.key(k, "", "", columns) for k in i.columns] + args[1:]
            return call("models.UniqueConstraint", args)
        if i.method != "btree":
            if i.method not in _METHODS:
                raise UsageError(f"index {self.t.name}.{i.name}: no Django index uses {i.method}")
            self.imports.add("django.contrib.postgres.indexes", _METHODS[i.method])
            return call(_METHODS[i.method], args)
        return call("models.Index", args)

    def key(self, key: str, order: str, opclass: str, columns: set[str]) -> str:
        if key in columns:
            self.imports.add("django.db.models", "F")
            element = f"F({literal(self.names[key])})"
        else:
            element = _raw(key, self.imports)
        if opclass:
            self.imports.add("django.contrib.postgres.indexes", "OpClass")
            element = f"OpClass({element}, name={literal(opclass)})"
        if order:
            options = []
            if "NULLS FIRST" in order:
                options.append("nulls_first=True")
            elif "NULLS LAST" in order:
                options.append("nulls_last=True")
            method = "desc" if order.startswith("DESC") else "asc"
            element = f"{element}.{method}({', '.join(options)})"
        return element


def _enum_classes(s: Schema) -> dict[EnumType, str]:
    """A field class per enum type a column of ``s`` uses (Django has no enum field)."""
    used = {parse_type(c.type).name for t in s for c in t.columns}
    out: dict[EnumType, str] = {}
    for e in s.enums:
        if e.reference in used:
            base = "".join(p.capitalize() for p in re.split(r"\W+|_", e.name) if p) or "Enum"
            out[e] = f"{base if base[0].isalpha() else 'Enum' + base}Field"
    return out


def enum_fields(s: Schema) -> dict[str, str]:
    """The enum field class of each enum type reference a column of ``s`` uses."""
    return {e.reference: cls for e, cls in _enum_classes(s).items()}


def _enum_field(e: EnumType, cls: str) -> str:
    return (
        f"class {cls}(models.TextField):\n"
        f'    """A column of PostgreSQL\'s enum type {e.reference} (the specs create the type;\n'
        f'    Django declares no enum types)."""\n\n'
        f"    def db_type(self, connection: Any) -> str:\n"
        f"        return {literal(e.reference)}"
    )


def render_django(
    s: Schema,
    *,
    header: str,
    app_label: str | None = None,
    names: Names | None = None,
    foreign: Mapping[TableKey, tuple[str, Table]] | None = None,
) -> str:
    """Return the models module of every table of ``s``; ``header`` is its first comment,
    ``names`` the model and field names the current models use (kept), ``foreign`` the
    ``to`` (as Python: ``settings.AUTH_USER_MODEL``, ``"contenttypes.ContentType"``) and
    the shape of each table other owners create that ``s`` references."""
    names = names or {}
    foreign = foreign or {}
    imports = Imports()
    imports.add("__future__", "annotations")
    imports.add("django.db", "models")
    taken: set[str] = set()
    tables = [(t, class_name(t.name, taken, names)) for t in s]
    classes = {t.key: cls for t, cls in tables}
    enum_classes = _enum_classes(s)
    if enum_classes:
        imports.add("typing", "Any")
    bodies = [_enum_field(e, cls) for e, cls in enum_classes.items()]
    for t, cls in tables:
        model = _Model(t, cls, s, classes, imports, names.get(t.name, ("", {}))[1], foreign)
        lines = [f"class {cls}(models.Model):"]
        pk = t.primary_key
        assert pk is not None
        if len(pk.columns) > 1:
            fields = [literal(model.names[c]) for c in pk.columns]
            lines.append(call("models.CompositePrimaryKey", fields, 4, "pk = "))
        lines += [model.field(c) for c in t.columns]
        lines += ["", *model.meta(app_label)]
        bodies.append("\n".join(lines))
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    doc = '"""Tables of the change specs at head, as Django models."""'
    return f"{comment}{doc}\n\n{imports.render()}\n\n\n" + "\n\n\n".join(bodies) + "\n"
