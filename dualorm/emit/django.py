"""Django migrations from change specs: the shared SQL for the database, native state for Django.

Each spec operation becomes one ``SeparateDatabaseAndState``: its ``database_operations`` are a
``RunSQL`` of exactly the statements :mod:`dualorm.emit.sql` renders (forwards and, when the
operation is reversible, backwards), and its ``state_operations`` are Django's own
``CreateModel``/``AddField``/``AddIndex``/``AddConstraint``... so that Django's model state
follows the schema. An operation that changes no model state (``validate_constraint``,
``run_sql``) is a bare ``RunSQL``; ``run_python`` is a :class:`RunFunction`.

The state operations come from one registry, :data:`state_renderer`: one function per
operation class returning ``(dotted path, args, kwargs)`` triples, which are instantiated and
written out by Django's own ``MigrationWriter``. Fields, indexes and constraints are taken from
the app's models (``models``: table name -> model class) where the model agrees with the
schema at that point of the history, so that the state after the last spec equals the models
and ``makemigrations --check`` stays clean; anything the models do not describe follows a
plain convention (model ``UserPreference`` for table ``user_preference``, field named as its
column, SQL expressions as ``RawSQL``).

A ``run_python`` function is called as ``function(connection)`` with the migration's psycopg
connection, the same argument ``dualorm migrate up`` and the Alembic revision give it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import migrations, models
from django.db.migrations.serializer import BaseSerializer
from django.db.migrations.writer import MigrationWriter

from dualorm.emit import sql as sql_emit
from dualorm.emit.pyformat import header, string_literal
from dualorm.emit.registry import Registry, Rendered
from dualorm.errors import IrreversibleError
from dualorm.importpath import resolve_function
from dualorm.schema import (
    DEFAULT_SCHEMA,
    CheckConstraint,
    Column,
    FkAction,
    ForeignKey,
    Index,
    Schema,
    Table,
    UniqueConstraint,
    as_key,
    index_opclasses,
    index_orders,
)
from dualorm.spec.model import Migration
from dualorm.spec.ops import (
    AddCheck,
    AddColumn,
    AddEnumValue,
    AddForeignKey,
    AddPrimaryKey,
    AddUnique,
    AlterColumn,
    AlterForeignKey,
    CreateEnum,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropConstraint,
    DropEnum,
    DropEnumValue,
    DropIndex,
    DropTable,
    Operation,
    RenameColumn,
    RenameEnumValue,
    RenameTable,
    RunPython,
    RunSQL,
    SetComment,
    ValidateConstraint,
)

__all__ = [
    "DjangoTarget",
    "Layout",
    "RunFunction",
    "model_hints",
    "render",
    "render_migration",
    "state_operations",
    "state_renderer",
]

Triple = tuple[str, tuple[Any, ...], dict[str, Any]]
"""``(dotted path, args, kwargs)``: how an object is rebuilt, as ``deconstruct()`` returns it."""


@dataclass(frozen=True)
class DjangoTarget:
    """Where the migrations go and what the app's models say.

    ``models`` maps a table name to the model class that owns it (see :func:`model_hints`);
    empty means "no models", and every field follows the convention. ``foreign`` maps the
    table name of another app's model to ``(model label, swappable setting or None)``
    (``{"auth_user": ("auth.User", "AUTH_USER_MODEL")}``): an FK to it points at that model,
    and the migration depends on that app. ``models`` may hold the models of several apps
    (one spec may create tables in several), ``owners`` says which app each table is in.
    """

    app_label: str = "django_app"
    models: Mapping[str, type[models.Model]] = field(default_factory=dict)
    foreign: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    owners: Mapping[str, str] = field(default_factory=dict)
    """The app of each table the specs create, where it is not ``app_label``."""


def model_hints(app_label: str) -> dict[str, type[models.Model]]:
    """Return ``{db_table: model}`` for the concrete, managed models of an installed app."""
    from django.apps import apps

    found: dict[str, type[models.Model]] = {}
    for model in apps.get_app_config(app_label).get_models():
        meta = model._meta
        if meta.managed and not meta.proxy and not meta.abstract:
            found[meta.db_table] = model
    return found


# -- run_python -------------------------------------------------------------------------------


class RunFunction(migrations.RunPython):
    """Call ``"module:function"`` with the migration's psycopg connection (and its reverse)."""

    def __init__(self, function: str, reverse_function: str | None = None) -> None:
        self.function = function
        self.reverse_function = reverse_function
        super().__init__(self._forwards, self._backwards if reverse_function else None)

    def _forwards(self, apps: Any, schema_editor: Any) -> None:
        resolve_function(self.function)(schema_editor.connection.connection)

    def _backwards(self, apps: Any, schema_editor: Any) -> None:
        assert self.reverse_function is not None
        resolve_function(self.reverse_function)(schema_editor.connection.connection)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"function": self.function}
        if self.reverse_function is not None:
            kwargs["reverse_function"] = self.reverse_function
        return self.__class__.__name__, [], kwargs

    def describe(self) -> str:
        return f"Run python {self.function}"


# -- SQL as it reads in a migration -----------------------------------------------------------


class _Statements:
    """A list of SQL statements that serialises one literal per line of SQL."""

    def __init__(self, statements: Iterable[str]) -> None:
        self.statements = list(statements)


class _StatementsSerializer(BaseSerializer):
    def serialize(self) -> tuple[str, set[str]]:
        value: _Statements = self.value
        if not value.statements:
            return "[]", set()
        items = [string_literal(s, 4) + "," for s in value.statements]
        return "[\n" + "\n".join("    " + item for item in items) + "\n]", set()


MigrationWriter.register_serializer(_Statements, _StatementsSerializer)


# -- building objects from triples ------------------------------------------------------------


def build(triple: Triple) -> Any:
    """Instantiate a ``(dotted path, args, kwargs)`` triple."""
    path, args, kwargs = triple
    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)(*args, **kwargs)


def _model_name(target: DjangoTarget, table: str) -> str:
    model = target.models.get(table)
    if model is not None:
        return model.__name__
    return "".join(part[:1].upper() + part[1:] for part in table.split("_") if part)


def _label(target: DjangoTarget, table: str) -> str:
    other = target.foreign.get(table)
    if other is not None:
        # Django's ForeignKey.deconstruct writes settings.AUTH_USER_MODEL for a swappable one.
        return other[0]
    app = target.owners.get(table, target.app_label)
    return f"{app}.{_model_name(target, table).lower()}"


def _hint_field(target: DjangoTarget, table: str, column: str) -> Any:
    model = target.models.get(table)
    if model is None:
        return None
    for f in model._meta.local_fields:
        if getattr(f, "column", None) == column:
            return f
    return None


def _field_name(target: DjangoTarget, t: Table, column: str) -> str:
    """The state's name of ``column`` of ``t``: the model's field name; else, as Django names a
    single-column FK whose column is ``<name>_id``, ``<name>``; else the column's own name."""
    hint = _hint_field(target, t.name, column)
    if hint is not None:
        return str(hint.name)
    fk = _single_fk(t, column)
    name = column[: -len("_id")]
    if (
        fk is not None
        and fk.ref_schema == DEFAULT_SCHEMA
        and column.endswith("_id")
        and name.isidentifier()
        and t.column(name) is None
        and target.models.get(t.name) is None
    ):
        return name
    return column


_ON_DELETE = {
    FkAction.CASCADE: models.CASCADE,
    FkAction.SET_NULL: models.SET_NULL,
    FkAction.SET_DEFAULT: models.SET_DEFAULT,
    FkAction.RESTRICT: models.RESTRICT,
    FkAction.NO_ACTION: models.DO_NOTHING,
}

_FIELD_TYPES = {
    "text": "django.db.models.TextField",
    "integer": "django.db.models.IntegerField",
    "bigint": "django.db.models.BigIntegerField",
    "smallint": "django.db.models.SmallIntegerField",
    "boolean": "django.db.models.BooleanField",
    "uuid": "django.db.models.UUIDField",
    "jsonb": "django.db.models.JSONField",
    "date": "django.db.models.DateField",
    "bytea": "django.db.models.BinaryField",
    "double precision": "django.db.models.FloatField",
    "real": "django.db.models.FloatField",
    "inet": "django.db.models.GenericIPAddressField",
    "interval": "django.db.models.DurationField",
    "timestamp with time zone": "django.db.models.DateTimeField",
    "time without time zone": "django.db.models.TimeField",
}
_IDENTITY_TYPES = {
    "integer": "django.db.models.AutoField",
    "bigint": "django.db.models.BigAutoField",
    "smallint": "django.db.models.SmallAutoField",
}


_COLLATABLE = frozenset({"django.db.models.CharField", "django.db.models.TextField"})
"""The fields that take ``db_collation``; any other collated column keeps a plain state."""


def _type_triple(canonical: str, kwargs: dict[str, Any]) -> Triple:
    if canonical.endswith("[]"):
        item = build(_type_triple(canonical[:-2], {}))
        return "django.contrib.postgres.fields.ArrayField", (), {"base_field": item, **kwargs}
    if canonical in _FIELD_TYPES:
        return _FIELD_TYPES[canonical], (), kwargs
    base, _, rest = canonical.partition("(")
    numbers = [n.strip() for n in rest.rstrip(")").split(",")] if rest else []
    if base == "character varying":
        if numbers:
            kwargs = {"max_length": int(numbers[0]), **kwargs}
        return "django.db.models.CharField", (), kwargs
    if base == "numeric" and len(numbers) == 2:
        digits = {"max_digits": int(numbers[0]), "decimal_places": int(numbers[1])}
        return "django.db.models.DecimalField", (), {**digits, **kwargs}
    # No Django field creates this type; the state keeps a plain Field (the database side
    # is the shared SQL, so nothing is lost there).
    return "django.db.models.Field", (), kwargs


def _db_default(column: Column, output: str) -> Any:
    text = column.default
    assert text is not None
    if text in ("true", "false"):
        return text == "true"
    if text.lstrip("-").isdigit():
        return int(text)
    if text.endswith("()") and text[:-2].isidentifier():
        output_field = build((output, (), {})) if output != "django.db.models.Field" else None
        return models.Func(function=text[:-2], output_field=output_field)
    return models.expressions.RawSQL(text, ())


def _single_fk(t: Table, column: str) -> ForeignKey | None:
    return next((fk for fk in t.foreign_keys if fk.columns == (column,)), None)


def _conventional_field(target: DjangoTarget, t: Table, column: Column) -> Any:
    pk = t.primary_key
    kwargs: dict[str, Any] = {}
    if pk is not None and pk.columns == (column.name,):
        kwargs["primary_key"] = True
    elif column.nullable:
        kwargs.update(null=True, blank=True)
    if column.comment is not None:
        kwargs["db_comment"] = column.comment
    fk = _single_fk(t, column.name)
    if fk is not None and fk.ref_schema == DEFAULT_SCHEMA:
        fk_kwargs: dict[str, Any] = {
            "to": _label(target, fk.ref_table),
            "on_delete": _ON_DELETE[fk.on_delete],
            "db_index": False,
            "related_name": "+",
        }
        if _field_name(target, t, column.name) + "_id" != column.name:
            # Django names an FK's column ``<field>_id``; any other name is a db_column.
            fk_kwargs["db_column"] = column.name
        if column.default is not None:
            fk_kwargs["db_default"] = models.expressions.RawSQL(column.default, ())
        return build(("django.db.models.ForeignKey", (), {**fk_kwargs, **kwargs}))
    if column.identity is not None and "primary_key" in kwargs and column.type in _IDENTITY_TYPES:
        return build((_IDENTITY_TYPES[column.type], (), kwargs))
    if column.generated is not None:
        # Django writes GENERATED ALWAYS AS (...) STORED where NULL / NOT NULL would go.
        output = build(_type_triple(column.type, {}))
        generated: dict[str, Any] = {
            "expression": models.expressions.RawSQL(column.generated, ()),
            "output_field": output,
            "db_persist": True,
        }
        if column.comment is not None:
            generated["db_comment"] = column.comment
        return build(("django.db.models.GeneratedField", (), generated))
    path, args, type_kwargs = _type_triple(column.type, kwargs)
    if column.collation is not None and path in _COLLATABLE:
        type_kwargs["db_collation"] = column.collation
    if column.default is not None:
        type_kwargs["db_default"] = _db_default(column, path)
    return build((path, args, type_kwargs))


def _db_type(f: Any) -> str | None:
    from django.db import connection

    from dualorm.schema import canonical_type

    spelled = f.db_type(connection)
    return None if spelled is None else canonical_type(spelled)


def _agrees(hint: Any, conventional: Any, column: Column) -> bool:
    """Whether the model's field says what the schema says about the column's database side."""
    if _db_type(hint) != column.type:
        return False
    if bool(hint.primary_key) != bool(conventional.primary_key):
        return False
    if not hint.primary_key and bool(hint.null) != column.nullable:
        return False
    if hint.has_db_default() != (column.default is not None):
        return False
    if getattr(hint, "db_collation", None) != column.collation:
        return False
    if (hint.db_comment or None) != column.comment:
        return False
    if bool(getattr(hint, "generated", False)) != (column.generated is not None):
        return False
    if column.generated is not None and _generation_sql(hint) != _bare(column.generated):
        return False
    if bool(hint.is_relation) != bool(conventional.is_relation):
        return False
    if hint.is_relation:
        return bool(
            hint.related_model._meta.label_lower == str(conventional.remote_field.model).lower()
        )
    return True


def _generation_sql(field: Any) -> str:
    from django.db import connection

    sql, params = field.generated_sql(connection)
    editor = connection.schema_editor(collect_sql=True, atomic=False)
    return _bare(sql % tuple(editor.quote_value(p) for p in params) if params else sql)


def _bare(sql: str) -> str:
    from dualorm.sources.django import _expression

    return _expression(sql)


def field_for(target: DjangoTarget, t: Table, column: Column) -> tuple[str, Any]:
    """Return ``(field name, field)`` for ``column`` of ``t`` as the state should hold it."""
    conventional = _conventional_field(target, t, column)
    hint = _hint_field(target, t.name, column.name)
    if hint is not None and _agrees(hint, conventional, column):
        return str(hint.name), hint.clone()
    return _field_name(target, t, column.name), conventional


def _composite_pk(target: DjangoTarget, t: Table) -> tuple[str, Any] | None:
    pk = t.primary_key
    if pk is None or len(pk.columns) < 2:
        return None
    model = target.models.get(t.name)
    if model is not None:
        hint = model._meta.pk
        if isinstance(hint, models.CompositePrimaryKey):
            columns = tuple(
                getattr(model._meta.get_field(n), "column", None) for n in hint.field_names
            )
            if columns == pk.columns:
                return "pk", hint.clone()
    return "pk", models.CompositePrimaryKey(*(_field_name(target, t, c) for c in pk.columns))


def _fields(target: DjangoTarget, t: Table) -> list[tuple[str, Any]]:
    composite = _composite_pk(target, t)
    fields = [] if composite is None else [composite]
    return fields + [field_for(target, t, c) for c in t.columns]


def _expression(sql: str) -> Any:
    return models.expressions.RawSQL(sql, (), output_field=models.BooleanField())


def _hint_option(target: DjangoTarget, table: str, kind: str, name: str) -> Any:
    model = target.models.get(table)
    if model is None:
        return None
    return next((item for item in getattr(model._meta, kind) if item.name == name), None)


def _is_column(element: str) -> bool:
    return bool(element) and all(ch.isalnum() or ch in "_$" for ch in element)


def _index(target: DjangoTarget, t: Table, index: Index) -> Any:
    hint = _hint_option(target, t.name, "indexes", index.name)
    if hint is None and index.unique:
        hint = _hint_option(target, t.name, "constraints", index.name)
    orders = index_orders(index)
    names = [
        ("-" if order == "DESC" else "") + _field_name(target, t, c)
        for c, order in zip(index.columns, orders, strict=True)
        if _is_column(c)
    ]
    include = [_field_name(target, t, c) for c in index.include]
    opclasses = index_opclasses(index)
    if (
        hint is not None
        and list(getattr(hint, "fields", ()) or ()) == names
        and list(getattr(hint, "include", ()) or ()) == include
        and tuple(getattr(hint, "opclasses", ()) or ()) == index.opclasses
    ):
        return hint.clone()
    kwargs: dict[str, Any] = {"name": index.name}
    if index.where is not None:
        kwargs["condition"] = models.Q(_expression(index.where))
    if include:
        kwargs["include"] = include
    args: tuple[Any, ...] = ()
    # "-field" says DESC; NULLS FIRST/LAST, any ordering in a unique constraint, and operator
    # classes on some keys only (Django's opclasses name one per field) need expressions.
    if (
        all(_is_column(c) for c in index.columns)
        and all(order in ("", "DESC") and not (order and index.unique) for order in orders)
        and (not index.opclasses or all(opclasses))
    ):
        kwargs["fields"] = names
        if index.opclasses:
            kwargs["opclasses"] = list(index.opclasses)
    else:
        args = tuple(
            _ordered(_with_opclass(_key_expression(target, t, c), opclass), order)
            for c, opclass, order in zip(index.columns, opclasses, orders, strict=True)
        )
    if index.unique:
        return build(("django.db.models.UniqueConstraint", args, kwargs))
    path = {
        "gin": "django.contrib.postgres.indexes.GinIndex",
        "gist": "django.contrib.postgres.indexes.GistIndex",
        "brin": "django.contrib.postgres.indexes.BrinIndex",
        "hash": "django.contrib.postgres.indexes.HashIndex",
        "spgist": "django.contrib.postgres.indexes.SpGistIndex",
    }.get(index.method, "django.db.models.Index")
    return build((path, args, kwargs))


def _key_expression(target: DjangoTarget, t: Table, key: str) -> Any:
    if _is_column(key):
        return models.F(_field_name(target, t, key))
    return models.expressions.RawSQL(key, ())


def _with_opclass(expression: Any, opclass: str) -> Any:
    """``expression`` with an operator class (``django.contrib.postgres``'s ``OpClass``)."""
    if not opclass:
        return expression
    from django.contrib.postgres.indexes import OpClass

    return OpClass(expression, name=opclass)


def _ordered(expression: Any, order: str) -> Any:
    """``expression`` with an index key's ordering (``DESC``, ``NULLS FIRST|LAST``)."""
    if not order:
        return expression
    return models.OrderBy(
        expression,
        descending=order.startswith("DESC"),
        nulls_first=True if order.endswith("NULLS FIRST") else None,
        nulls_last=True if order.endswith("NULLS LAST") else None,
    )


def _constraint(target: DjangoTarget, t: Table, c: UniqueConstraint | CheckConstraint) -> Any:
    hint = _hint_option(target, t.name, "constraints", c.name)
    if isinstance(c, UniqueConstraint):
        names = [_field_name(target, t, col) for col in c.columns]
        if hint is not None and list(getattr(hint, "fields", ())) == names:
            return hint.clone()
        kwargs: dict[str, Any] = {"fields": names, "name": c.name}
        if c.deferrable:
            kwargs["deferrable"] = models.Deferrable.IMMEDIATE
        return build(("django.db.models.UniqueConstraint", (), kwargs))
    if isinstance(hint, models.CheckConstraint):
        return hint.clone()
    return build(
        (
            "django.db.models.CheckConstraint",
            (),
            {"condition": _expression(c.expression), "name": c.name},
        )
    )


# -- state operations: one function per operation ---------------------------------------------


@dataclass(frozen=True)
class StateContext:
    """What a state renderer sees: the target and the schema before and after the operation."""

    target: DjangoTarget
    before: Schema
    after: Schema

    def table(self, name: str, *, after: bool = True) -> Table:
        found = (self.after if after else self.before).get(name)
        assert found is not None, name
        return found


state_renderer: Registry[list[Triple]] = Registry("django")
"""Operation class -> function returning the Django state operations as triples."""

_M = "django.db.migrations."


def _model(ctx: StateContext, table: str) -> str:
    return _model_name(ctx.target, as_key(table)[1])


def _create_model(ctx: StateContext, t: Table) -> list[Triple]:
    options: dict[str, Any] = {}
    hint = ctx.target.models.get(t.name)
    default = f"{ctx.target.app_label}_{_model_name(ctx.target, t.name).lower()}"
    if t.name != default or (hint is not None and "db_table" in hint._meta.original_attrs):
        # Django's state holds db_table only where the model sets it.
        options["db_table"] = t.name
    indexes = [_index(ctx.target, t, i) for i in t.indexes if not i.unique]
    constraints = [_constraint(ctx.target, t, u) for u in t.uniques]
    constraints += [_index(ctx.target, t, i) for i in t.indexes if i.unique]
    constraints += [_constraint(ctx.target, t, c) for c in t.checks]
    if t.comment is not None:
        options["db_table_comment"] = t.comment
    if indexes:
        options["indexes"] = indexes
    if constraints:
        options["constraints"] = constraints
    return [
        (
            _M + "CreateModel",
            (),
            {"name": _model(ctx, t.name), "fields": _fields(ctx.target, t), "options": options},
        )
    ]


@state_renderer.register(CreateTable)
def _create_table(op: CreateTable, ctx: StateContext) -> list[Triple]:
    return _create_model(ctx, ctx.table(op.table.qualified_name))


@state_renderer.register(DropTable)
def _drop_table(op: DropTable, ctx: StateContext) -> list[Triple]:
    return [(_M + "DeleteModel", (), {"name": _model(ctx, op.table.name)})]


@state_renderer.register(RenameTable)
def _rename_table(op: RenameTable, ctx: StateContext) -> list[Triple]:
    old, new = _model(ctx, op.table), _model(ctx, op.new_name)
    out: list[Triple] = []
    if old != new:
        out.append((_M + "RenameModel", (), {"old_name": old, "new_name": new}))
    out.append((_M + "AlterModelTable", (), {"name": new, "table": op.new_name}))
    return out


def _alter_field(ctx: StateContext, table: str, column: str) -> Triple:
    t = ctx.table(table)
    found = t.column(column)
    assert found is not None
    name, f = field_for(ctx.target, t, found)
    return (
        _M + "AlterField",
        (),
        {"model_name": _model(ctx, table).lower(), "name": name, "field": f},
    )


@state_renderer.register(AddColumn)
def _add_column(op: AddColumn, ctx: StateContext) -> list[Triple]:
    name, f = field_for(ctx.target, ctx.table(op.table), op.column)
    model = _model(ctx, op.table).lower()
    return [(_M + "AddField", (), {"model_name": model, "name": name, "field": f})]


@state_renderer.register(DropColumn)
def _drop_column(op: DropColumn, ctx: StateContext) -> list[Triple]:
    name = _field_name(ctx.target, ctx.table(op.table, after=False), op.column.name)
    model = _model(ctx, op.table).lower()
    return [(_M + "RemoveField", (), {"model_name": model, "name": name})]


@state_renderer.register(AlterColumn)
def _alter_column(op: AlterColumn, ctx: StateContext) -> list[Triple]:
    return [_alter_field(ctx, op.table, op.from_.name)]


@state_renderer.register(RenameColumn)
def _rename_column(op: RenameColumn, ctx: StateContext) -> list[Triple]:
    old = _field_name(ctx.target, ctx.table(op.table, after=False), op.old_name)
    new = field_for(ctx.target, ctx.table(op.table), ctx.table(op.table).column(op.new_name))  # type: ignore[arg-type]
    model = _model(ctx, op.table).lower()
    out: list[Triple] = []
    if old != new[0]:
        out.append(
            (_M + "RenameField", (), {"model_name": model, "old_name": old, "new_name": new[0]})
        )
    out.append(_alter_field(ctx, op.table, op.new_name))
    return out


@state_renderer.register(CreateIndex)
def _create_index(op: CreateIndex, ctx: StateContext) -> list[Triple]:
    item = _index(ctx.target, ctx.table(op.table), op.index)
    model = _model(ctx, op.table).lower()
    if op.index.unique:
        return [(_M + "AddConstraint", (), {"model_name": model, "constraint": item})]
    return [(_M + "AddIndex", (), {"model_name": model, "index": item})]


@state_renderer.register(DropIndex)
def _drop_index(op: DropIndex, ctx: StateContext) -> list[Triple]:
    model = _model(ctx, op.table).lower()
    if op.index.unique:
        return [(_M + "RemoveConstraint", (), {"model_name": model, "name": op.index.name})]
    return [(_M + "RemoveIndex", (), {"model_name": model, "name": op.index.name})]


def _columns_changed(ctx: StateContext, table: str, columns: Sequence[str]) -> list[Triple]:
    """AlterField for each column, after a RenameField where its state name changes (a column
    ``<name>_id`` is the field ``<name>`` while an FK makes it one)."""
    out: list[Triple] = []
    model = _model(ctx, table).lower()
    old_table, new_table = ctx.table(table, after=False), ctx.table(table)
    for c in columns:
        old, new = _field_name(ctx.target, old_table, c), _field_name(ctx.target, new_table, c)
        if old != new:
            names = {"model_name": model, "old_name": old, "new_name": new}
            out.append((_M + "RenameField", (), names))
        out.append(_alter_field(ctx, table, c))
    return out


@state_renderer.register(AddPrimaryKey)
def _add_primary_key(op: AddPrimaryKey, ctx: StateContext) -> list[Triple]:
    t = ctx.table(op.table)
    composite = _composite_pk(ctx.target, t)
    if composite is None:
        return _columns_changed(ctx, op.table, op.constraint.columns)
    model = _model(ctx, op.table).lower()
    return [(_M + "AddField", (), {"model_name": model, "name": "pk", "field": composite[1]})]


@state_renderer.register(AddForeignKey)
def _add_foreign_key(op: AddForeignKey, ctx: StateContext) -> list[Triple]:
    # Django has no multi-column foreign key field: the state keeps the plain columns.
    if len(op.constraint.columns) != 1:
        return []
    return _columns_changed(ctx, op.table, op.constraint.columns)


@state_renderer.register(AddUnique, AddCheck)
def _add_constraint(op: AddUnique | AddCheck, ctx: StateContext) -> list[Triple]:
    item = _constraint(ctx.target, ctx.table(op.table), op.constraint)
    model = _model(ctx, op.table).lower()
    return [(_M + "AddConstraint", (), {"model_name": model, "constraint": item})]


@state_renderer.register(DropConstraint)
def _drop_constraint(op: DropConstraint, ctx: StateContext) -> list[Triple]:
    c = op.constraint
    model = _model(ctx, op.table).lower()
    if isinstance(c, UniqueConstraint | CheckConstraint):
        return [(_M + "RemoveConstraint", (), {"model_name": model, "name": c.name})]
    if isinstance(c, ForeignKey):
        return [] if len(c.columns) != 1 else _columns_changed(ctx, op.table, c.columns)
    if len(c.columns) > 1:
        return [(_M + "RemoveField", (), {"model_name": model, "name": "pk"})]
    return _columns_changed(ctx, op.table, c.columns)


@state_renderer.register(SetComment)
def _set_comment(op: SetComment, ctx: StateContext) -> list[Triple]:
    if op.column is not None:
        return [_alter_field(ctx, op.table, op.column)]
    comment = {"name": _model(ctx, op.table), "table_comment": op.to}
    return [(_M + "AlterModelTableComment", (), comment)]


@state_renderer.register(
    ValidateConstraint,
    AlterForeignKey,
    RunSQL,
    RunPython,
    CreateEnum,
    DropEnum,
    AddEnumValue,
    DropEnumValue,
    RenameEnumValue,
)
def _no_state(op: Operation, ctx: StateContext) -> list[Triple]:
    # Django's state has no enum types (a field of one is a plain Field of that type): the
    # database side is the shared SQL alone.
    return []


def state_operations(op: Operation, ctx: StateContext) -> list[Any]:
    """Return the Django state operations for ``op`` (instantiated from their triples)."""
    return [build(triple) for triple in state_renderer(op, ctx)]


# -- migrations -------------------------------------------------------------------------------


def _database_operation(op: Operation) -> Any:
    forwards = _Statements(sql_emit.statements(op))
    try:
        backwards: _Statements | None = _Statements(sql_emit.statements(op.reverse()))
    except IrreversibleError:
        backwards = None
    kwargs: dict[str, Any] = {"sql": forwards}
    if backwards is not None:
        kwargs["reverse_sql"] = backwards
    return migrations.RunSQL(**kwargs)


def django_operation(op: Operation, ctx: StateContext) -> Any:
    """Return the one Django operation that carries ``op`` out (database and state)."""
    if isinstance(op, RunPython):
        return RunFunction(op.function, op.reverse_function)
    database = _database_operation(op)
    state = state_operations(op, ctx)
    if not state:
        return database
    return migrations.SeparateDatabaseAndState(
        database_operations=[database], state_operations=state
    )


def render(op: Operation, ctx: StateContext) -> Rendered:
    """Return ``op`` as the Django operation's source text and the imports it needs."""
    from django.db.migrations.writer import OperationWriter

    text, imports = OperationWriter(django_operation(op, ctx), indentation=0).serialize()
    return text, frozenset(imports)


def _foreign_dependencies(
    target: DjangoTarget, before: Schema, after: Schema
) -> list[tuple[str, str]]:
    """The other apps the FKs new in ``after`` point into, as Django migration dependencies:
    ``("__setting__", "AUTH_USER_MODEL")`` (MigrationWriter writes it as
    ``migrations.swappable_dependency(settings.AUTH_USER_MODEL)``) or ``(app, "__latest__")``
    (that app's latest migration)."""
    old = {(t.key, fk) for t in before for fk in t.foreign_keys}
    found: list[tuple[str, str]] = []
    for t in after:
        for fk in t.foreign_keys:
            other = target.foreign.get(fk.ref_table)
            if (t.key, fk) in old or other is None or fk.ref_schema != DEFAULT_SCHEMA:
                continue
            model, setting = other
            dependency = (
                ("__setting__", setting) if setting else (model.partition(".")[0], "__latest__")
            )
            if dependency not in found:
                found.append(dependency)
    return sorted(found)


@dataclass(frozen=True)
class Layout:
    """Which operations of a spec one file holds and what it runs after.

    ``dependencies`` are Django's (``(app, name)``; ``("__setting__", "AUTH_USER_MODEL")``);
    ``recorded`` is what the header says it runs after; ``foreign`` the digest of the foreign
    tables it was rendered against (see :mod:`dualorm.spec.django_files`).
    """

    indexes: tuple[int, ...]
    dependencies: tuple[tuple[str, str], ...]
    recorded: tuple[str, ...]
    initial: bool
    foreign: str | None = None
    replaces: tuple[str, ...] = ()
    """For a squash, the replaced specs that have a file in this app."""


def render_migration(
    migration: Migration,
    source: str,
    before: Schema,
    target: DjangoTarget,
    parents: Sequence[str] | None = None,
    app_parents: Sequence[tuple[str, str]] = (),
    *,
    layout: Layout | None = None,
) -> str:
    """Return the whole Django migration file for ``migration``.

    Args:
        migration: the loaded spec.
        source: how the header names the spec file.
        before: the schema the spec applies to (its dependencies replayed).
        target: the app label and the models that give fields their Django-only details.
        parents: the migrations it runs after (default: the spec's dependencies).
        app_parents: the app's own migrations (``(app label, name)``, not written by dualorm)
            it also runs after; the header records them as ``app.name``.
        layout: the operations this file holds (a spec split over several apps) and all it
            runs after; replaces ``parents`` and ``app_parents``.
    """
    if layout is None:
        deps = tuple(migration.dependencies if parents is None else parents)
        schema = before
        for op in migration.operations:
            schema = op.apply(schema)
        layout = Layout(
            tuple(range(len(migration.operations))),
            (
                *app_parents,
                *((target.app_label, d) for d in deps),
                *_foreign_dependencies(target, before, schema),
            ),
            (*(f"{app}.{name}" for app, name in app_parents), *deps),
            not deps and not app_parents,
            replaces=migration.replaces,
        )
    return _render_file(migration, source, before, target, layout)


def _render_file(
    migration: Migration, source: str, before: Schema, target: DjangoTarget, layout: Layout
) -> str:
    schema = before
    operations = []
    chosen = set(layout.indexes)
    for index, op in enumerate(migration.operations):
        after = op.apply(schema)
        if index in chosen:
            operations.append(django_operation(op, StateContext(target, schema, after)))
        schema = after
    django_migration = type(
        "Migration",
        (migrations.Migration,),
        {
            "operations": operations,
            "dependencies": list(layout.dependencies),
            "initial": layout.initial,
            # A squash: Django picks it or the migrations it replaces per database.
            **(
                {"replaces": [(target.app_label, r) for r in layout.replaces]}
                if layout.replaces
                else {}
            ),
        },
    )(migration.id, target.app_label)
    body = MigrationWriter(django_migration, include_header=False).as_string()
    if any(not migration.operations[i].transactional for i in layout.indexes):
        # MigrationWriter does not write ``atomic``; without it Django wraps the migration in
        # a transaction and PostgreSQL refuses the concurrent index build.
        head = "class Migration(migrations.Migration):\n"
        body = body.replace(head, f"{head}\n    atomic = False\n", 1)
    return f"{header(migration, source, layout.recorded, layout.foreign)}\n\n{body}"
