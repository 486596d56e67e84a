"""``migrate new`` and ``migrate make``: spec templates, and the Alembic and Django files.

:func:`new_spec` writes a spec template with the next id, depending on the current heads.
:func:`make` emits an Alembic revision and a Django migration for every spec that lacks one,
whose checksum changed, or whose place in the emitted chain moved; with ``check=True`` it
only reports them. It also writes ``foreign_tables.json``, the tables other owners create
(:mod:`dualorm.spec.foreign`), which the specs are checked against. Everything is loaded and
rendered before the first file is written, so a malformed spec (or any other failure) leaves
every file as it was.

Alembic and Django both refuse a history with two heads, while specs without an order between
them are fine (they run by id). :func:`chain_parents` therefore emits the order dualorm runs
them in: each file runs after its spec's dependencies and after the migration before it in
that order, which keeps one head and never contradicts a declared dependency.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dualorm.config import Config
from dualorm.errors import UsageError
from dualorm.schema import Schema
from dualorm.spec.foreign import (
    ForeignTable,
    collect,
    read_snapshot,
    render_snapshot,
    schema_of,
    snapshot_path,
)
from dualorm.spec.graph import MigrationGraph
from dualorm.spec.model import Migration
from dualorm.spec.squash import REPLACED_VERSIONS, emitted_parents, replaced_ids

ALEMBIC_VERSIONS = Path("alembic") / "versions"
SNAPSHOT_ID = "foreign tables"
"""What an :class:`Artefact` of the foreign-table snapshot names instead of a spec id."""


@dataclass(frozen=True)
class Artefact:
    """One generated file: which spec, which tool, where, and why it is (or was) stale."""

    migration_id: str
    tool: str
    path: Path
    reason: str


def chain_parents(migrations: Sequence[Migration]) -> dict[str, tuple[str, ...]]:
    """Return, per migration id, the ids its emitted file runs after.

    ``migrations`` are in apply order (as :func:`~dualorm.spec.load.load_specs` returns them).
    A declared dependency already implied by the previous migration is left out.
    """
    graph = MigrationGraph({m.id: m.dependencies for m in migrations})
    parents: dict[str, tuple[str, ...]] = {}
    previous: str | None = None
    for m in migrations:
        if previous is None or previous in m.dependencies:
            parents[m.id] = tuple(m.dependencies)
        else:
            covered = graph.ancestors(previous)
            extra = tuple(d for d in m.dependencies if d not in covered)
            parents[m.id] = (previous, *extra)
        previous = m.id
    return parents


def _revision_paths(config: Config, migrations: Sequence[Migration]) -> dict[str, Path]:
    """Where each spec's Alembic revision goes: ``versions/``, or ``replaced/`` for a spec a
    squash replaces (Alembic would otherwise see two bases and two heads)."""
    replaced = replaced_ids(migrations)
    return {
        m.id: config.migrations_path
        / (REPLACED_VERSIONS if m.id in replaced else ALEMBIC_VERSIONS)
        / f"{m.id}.py"
        for m in migrations
    }


def _django_dir(config: Config) -> Path:
    from django.apps import apps

    from dualorm.django_setup import setup

    setup(config.django_settings, offline=True)
    return Path(apps.get_app_config(config.django_app_label).path) / "migrations"


def _app_leaves(config: Config) -> tuple[str, ...]:
    """The latest migrations of the Django app that dualorm did not write (``makemigrations``'
    own), which dualorm's first migration in that app must run after: Django refuses an app
    with two leaves ("Conflicting migrations detected")."""
    from django.db.migrations.loader import MigrationLoader

    label = config.django_app_label
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    own = {key for key in graph.nodes if key[0] == label}
    ours = {key for key in own if _written_by_dualorm(graph.nodes[key])}
    # Those that run after one of dualorm's (makemigrations run later) are not before it.
    theirs = {key for key in own - ours if not ours & set(graph.forwards_plan(key))}
    leaves = [
        key for key in theirs if not any(c.key in theirs for c in graph.node_map[key].children)
    ]
    return tuple(sorted(name for _, name in leaves))


def _written_by_dualorm(migration: object) -> bool:
    """Whether a loaded Django migration's file has dualorm's header."""
    import sys

    from dualorm.emit.pyformat import read_header

    module = sys.modules.get(type(migration).__module__)
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and bool(read_header(Path(file)).get("Spec"))


def _django_parents(
    config: Config, parents: dict[str, tuple[str, ...]]
) -> dict[str, tuple[tuple[str, str], ...]]:
    """Per migration id, the app's own migrations (not dualorm's) its Django file runs after:
    the app's latest ones for the first migration of dualorm's chain, none for the others."""
    leaves = _app_leaves(config)
    label = config.django_app_label
    return {m: tuple((label, n) for n in leaves) if not p else () for m, p in parents.items()}


def _recorded(parents: tuple[str, ...], app: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """What a Django file's header records it runs after (the app's own ones as ``app.name``)."""
    return (*(f"{a}.{n}" for a, n in app), *parents)


def _schemas_before(migrations: Sequence[Migration], start: Schema) -> dict[str, Schema]:
    from dualorm.spec.replay import replay

    graph = MigrationGraph({m.id: m.dependencies for m in migrations})
    by_id = {m.id: m for m in migrations}
    before: dict[str, Schema] = {}
    for m in migrations:
        ancestors = graph.ancestors(m.id) - {m.id}
        ordered = [by_id[i] for i in graph.forwards_plan() if i in ancestors]
        before[m.id] = replay(ordered, start)
    return before


def render_all(
    config: Config,
    migrations: Sequence[Migration],
    foreign: Sequence[ForeignTable] | None = None,
) -> dict[Path, tuple[str, str]]:
    """Return ``{path: (migration id, text)}`` for every file the specs generate.

    ``foreign`` are the tables other owners create (default: the committed snapshot).
    """
    from dualorm.emit.alembic import render_revision
    from dualorm.emit.django import DjangoTarget, model_hints, render_migration
    from dualorm.emit.pyformat import source_name

    django_dir = _django_dir(config)
    if foreign is None:
        foreign = list(read_snapshot(config.migrations_path).values())
    target = DjangoTarget(
        config.django_app_label,
        model_hints(config.django_app_label),
        {f.table.name: (f.model, f.swappable) for f in foreign if f.model is not None},
    )
    parents = emitted_parents(migrations)
    app_parents = _django_parents(config, parents)
    befores = _schemas_before(migrations, schema_of(foreign))
    revisions = _revision_paths(config, migrations)
    files: dict[Path, tuple[str, str]] = {}
    for m in migrations:
        source = source_name(m, config.root)
        before = befores[m.id]
        files[revisions[m.id]] = (m.id, render_revision(m, source, parents[m.id]))
        django_text = render_migration(m, source, before, target, parents[m.id], app_parents[m.id])
        files[django_dir / f"{m.id}.py"] = (m.id, django_text)
    return files


def stale(config: Config, migrations: Sequence[Migration]) -> list[Artefact]:
    """Return the generated files that are missing or do not match their spec."""
    from dualorm.emit.pyformat import expected_header, read_header

    parents = emitted_parents(migrations)
    django = _django_dir(config)
    revisions = _revision_paths(config, migrations)
    app_parents = _django_parents(config, parents)
    found = []
    for m in migrations:
        for tool in ("alembic", "django"):
            after = parents[m.id]
            if tool == "django":
                after = _recorded(after, app_parents[m.id])
            wanted = expected_header(m, after)
            path = revisions[m.id] if tool == "alembic" else django / f"{m.id}.py"
            recorded = read_header(path)
            if not path.exists():
                reason = "missing"
            elif recorded.get("Checksum") != wanted["Checksum"]:
                reason = "checksum changed"
            elif recorded.get("Runs after") != wanted["Runs after"]:
                reason = "emitted order changed"
            else:
                continue
            found.append(Artefact(m.id, tool, path, reason))
    return found


def make(config: Config, *, check: bool = False) -> list[Artefact]:
    """Write (or with ``check``, only list) the generated files that are stale.

    Raises :class:`~dualorm.errors.SpecError` or :class:`~dualorm.errors.GraphError` for a
    malformed spec before anything is written.
    """
    from dualorm.spec.load import load_specs

    directory = config.migrations_path
    _django_dir(config)  # sets Django up: the foreign tables come from its app registry
    foreign = collect(config)
    migrations = load_specs(directory, foreign={f.table.key: f for f in foreign})
    snapshot = _stale_snapshot(config, foreign)
    outdated = stale(config, migrations)
    _refuse_foreign_files(config, outdated)
    if check or not (outdated or snapshot):
        return [*snapshot, *outdated]
    rendered = render_all(config, migrations, foreign)
    for artefact in snapshot:
        artefact.path.parent.mkdir(parents=True, exist_ok=True)
        artefact.path.write_text(render_snapshot(foreign), encoding="utf-8")
    for artefact in outdated:
        artefact.path.parent.mkdir(parents=True, exist_ok=True)
        init = artefact.path.parent / "__init__.py"
        if artefact.tool == "django" and not init.exists():
            init.write_text("", encoding="utf-8")
        artefact.path.write_text(rendered[artefact.path][1], encoding="utf-8")
    return [*snapshot, *outdated]


def _stale_snapshot(config: Config, foreign: Sequence[ForeignTable]) -> list[Artefact]:
    """The foreign-table snapshot, when it does not hold what the owners' models say now."""
    path = snapshot_path(config.migrations_path)
    if not path.exists():
        return [Artefact(SNAPSHOT_ID, "snapshot", path, "missing")] if foreign else []
    try:
        current = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current == render_snapshot(foreign):
        return []
    return [Artefact(SNAPSHOT_ID, "snapshot", path, "the owners' models changed")]


def _refuse_foreign_files(config: Config, outdated: Sequence[Artefact]) -> None:
    """Refuse (exit 3) to overwrite a file dualorm did not write (``makemigrations``' own)."""
    from dualorm.emit.pyformat import read_header
    from dualorm.errors import SafetyError

    for artefact in outdated:
        path = artefact.path
        if path.exists() and read_header(path).get("Spec") != artefact.migration_id:
            shown = path.relative_to(config.root) if path.is_relative_to(config.root) else path
            raise SafetyError(
                f"{shown} was not written by dualorm (it has no dualorm header for "
                f"{artefact.migration_id}), so `migrate make` does not overwrite it: move it "
                f"away, or give the spec another id (`dualorm migrate new` picks the next free "
                "one); nothing was written"
            )


# -- new specs --------------------------------------------------------------------------------

_ID = re.compile(r"^(\d+)_")


def _slug(name: str) -> str:
    words = re.findall(r"[a-z0-9]+", name.lower())
    if not words:
        raise UsageError(f"migration name {name!r} has no letters or digits to build an id from")
    return "_".join(words)


def next_id(config: Config, name: str) -> str:
    """Return the id a new spec called ``name`` gets: the next number, then the slug."""
    from dualorm.spec.load import spec_paths

    numbers = [
        int(m.group(1)) for p in spec_paths(config.migrations_path) if (m := _ID.match(p.stem))
    ]
    return f"{max(numbers, default=0) + 1:04d}_{_slug(name)}"


def new_spec(config: Config, name: str) -> Path:
    """Write a spec template for ``name`` depending on the current heads; return its path."""
    from dualorm.spec.load import load_specs

    heads = MigrationGraph(
        {m.id: m.dependencies for m in load_specs(config.migrations_path)}
    ).leaf_nodes()
    spec_id = next_id(config, name)
    path = config.migrations_path / f"{spec_id}.yaml"
    if path.exists():
        raise UsageError(f"{path} already exists")
    deps = "[" + ", ".join(f'"{h}"' for h in heads) + "]"
    title = name.strip().replace('"', "'")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'id: "{spec_id}"\n'
        f'name: "{title}"\n'
        "version: 0.1.0\n"
        'description: ""\n'
        f"dependencies: {deps}\n"
        "operations:\n"
        "  # One operation per item, each a one-key mapping, for example:\n"
        "  # - add_column: {table: users, name: nickname, type: varchar(50)}\n"
        "  # - create_index: {name: users_nickname_idx, table: users, columns: [nickname]}\n"
        "  []\n",
        encoding="utf-8",
    )
    return path
