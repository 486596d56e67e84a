"""The per-operation builders of change specs: one YAML operation -> one :class:`Operation`.

The operation keys a spec may use (``create_table``, ``drop_column``, ``run_sql`` ...) are the
names the operation classes register themselves with (:func:`~dualorm.spec.ops.operation_kinds`).
Each class gets a builder here, with its required and optional fields, that reads its mapping
through a :class:`~dualorm.spec.reader.Reader` and resolves it against the schema the earlier
operations produced (a drop gets the full object it drops). :func:`read_operation` maps a key
to its class through the registry, suggests the nearest key for an unknown one and attaches
the operation's line and acknowledgements; :func:`operation_names` lists the keys. The spec
header, the dependency graph and the directory driver live in :mod:`dualorm.spec.load`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import yaml

from dualorm.schema import (
    Column,
    EnumType,
    ForeignKey,
    PrimaryKey,
    Schema,
    UniqueConstraint,
    as_key,
    table,
)
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
from dualorm.spec.ops import (
    Acknowledgement,
    AddCheck,
    AddColumn,
    AddEnumValue,
    AddForeignKey,
    AddPrimaryKey,
    AddUnique,
    AlterColumn,
    AlterForeignKey,
    ChangeKind,
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
    enum_users,
    find_constraint,
    operation_kinds,
)
from dualorm.spec.reader import Fields, Reader, plain
from dualorm.spec.sqlcheck import run_sql_statements

Builder = Callable[[Reader, yaml.Node, Schema, str], Operation]
Entry = tuple[Builder, tuple[str, ...], tuple[str, ...]]
"""A builder with the required and the optional fields of its operation's mapping."""

_READERS: dict[type[Operation], Entry] = {}


def _builder(
    kind: type[Operation], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> Callable[[Callable[[Reader, Fields, Schema, str], Operation]], None]:
    """Register how the operation class ``kind`` is read: its required and optional fields."""

    def decorate(function: Callable[[Reader, Fields, Schema, str], Operation]) -> None:
        def build(reader: Reader, node: yaml.Node, schema: Schema, what: str) -> Operation:
            fields = reader.fields(node, what, required, (*optional, "acknowledge"))
            return function(reader, fields, schema, what)

        if kind in _READERS:
            raise TypeError(f"{kind.__name__} has two builders")
        _READERS[kind] = (build, required, optional)

    return decorate


def operation_names() -> list[str]:
    """Return the operation keys a spec may use, sorted."""
    return sorted(operation_kinds())


def has_builder(kind: type[Operation]) -> bool:
    """Return whether the spec reader knows how to build the operation class ``kind``."""
    return kind in _READERS


def _table_of(reader: Reader, f: Fields, schema: Schema, key: str = "table") -> str:
    name = reader.table_ref(f.entries[key], key)
    if name not in schema:
        raise reader.error(f.entries[key], f"table {name} does not exist at this point")
    return name


def _table_name(reader: Reader, f: Fields) -> str:
    name = reader.name(f.entries["name"], "name")
    schema_node = f.get("schema")
    if schema_node is None:
        return name
    return f"{reader.name(schema_node, 'schema')}.{name}"


@_builder(
    CreateTable,
    ("name", "columns"),
    ("schema", "comment", "primary_key", "uniques", "checks", "foreign_keys", "indexes", "app"),
)
def _create_table(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    name = _table_name(reader, f)
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
    return CreateTable(created, _app_label(reader, f))


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


@_builder(DropTable, ("name",), ("schema",))
def _drop_table(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    name = _table_name(reader, f)
    found = schema.get(name)
    if found is None:
        raise reader.error(f.entries["name"], f"table {name} does not exist at this point")
    return DropTable(found)


@_builder(RenameTable, ("name", "new_name"), ("schema",))
def _rename_table(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    return RenameTable(_table_name(reader, f), reader.name(f.entries["new_name"], "new_name"))


@_builder(AddColumn, ("table", "name", "type"), COLUMN_FIELDS)
def _add_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    column_node = yaml.MappingNode(
        "tag:yaml.org,2002:map",
        [(k, v) for k, v in f.node.value if plain(k) not in ("table", "acknowledge")],
        start_mark=f.node.start_mark,
    )
    return AddColumn(table_name, read_column(reader, column_node, what, enums=enum_names(schema)))


def _existing_column(reader: Reader, f: Fields, schema: Schema) -> tuple[str, Any]:
    table_name = _table_of(reader, f, schema)
    column_name = reader.name(f.entries["name"], "name")
    found_table = schema.get(table_name)
    column = found_table.column(column_name) if found_table else None
    if column is None:
        raise reader.error(
            f.entries["name"], f"column {table_name}.{column_name} does not exist at this point"
        )
    return table_name, column


@_builder(DropColumn, ("table", "name"))
def _drop_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    return DropColumn(*_existing_column(reader, f, schema))


@_builder(
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


@_builder(RenameColumn, ("table", "name", "new_name"))
def _rename_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name, column = _existing_column(reader, f, schema)
    return RenameColumn(table_name, column.name, reader.name(f.entries["new_name"], "new_name"))


@_builder(
    CreateIndex,
    ("table", "columns"),
    ("name", "unique", "where", "method", "include", "concurrently"),
)
def _create_index(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
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


@_builder(DropIndex, ("name",), ("table", "concurrently"))
def _drop_index(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    name = reader.name(f.entries["name"], "name")
    candidates = [
        (t, i)
        for t in schema
        for i in t.indexes
        if i.name == name and ("table" not in f or t.key == as_key(_table_of(reader, f, schema)))
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


@_builder(AddPrimaryKey, ("table", "columns"), ("name",))
def _add_primary_key(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    columns = reader.names(f.entries["columns"], "columns")
    name_node = f.get("name")
    name = reader.name(name_node, "name") if name_node else default_name(table_name, (), "pkey")
    return AddPrimaryKey(table_name, PrimaryKey(name, columns))


def _constraint_node(f: Fields, drop: tuple[str, ...]) -> yaml.MappingNode:
    return yaml.MappingNode(
        "tag:yaml.org,2002:map",
        [(k, v) for k, v in f.node.value if plain(k) not in drop],
        start_mark=f.node.start_mark,
    )


@_builder(
    AddForeignKey,
    ("table", "columns", "references"),
    ("name", "on_delete", "on_update", "deferrable", "initially_deferred", "not_valid"),
)
def _add_foreign_key(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    node = _constraint_node(f, ("table", "acknowledge"))
    fk: ForeignKey = read_foreign_key(reader, node, table_name, what)
    return AddForeignKey(table_name, fk)


@_builder(AddUnique, ("table", "columns"), ("name", "deferrable"))
def _add_unique(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    node = _constraint_node(f, ("table", "acknowledge"))
    return AddUnique(table_name, read_unique(reader, node, table_name, what))


@_builder(AddCheck, ("table", "name", "expression"), ("not_valid",))
def _add_check(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    node = _constraint_node(f, ("table", "acknowledge"))
    return AddCheck(table_name, read_check(reader, node, what))


@_builder(ValidateConstraint, ("table", "name"))
def _validate_constraint(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    return ValidateConstraint(_table_of(reader, f, schema), reader.name(f.entries["name"], "name"))


@_builder(DropConstraint, ("table", "name"))
def _drop_constraint(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    name = reader.name(f.entries["name"], "name")
    owner = schema.get(table_name)
    found = find_constraint(owner, name) if owner is not None else None
    if found is None:
        raise reader.error(
            f.entries["name"], f"constraint {name} does not exist on {table_name} at this point"
        )
    return DropConstraint(table_name, found)


@_builder(AlterForeignKey, ("table", "name", "deferrable"), ("initially_deferred",))
def _alter_foreign_key(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    name = reader.name(f.entries["name"], "name")
    owner = schema.get(table_name)
    found = find_constraint(owner, name) if owner is not None else None
    if not isinstance(found, ForeignKey):
        raise reader.error(
            f.entries["name"], f"no foreign key {name} on {table_name} at this point"
        )
    deferrable = reader.boolean(f, "deferrable", what)
    initially_deferred = reader.boolean(f, "initially_deferred", what)
    if initially_deferred and not deferrable:
        raise reader.error(
            f.entries["initially_deferred"], f"{what}.initially_deferred needs deferrable: true"
        )
    return AlterForeignKey(table_name, found, deferrable, initially_deferred)


@_builder(RunSQL, ("sql",), ("reverse_sql",))
def _run_sql(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    reverse_node = f.get("reverse_sql")
    reverse = None
    if reverse_node is not None and plain(reverse_node) is not None:
        value = plain(reverse_node)
        if not isinstance(value, str):
            raise reader.error(reverse_node, f"{what}.reverse_sql must be text")
        reverse = _checked_sql(reader, reverse_node, value, f"{what}.reverse_sql")
    sql_node = f.entries["sql"]
    sql = reader.string(sql_node, f"{what}.sql")
    return RunSQL(_checked_sql(reader, sql_node, sql, f"{what}.sql"), reverse)


def _checked_sql(reader: Reader, node: yaml.Node, sql: str, what: str) -> str:
    """Return ``sql`` unchanged once the parser accepts it as statements the runner may run."""
    try:
        run_sql_statements(sql)
    except ValueError as exc:
        raise reader.error(node, f"{what} {exc}") from None
    return sql


@_builder(RunPython, ("function",), ("reverse_function",))
def _run_python(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    reverse_node = f.get("reverse_function")
    reverse = None
    if reverse_node is not None and plain(reverse_node) is not None:
        reverse = reader.function_path(reverse_node, f"{what}.reverse_function")
    return RunPython(reader.function_path(f.entries["function"], f"{what}.function"), reverse)


def enum_names(schema: Schema) -> dict[str, str]:
    """Each way a spec may name an enum type of ``schema`` (``mood``, ``auth.mood``, its
    reference ``"Mood"``), mapped to the reference a column's type holds."""
    names: dict[str, str] = {}
    for e in schema.enums:
        names[e.qualified_name] = names[e.reference] = e.reference
    return names


def _enum_of(reader: Reader, f: Fields, schema: Schema) -> EnumType:
    name = reader.string(f.entries["enum"], "enum").strip()
    found = schema.enum(name) or schema.enum_named(name)
    if found is None:
        raise reader.error(f.entries["enum"], f"enum type {name} does not exist at this point")
    return found


def _label(reader: Reader, f: Fields, key: str, what: str) -> str:
    value = plain(f.entries[key])
    if not isinstance(value, str) or not value or len(value.encode()) > 63:
        raise reader.error(f.entries[key], f"{what}.{key} must be text of 1 to 63 bytes")
    return value


@_builder(CreateEnum, ("name", "labels"), ("schema",))
def _create_enum(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    schema_name, name = as_key(_table_name(reader, f))
    nodes = reader.sequence(f.entries["labels"], f"{what}.labels")
    labels = []
    for node in nodes:
        label = plain(node)
        if not isinstance(label, str) or not label or len(label.encode()) > 63:
            raise reader.error(node, f"{what}.labels: {label!r} is not text of 1 to 63 bytes")
        if label in labels:
            raise reader.error(node, f"{what}.labels: {label!r} is given twice")
        labels.append(label)
    if schema.enum((schema_name, name)) is not None:
        raise reader.error(f.entries["name"], f"enum type {name} already exists at this point")
    return CreateEnum(EnumType(name, schema_name, tuple(labels)))


@_builder(DropEnum, ("name",), ("schema",))
def _drop_enum(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    name = _table_name(reader, f)
    found = schema.enum(name)
    if found is None:
        raise reader.error(f.entries["name"], f"enum type {name} does not exist at this point")
    return DropEnum(found)


@_builder(AddEnumValue, ("enum", "label"), ("before", "after"))
def _add_enum_value(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    enum = _enum_of(reader, f, schema)
    if "before" in f and "after" in f:
        raise reader.error(f.node, f"{what}: give before or after, not both")
    before = _label(reader, f, "before", what) if "before" in f else None
    after = _label(reader, f, "after", what) if "after" in f else None
    label = _label(reader, f, "label", what)
    return AddEnumValue(enum, label, before, after, enum_users(schema, enum))


@_builder(DropEnumValue, ("enum", "label"))
def _drop_enum_value(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    enum = _enum_of(reader, f, schema)
    return DropEnumValue(enum, _label(reader, f, "label", what), enum_users(schema, enum))


@_builder(RenameEnumValue, ("enum", "label", "new_label"))
def _rename_enum_value(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    enum = _enum_of(reader, f, schema)
    return RenameEnumValue(
        enum.qualified_name,
        _label(reader, f, "label", what),
        _label(reader, f, "new_label", what),
    )


@_builder(SetComment, ("table", "comment"), ("column",))
def _set_comment(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    found = schema.get(table_name)
    assert found is not None
    current = found.comment
    column = None
    if "column" in f:
        column = reader.name(f.entries["column"], f"{what}.column")
        found_column = found.column(column)
        if found_column is None:
            raise reader.error(
                f.entries["column"], f"column {table_name}.{column} does not exist at this point"
            )
        current = found_column.comment
    comment = plain(f.entries["comment"])
    if comment is not None and not isinstance(comment, str):
        raise reader.error(f.entries["comment"], f"{what}.comment must be text or null")
    return SetComment(table_name, column, current, comment or None)


def _acknowledgements(reader: Reader, node: yaml.Node | None) -> tuple[Acknowledgement, ...]:
    if node is None:
        return ()
    out = []
    for item in reader.sequence(node, "acknowledge"):
        f = reader.fields(item, "acknowledge", ("rule", "reason"))
        out.append(
            Acknowledgement(
                reader.string(f.entries["rule"], "acknowledge.rule"),
                reader.string(f.entries["reason"], "acknowledge.reason"),
            )
        )
    return tuple(out)


def read_operation(reader: Reader, node: yaml.Node, schema: Schema) -> Operation:
    """Build the operation written at ``node``, resolved against ``schema``."""
    outer = reader.mapping(node, "an operation")
    if len(outer.entries) != 1:
        raise reader.error(
            node,
            "an operation is a mapping with exactly one key, its kind "
            f"(got {', '.join(outer.entries) or 'none'})",
        )
    ((key, body),) = outer.entries.items()
    kind = operation_kinds().get(key)
    if kind is None:
        hint = difflib.get_close_matches(key, operation_names(), n=1)
        suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        raise reader.error(node, f"unknown operation {key}{suggestion}")
    build = _READERS[kind][0]
    op = build(reader, body, schema, key)
    acknowledge = _acknowledgements(reader, reader.mapping(body, key).get("acknowledge"))
    return replace(op, line=node.start_mark.line + 1, acknowledge=acknowledge)


def _by_name() -> Mapping[str, Entry]:
    missing = [cls.__name__ for cls in operation_kinds().values() if cls not in _READERS]
    if missing:
        raise TypeError(f"operation kinds without a builder: {', '.join(missing)}")
    return MappingProxyType({name: _READERS[cls] for name, cls in operation_kinds().items()})


BUILDERS: Mapping[str, Entry] = _by_name()
"""Each spec key with its builder and fields, read off the registry (for the docs check)."""
