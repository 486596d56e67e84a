"""The builders of the table, column and index operations (:mod:`dualorm.spec.ops`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import yaml

from dualorm.schema import (
    Column,
    ForeignKey,
    PrimaryKey,
    Schema,
    Table,
    UniqueConstraint,
    as_key,
    table,
)
from dualorm.spec.builder_registry import builder, enum_names, name_of, table_of
from dualorm.spec.object_reader import (
    COLUMN_FIELDS,
    default_name,
    read_check,
    read_collation,
    read_column,
    read_foreign_key,
    read_index,
    read_unique,
)
from dualorm.spec.operation import label
from dualorm.spec.ops import (
    AddColumn,
    AlterColumn,
    ChangeKind,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropIndex,
    DropTable,
    Operation,
    RenameColumn,
    RenameTable,
)
from dualorm.spec.reader import Fields, Reader, plain
from dualorm.spec.through import ManyToMany, shape_problem


@builder(
    CreateTable,
    ("name", "columns"),
    (
        "schema",
        "comment",
        "primary_key",
        "uniques",
        "checks",
        "foreign_keys",
        "indexes",
        "app",
        "many_to_many",
    ),
)
def _create_table(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    name = name_of(reader, f)
    schema_name, bare = as_key(name)
    columns: list[Column] = []
    pk_columns: list[str] = []
    uniques: list[UniqueConstraint] = []
    for node in reader.sequence(f.entries["columns"], f"{what}.columns"):
        column = read_column(reader, node, "column", ("primary_key", "unique"), enum_names(schema))
        column_fields = reader.mapping(node, "column")
        if any(c.name == column.name for c in columns):
            raise reader.error(node, f"column {column.name} is given twice")
        if reader.boolean(column_fields, "primary_key", "column"):
            pk_columns.append(column.name)
        if reader.boolean(column_fields, "unique", "column"):
            uniques.append(_column_unique(name, column.name))
        columns.append(column)
    primary_key = _primary_key(reader, f, name, tuple(pk_columns))
    if primary_key is not None:
        columns = [
            replace(c, nullable=False) if c.name in primary_key.columns else c for c in columns
        ]
    uniques += [
        read_unique(reader, n, name, "unique")
        for n in reader.sequence(f.get("uniques") or _EMPTY, "uniques")
    ]
    checks = [
        read_check(reader, n, "check") for n in reader.sequence(f.get("checks") or _EMPTY, "checks")
    ]
    fks = [
        read_foreign_key(reader, n, name, "foreign key")
        for n in reader.sequence(f.get("foreign_keys") or _EMPTY, "foreign_keys")
    ]
    for node, fk in zip(
        reader.sequence(f.get("foreign_keys") or _EMPTY, "foreign_keys"), fks, strict=True
    ):
        if not fk.validated:
            raise reader.error(node, "not_valid applies to add_foreign_key on an existing table")
    indexes = [
        read_index(reader, n, name, "index")[0]
        for n in reader.sequence(f.get("indexes") or _EMPTY, "indexes")
    ]
    created = table(
        bare,
        columns,
        schema=schema_name,
        primary_key=primary_key,
        uniques=uniques,
        checks=checks,
        foreign_keys=fks,
        indexes=indexes,
        comment=reader.optional_string(f, "comment", what),
    )
    _check_constraint_columns(reader, f, name, columns, uniques, fks, primary_key)
    return CreateTable(created, _app_label(reader, f), _many_to_many(reader, f, schema, created))


def _check_constraint_columns(
    reader: Reader,
    f: Fields,
    name: str,
    columns: list[Column],
    uniques: list[UniqueConstraint],
    fks: list[ForeignKey],
    primary_key: PrimaryKey | None,
) -> None:
    """Refuse a unique, foreign or primary key of table ``name`` that names a column it lacks."""
    known = {c.name for c in columns}
    for group, used in (
        ("unique", [c for u in uniques for c in u.columns]),
        ("foreign key", [c for fk in fks for c in fk.columns]),
        ("primary key", list(primary_key.columns) if primary_key else []),
    ):
        for column_name in used:
            if column_name not in known:
                raise reader.error(
                    f.node, f"{group} names column {column_name}, which {name} does not have"
                )


def _app_label(reader: Reader, f: Fields) -> str | None:
    """The ``app`` a created table belongs to: a Django app label, checked against the
    project's apps by ``migrate make`` (loading needs no Django)."""
    node = f.get("app")
    if node is None:
        return None
    value = reader.name(node, "app")
    if not value.isidentifier():
        raise reader.error(node, f"app {value!r} is not a Django app label (an identifier)")
    return value


def _many_to_many(reader: Reader, f: Fields, schema: Schema, created: Table) -> ManyToMany | None:
    """The ``many_to_many`` a created table states (the ``ManyToManyField`` that creates it in
    Django), refused unless its owner table exists and the table has Django's shape."""
    node = f.get("many_to_many")
    if node is None:
        return None
    fields = reader.fields(node, "many_to_many", ("table", "field"))
    owner = as_key(reader.name(fields.entries["table"], "many_to_many.table"))
    fact = ManyToMany(label(owner), reader.name(fields.entries["field"], "many_to_many.field"))
    if schema.get(fact.table) is None:
        raise reader.error(
            fields.entries["table"],
            f"many_to_many: table {fact.table} does not exist at this point",
        )
    problem = shape_problem(created, fact, schema)
    if problem is not None:
        raise reader.error(
            node,
            f"many_to_many: {created.qualified_name} is not the table Django creates for the "
            f"ManyToManyField {fact.field} of {fact.table}: {problem}",
        )
    return fact


_EMPTY = yaml.SequenceNode("tag:yaml.org,2002:seq", [])


def _column_unique(table_name: str, column: str) -> UniqueConstraint:
    return UniqueConstraint(default_name(table_name, (column,), "key"), (column,))


def _primary_key(
    reader: Reader, f: Fields, name: str, from_columns: tuple[str, ...]
) -> PrimaryKey | None:
    node = f.get("primary_key")
    if node is None:
        return PrimaryKey(default_name(name, (), "pkey"), from_columns) if from_columns else None
    if from_columns:
        raise reader.error(
            node, "give the primary key either on columns or as primary_key, not both"
        )
    pk = reader.fields(node, "primary_key", ("columns",), ("name",))
    columns = reader.names(pk.entries["columns"], "primary_key.columns")
    name_node = pk.get("name")
    pk_name = (
        reader.name(name_node, "primary_key.name") if name_node else default_name(name, (), "pkey")
    )
    return PrimaryKey(pk_name, columns)


@builder(DropTable, ("name",), ("schema",))
def _drop_table(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    name = name_of(reader, f)
    found = schema.get(name)
    if found is None:
        raise reader.error(f.entries["name"], f"table {name} does not exist at this point")
    return DropTable(found)


@builder(RenameTable, ("name", "new_name"), ("schema",))
def _rename_table(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    return RenameTable(name_of(reader, f), reader.name(f.entries["new_name"], "new_name"))


@builder(AddColumn, ("table", "name", "type"), COLUMN_FIELDS)
def _add_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = table_of(reader, f, schema)
    column_node = yaml.MappingNode(
        "tag:yaml.org,2002:map",
        [(k, v) for k, v in f.node.value if plain(k) not in ("table", "acknowledge")],
        start_mark=f.node.start_mark,
    )
    return AddColumn(table_name, read_column(reader, column_node, what, enums=enum_names(schema)))


def _existing_column(reader: Reader, f: Fields, schema: Schema) -> tuple[str, Any]:
    table_name = table_of(reader, f, schema)
    column_name = reader.name(f.entries["name"], "name")
    found_table = schema.get(table_name)
    column = found_table.column(column_name) if found_table else None
    if column is None:
        raise reader.error(
            f.entries["name"], f"column {table_name}.{column_name} does not exist at this point"
        )
    return table_name, column


@builder(DropColumn, ("table", "name"))
def _drop_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    return DropColumn(*_existing_column(reader, f, schema))


@builder(
    AlterColumn,
    ("table", "name"),
    ("type", "using", "reverse_using", "nullable", "server_default", "comment", "collation"),
)
def _alter_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name, current = _existing_column(reader, f, schema)
    to, changes = current, ChangeKind.NONE
    if "type" in f:
        to = replace(to, type=reader.type(f.entries["type"], f"{what}.type", enum_names(schema)))
        changes |= ChangeKind.TYPE
    if "nullable" in f:
        to = replace(to, nullable=reader.boolean(f, "nullable", what))
        changes |= ChangeKind.NULL
    default_node = f.get("server_default")
    if default_node is not None:
        value = (
            None
            if plain(default_node) is None
            else reader.expression(default_node, f"{what}.server_default")
        )
        to = replace(to, default=value)
        changes |= ChangeKind.DEFAULT
    if "comment" in f:
        to = replace(to, comment=reader.optional_string(f, "comment", what))
        changes |= ChangeKind.COMMENT
    if "collation" in f:
        to = replace(to, collation=read_collation(reader, f, what))
        changes |= ChangeKind.COLLATION
    if changes is ChangeKind.NONE:
        raise reader.error(
            f.node,
            f"{what} changes nothing: give type, nullable, server_default, comment or collation",
        )
    if ("using" in f or "reverse_using" in f) and ChangeKind.TYPE not in changes:
        raise reader.error(f.node, f"{what}: using applies only to a type change")
    return AlterColumn(
        table_name,
        current,
        to,
        changes,
        using=reader.optional_expression(f, "using", what),
        reverse_using=reader.optional_expression(f, "reverse_using", what),
    )


@builder(RenameColumn, ("table", "name", "new_name"))
def _rename_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name, column = _existing_column(reader, f, schema)
    return RenameColumn(table_name, column.name, reader.name(f.entries["new_name"], "new_name"))


@builder(
    CreateIndex,
    ("table", "columns"),
    ("name", "unique", "where", "method", "include", "concurrently"),
)
def _create_index(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = table_of(reader, f, schema)
    index_node = yaml.MappingNode(
        "tag:yaml.org,2002:map",
        [
            (k, v)
            for k, v in f.node.value
            if plain(k) not in ("table", "acknowledge", "concurrently")
        ],
        start_mark=f.node.start_mark,
    )
    index, _ = read_index(reader, index_node, table_name, what)
    return CreateIndex(table_name, index, concurrently=reader.boolean(f, "concurrently", what))


@builder(DropIndex, ("name",), ("table", "concurrently"))
def _drop_index(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    name = reader.name(f.entries["name"], "name")
    candidates = [
        (t, i)
        for t in schema
        for i in t.indexes
        if i.name == name and ("table" not in f or t.key == as_key(table_of(reader, f, schema)))
    ]
    if not candidates:
        raise reader.error(f.entries["name"], f"index {name} does not exist at this point")
    if len(candidates) > 1:
        raise reader.error(
            f.entries["name"], f"index {name} exists in several schemas; give its table"
        )
    owner, index = candidates[0]
    return DropIndex(
        owner.qualified_name, index, concurrently=reader.boolean(f, "concurrently", what)
    )
