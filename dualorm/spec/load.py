"""Loading change specs: ``migrations/*.yaml`` -> checked, ordered :class:`Migration` values.

A spec is YAML, read with the safe loader through ``yaml.compose`` so that every fault names
its file and line (:class:`~dualorm.errors.SpecError`, exit code 2). At most
:data:`MAX_SPEC_BYTES` are read, and :func:`dualorm.spec.reader.compose` refuses anchors and
aliases, tags, merge keys, keys that are not text or are given twice, NUL characters and a
second document before anything is built or hashed. Its shape::

    id: "0003_add_user_preferences"      # must equal the file name without .yaml
    name: Add user preferences table
    version: 1.2.0                        # optional
    description: ...                      # optional
    dependencies: ["0001_initial"]        # [] for a root
    replaces: ["0001_initial", ...]       # optional: a squash (dualorm.spec.squash)
    operations:                           # each a one-key mapping
      - create_table: {name: ..., columns: [...], foreign_keys: [...], indexes: [...]}
      - create_index: {name: ..., table: ..., columns: [...], where: ..., concurrently: true}
      - drop_column: {table: users, name: image, acknowledge: [{rule: ..., reason: ...}]}

Specs are replayed in dependency order while loading: each operation is applied to the schema
the earlier ones produced, so a drop that names only its object gets the full object (what
its reverse needs), and an operation that does not fit the schema is reported at its line.
The checksum is the sha256 of the canonical content (the parsed document as sorted JSON):
comments and layout do not change it, any change of meaning does. This module holds the
header, the dependency graph and the directory driver; how each operation is read lives in
:mod:`dualorm.spec.builders`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from dualorm.diff import compare
from dualorm.errors import GraphError, SpecError
from dualorm.schema import Schema, TableKey
from dualorm.spec.builders import read_operation
from dualorm.spec.files import spec_paths
from dualorm.spec.foreign import ForeignTable, check_operation, read_snapshot, schema_of
from dualorm.spec.graph import MigrationGraph
from dualorm.spec.lineage import squash_order
from dualorm.spec.model import Migration
from dualorm.spec.reader import Fields, Reader, compose, plain
from dualorm.spec.reader import document as read_document
from dualorm.spec.replay import replay, start_schema

HEADER_REQUIRED = ("id", "name", "dependencies", "operations")
HEADER_OPTIONAL = ("version", "description", "replaces")
MAX_SPEC_BYTES = 10 * 2**20
"""Largest spec file read; a real one is a few kilobytes."""


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
    replaces: tuple[str, ...] = ()
    replaces_node: yaml.Node | None = None


def _read_text(path: Path, data: bytes | None = None) -> str:
    """Return the spec's text (its bytes ``data`` when read already), refusing a file larger
    than :data:`MAX_SPEC_BYTES`."""
    if data is None:
        try:
            with path.open("rb") as handle:
                data = _read_at_most(handle, MAX_SPEC_BYTES + 1)
        except OSError as exc:
            raise SpecError(str(path), None, f"cannot read the spec: {exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            str(path), None, f"the spec is larger than {MAX_SPEC_BYTES // 2**20} MiB; split it"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError(str(path), line, f"not UTF-8 text: {exc.reason}") from None


def _read_at_most(handle: BinaryIO, limit: int) -> bytes:
    """Return the first ``limit`` bytes of ``handle`` (all of it if shorter).

    ``read(limit)`` allocates ``limit`` bytes before it reads one (10 MiB per spec, most
    of a small spec's read time); the file's size asks for what it holds, and a file that
    holds more than it said (one growing, a device) is read on up to ``limit``.
    """
    wanted = min(os.fstat(handle.fileno()).st_size, limit)
    data = handle.read(wanted + 1) if wanted < limit else handle.read(limit)
    if len(data) <= wanted:
        return data
    return data + handle.read(limit - len(data))


def _read_header(path: Path, data: bytes | None = None) -> _Parsed:
    reader = Reader(path)
    # Screened before anything is built or hashed: the checksum sees a plain tree only.
    root = compose(path, _read_text(path, data))
    if root is None:
        raise SpecError(str(path), None, "the spec is empty")
    document = read_document(path, root)
    f = reader.fields(root, "spec", HEADER_REQUIRED, HEADER_OPTIONAL)
    spec_id = reader.string(f.entries["id"], "id")
    if spec_id != path.stem:
        raise reader.error(
            f.entries["id"],
            f"id {spec_id!r} does not match the file name {path.name!r}; use id {path.stem!r}",
        )
    dep_nodes = tuple(reader.sequence(f.entries["dependencies"], "dependencies"))
    dependencies = tuple(reader.string(d, "dependencies") for d in dep_nodes)
    replaces_node = f.get("replaces")
    replaces: tuple[str, ...] = ()
    if replaces_node is not None:
        replaces = tuple(
            reader.string(r, "replaces") for r in reader.sequence(replaces_node, "replaces")
        )
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
        replaces=replaces,
        replaces_node=replaces_node,
    )


def _text(reader: Reader, f: Fields, key: str) -> str:
    node = f.get(key)
    if node is None or plain(node) is None:
        return ""
    value = plain(node)
    if isinstance(value, dict | list):
        raise reader.error(node, f"{key} must be text")
    return str(value)


# -- replay ----------------------------------------------------------------------------------


def _build(
    parsed: _Parsed, schema: Schema, foreign: Mapping[TableKey, ForeignTable] | None = None
) -> tuple[Migration, Schema]:
    operations = []
    for node in parsed.operations:
        op = read_operation(parsed.reader, node, schema)
        refused = check_operation(op, foreign) if foreign else None
        if refused is not None:
            raise parsed.reader.error(node, refused)
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
        replaces=parsed.replaces,
    )
    return migration, schema


# -- directories -----------------------------------------------------------------------------


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
    graph = MigrationGraph(squash_order({s.id: s.dependencies for s in specs}, _squashes(specs)))
    try:
        graph.ensure_not_cyclic()
    except GraphError as exc:
        raise GraphError(f"{specs[0].path.parent}: {exc}") from None
    return graph


def load_specs(
    directory: Path | str,
    *,
    foreign: Mapping[TableKey, ForeignTable] | None = None,
    files: Mapping[Path, bytes] | None = None,
) -> list[Migration]:
    """Load every spec of ``directory`` and return them in the order they apply.

    The replay starts from the tables other owners create (``foreign_tables.json``, see
    :mod:`dualorm.spec.foreign`); an operation that changes one of them is refused at its
    line; ``foreign`` replaces the snapshot (``migrate make`` checks the specs against the
    tables it is about to write). ``files`` are the spec files and their bytes when the caller
    read them already (the spec cache, for its key), in name order. Raises
    :class:`~dualorm.errors.SpecError` (file and line) for a malformed spec and
    :class:`~dualorm.errors.GraphError` for an unknown or cyclic dependency.
    """
    directory = Path(directory)
    if files is None:
        specs = [_read_header(p) for p in spec_paths(directory)]
    else:
        specs = [_read_header(p, data) for p, data in files.items()]
    if not specs:
        return []
    graph = _graph(specs)
    by_id = {s.id: s for s in specs}
    if foreign is None:
        foreign = read_snapshot(directory)
        schema = start_schema(directory)
    else:
        schema = schema_of(foreign.values())
    migrations = []
    before: dict[str, Schema] = {}
    for spec_id in graph.forwards_plan():
        parsed = by_id[spec_id]
        before[spec_id] = schema
        if parsed.replaces and parsed.replaces[0] in before:
            migration, built = _build(parsed, before[parsed.replaces[0]], foreign)
            _check_squash(parsed, built, schema)
        else:
            migration, schema = _build(parsed, schema, foreign)
        migrations.append(migration)
    return migrations


def _squashes(specs: list[_Parsed]) -> dict[str, tuple[str, ...]]:
    """The squashes whose replaced specs are present; refuses a squash missing some of them."""
    present = {s.id for s in specs}
    found = {}
    for spec in specs:
        there = [r for r in spec.replaces if r in present]
        if there and len(there) != len(spec.replaces):
            gone = ", ".join(r for r in spec.replaces if r not in present)
            node = spec.replaces_node
            line = node.start_mark.line + 1 if node is not None else None
            raise SpecError(
                str(spec.path),
                line,
                f"{spec.id} replaces {gone}, whose spec is gone while others it replaces are "
                "still there: keep every replaced spec or none",
            )
        if there:
            found[spec.id] = spec.replaces
    return found


def _check_squash(parsed: _Parsed, built: Schema, replayed: Schema) -> None:
    """Refuse a squash that does not build exactly what the specs it replaces build."""
    if built == replayed:
        return

    shown = "; ".join(
        d.detail for d in compare(built, replayed, source="squash", target="replay")[:5]
    )
    raise SpecError(
        str(parsed.path),
        None,
        f"{parsed.id} does not build what the specs it replaces build: "
        f"{shown or 'the schemas differ'}",
    )


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


def replay_directory(directory: Path | str) -> Schema:
    """Load the specs of ``directory`` and return the schema they build."""
    return replay(load_specs(directory), start_schema(directory))
