"""``migrate new`` and ``migrate make``: spec templates, and the Alembic and Django files.

:func:`new_spec` writes a spec template with the next id, depending on the current heads.
:func:`make` emits an Alembic revision and a Django migration for every spec that lacks one,
whose checksum changed, or whose place in the emitted chain moved; with ``check=True`` it
only reports them. It also writes ``foreign_tables.json``, the tables other owners create
(:mod:`dualorm.spec.foreign`), which the specs are checked against. Everything is loaded and
rendered before the first file is written, so a malformed spec (or any other failure) leaves
every file as it was.

Each emitted file runs after the files :func:`~dualorm.spec.lineage.emitted_parents` names, so
Alembic and Django see one head.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from dualorm import django_setup
from dualorm.config import Config
from dualorm.emit.pyformat import expected_header, read_header, source_name
from dualorm.errors import SafetyError, UsageError
from dualorm.schema import Schema
from dualorm.spec.apps import assign
from dualorm.spec.artefact import NO_LONGER_EMITTED, Artefact
from dualorm.spec.cache import SpecCache
from dualorm.spec.django_files import (
    Headers,
    dualorm_apps,
    makemigrations_free,
    migrations_dir,
    orphans,
    plan,
    project_apps,
)
from dualorm.spec.files import next_id
from dualorm.spec.foreign import (
    ForeignTable,
    collect,
    created_tables,
    read_snapshot,
    render_snapshot,
    schema_of,
    snapshot_path,
)
from dualorm.spec.graph import MigrationGraph
from dualorm.spec.lineage import emitted_parents, replaced_ids
from dualorm.spec.model import Migration
from dualorm.spec.replay import replay

if TYPE_CHECKING:
    from dualorm.schema import TableKey
    from dualorm.spec.django_files import DjangoFile

ALEMBIC_VERSIONS = Path("alembic") / "versions"
REPLACED_VERSIONS = Path("alembic") / "replaced"
"""Where the Alembic revisions a squash replaces are kept (outside ``versions/``)."""
SNAPSHOT_ID = "foreign tables"
"""What an :class:`~dualorm.spec.artefact.Artefact` of the foreign-table snapshot names
instead of a spec id."""


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


def _setup(config: Config) -> None:
    django_setup.setup(config.django_settings, offline=True)


def _migrations_dir(config: Config, app: str) -> Path:
    """The migrations package of ``app``, where its Django files go."""

    return migrations_dir(app)


def django_files(
    config: Config,
    migrations: Sequence[Migration],
    foreign: Sequence[ForeignTable],
    headers: Headers | None = None,
) -> list[DjangoFile]:
    """The Django files of ``migrations`` (see :mod:`dualorm.spec.django_files`)."""

    _setup(config)
    files = plan(config, migrations, foreign, emitted_parents(migrations), _leaves, headers)
    folders = {app: _migrations_dir(config, app) for app in {f.app for f in files}}
    return [replace(f, path=folders[f.app] / f.path.name) for f in files]


def _leaves(labels: Sequence[str], headers: Headers) -> dict[str, tuple[str, ...]]:
    """The apps' leaves before dualorm's files (:data:`dualorm.spec.django_files.Leaves`)."""
    if makemigrations_free(labels, headers):
        return dict.fromkeys(labels, ())
    # Imported here: Django's migration loader imports its whole model layer, which an app
    # holding only dualorm's files does not need.
    from dualorm.spec.django_graph import app_leaves

    return app_leaves(labels, headers)


def _schemas_before(migrations: Sequence[Migration], start: Schema) -> dict[str, Schema]:

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
    # Imported here: the emitters bring Alembic, SQLAlchemy and Django (some 320 modules),
    # which only make needs; migrate new and autogenerate's next id import this module too.
    from dualorm.emit.alembic import render_revision
    from dualorm.emit.django import Layout, render_migration
    from dualorm.emit.django_target import DjangoTarget, model_hints

    if foreign is None:
        foreign = list(read_snapshot(config.migrations_path).values())
    planned = django_files(config, migrations, foreign)
    hints = {
        table: model for app in project_apps(config) for table, model in model_hints(app).items()
    }
    labels = {f.table.name: (f.model, f.swappable) for f in foreign if f.model is not None}
    placements = assign(migrations, config.default_app)
    parents = emitted_parents(migrations)
    befores = _schemas_before(migrations, schema_of(foreign))
    revisions = _revision_paths(config, migrations)
    by_id = {m.id: m for m in migrations}
    files: dict[Path, tuple[str, str]] = {}
    for m in migrations:
        source = source_name(m, config.root)
        files[revisions[m.id]] = (m.id, render_revision(m, source, parents[m.id]))
    in_app = {(f.app, f.migration_id) for f in planned}
    for f in planned:
        m = by_id[f.migration_id]
        placement = placements[m.id]
        owners = {key[1]: app for key, app in placement.owners.items()}
        through = {key[1]: fact for key, fact in placement.through.items()}
        target = DjangoTarget(f.app, hints, labels, owners, through)
        replaces = tuple(r for r in m.replaces if (f.app, r) in in_app)
        layout = Layout(f.indexes, f.dependencies, f.recorded, f.initial, f.foreign, replaces)
        text = render_migration(
            m, source_name(m, config.root), befores[m.id], target, layout=layout
        )
        files[f.path] = (m.id, text)
    return files


def stale(
    config: Config,
    migrations: Sequence[Migration],
    foreign: Sequence[ForeignTable] | None = None,
) -> list[Artefact]:
    """Return the generated files that are missing, do not match their spec, or that dualorm
    wrote for an app no spec gives a file in any more (``no longer emitted``)."""

    if foreign is None:
        foreign = list(read_snapshot(config.migrations_path).values())
    parents = emitted_parents(migrations)
    revisions = _revision_paths(config, migrations)
    wanted: list[tuple[str, str, Path, dict[str, str]]] = [
        (m.id, "alembic", revisions[m.id], expected_header(m, parents[m.id])) for m in migrations
    ]
    by_id = {m.id: m for m in migrations}
    read_header = Headers()
    planned = django_files(config, migrations, foreign, read_header)
    for f in planned:
        header = expected_header(by_id[f.migration_id], f.recorded, f.foreign)
        wanted.append((f.migration_id, "django", f.path, header))
    found = []
    for migration_id, tool, path, header in wanted:
        recorded = read_header(path)
        if not path.exists():
            reason = "missing"
        elif recorded.get("Checksum") != header["Checksum"]:
            reason = "checksum changed"
        elif recorded.get("Runs after") != header["Runs after"]:
            reason = "emitted order changed"
        elif recorded.get("Foreign tables") != header.get("Foreign tables"):
            reason = "the foreign tables it uses changed"
        else:
            continue
        found.append(Artefact(migration_id, tool, path, reason))
    folders = [_migrations_dir(config, app) for app in project_apps(config)]
    for spec, path in orphans(folders, planned, read_header):
        found.append(Artefact(spec, "django", path, NO_LONGER_EMITTED))
    return found


def make(config: Config, *, check: bool = False) -> list[Artefact]:
    """Write (or with ``check``, only list) the generated files that are stale.

    Raises :class:`~dualorm.errors.SpecError` or :class:`~dualorm.errors.GraphError` for a
    malformed spec before anything is written.
    """
    foreign, migrations = _load(config)
    snapshot = _stale_snapshot(config, foreign)
    outdated = stale(config, migrations, foreign)
    _refuse_foreign_files(config, outdated)
    if check or not (outdated or snapshot):
        return [*snapshot, *outdated]
    rendered = render_all(config, migrations, foreign)
    for artefact in snapshot:
        artefact.path.parent.mkdir(parents=True, exist_ok=True)
        artefact.path.write_text(render_snapshot(foreign), encoding="utf-8")
    for artefact in outdated:
        if artefact.reason == NO_LONGER_EMITTED:
            artefact.path.unlink()
            continue
        artefact.path.parent.mkdir(parents=True, exist_ok=True)
        init = artefact.path.parent / "__init__.py"
        if artefact.tool == "django" and not init.exists():
            init.write_text("", encoding="utf-8")
        artefact.path.write_text(rendered[artefact.path][1], encoding="utf-8")
    return [*snapshot, *outdated]


def outdated(config: Config, migrations: Sequence[Migration]) -> list[Artefact]:
    """What ``make --check`` lists, for specs loaded already: the foreign-table snapshot when
    the owners' models changed, and each missing or stale emitted file."""

    _setup(config)  # the foreign tables come from Django's app registry
    cache = SpecCache(config.migrations_path, _cache_dir(config))
    kept = cache.created()
    created = _created(config, cache)
    if kept is None:
        # ``migrations`` are what the specs load as under the cache's key (the caller read
        # them through it): keep the tables beside them, as `make` does, so the next run
        # parses no YAML.
        cache.store(list(migrations), created)
    foreign = collect(config, created, own_apps(config, created))
    return [*_stale_snapshot(config, foreign), *stale(config, migrations, foreign)]


def record_foreign(config: Config) -> Path | None:
    """Write ``foreign_tables.json`` as :func:`make` would, when it does not hold what the
    owners' models say now, and return its path (``None``: it was current).

    For ``migrate new --autogenerate``, whose spec references a table another owner creates
    that the snapshot lacks: every command loads that spec only against the snapshot, and
    the emitted files wait for ``migrate make`` as before.
    """
    _setup(config)  # the foreign tables come from Django's app registry
    created = created_tables(config.migrations_path)
    foreign = collect(config, created, own_apps(config, created))
    if not _stale_snapshot(config, foreign):
        return None
    path = snapshot_path(config.migrations_path)
    path.write_text(render_snapshot(foreign), encoding="utf-8")
    return path


def own_apps(config: Config, created: Collection[TableKey]) -> frozenset[str]:
    """The Django apps dualorm writes every migration of, whose tables are never another
    owner's: of the default app, the apps of the tables the specs create and the apps
    ``django_apps`` lists, each one of the project's own whose migrations folder holds no
    ``makemigrations`` file (an app Django migrates too keeps its models' tables foreign until
    a spec creates them). Django is set up."""
    # Imported here: the model sets (Django, SQLAlchemy) load only when their tables are read.
    from dualorm.sources import django as django_source

    if not config.has("django_settings") or not config.has("django_app_label"):
        return frozenset()
    owners = django_source.table_apps(config.django_settings)
    candidates = {config.default_app, *(owners[k] for k in created if k in owners)}
    candidates.update(config.django_apps or ())
    return dualorm_apps(config, candidates)


def _cache_dir(config: Config) -> Path:
    return config.state_dir / "cache"


def _created(config: Config, cache: SpecCache) -> set[TableKey]:
    """The tables the specs create: kept by the cache, or read from the YAML."""
    kept = cache.created()
    return created_tables(config.migrations_path) if kept is None else kept


def _load(config: Config) -> tuple[list[ForeignTable], list[Migration]]:
    """The foreign tables as the owners' models say now, and the specs checked against them.

    The specs come from the spec cache when the committed snapshot holds exactly those
    tables (the cache is keyed on the snapshot, and loading against the same tables gives the
    same migrations); otherwise, or on a miss, they are loaded in full against the new ones.
    """

    directory = config.migrations_path
    cache = SpecCache(directory, _cache_dir(config))
    _setup(config)  # the foreign tables come from Django's app registry
    kept = cache.created()
    created = _created(config, cache)
    foreign = collect(config, created, own_apps(config, created))
    current = not _stale_snapshot(config, foreign)
    hit = cache.migrations() if current else None
    if hit is not None:
        if kept is None:
            cache.store(hit, created)
        return foreign, hit

    # Imported on a miss only: the YAML loader and the differ, which a cache hit skips.
    from dualorm.spec.load import load_specs

    migrations = load_specs(directory, foreign={f.table.key: f for f in foreign})
    if current:
        cache.store(migrations, created)
    return foreign, migrations


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


def new_spec(config: Config, name: str) -> Path:
    """Write a spec template for ``name`` depending on the current heads; return its path."""

    # Imported when used: the YAML loader, which `make --check` on a cache hit never needs.
    from dualorm.spec.load import load_specs

    heads = MigrationGraph(
        {m.id: m.dependencies for m in load_specs(config.migrations_path)}
    ).leaf_nodes()
    spec_id = next_id(config.migrations_path, name)
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
