"""The builders of the constraint operations and the escape hatches
(:mod:`dualorm.spec.constraint_ops`)."""

from __future__ import annotations

import yaml

from dualorm.schema import ForeignKey, PrimaryKey, Schema
from dualorm.spec.builder_registry import builder, table_of
from dualorm.spec.object_reader import default_name, read_check, read_foreign_key, read_unique
from dualorm.spec.ops import (
    AddCheck,
    AddForeignKey,
    AddPrimaryKey,
    AddUnique,
    AlterForeignKey,
    DropConstraint,
    Operation,
    RunPython,
    RunSQL,
    ValidateConstraint,
    find_constraint,
)
from dualorm.spec.reader import Fields, Reader, plain
from dualorm.spec.sqlcheck import run_sql_statements


@builder(AddPrimaryKey, ("table", "columns"), ("name",))
def _add_primary_key(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = table_of(reader, f, schema)
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


@builder(
    AddForeignKey,
    ("table", "columns", "references"),
    ("name", "on_delete", "on_update", "deferrable", "initially_deferred", "not_valid"),
)
def _add_foreign_key(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = table_of(reader, f, schema)
    node = _constraint_node(f, ("table", "acknowledge"))
    fk: ForeignKey = read_foreign_key(reader, node, table_name, what)
    return AddForeignKey(table_name, fk)


@builder(AddUnique, ("table", "columns"), ("name", "deferrable"))
def _add_unique(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = table_of(reader, f, schema)
    node = _constraint_node(f, ("table", "acknowledge"))
    return AddUnique(table_name, read_unique(reader, node, table_name, what))


@builder(AddCheck, ("table", "name", "expression"), ("not_valid",))
def _add_check(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = table_of(reader, f, schema)
    node = _constraint_node(f, ("table", "acknowledge"))
    return AddCheck(table_name, read_check(reader, node, what))


@builder(ValidateConstraint, ("table", "name"))
def _validate_constraint(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    return ValidateConstraint(table_of(reader, f, schema), reader.name(f.entries["name"], "name"))


@builder(DropConstraint, ("table", "name"))
def _drop_constraint(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = table_of(reader, f, schema)
    name = reader.name(f.entries["name"], "name")
    owner = schema.get(table_name)
    found = find_constraint(owner, name) if owner is not None else None
    if found is None:
        raise reader.error(
            f.entries["name"], f"constraint {name} does not exist on {table_name} at this point"
        )
    return DropConstraint(table_name, found)


@builder(AlterForeignKey, ("table", "name", "deferrable"), ("initially_deferred",))
def _alter_foreign_key(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = table_of(reader, f, schema)
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


@builder(RunSQL, ("sql",), ("reverse_sql",))
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


@builder(RunPython, ("function",), ("reverse_function",))
def _run_python(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    reverse_node = f.get("reverse_function")
    reverse = None
    if reverse_node is not None and plain(reverse_node) is not None:
        reverse = reader.function_path(reverse_node, f"{what}.reverse_function")
    return RunPython(reader.function_path(f.entries["function"], f"{what}.function"), reverse)
