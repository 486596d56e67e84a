"""Django model fields for the migration state, one per column.

:func:`field_for` takes the model's own field where it says what the schema says about the
column's database side (type, nullability, default, collation, comment, generation, relation),
so that the state after the last spec equals the models and ``makemigrations --check`` stays
clean; otherwise it builds the conventional field for the column. A type no Django field
creates becomes a plain ``Field`` (the database side is the shared SQL, so nothing is lost
there); an SQL default or generation expression becomes ``RawSQL``.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models
from django.db.backends.utils import truncate_name

from dualorm.emit.django_target import (
    DjangoTarget,
    Triple,
    build,
    field_name,
    hint_field,
    model_label,
    model_name,
    single_fk,
)
from dualorm.pgnames import truncate_identifier
from dualorm.pgtypes import ColumnType, canonical_type, parse_type
from dualorm.schema import DEFAULT_SCHEMA, Column, FkAction, Table, as_key
from dualorm.sources.expression_text import bare_expression
from dualorm.spec.through import ManyToMany

__all__ = [
    "composite_pk",
    "field_for",
    "implied_names",
    "many_to_many",
    "stated_many_to_many",
    "table_fields",
]

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
    return _field_triple(parse_type(canonical), kwargs)


def _field_triple(parsed: ColumnType, kwargs: dict[str, Any]) -> Triple:
    if parsed.dimensions:
        item = build(_field_triple(parsed.item, {}))
        return "django.contrib.postgres.fields.ArrayField", (), {"base_field": item, **kwargs}
    if not parsed.args and parsed.name in _FIELD_TYPES:
        return _FIELD_TYPES[parsed.name], (), kwargs
    base, numbers = parsed.name, parsed.args
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


def _conventional_field(target: DjangoTarget, t: Table, column: Column) -> Any:
    pk = t.primary_key
    kwargs: dict[str, Any] = {}
    if pk is not None and pk.columns == (column.name,):
        kwargs["primary_key"] = True
    elif column.nullable:
        kwargs.update(null=True, blank=True)
    if column.comment is not None:
        kwargs["db_comment"] = column.comment
    fk = single_fk(t, column.name)
    if fk is not None and fk.ref_schema == DEFAULT_SCHEMA:
        fk_kwargs: dict[str, Any] = {
            "to": model_label(target, fk.ref_table),
            "on_delete": _ON_DELETE[fk.on_delete],
            "db_index": False,
            "related_name": "+",
        }
        if field_name(target, t, column.name) + "_id" != column.name:
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
    if column.generated is not None and _generation_sql(hint) != bare_expression(column.generated):
        return False
    if bool(hint.is_relation) != bool(conventional.is_relation):
        return False
    if hint.is_relation:
        return bool(
            hint.related_model._meta.label_lower == str(conventional.remote_field.model).lower()
        )
    return True


def _generation_sql(field: Any) -> str:
    sql, params = field.generated_sql(connection)
    editor = connection.schema_editor(collect_sql=True, atomic=False)
    return bare_expression(sql % tuple(editor.quote_value(p) for p in params) if params else sql)


def field_for(target: DjangoTarget, t: Table, column: Column) -> tuple[str, Any]:
    """Return ``(field name, field)`` for ``column`` of ``t`` as the state should hold it."""
    conventional = _conventional_field(target, t, column)
    hint = hint_field(target, t.name, column.name)
    if hint is not None and _agrees(hint, conventional, column):
        return str(hint.name), hint.clone()
    return field_name(target, t, column.name), conventional


def implied_names(target: DjangoTarget, t: Table) -> frozenset[str]:
    """The indexes and constraints of ``t`` that the state's fields create by themselves: a
    ``db_index`` field's index and ``_like`` index, a ``unique`` field's constraint (the
    first unique of ``t`` on that column alone), a ``PositiveIntegerField``'s check.

    Django keeps them out of ``Meta.indexes`` and ``Meta.constraints`` (``makemigrations``
    would remove them from a state that lists them), so the state leaves them out too; only a
    model field the state takes as it is (:func:`field_for`) creates them.
    """
    model = target.models.get(t.name)
    if model is None:
        return frozenset()
    editor: Any = connection.schema_editor(collect_sql=True, atomic=False)
    like_sql = getattr(editor, "_create_like_index_sql", None)  # PostgreSQL's editor has it
    names: set[str] = set()
    checks: set[str] = set()
    for column in t.columns:
        hint = hint_field(target, t.name, column.name)
        if hint is None or not _agrees(hint, _conventional_field(target, t, column), column):
            continue
        if hint.db_index and not hint.unique and not hint.primary_key:
            names.add(editor._create_index_name(t.name, [column.name], suffix=""))
        if (hint.db_index or hint.unique) and like_sql is not None and like_sql(model, hint):
            names.add(editor._create_index_name(t.name, [column.name], suffix="_like"))
        if hint.unique and not hint.primary_key:
            own = next((u for u in t.uniques if u.columns == (column.name,)), None)
            if own is not None:
                names.add(own.name)
        check = hint.db_check(connection)
        if check:
            checks.add(bare_expression(check))
    names = {truncate_identifier(n) for n in names}
    names.update(c.name for c in t.checks if c.expression in checks)
    return frozenset(names)


def many_to_many(target: DjangoTarget, t: Table) -> ManyToMany | None:
    """The ``ManyToManyField`` of the models that creates ``t`` itself (its auto-created
    table, with exactly the columns Django gives it), or None: for a spec that does not say
    so (``many_to_many``)."""
    wanted = {c.name for c in t.columns}
    for table, model in target.models.items():
        for f in model._meta.local_many_to_many:
            if _creates(f, t.name) and wanted == {"id", f.m2m_column_name(), f.m2m_reverse_name()}:
                return ManyToMany(table, f.name)
    return None


def stated_many_to_many(target: DjangoTarget, t: Table, fact: ManyToMany) -> tuple[str, str, Any]:
    """``(model name, field name, field)`` of the ``ManyToManyField`` a ``create_table`` says
    creates ``t`` (``many_to_many``): the model's own field while it still creates ``t``, else
    the conventional one (``db_table`` only where Django would name the table otherwise)."""
    owner = as_key(fact.table)
    model = target.models.get(owner[1])
    found = None if model is None else _own_field(model, fact.field, t.name)
    name = model_name(target, owner[1]).lower()
    if found is not None:
        return name, fact.field, found.clone()
    others = [fk.ref_table for fk in t.foreign_keys if fk.ref_key != owner]
    kwargs: dict[str, Any] = {"to": model_label(target, others[0] if others else owner[1])}
    if t.name != truncate_name(f"{owner[1]}_{fact.field}", connection.ops.max_name_length()):
        kwargs["db_table"] = t.name
    return name, fact.field, models.ManyToManyField(**kwargs)


def _own_field(model: Any, name: str, table: str) -> Any:
    """The ``ManyToManyField`` ``name`` of ``model`` that creates ``table`` itself, or None."""
    return next(
        (f for f in model._meta.local_many_to_many if f.name == name and _creates(f, table)),
        None,
    )


def _creates(f: Any, table: str) -> bool:
    """Whether the ``ManyToManyField`` ``f`` creates ``table`` itself (its auto-created model)."""
    meta = getattr(f.remote_field.through, "_meta", None)  # None: a lazy "app.Model"
    return meta is not None and bool(meta.auto_created) and f.m2m_db_table() == table


def composite_pk(target: DjangoTarget, t: Table) -> tuple[str, Any] | None:
    """The ``("pk", CompositePrimaryKey)`` field of ``t``, for a primary key of several columns."""
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
    return "pk", models.CompositePrimaryKey(*(field_name(target, t, c) for c in pk.columns))


def table_fields(target: DjangoTarget, t: Table) -> list[tuple[str, Any]]:
    """The fields of ``t`` as ``CreateModel`` takes them: a composite key first, then columns."""
    composite = composite_pk(target, t)
    fields = [] if composite is None else [composite]
    return fields + [field_for(target, t, c) for c in t.columns]
