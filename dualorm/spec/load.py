"""Loading change specs: ``migrations/*.yaml`` -> checked, ordered :class:`Migration` values.

A spec is YAML, read with the safe loader through ``yaml.compose`` so that every fault names
its file and line (:class:`~dualorm.errors.SpecError`, exit code 2). Its shape::

    id: "0003_add_user_preferences"      # must equal the file name without .yaml
    name: Add user preferences table
    version: 1.2.0                        # optional
    description: ...                      # optional
    dependencies: ["0001_initial"]        # [] for a root
    operations:                           # each a one-key mapping
      - create_table: {name: ..., columns: [...], foreign_keys: [...], indexes: [...]}
      - create_index: {name: ..., table: ..., columns: [...], where: ..., concurrently: true}
      - drop_column: {table: users, name: image, acknowledge: [{rule: ..., reason: ...}]}

Specs are replayed in dependency order while loading: each operation is applied to the schema
the earlier ones produced, so a drop that names only its object gets the full object (what
its reverse needs), and an operation that does not fit the schema is reported at its line.
The checksum is the sha256 of the canonical content (the parsed document as sorted JSON):
comments and layout do not change it, any change of meaning does.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from dualorm.errors import GraphError, SpecError
from dualorm.schema import Column, ForeignKey, PrimaryKey, Schema, UniqueConstraint, as_key, table
from dualorm.spec.graph import MigrationGraph
from dualorm.spec.model import Migration
from dualorm.spec.ops import (
    Acknowledgement,
    AddCheck,
    AddColumn,
    AddForeignKey,
    AddPrimaryKey,
    AddUnique,
    AlterColumn,
    ChangeKind,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropConstraint,
    DropIndex,
    DropTable,
    Operation,
    RenameColumn,
    RenameTable,
    RunPython,
    RunSQL,
    ValidateConstraint,
    find_constraint,
)
from dualorm.spec.reader import (
    COLUMN_FIELDS,
    Fields,
    Reader,
    default_name,
    plain,
    read_check,
    read_column,
    read_foreign_key,
    read_index,
    read_unique,
)

SPEC_SUFFIXES = (".yaml", ".yml")
HEADER_REQUIRED = ("id", "name", "dependencies", "operations")
HEADER_OPTIONAL = ("version", "description")


def checksum(document: Any) -> str:
    """Return the sha256 of a parsed spec's canonical JSON form."""
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Parsed:
    """A spec whose header is read; its operations are built during the replay."""

    path: Path
    reader: Reader
    id: str
    name: str
    version: str
    description: str
    dependencies: tuple[str, ...]
    dependency_nodes: tuple[yaml.Node, ...]
    operations: tuple[yaml.Node, ...]
    checksum: str


def _read_header(path: Path) -> _Parsed:
    reader = Reader(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), None, f"cannot read the spec: {exc}") from None
    try:
        # libyaml's composer when present: same nodes and line marks, several times faster.
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(str(path), line, f"not valid YAML: {problem}") from None
    if root is None:
        raise SpecError(str(path), None, "the spec is empty")
    try:
        document = plain(root)
    except yaml.YAMLError as exc:
        raise SpecError(str(path), None, f"not valid YAML: {exc}") from None
    f = reader.fields(root, "spec", HEADER_REQUIRED, HEADER_OPTIONAL)
    spec_id = reader.string(f.entries["id"], "id")
    if spec_id != path.stem:
        raise reader.error(
            f.entries["id"],
            f"id {spec_id!r} does not match the file name {path.name!r}; use id {path.stem!r}",
        )
    dep_nodes = tuple(reader.sequence(f.entries["dependencies"], "dependencies"))
    dependencies = tuple(reader.string(d, "dependencies") for d in dep_nodes)
    return _Parsed(
        path=path,
        reader=reader,
        id=spec_id,
        name=reader.string(f.entries["name"], "name"),
        version=_text(reader, f, "version"),
        description=_text(reader, f, "description"),
        dependencies=dependencies,
        dependency_nodes=dep_nodes,
        operations=tuple(reader.sequence(f.entries["operations"], "operations")),
        checksum=checksum(document),
    )


def _text(reader: Reader, f: Fields, key: str) -> str:
    node = f.get(key)
    if node is None or plain(node) is None:
        return ""
    value = plain(node)
    if isinstance(value, dict | list):
        raise reader.error(node, f"{key} must be text")
    return str(value)


# -- operations ------------------------------------------------------------------------------

Builder = Callable[[Reader, yaml.Node, Schema, str], Operation]
_BUILDERS: dict[str, tuple[Builder, tuple[str, ...], tuple[str, ...]]] = {}


def _builder(
    key: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> Callable[[Callable[[Reader, Fields, Schema, str], Operation]], None]:
    """Register how the operation ``key`` is read: its required and optional fields."""

    def decorate(function: Callable[[Reader, Fields, Schema, str], Operation]) -> None:
        def build(reader: Reader, node: yaml.Node, schema: Schema, what: str) -> Operation:
            fields = reader.fields(node, what, required, (*optional, "acknowledge"))
            return function(reader, fields, schema, what)

        _BUILDERS[key] = (build, required, optional)

    return decorate


def operation_names() -> list[str]:
    """Return the operation keys a spec may use, sorted."""
    return sorted(_BUILDERS)


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
    "create_table",
    ("name", "columns"),
    ("schema", "comment", "primary_key", "uniques", "checks", "foreign_keys", "indexes"),
)
def _create_table(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    name = _table_name(reader, f)
    schema_name, bare = as_key(name)
    columns: list[Column] = []
    pk_columns: list[str] = []
    uniques: list[UniqueConstraint] = []
    for node in reader.sequence(f.entries["columns"], f"{what}.columns"):
        column = read_column(reader, node, "column", ("primary_key", "unique"))
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
    return CreateTable(created)


_EMPTY = yaml.SequenceNode("tag:yaml.org,2002:seq", [])


def _column_unique(table_name: str, column: str) -> UniqueConstraint:
    return UniqueConstraint(default_name(table_name, (column,), "key"), (column,))


def _primary_key(
    reader: Reader, f: Fields, name: str, from_columns: tuple[str, ...]
) -> PrimaryKey | None:
    node = f.get("primary_key")
    if node is None:
        return PrimaryKey(f"{as_key(name)[1]}_pkey", from_columns) if from_columns else None
    if from_columns:
        raise reader.error(
            node, "give the primary key either on columns or as primary_key, not both"
        )
    pk = reader.fields(node, "primary_key", ("columns",), ("name",))
    columns = reader.names(pk.entries["columns"], "primary_key.columns")
    name_node = pk.get("name")
    pk_name = reader.name(name_node, "primary_key.name") if name_node else f"{as_key(name)[1]}_pkey"
    return PrimaryKey(pk_name, columns)


@_builder("drop_table", ("name",), ("schema",))
def _drop_table(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    name = _table_name(reader, f)
    found = schema.get(name)
    if found is None:
        raise reader.error(f.entries["name"], f"table {name} does not exist at this point")
    return DropTable(found)


@_builder("rename_table", ("name", "new_name"), ("schema",))
def _rename_table(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    return RenameTable(_table_name(reader, f), reader.name(f.entries["new_name"], "new_name"))


@_builder("add_column", ("table", "name", "type"), COLUMN_FIELDS)
def _add_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    column_node = yaml.MappingNode(
        "tag:yaml.org,2002:map",
        [(k, v) for k, v in f.node.value if plain(k) not in ("table", "acknowledge")],
        start_mark=f.node.start_mark,
    )
    return AddColumn(table_name, read_column(reader, column_node, what))


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


@_builder("drop_column", ("table", "name"))
def _drop_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    return DropColumn(*_existing_column(reader, f, schema))


@_builder(
    "alter_column",
    ("table", "name"),
    ("type", "using", "reverse_using", "nullable", "server_default", "comment"),
)
def _alter_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name, current = _existing_column(reader, f, schema)
    to, changes = current, ChangeKind.NONE
    if "type" in f:
        to = replace(to, type=reader.type(f.entries["type"], f"{what}.type"))
        changes |= ChangeKind.TYPE
    if "nullable" in f:
        to = replace(to, nullable=reader.boolean(f, "nullable", what))
        changes |= ChangeKind.NULL
    default_node = f.get("server_default")
    if default_node is not None:
        value = None if plain(default_node) is None else reader.expression(default_node, what)
        to = replace(to, default=value)
        changes |= ChangeKind.DEFAULT
    if "comment" in f:
        to = replace(to, comment=reader.optional_string(f, "comment", what))
        changes |= ChangeKind.COMMENT
    if changes is ChangeKind.NONE:
        raise reader.error(
            f.node, f"{what} changes nothing: give type, nullable, server_default or comment"
        )
    if ("using" in f or "reverse_using" in f) and ChangeKind.TYPE not in changes:
        raise reader.error(f.node, f"{what}: using applies only to a type change")
    return AlterColumn(
        table_name,
        current,
        to,
        changes,
        using=reader.optional_string(f, "using", what),
        reverse_using=reader.optional_string(f, "reverse_using", what),
    )


@_builder("rename_column", ("table", "name", "new_name"))
def _rename_column(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name, column = _existing_column(reader, f, schema)
    return RenameColumn(table_name, column.name, reader.name(f.entries["new_name"], "new_name"))


@_builder(
    "create_index", ("table", "columns"), ("name", "unique", "where", "method", "concurrently")
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


@_builder("drop_index", ("name",), ("table", "concurrently"))
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


@_builder("add_primary_key", ("table", "columns"), ("name",))
def _add_primary_key(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    columns = reader.names(f.entries["columns"], "columns")
    name_node = f.get("name")
    name = reader.name(name_node, "name") if name_node else f"{as_key(table_name)[1]}_pkey"
    return AddPrimaryKey(table_name, PrimaryKey(name, columns))


def _constraint_node(f: Fields, drop: tuple[str, ...]) -> yaml.MappingNode:
    return yaml.MappingNode(
        "tag:yaml.org,2002:map",
        [(k, v) for k, v in f.node.value if plain(k) not in drop],
        start_mark=f.node.start_mark,
    )


@_builder(
    "add_foreign_key",
    ("table", "columns", "references"),
    ("name", "on_delete", "on_update", "deferrable", "initially_deferred", "not_valid"),
)
def _add_foreign_key(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    node = _constraint_node(f, ("table", "acknowledge"))
    fk: ForeignKey = read_foreign_key(reader, node, table_name, what)
    return AddForeignKey(table_name, fk)


@_builder("add_unique", ("table", "columns"), ("name", "deferrable"))
def _add_unique(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    node = _constraint_node(f, ("table", "acknowledge"))
    return AddUnique(table_name, read_unique(reader, node, table_name, what))


@_builder("add_check", ("table", "name", "expression"), ("not_valid",))
def _add_check(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    table_name = _table_of(reader, f, schema)
    node = _constraint_node(f, ("table", "acknowledge"))
    return AddCheck(table_name, read_check(reader, node, what))


@_builder("validate_constraint", ("table", "name"))
def _validate_constraint(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    return ValidateConstraint(_table_of(reader, f, schema), reader.name(f.entries["name"], "name"))


@_builder("drop_constraint", ("table", "name"))
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


@_builder("run_sql", ("sql",), ("reverse_sql",))
def _run_sql(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    reverse_node = f.get("reverse_sql")
    reverse = None
    if reverse_node is not None and plain(reverse_node) is not None:
        value = plain(reverse_node)
        if not isinstance(value, str):
            raise reader.error(reverse_node, f"{what}.reverse_sql must be text")
        reverse = value
    return RunSQL(reader.string(f.entries["sql"], f"{what}.sql"), reverse)


@_builder("run_python", ("function",), ("reverse_function",))
def _run_python(reader: Reader, f: Fields, schema: Schema, what: str) -> Operation:
    reverse_node = f.get("reverse_function")
    reverse = None
    if reverse_node is not None and plain(reverse_node) is not None:
        reverse = reader.function_path(reverse_node, f"{what}.reverse_function")
    return RunPython(reader.function_path(f.entries["function"], f"{what}.function"), reverse)


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
    entry = _BUILDERS.get(key)
    if entry is None:
        hint = difflib.get_close_matches(key, sorted(_BUILDERS), n=1)
        suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        raise reader.error(node, f"unknown operation {key}{suggestion}")
    build = entry[0]
    op = build(reader, body, schema, key)
    acknowledge = _acknowledgements(reader, reader.mapping(body, key).get("acknowledge"))
    return replace(op, line=node.start_mark.line + 1, acknowledge=acknowledge)


def _build(parsed: _Parsed, schema: Schema) -> tuple[Migration, Schema]:
    operations = []
    for node in parsed.operations:
        op = read_operation(parsed.reader, node, schema)
        try:
            schema = op.apply(schema)
        except SpecError as exc:
            raise parsed.reader.error(node, f"{exc.path}: {exc.message}") from None
        operations.append(op)
    migration = Migration(
        id=parsed.id,
        name=parsed.name,
        version=parsed.version,
        description=parsed.description,
        dependencies=parsed.dependencies,
        operations=tuple(operations),
        checksum=parsed.checksum,
        path=parsed.path,
    )
    return migration, schema


# -- directories -----------------------------------------------------------------------------


def spec_paths(directory: Path) -> list[Path]:
    """Return the spec files of ``directory``, sorted by name."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())


def _graph(specs: list[_Parsed]) -> MigrationGraph:
    by_id: dict[str, _Parsed] = {}
    for spec in specs:
        if spec.id in by_id:
            first = by_id[spec.id].path
            raise SpecError(str(spec.path), None, f"duplicate id {spec.id} (also in {first})")
        by_id[spec.id] = spec
    for spec in specs:
        for dep, node in zip(spec.dependencies, spec.dependency_nodes, strict=True):
            if dep not in by_id:
                line = node.start_mark.line + 1
                raise GraphError(
                    f"{spec.path}:{line}: {spec.id} depends on {dep}, which does not exist"
                )
    graph = MigrationGraph({s.id: s.dependencies for s in specs})
    try:
        graph.ensure_not_cyclic()
    except GraphError as exc:
        raise GraphError(f"{specs[0].path.parent}: {exc}") from None
    return graph


def load_specs(directory: Path | str) -> list[Migration]:
    """Load every spec of ``directory`` and return them in the order they apply.

    Raises :class:`~dualorm.errors.SpecError` (file and line) for a malformed spec and
    :class:`~dualorm.errors.GraphError` for an unknown or cyclic dependency.
    """
    specs = [_read_header(p) for p in spec_paths(Path(directory))]
    if not specs:
        return []
    graph = _graph(specs)
    by_id = {s.id: s for s in specs}
    schema = Schema()
    migrations = []
    for spec_id in graph.forwards_plan():
        migration, schema = _build(by_id[spec_id], schema)
        migrations.append(migration)
    return migrations


def load_spec(path: Path | str, schema: Schema | None = None) -> Migration:
    """Load the spec at ``path``.

    With ``schema`` (the state the spec applies to), only this file is read. Without it the
    spec's directory is loaded, so drops resolve against the history before it.
    """
    path = Path(path)
    if schema is not None:
        return _build(_read_header(path), schema)[0]
    target = path.resolve()
    for migration in load_specs(path.parent):
        if migration.path is not None and migration.path.resolve() == target:
            return migration
    raise SpecError(str(path), None, "not a change spec (expected a .yaml file)")
