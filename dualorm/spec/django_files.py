"""The Django migration files the specs give: one per spec and app, with Django's dependencies.

A spec's operations land in the apps that own their tables (:mod:`dualorm.spec.apps`), so one
spec may give a file in each of several apps, all named by the spec's id. :func:`plan` says,
without rendering anything, which files there are and what each runs after:

- the app's previous dualorm file; for the app's first one, the app's latest migrations that
  ``makemigrations`` wrote (Django refuses an app with two leaves);
- the files of the specs the spec runs after (:func:`~dualorm.spec.lineage.chain_parents`), so
  Django runs them in dualorm's order;
- the file of another app of the same spec whose tables its foreign keys point at (a cycle
  between two apps of one spec is a :class:`~dualorm.errors.SpecError`: split the spec);
- for a foreign key to a table another owner creates, that app's latest migration, or
  ``settings.AUTH_USER_MODEL``'s swappable dependency for the user model; for an app dualorm
  also writes into, its latest file at that point instead (``__latest__`` would be a later
  dualorm file, and a cycle).

The apps must be the project's own (installed, neither from a package index nor Django's or
dualorm's own): a ``create_table`` naming any other app, or a ``default_app`` that is not
one, is exit 2. A table the models of one of the project's apps declare goes to that app, so
``create_table`` must name it when it is not the default app.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

from dualorm.config import Config
from dualorm.emit.pyformat import read_header
from dualorm.errors import ConfigError, SpecError
from dualorm.schema import ForeignKey, TableKey, as_key
from dualorm.spec.apps import AppOperations, Placement, assign
from dualorm.spec.foreign import ForeignTable, render_snapshot
from dualorm.spec.model import Migration
from dualorm.spec.ops import CreateTable, Operation

__all__ = [
    "DjangoFile",
    "Headers",
    "Leaves",
    "declared_tables",
    "dualorm_apps",
    "makemigrations_free",
    "migrations_dir",
    "orphans",
    "plan",
    "project_apps",
]

Dependency = tuple[str, str]
"""``(app, migration name)``; the name may be ``__latest__``, the app ``__setting__``."""


@dataclass(frozen=True)
class DjangoFile:
    """One Django migration file: which spec, which app, which of its operations, and what
    it runs after (``recorded`` is what the header says: dualorm's own ids bare, other
    migrations as ``app.name``; ``foreign`` the digest of the foreign tables it uses)."""

    migration_id: str
    app: str
    indexes: tuple[int, ...]
    dependencies: tuple[Dependency, ...]
    recorded: tuple[str, ...]
    initial: bool
    foreign: str | None
    path: Path


def migrations_dir(app: str) -> Path:
    """The migrations package of installed app ``app`` (Django is set up)."""
    from django.apps import apps

    return Path(apps.get_app_config(app).path) / "migrations"


def project_apps(config: Config) -> dict[str, Path]:
    """The installed apps that are the project's own, by label: not installed from a package
    index (``site-packages``), not Django's contrib apps, not dualorm's."""
    from django.apps import apps

    found = {}
    for app in apps.get_app_configs():
        path = Path(app.path).resolve()
        installed = {"site-packages", "dist-packages"} & set(path.parts)
        bundled = app.name.startswith(("django.", "dualorm."))
        if not installed and not bundled:
            found[app.label] = path
    return found


def _check_app(config: Config, app: str, own: Mapping[str, Path], where: Any) -> None:
    from django.apps import apps

    if app in own:
        return
    if app not in apps.app_configs:
        what = f"{app!r} is not an installed Django app"
    else:
        name = apps.get_app_config(app).name
        what = f"{app!r} ({name}) is not one of the project's own apps"
    message = f"{what}; dualorm writes migrations only into the project's own apps: " + (
        ", ".join(sorted(own)) or "none installed"
    )
    if where is None:
        raise ConfigError(
            f"{config.pyproject or 'pyproject.toml'}: [tool.dualorm] default_app {message}"
        )
    path, line = where
    raise SpecError(path, line, f"app {message}")


def _check_apps(config: Config, migrations: Sequence[Migration], own: Mapping[str, Path]) -> None:
    """Refuse an ``app`` or ``default_app`` that is not the project's, and a table the models
    of another app declare than the one it goes to."""
    _check_app(config, config.default_app, own, None)
    declared = {table: app for app in own for table in declared_tables(app)}
    for m in migrations:
        for op in m.operations:
            if not isinstance(op, CreateTable):
                continue
            where = (str(m.path or m.id), op.line)
            if op.app is not None:
                _check_app(config, op.app, own, where)
            app = op.app or config.default_app
            model_app = declared.get(op.definition.name)
            if model_app is not None and model_app != app:
                raise SpecError(
                    *where,
                    f"{op.describe()}: table {op.definition.name} is declared by the models of app "
                    f"{model_app}, but would go to app {app}; give it `app: {model_app}`",
                )
    _check_through_apps(migrations, config.default_app)


def _check_through_apps(migrations: Sequence[Migration], default_app: str) -> None:
    """Refuse the table of a ``ManyToManyField`` (``many_to_many``) whose ``app:`` is not the
    app of the field's model: Django creates it in that app's migrations, with the field."""
    if not any(
        isinstance(op, CreateTable) and op.many_to_many for m in migrations for op in m.operations
    ):
        return
    placements = assign(migrations, default_app)
    for m in migrations:
        for op in m.operations:
            if not isinstance(op, CreateTable) or op.many_to_many is None or op.app is None:
                continue
            fact = op.many_to_many
            owner_app = placements[m.id].owners.get(as_key(fact.table), default_app)
            if op.app != owner_app:
                raise SpecError(
                    str(m.path or m.id),
                    op.line,
                    f"{op.describe()}: the table of ManyToManyField {fact.field} of "
                    f"{fact.table} is in that table's app {owner_app}, not {op.app}; give it "
                    f"`app: {owner_app}` or leave app out",
                )


def declared_tables(app_label: str) -> set[str]:
    """The tables of the concrete, managed models of installed app ``app_label`` (the tables
    :func:`dualorm.emit.django_target.model_hints` maps to their models)."""
    from django.apps import apps

    found = set()
    for model in apps.get_app_config(app_label).get_models():
        meta = model._meta
        if meta.managed and not meta.proxy and not meta.abstract:
            found.add(meta.db_table)
    return found


def dualorm_apps(config: Config, labels: Iterable[str]) -> frozenset[str]:
    """The apps of ``labels`` that dualorm writes every migration of: the project's own
    (:func:`project_apps`) whose migrations folder holds no ``makemigrations`` file
    (:func:`makemigrations_free`). Django is set up."""
    own, headers = project_apps(config), Headers()
    return frozenset(app for app in labels if app in own and makemigrations_free([app], headers))


def makemigrations_free(labels: Sequence[str], headers: Headers) -> bool:
    """Whether every migration of the apps ``labels`` is a file dualorm wrote.

    Then none is ``makemigrations``' own, no app has a latest migration dualorm's first file
    must run after, and Django's migration graph (:func:`dualorm.spec.django_graph.app_leaves`,
    which imports Django's migration machinery and reads every file) has nothing to add. What
    this cannot tell from the files for certain (a ``MIGRATION_MODULES`` setting, a package in
    several folders, a module that is not a ``.py`` source) is a no. Django is set up.
    """
    from django.apps import apps
    from django.conf import settings

    if set(labels) & set(getattr(settings, "MIGRATION_MODULES", None) or {}):
        return False
    for label in labels:
        # The package Django's loader imports for the app (its MigrationLoader.migrations_module).
        spec = importlib.util.find_spec(f"{apps.get_app_config(label).name}.migrations")
        if spec is None or spec.submodule_search_locations is None or spec.origin is None:
            continue  # no migrations package (or a namespace one): Django loads none
        folders = list(spec.submodule_search_locations)
        if len(folders) != 1 or not _dualorm_files_only(Path(folders[0]), headers):
            return False
    return True


def _dualorm_files_only(folder: Path, headers: Headers) -> bool:
    """Whether every module of the migrations package in ``folder`` is a ``.py`` file with a
    dualorm header (the modules Django's loader lists: not packages, not ``_`` or ``~``)."""
    entries = set(os.listdir(folder))
    for entry in sorted(entries):
        name = inspect.getmodulename(entry)
        if name is None or name[0] in "_~" or "." in name:
            continue
        if any(f"{name}{suffix}" in entries for suffix in EXTENSION_SUFFIXES):
            return False  # the path finder would load the extension module
        source = folder / f"{name}.py"
        if f"{name}.py" not in entries or not source.is_file() or not headers(source).get("Spec"):
            return False
    return True


class Headers:
    """The generated-file headers one command reads, each file read once
    (:func:`dualorm.emit.pyformat.read_header`)."""

    def __init__(self) -> None:
        self._read: dict[Path, dict[str, str]] = {}

    def __call__(self, path: Path) -> dict[str, str]:
        found = self._read.get(path)
        if found is None:
            found = self._read[path] = read_header(path)
        return found


def _foreign_keys(value: Any) -> list[ForeignKey]:
    """Every foreign key in ``value`` (operations, tables, any nesting of them), in order."""
    found: list[ForeignKey] = []
    _collect_foreign_keys(value, found)
    return found


def _collect_foreign_keys(value: Any, found: list[ForeignKey]) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if isinstance(value, ForeignKey):
        found.append(value)
    elif isinstance(value, tuple | list):
        for item in value:
            _collect_foreign_keys(item, found)
    else:
        for name in _field_names(kind):
            _collect_foreign_keys(getattr(value, name), found)


_SCALARS = frozenset({str, int, float, bool, type(None)})


_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    """The fields of dataclass ``kind`` (none for any other type)."""
    found = _FIELDS.get(kind)
    if found is None:
        found = _FIELDS[kind] = tuple(f.name for f in fields(kind)) if is_dataclass(kind) else ()
    return found


def _digest(tables: Sequence[ForeignTable]) -> str | None:
    if not tables:
        return None
    return hashlib.sha256(render_snapshot(tables).encode()).hexdigest()[:16]


@dataclass
class _History:
    """What the planner knows so far: each app's latest file, each spec's apps."""

    leaves: Mapping[str, tuple[str, ...]]
    written: frozenset[str]
    foreign: Mapping[TableKey, ForeignTable]
    latest: dict[str, str]
    apps_of: dict[str, tuple[str, ...]]
    folders: Mapping[str, Path]
    """Each app's migrations package."""


def _references(
    ops: Sequence[Operation], placement: Placement, app: str, history: _History, same: Sequence[str]
) -> tuple[list[Dependency], list[Dependency], list[ForeignTable]]:
    """The same-spec files, earlier files and foreign apps the FKs of ``ops`` need."""
    same_spec: list[Dependency] = []
    earlier: list[Dependency] = []
    foreign: dict[TableKey, ForeignTable] = {}
    for fk in _foreign_keys(list(ops)):
        other = placement.owners.get(fk.ref_key)
        if other is not None and other != app:
            if other in same:
                same_spec.append((other, ""))
            elif other in history.latest:
                earlier.append((other, history.latest[other]))
        elif fk.ref_key in history.foreign:
            foreign[fk.ref_key] = history.foreign[fk.ref_key]
    return same_spec, earlier, [foreign[k] for k in sorted(foreign)]


def _foreign_dependency(table: ForeignTable, history: _History) -> list[Dependency]:
    if table.model is None:
        return []
    owner = table.owner
    if owner in history.written:
        if owner in history.latest:
            return [(owner, history.latest[owner])]
        return [(owner, n) for n in history.leaves.get(owner, ())]
    if table.swappable:
        return [("__setting__", table.swappable)]
    return [(owner, "__latest__")]


def _order(
    m: Migration, groups: Sequence[AppOperations], needs: Mapping[str, set[str]]
) -> list[str]:
    """The apps of one spec in an order where each comes after those it needs."""
    done: list[str] = []
    pending = [g.app for g in groups]
    while pending:
        ready = [a for a in pending if needs[a] <= set(done)]
        if not ready:
            first = next(g.indexes[0] for g in groups if g.app == pending[0])
            raise SpecError(
                str(m.path or m.id),
                m.operations[first].line,
                f"the operations of apps {' and '.join(sorted(pending))} reference each "
                "other's tables in one spec, and the Django migrations of two apps cannot run "
                "after each other: split the spec in two",
            )
        done.append(ready[0])
        pending.remove(ready[0])
    return done


Leaves = Callable[[Sequence[str], Headers], Mapping[str, tuple[str, ...]]]
"""Per app label, the latest migrations dualorm did not write that dualorm's first file in
the app runs after (:func:`dualorm.spec.django_graph.app_leaves`)."""


def plan(
    config: Config,
    migrations: Sequence[Migration],
    foreign: Sequence[ForeignTable],
    parents: Mapping[str, tuple[str, ...]],
    leaves_of: Leaves,
    headers: Headers | None = None,
) -> list[DjangoFile]:
    """Return every Django file of ``migrations`` (in apply order), in the order they apply;
    ``leaves_of`` reads the leaves of the apps they land in."""
    own = project_apps(config)
    _check_apps(config, migrations, own)
    placements = assign(migrations, config.default_app)
    written = frozenset(g.app for p in placements.values() for g in p.groups)
    leaves = leaves_of(sorted(written), headers or Headers())
    folders = {app: migrations_dir(app) for app in written}
    history = _History(leaves, written, {f.table.key: f for f in foreign}, {}, {}, folders)
    ids = {m.id for m in migrations}
    files: list[DjangoFile] = []
    latest_before: dict[str, dict[str, str]] = {}
    for m in migrations:
        latest_before[m.id] = dict(history.latest)
        if m.replaces and m.replaces[0] in latest_before:
            # A squash follows what its first replaced spec followed, never what it replaces.
            history.latest = dict(latest_before[m.replaces[0]])
        placement = placements[m.id]
        same = [g.app for g in placement.groups]
        found = {}
        for g in placement.groups:
            ops = [m.operations[i] for i in g.indexes]
            found[g.app] = (g, *_references(ops, placement, g.app, history, same))
        needs = {app: {a for a, _ in value[1]} for app, value in found.items()}
        for app in _order(m, placement.groups, needs):
            g, same_spec, earlier, tables = found[app]
            files.append(_file(m, g, parents[m.id], history, same_spec, earlier, tables, ids))
        history.apps_of[m.id] = tuple(same)
        for app in same:
            history.latest[app] = m.id
    return files


def _file(
    m: Migration,
    g: AppOperations,
    parents: tuple[str, ...],
    history: _History,
    same_spec: list[Dependency],
    earlier: list[Dependency],
    tables: list[ForeignTable],
    ids: set[str],
) -> DjangoFile:
    app = g.app
    previous = history.latest.get(app)
    deps: list[Dependency] = []
    if previous is None:
        deps += [(app, n) for n in history.leaves.get(app, ())]
    for p in parents:
        apps = history.apps_of.get(p, ())
        deps += [(a, p) for a in sorted(apps, key=lambda a: (a != app, a))]
    if previous is not None:
        deps.append((app, previous))
    deps += [(a, m.id) for a, _ in same_spec]
    deps += earlier
    for table in tables:
        deps += _foreign_dependency(table, history)
    unique = list(dict.fromkeys(d for d in deps if d != (app, m.id)))
    plain = [d for d in unique if d[0] != "__setting__" and d[1] != "__latest__"]
    extra = sorted(d for d in unique if d not in plain)
    recorded = tuple(name if a == app and name in ids else f"{a}.{name}" for a, name in plain)
    return DjangoFile(
        m.id,
        app,
        g.indexes,
        (*plain, *extra),
        recorded,
        previous is None and not history.leaves.get(app),
        _digest(tables),
        history.folders[app] / f"{m.id}.py",
    )


def orphans(
    folders: Sequence[Path], files: Sequence[DjangoFile], headers: Headers | None = None
) -> list[tuple[str, Path]]:
    """The files dualorm wrote in ``folders`` (the project's apps' migrations) that no spec
    gives any more, as ``(spec id in the header, path)``."""
    read_header = headers or Headers()
    planned = {f.path for f in files}
    found = []
    for folder in sorted(set(folders)):
        for path in sorted(folder.glob("*.py")) if folder.is_dir() else ():
            spec = read_header(path).get("Spec")
            if spec and path not in planned:
                found.append((spec, path))
    return found
