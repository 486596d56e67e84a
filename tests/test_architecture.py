"""The package's seams: no import circle, no private name across modules, small units.

Every rule reads the source with :mod:`ast`, never by importing it, so a function-level
(deferred) import counts as much as one at the top of a module (imports under
``if TYPE_CHECKING:`` do not run, and do not count). Each allow-list below holds the offenders
as they are, each with its reason; an entry that no longer offends fails the test too, so the
lists can only shrink. A size ceiling is the unit's current length: it may shrink, never grow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dualorm"

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60

KNOWN_CIRCLES: dict[frozenset[str], str] = {}
"""Import circles as they are (a circle may shrink inside its entry, never grow or appear)."""

LONG_MODULES: dict[str, int] = {}
"""Modules over :data:`MAX_MODULE_LINES`: path -> its length now (the ceiling)."""

LONG_FUNCTIONS: dict[str, int] = {}
"""Functions over :data:`MAX_FUNCTION_LINES`: ``module:qualified name`` -> its length now."""

PRIVATE_IMPORTS: dict[str, str] = {}
"""``importer -> module:_name`` imports of a private name across modules, with the reason."""

DEFERRED_IMPORTS: dict[str, str] = {
    "dualorm.api": (
        "start-up time: migrate up loads neither runner.adopt (the differ, the normaliser, the "
        "catalog reader), lint and plan (model reading), nor production.migrator (webhooks, "
        "urllib) outside production: about 25 ms"
    ),
    "dualorm.autogen.apps": (
        "start-up time: the emitters' app checks (spec.django_files, spec.foreign) load only "
        "where django_apps lists apps to test for dualorm's migrations"
    ),
    "dualorm.autogen.convert": (
        "start-up time: a warm migrate check imports it (through autogen.plan) without "
        "converting; autogen.casts brings the spec reader and yaml"
    ),
    "dualorm.autogen.generate": (
        "start-up time: a warm migrate check answers from the cache; the ORM sources, the "
        "spec reader and replay (yaml), the spec writer and spec.make load only on a miss"
    ),
    "dualorm.cli": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.backup": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.commands.apply": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.commands.author": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.commands.models": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.commands.review": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.db": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.fleet": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.init": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.migrate": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.models": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.render": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.reset": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.cli.validate": "start-up time of the CLI: a verb loads only what it runs",
    "dualorm.django_setup": (
        "start-up time of every Django process: a settings module imports it for "
        "default_database(), and dualorm.config (with dualorm.schema behind its ownership "
        "rules) loads only when DATABASE_URL is unset"
    ),
    "dualorm.models_render": (
        "start-up time: emit.django_target imports Django, which --orm sqlalchemy never loads"
    ),
    "dualorm.models_render.foreign": (
        "start-up time: the differ (dualorm.diff, about 10 ms) loads only when a rendered "
        "table references a foreign table"
    ),
    "dualorm.runner.plan": (
        "start-up time: migrate status imports it (through api); sources.sqlalchemy loads "
        "SQLAlchemy only for the rules that read the models"
    ),
    "dualorm.runner.pipeline": (
        "start-up time: the seeding package (manager, discovery, reports; about 4 ms) and "
        "runner.impact load only when migrate down checks for seeded tables, "
        "runner.rehearsal (with the lock model, about 3 ms) only for a dry run"
    ),
    "dualorm.runner.production.safeguards": (
        "start-up time: loads cryptography, zstandard only when a backup is taken or restored"
    ),
    "dualorm.spec.cache": (
        "start-up time: a cache hit (migrate status, a warm migrate check) imports neither "
        "the spec reader (yaml, the builders) nor spec.apps"
    ),
    "dualorm.spec.sqlcheck": (
        "start-up time: spec.sqltree loads pglast (about 23 ms of migrate up) only when a "
        "spec holds SQL text (an expression field, run_sql) or a plan or lint reads it"
    ),
    "dualorm.spec.foreign": (
        "start-up time: migrate status imports it; each ORM source loads only when its "
        "tables are read"
    ),
    "dualorm.spec.make": (
        "start-up time: migrate new imports it; the emitters (Alembic, SQLAlchemy, Django) "
        "load only for migrate make"
    ),
    "dualorm.validate": (
        "start-up time: sources.sqlalchemy (SQLAlchemy) loads only when validate reads "
        "its models, never for a project without sa_metadata"
    ),
}
"""Modules allowed to import inside functions, with the reason: start-up time (a dependency
loaded only when used), or a circle still to be cut; any other is to move to the top."""


# -- reading the package ------------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int
    top: set[str] = field(default_factory=set)
    """dualorm modules imported when this one is imported (``TYPE_CHECKING`` blocks aside)."""
    deferred: set[str] = field(default_factory=set)
    """dualorm modules imported inside its functions."""
    private: set[str] = field(default_factory=set)
    """``module:_name`` private names it imports from other dualorm modules."""

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


@cache
def modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found[module_name(path)] = Module(
            module_name(path), path, ast.parse(text), len(text.splitlines())
        )
    for module in found.values():
        _read_imports(module, found)
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(body: list[ast.stmt], in_function: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Every import statement under ``body``, and whether it runs inside a function."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function
        elif isinstance(node, ast.If) and _type_checking(node):
            yield from _imports(node.orelse, in_function)
            continue
        for child_body in _bodies(node):
            inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from _imports(child_body, inner)


def _bodies(node: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        value = getattr(node, name, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            yield value
    for handler in getattr(node, "handlers", ()):
        yield handler.body
    for case in getattr(node, "cases", ()):
        yield case.body


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _read_imports(module: Module, known: dict[str, Module]) -> None:
    for node, in_function in _imports(module.tree.body, False):
        targets: set[str] = set()
        if isinstance(node, ast.Import):
            targets = {a.name for a in node.names if a.name.split(".")[0] == "dualorm"}
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            if source.split(".")[0] != "dualorm":
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in known:
                    targets.add(submodule)
                    continue
                targets.add(source)
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    module.private.add(f"{source}:{alias.name}")
        targets = {t for t in targets if t in known and t != module.name}
        (module.deferred if in_function else module.top).update(targets)


def import_graph() -> dict[str, set[str]]:
    """Each dualorm module -> the dualorm modules it imports, at the top or in a function."""
    return {name: m.top | m.deferred for name, m in modules().items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """``(qualified name, lines)`` for every function and method under ``tree``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            assert node.end_lineno is not None
            yield name, node.end_lineno - node.lineno + 1
            yield from functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            yield from functions(node, f"{prefix}{node.name}.")
        else:
            yield from functions(node, prefix)


def long_modules() -> dict[str, int]:
    return {
        str(m.path.relative_to(ROOT)): m.lines
        for m in modules().values()
        if m.lines > MAX_MODULE_LINES
    }


def long_functions() -> dict[str, int]:
    return {
        f"{m.name}:{name}": lines
        for m in modules().values()
        for name, lines in functions(m.tree)
        if lines > MAX_FUNCTION_LINES
    }


def private_imports() -> set[str]:
    return {f"{m.name} -> {p}" for m in modules().values() for p in m.private}


def deferring_modules() -> set[str]:
    return {m.name for m in modules().values() if m.deferred}


# -- the rules ----------------------------------------------------------------------------------


def test_no_import_circle_among_dualorm_modules() -> None:
    """Deferred imports included: a function-level import holds a circle apart, it does not
    remove it."""
    found = [set(c) for c in circles(import_graph())]
    new = [sorted(c) for c in found if not any(c <= known for known in KNOWN_CIRCLES)]
    assert new == [], "cut this import circle"
    gone = [sorted(k) for k in KNOWN_CIRCLES if not any(c <= k for c in found)]
    assert gone == [], "cut: drop it from KNOWN_CIRCLES"
    assert all(reason.strip() for reason in KNOWN_CIRCLES.values())


def test_no_private_name_is_imported_across_modules() -> None:
    found = private_imports()
    assert sorted(found - PRIVATE_IMPORTS.keys()) == [], "import a public name instead"
    assert sorted(PRIVATE_IMPORTS.keys() - found) == [], "fixed: drop it from PRIVATE_IMPORTS"
    assert all(reason.strip() for reason in PRIVATE_IMPORTS.values())


def test_function_level_imports_only_where_the_allow_list_says_why() -> None:
    found = deferring_modules()
    assert sorted(found - DEFERRED_IMPORTS.keys()) == [], "import at the top of the module"
    assert sorted(DEFERRED_IMPORTS.keys() - found) == [], "fixed: drop it from DEFERRED_IMPORTS"
    assert all(reason.strip() for reason in DEFERRED_IMPORTS.values())


def test_modules_stay_under_the_size_limit() -> None:
    found = long_modules()
    grown = {m: n for m, n in found.items() if n > LONG_MODULES.get(m, MAX_MODULE_LINES)}
    assert grown == {}, f"split these modules (limit {MAX_MODULE_LINES} lines)"
    assert sorted(LONG_MODULES.keys() - found.keys()) == [], "fixed: drop from LONG_MODULES"


def test_functions_stay_under_the_size_limit() -> None:
    found = long_functions()
    grown = {f: n for f, n in found.items() if n > LONG_FUNCTIONS.get(f, MAX_FUNCTION_LINES)}
    assert grown == {}, f"split these functions (limit {MAX_FUNCTION_LINES} lines)"
    assert sorted(LONG_FUNCTIONS.keys() - found.keys()) == [], "fixed: drop from LONG_FUNCTIONS"


# -- the checks themselves ------------------------------------------------------------------------


def test_a_circle_held_apart_by_a_function_level_import_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_deferred_and_private_imports_are_read_from_the_source(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from dualorm.schema import Table\n"
        "if TYPE_CHECKING:\n"
        "    from dualorm.spec.ops import Operation\n"
        "def f():\n"
        "    if True:\n"
        "        from dualorm.emit.sql import _qualified\n"
    )
    path = PACKAGE / "probe.py"
    module = Module("dualorm.probe", path, ast.parse(source), 7)
    known = dict(modules())
    _read_imports(module, known)
    assert module.top == {"dualorm.schema"}
    assert module.deferred == {"dualorm.emit.sql"}
    assert module.private == {"dualorm.emit.sql:_qualified"}


def test_function_lengths_count_methods_and_nested_functions() -> None:
    tree = ast.parse("class A:\n    def m(self):\n        def inner():\n            pass\n")
    assert dict(functions(tree)) == {"A.m": 3, "A.m.inner": 2}
