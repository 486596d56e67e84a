"""The builders of the enum type and comment operations (:mod:`dualorm.spec.type_ops`)."""

from __future__ import annotations

from dualorm.schema import EnumType, Schema, as_key
from dualorm.spec.builder_registry import builder, name_of, table_of
from dualorm.spec.ops import (
    AddEnumValue,
    CreateEnum,
    DropEnum,
    DropEnumValue,
    Operation,
    RenameEnumValue,
    SetComment,
)
from dualorm.spec.reader import Fields, Reader, plain


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


@builder(CreateEnum, ("name", "labels"), ("schema",))
def _create_enum(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    schema_name, name = as_key(name_of(reader, f))
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


@builder(DropEnum, ("name",), ("schema",))
def _drop_enum(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    name = name_of(reader, f)
    found = schema.enum(name)
    if found is None:
        raise reader.error(f.entries["name"], f"enum type {name} does not exist at this point")
    return DropEnum(found)


@builder(AddEnumValue, ("enum", "label"), ("before", "after"))
def _add_enum_value(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    enum = _enum_of(reader, f, schema)
    if "before" in f and "after" in f:
        raise reader.error(f.node, f"{what}: give before or after, not both")
    before = _label(reader, f, "before", what) if "before" in f else None
    after = _label(reader, f, "after", what) if "after" in f else None
    label = _label(reader, f, "label", what)
    return AddEnumValue.on(schema, enum, label, before, after)


@builder(DropEnumValue, ("enum", "label"))
def _drop_enum_value(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    enum = _enum_of(reader, f, schema)
    return DropEnumValue.on(schema, enum, _label(reader, f, "label", what))


@builder(RenameEnumValue, ("enum", "label", "new_label"))
def _rename_enum_value(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    enum = _enum_of(reader, f, schema)
    return RenameEnumValue(
        enum.qualified_name,
        _label(reader, f, "label", what),
        _label(reader, f, "new_label", what),
    )


@builder(SetComment, ("table", "comment"), ("column",))
def _set_comment(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = table_of(reader, f, schema)
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
