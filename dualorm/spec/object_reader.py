"""Schema objects read from a spec's field mappings: columns, foreign keys, unique and check
constraints and indexes, each checked through a :class:`~dualorm.spec.reader.Reader` so a fault
names its file and line; and the rules their default names follow (PostgreSQL's).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import yaml

from dualorm.pgnames import default_name as schema_default_name
from dualorm.schema import (
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    UniqueConstraint,
    as_key,
    is_column_key,
    key_opclasses,
    key_orders,
    split_opclass,
    split_order,
)
from dualorm.spec.reader import MAX_NAME, NO_ENUMS, Fields, Reader, has_control, plain
from dualorm.spec.sqlcheck import expression_column_name, method_fault

COLUMN_FIELDS = ("nullable", "server_default", "identity", "comment", "generated", "collation")


def read_column(
    reader: Reader,
    node: yaml.Node,
    what: str,
    extra: Collection[str] = (),
    enums: Mapping[str, str] = NO_ENUMS,
) -> Column:
    """Build a ``Column`` from ``{name, type, nullable, server_default, identity, comment,
    generated, collation}``; ``generated`` is a stored generated column's expression, and
    ``type`` may name an enum type of ``enums`` (see :meth:`Reader.type`)."""
    f = reader.fields(node, what, ("name", "type"), (*COLUMN_FIELDS, *extra))
    name = reader.name(f.entries["name"], f"{what}.name")
    label = f"column {name}"
    identity = None
    identity_node = f.get("identity")
    if identity_node is not None:
        spelled = " ".join(reader.string(identity_node, f"{label}.identity").lower().split())
        try:
            identity = Identity(spelled.replace("_", " "))
        except ValueError:
            raise reader.error(
                identity_node, f"{label}.identity must be 'always' or 'by default', not {spelled!r}"
            ) from None
    default_node = f.get("server_default")
    default = None
    if default_node is not None and plain(default_node) is not None:
        default = reader.expression(default_node, f"{label}.server_default")
    generated_node = f.get("generated")
    generated = None
    if generated_node is not None:
        generated = reader.expression(generated_node, f"{label}.generated")
        if default is not None or identity is not None:
            raise reader.error(
                generated_node,
                f"{label} is generated: it cannot also have a server_default or an identity",
            )
    return Column(
        name=name,
        type=reader.type(f.entries["type"], f"{label}.type", enums),
        # PostgreSQL makes identity columns NOT NULL whatever the spec says.
        nullable=reader.boolean(f, "nullable", label, default=True) and identity is None,
        default=default,
        identity=identity,
        comment=reader.optional_string(f, "comment", label),
        generated=generated,
        collation=read_collation(reader, f, label),
    )


def read_collation(reader: Reader, f: Fields, what: str) -> str | None:
    """Return the ``collation`` field: a collation's name (``C``, ``en-US-x-icu``), or None."""
    value = reader.optional_string(f, "collation", what)
    if value is not None and (has_control(value) or len(value.encode()) > MAX_NAME):
        raise reader.error(f.get("collation"), f"{what}.collation: bad collation {value!r}")
    return value


def parse_reference(reader: Reader, node: yaml.Node, what: str) -> tuple[str, str, tuple[str, ...]]:
    """Parse ``users(id)`` or ``auth.users(id, tenant_id)`` into schema, table, columns."""
    text = reader.string(node, what).strip()
    head, paren, rest = text.partition("(")
    inner, close, tail = rest.partition(")")
    columns = tuple(c.strip() for c in inner.split(",") if c.strip())
    if not paren or not close or tail.strip() or not head.strip() or not columns:
        raise reader.error(node, f"{what} must look like 'table(column, ...)', not {text!r}")
    schema_name, table_name = as_key(head.strip())
    return schema_name, table_name, columns


def default_name(table: str, columns: tuple[str, ...], suffix: str) -> str:
    """Return the name PostgreSQL itself gives: ``<table>_<col>_<col>_<suffix>``, truncated."""
    return schema_default_name(as_key(table)[1], columns, suffix)


def index_column_names(keys: Iterable[str]) -> list[str]:
    """Return the names PostgreSQL gives an index's keys, INCLUDE columns last, in its name.

    PostgreSQL's ``ChooseIndexColumnNames``: a column keeps its name, an expression is named
    like a select-list column (``lower(email)`` is ``lower``, ``(r[1])`` is ``r``) or ``expr``,
    and a name already taken gets the first free number (``a, a`` is ``a, a1``).
    """
    result: list[str] = []
    for key in keys:
        original = key if is_column_key(key) else expression_column_name(key)
        current, number = original, 0
        while current in result:
            number += 1
            room = MAX_NAME - len(str(number))
            current = original.encode()[:room].decode(errors="ignore") + str(number)
        result.append(current)
    return result


def read_foreign_key(reader: Reader, node: yaml.Node, table: str, what: str) -> ForeignKey:
    f = reader.fields(
        node,
        what,
        ("columns", "references"),
        ("name", "on_delete", "on_update", "deferrable", "initially_deferred", "not_valid"),
    )
    columns = reader.names(f.entries["columns"], f"{what}.columns")
    ref_schema, ref_table, ref_columns = parse_reference(reader, f.entries["references"], what)
    name_node = f.get("name")
    name = (
        reader.name(name_node, f"{what}.name")
        if name_node is not None
        else default_name(table, columns, "fkey")
    )
    return ForeignKey(
        name=name,
        columns=columns,
        ref_table=ref_table,
        ref_columns=ref_columns,
        ref_schema=ref_schema,
        on_delete=reader.fk_action(f, "on_delete", what),
        on_update=reader.fk_action(f, "on_update", what),
        deferrable=reader.boolean(f, "deferrable", what),
        initially_deferred=reader.boolean(f, "initially_deferred", what),
        validated=not reader.boolean(f, "not_valid", what),
    )


def read_unique(reader: Reader, node: yaml.Node, table: str, what: str) -> UniqueConstraint:
    f = reader.fields(node, what, ("columns",), ("name", "deferrable"))
    columns = reader.names(f.entries["columns"], f"{what}.columns")
    name_node = f.get("name")
    name = (
        reader.name(name_node, f"{what}.name")
        if name_node is not None
        else default_name(table, columns, "key")
    )
    return UniqueConstraint(name, columns, deferrable=reader.boolean(f, "deferrable", what))


def read_check(reader: Reader, node: yaml.Node, what: str) -> CheckConstraint:
    f = reader.fields(node, what, ("name", "expression"), ("not_valid",))
    return CheckConstraint(
        name=reader.name(f.entries["name"], f"{what}.name"),
        expression=reader.expression(f.entries["expression"], f"{what}.expression"),
        validated=not reader.boolean(f, "not_valid", what),
    )


def read_index(
    reader: Reader, node: yaml.Node, table: str, what: str, extra: Collection[str] = ()
) -> tuple[Index, Fields]:
    f = reader.fields(
        node, what, ("columns",), ("name", "unique", "where", "method", "include", *extra)
    )
    keys = [
        split_order(reader.string(item, f"{what}.columns"))
        for item in reader.sequence(f.entries["columns"], f"{what}.columns")
    ]
    classed = [split_opclass(key) for key, _order in keys]
    columns = tuple(key for key, _opclass in classed)
    if not columns:
        raise reader.error(f.entries["columns"], f"{what}.columns must not be empty")
    include_node = f.get("include")
    include = () if include_node is None else reader.names(include_node, f"{what}.include")
    name_node = f.get("name")
    name = (
        reader.name(name_node, f"{what}.name")
        if name_node is not None
        else default_name(table, tuple(index_column_names([*columns, *include])), "idx")
    )
    method = reader.optional_string(f, "method", what) or "btree"
    method_node = f.get("method")
    fault = method_fault(method)
    if fault is not None:
        raise reader.error(method_node, f"{what}.method {fault}, not {method!r}")
    index = Index(
        name=name,
        columns=columns,
        unique=reader.boolean(f, "unique", what),
        where=reader.optional_expression(f, "where", what),
        method=method.lower(),
        include=include,
        orders=key_orders(order for _key, order in keys),
        opclasses=key_opclasses(opclass for _key, opclass in classed),
    )
    return index, f
