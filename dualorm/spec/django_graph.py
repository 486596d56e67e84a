"""Django's migration graph, built from the migration files' text instead of importing them.

``migrate make`` needs, per app, which migrations are the app's latest (its leaves) and which
of them dualorm wrote. Django's :class:`~django.db.migrations.loader.MigrationLoader` imports
every migration module to read three class attributes, ``dependencies``, ``replaces`` and
``run_before``; a long history makes that most of what ``make --check`` costs. :class:`FileLoader`
is that loader with one step changed: a migration whose file states those attributes plainly
(literal tuples, ``migrations.swappable_dependency(settings.NAME)``) is read with :mod:`ast`,
and only the part before its ``operations`` when nothing after them names the three. Anything
else (computed dependencies, another base class, module-level code, a file that is not a
``.py`` source) is imported as Django imports it. The graph itself, with ``__first__``,
``__latest__``, squashes and the consistency checks, is Django's own.

Django must be set up (the app registry and settings are read).
"""

from __future__ import annotations

import ast
import os
import pkgutil
import re
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.migrations import Migration, swappable_dependency
from django.db.migrations.loader import MIGRATIONS_MODULE_NAME, MigrationLoader

__all__ = ["FileLoader", "app_leaves", "read_migration"]

_GRAPH_ATTRIBUTES = ("dependencies", "replaces", "run_before")
# Where a migration's operations start: usually after its dependencies, and most of its bytes.
_OPERATIONS = re.compile(rb"\n[ \t]+operations[ \t]*=")
_TAIL_WORDS = (*(a.encode() for a in _GRAPH_ATTRIBUTES), b"Migration")


_Folders = list[tuple[Path, set[str]]]
"""A migrations package's folders, each with the names of its entries."""


class _Unreadable(Exception):
    """The file does not state its graph attributes plainly: import it instead."""


class FileLoader(MigrationLoader):
    """A :class:`MigrationLoader` (no connection) whose migrations are read from their files.

    :attr:`paths` holds the file of every migration read from its text; a migration imported
    instead is not in it.
    """

    def __init__(self) -> None:
        self.paths: dict[tuple[str, str], Path] = {}
        super().__init__(None, ignore_no_migrations=True)

    def load_disk(self) -> None:
        """Django's ``load_disk``, reading each migration's file where it can."""
        from django.apps import apps

        self.disk_migrations = {}
        self.unmigrated_apps = set()
        self.migrated_apps = set()
        for app_config in apps.get_app_configs():
            module = self._package(app_config.label)
            if module is None:
                self.unmigrated_apps.add(app_config.label)
                continue
            self.migrated_apps.add(app_config.label)
            names = {
                name
                for _, name, is_pkg in pkgutil.iter_modules(module.__path__)
                if not is_pkg and name[0] not in "_~"
            }
            folders = [(Path(f), set(os.listdir(f))) for f in module.__path__ if os.path.isdir(f)]
            for name in names:
                key = (app_config.label, name)
                self.disk_migrations[key] = self._migration(module, folders, key)

    def _package(self, label: str) -> Any:
        """The app's migrations package, or ``None`` when the app has none (as Django says)."""
        module_name, explicit = self.migrations_module(label)
        if module_name is None:
            return None
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as e:
            if (explicit and self.ignore_no_migrations) or (
                not explicit and MIGRATIONS_MODULE_NAME in (e.name or "").split(".")
            ):
                return None
            raise
        if not hasattr(module, "__path__"):
            return None
        if getattr(module, "__file__", None) is None and not isinstance(module.__path__, list):
            return None  # an empty directory: a namespace package
        return module

    def _migration(self, package: Any, folders: _Folders, key: tuple[str, str]) -> Migration:
        label, name = key
        path = _source(folders, name)
        if path is None:
            return _imported(package, key)
        try:
            found = read_migration(path.read_bytes())
        except (OSError, _Unreadable):
            return _imported(package, key)
        # What the module would define: a subclass holding the three as class attributes.
        stated = type("Migration", (Migration,), {"__module__": __name__, **found})
        self.paths[key] = path
        migration: Migration = stated(name, label)
        return migration


def _source(folders: _Folders, name: str) -> Path | None:
    """The ``.py`` file importing migration ``name`` runs, or ``None`` when it would load
    something else (an extension module, a sourceless ``.pyc``) or finds nothing."""
    from importlib.machinery import BYTECODE_SUFFIXES, EXTENSION_SUFFIXES, SOURCE_SUFFIXES

    # The order of the path finder's loaders: extensions, then sources, then bytecode.
    for folder, entries in folders:
        for suffix in (*EXTENSION_SUFFIXES, *SOURCE_SUFFIXES, *BYTECODE_SUFFIXES):
            if f"{name}{suffix}" in entries:
                return folder / f"{name}{suffix}" if suffix == ".py" else None
    return None


def _imported(package: Any, key: tuple[str, str]) -> Migration:
    """The migration as Django's loader builds it: import its module (errors as Django's)."""
    from django.db.migrations.exceptions import BadMigrationError

    label, name = key
    module = import_module(f"{package.__name__}.{name}")
    if not hasattr(module, "Migration"):
        raise BadMigrationError(f"Migration {name} in app {label} has no Migration class")
    migration: Migration = module.Migration(name, label)
    return migration


def read_migration(source: bytes) -> dict[str, list[Any]]:
    """Return ``dependencies``, ``replaces`` and ``run_before`` as a migration file states
    them; :class:`_Unreadable` when only running it would tell."""
    cut = _OPERATIONS.search(source)
    if cut is not None and not any(w in source[cut.start() :] for w in _TAIL_WORDS):
        try:
            return _attributes(ast.parse(source[: cut.start()]))
        except (SyntaxError, _Unreadable):
            pass
    try:
        tree = ast.parse(source)
    except SyntaxError:
        raise _Unreadable from None
    return _attributes(tree)


def _attributes(tree: ast.Module) -> dict[str, list[Any]]:
    names = _bound_names(tree)
    classes = [s for s in tree.body if isinstance(s, ast.ClassDef) and s.name == "Migration"]
    if len(classes) != 1 or not _is_django_migration(classes[0], names):
        raise _Unreadable
    found: dict[str, list[Any]] = {a: [] for a in _GRAPH_ATTRIBUTES}
    for statement in classes[0].body:
        target, value = _assignment(statement)
        if target in found and value is not None:
            found[target] = [_dependency(item, names) for item in _items(value)]
    return found


def _bound_names(tree: ast.Module) -> dict[str, str]:
    """What each module-level name is bound to (``migrations`` -> ``django.db.migrations``);
    any statement but imports, the docstring and the one class is refused."""
    names: dict[str, str] = {}
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and statement.level == 0:
            for alias in statement.names:
                names[alias.asname or alias.name] = f"{statement.module}.{alias.name}"
        elif isinstance(statement, ast.Import):
            for alias in statement.names:
                top = alias.name.partition(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue
        elif not (isinstance(statement, ast.ClassDef) and statement.name == "Migration"):
            raise _Unreadable
    return names


def _is_django_migration(node: ast.ClassDef, names: dict[str, str]) -> bool:
    if node.decorator_list or node.keywords or len(node.bases) != 1:
        return False
    base = node.bases[0]
    if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
        bound = f"{names.get(base.value.id)}.{base.attr}"
    elif isinstance(base, ast.Name):
        bound = str(names.get(base.id))
    else:
        return False
    return bound == "django.db.migrations.Migration"


def _assignment(statement: ast.stmt) -> tuple[str | None, ast.expr | None]:
    """The one name a class-body statement binds and its value; refuses what it cannot say."""
    if isinstance(statement, ast.Assign):
        if len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            return statement.targets[0].id, statement.value
        raise _Unreadable
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id, statement.value
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return None, None
    raise _Unreadable


def _items(value: ast.expr) -> list[ast.expr]:
    if isinstance(value, ast.List | ast.Tuple):
        return list(value.elts)
    raise _Unreadable


def _dependency(node: ast.expr, names: dict[str, str]) -> Any:
    """A ``("app", "name")`` pair, or ``swappable_dependency(settings.NAME)`` evaluated."""
    if isinstance(node, ast.Tuple | ast.List) and len(node.elts) == 2:
        parts = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if len(parts) == 2 and all(isinstance(p, str) for p in parts):
            return tuple(parts)
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        if _called(node.func, names) == "django.db.migrations.swappable_dependency":
            return swappable_dependency(_setting(node.args[0], names))
    raise _Unreadable


def _called(func: ast.expr, names: dict[str, str]) -> str | None:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{names.get(func.value.id)}.{func.attr}"
    if isinstance(func, ast.Name):
        return names.get(func.id)
    return None


def _setting(node: ast.expr, names: dict[str, str]) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and names.get(node.value.id) == "django.conf.settings"
    ):
        value = getattr(settings, node.attr, None)
        if isinstance(value, str):
            return value
    raise _Unreadable


def loaded_file(migration: object) -> Path | None:
    """The file of a migration Django's loader imported."""
    module = sys.modules.get(type(migration).__module__)
    file = getattr(module, "__file__", None)
    return Path(file) if isinstance(file, str) else None


def app_leaves(
    labels: Sequence[str], headers: Callable[[Path], dict[str, str]]
) -> dict[str, tuple[str, ...]]:
    """Per app, the latest migrations dualorm did not write (``makemigrations``' own) that
    dualorm's first one in the app runs after; those that run after one of dualorm's
    (written later) are not among them. ``headers`` reads a file's dualorm header
    (:class:`dualorm.spec.django_files.Headers`)."""

    loader = FileLoader()
    graph = loader.graph

    def ours(key: tuple[str, str]) -> bool:
        path = loader.paths.get(key) or loaded_file(graph.nodes[key])
        return path is not None and bool(headers(path).get("Spec"))

    found = {}
    for label in labels:
        own = {key for key in graph.nodes if key[0] == label}
        mine = {key for key in own if ours(key)}
        theirs = {key for key in own - mine if not mine & set(graph.forwards_plan(key))}
        leaves = [
            key for key in theirs if not any(c.key in theirs for c in graph.node_map[key].children)
        ]
        found[label] = tuple(sorted(name for _, name in leaves))
    return found
