"""What ``dualorm init`` finds in a project, read statically (``ast``; never imported).

:func:`discover` looks for Django settings modules (the ``DJANGO_SETTINGS_MODULE`` default
``manage.py`` sets, else any ``*/settings.py``), SQLAlchemy ``MetaData`` (a ``DeclarativeBase``
subclass, the result of ``declarative_base()``, a ``MetaData()`` at module level) and the
project's own Django apps, each a :class:`Candidate` naming where it was found.
:mod:`dualorm.scaffold` chooses among them and writes the files.
"""

from __future__ import annotations

import ast
import keyword
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
"""A dotted Python name (``mysite.settings``), as a regular expression."""
_MODULE = re.compile(DOTTED)
# Never the project's own model set: tools, environments, generated output, test fixtures.
_SKIPPED_DIRS = frozenset(
    {"__pycache__", "node_modules", "site-packages", "build", "dist", "tests", "test"}
)
_MARKERS = ("DeclarativeBase", "declarative_base", "MetaData")
_SETTINGS_VARIABLE = "DJANGO_SETTINGS_MODULE"


@dataclass(frozen=True)
class Candidate:
    """A value discovery offers, where it was found, and what to know before taking it."""

    value: str
    origin: str
    note: str = ""


@dataclass(frozen=True)
class Discovery:
    """What the project's files suggest for each key, best first."""

    django_settings: tuple[Candidate, ...]
    sa_metadata: tuple[Candidate, ...]
    default_app: tuple[Candidate, ...] = ()


def discover(root: Path) -> Discovery:
    """Return the Django settings and SQLAlchemy ``MetaData`` candidates of the project."""
    root = root.resolve()
    found: list[Candidate] = []
    for path in _python_files(root):
        module = _module_name(root, path)
        tree = _parse(path, _MARKERS)
        if module is not None and tree is not None:
            found.extend(_metadata_candidates(tree, module, relative(root, path)))
    settings = tuple(_settings_candidates(root))
    return Discovery(settings, tuple(found), tuple(_app_candidates(root, settings)))


def _python_files(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not _skipped(here / d))
        yield from (here / name for name in sorted(files) if name.endswith(".py"))


def _skipped(folder: Path) -> bool:
    name = folder.name
    return name.startswith(".") or name in _SKIPPED_DIRS or (folder / "pyvenv.cfg").exists()


def relative(root: Path, path: Path) -> str:
    """Return ``path`` relative to the project ``root``, with forward slashes."""
    return path.relative_to(root).as_posix()


def _module_name(root: Path, path: Path) -> str | None:
    """Return the name ``path`` imports as, or ``None`` when it cannot be imported by name."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    # A src layout's packages import from src/ (an editable install puts it on the path).
    if len(parts) > 1 and parts[0] == "src" and not (root / "src" / "__init__.py").exists():
        parts.pop(0)
    if not parts or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        return None
    return ".".join(parts)


def _parse(path: Path, markers: Sequence[str] = ()) -> ast.Module | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if markers and not any(m in text for m in markers):
        return None
    # A file that does not parse cannot be imported either; its warnings are not ours to show.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(text, str(path))
        except (SyntaxError, ValueError):
            return None


def _named(node: ast.expr, name: str) -> bool:
    return (isinstance(node, ast.Name) and node.id == name) or (
        isinstance(node, ast.Attribute) and node.attr == name
    )


def _calls(node: ast.expr | None, name: str) -> bool:
    return isinstance(node, ast.Call) and _named(node.func, name)


def _assignment(node: ast.stmt) -> tuple[str, ast.expr | None] | None:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return (target.id, node.value) if isinstance(target, ast.Name) else None
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None


def _metadata_names(node: ast.ClassDef | ast.Call) -> set[str]:
    """Return the module-level names a base takes its ``metadata`` from (``metadata = meta``)."""
    if isinstance(node, ast.Call):
        values = [k.value for k in node.keywords if k.arg == "metadata"]
    else:
        values = [a[1] for s in node.body if (a := _assignment(s)) and a[0] == "metadata" and a[1]]
    return {v.id for v in values if isinstance(v, ast.Name)}


def _metadata_candidates(tree: ast.Module, module: str, origin: str) -> list[Candidate]:
    bases: list[tuple[str, int]] = []
    metadata: list[tuple[str, int]] = []
    shared: set[str] = set()
    for node in tree.body:
        assigned = _assignment(node)
        if isinstance(node, ast.ClassDef) and any(_named(b, "DeclarativeBase") for b in node.bases):
            bases.append((node.name, node.lineno))
            shared |= _metadata_names(node)
        elif assigned and isinstance(assigned[1], ast.Call):
            name, call = assigned[0], assigned[1]
            if _calls(call, "declarative_base"):
                bases.append((name, node.lineno))
                shared |= _metadata_names(call)
            elif _calls(call, "MetaData"):
                metadata.append((name, node.lineno))
    mapped = {
        b.id
        for n in tree.body
        if isinstance(n, ast.ClassDef)
        for b in n.bases
        if isinstance(b, ast.Name)
    }
    found = [
        Candidate(f"{module}:{name}.metadata", f"{origin}:{line}", _unmapped(name, mapped, module))
        for name, line in bases
    ]
    # A MetaData a base of the same module uses is that base's: offer it once, as the base.
    found += [
        Candidate(f"{module}:{name}", f"{origin}:{line}")
        for name, line in metadata
        if name not in shared
    ]
    return found


def _unmapped(base: str, mapped: set[str], module: str) -> str:
    if base in mapped:
        return ""
    return (
        f"{module} defines {base} but maps no model itself: sa_metadata must name a module "
        "whose import also imports every model module"
    )


def _settings_candidates(root: Path) -> list[Candidate]:
    manage = root / "manage.py"
    tree = _parse(manage, (_SETTINGS_VARIABLE,)) if manage.is_file() else None
    if tree is not None:
        # What manage.py sets is what Django runs with; other settings files are not asked.
        named = dict(_settings_defaults(tree))
        if named:
            return [Candidate(value, f"manage.py:{line}") for value, line in named.items()]
    found = []
    for pattern in ("*/settings.py", "src/*/settings.py"):
        for path in sorted(root.glob(pattern)):
            module = _module_name(root, path)
            if module is not None and not _skipped(path.parent):
                found.append(Candidate(module, relative(root, path)))
    return found


def _app_candidates(root: Path, settings: Sequence[Candidate]) -> list[Candidate]:
    """The project's own apps the settings install: an ``INSTALLED_APPS`` entry (a string in
    a list or tuple assigned or added to it) that names a package of the project with a
    ``models`` module; ``"pkg.apps.PkgConfig"`` names ``pkg``."""
    found: dict[str, Candidate] = {}
    for candidate in settings:
        path = root / (candidate.value.replace(".", "/") + ".py")
        tree = _parse(path, ("INSTALLED_APPS",)) if path.is_file() else None
        for entry, line in _installed_apps(tree) if tree is not None else ():
            package = entry.split(".apps.")[0] if ".apps." in entry else entry
            folder = root / package.replace(".", "/")
            has_models = (folder / "models.py").is_file() or (folder / "models").is_dir()
            label = package.rpartition(".")[2]
            if has_models and (folder / "__init__.py").is_file() and label not in found:
                origin = f"{relative(root, path)}:{line}"
                found[label] = Candidate(label, origin)
    return list(found.values())


def _installed_apps(tree: ast.Module) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AugAssign):
            targets, value = [node.target], node.value
        else:
            continue
        if not any(isinstance(t, ast.Name) and t.id == "INSTALLED_APPS" for t in targets):
            continue
        for item in value.elts if isinstance(value, ast.List | ast.Tuple) else ():
            if isinstance(item, ast.Constant) and isinstance(item.value, str):
                yield item.value, item.lineno


def _settings_defaults(tree: ast.Module) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        value: ast.expr | None = None
        if isinstance(node, ast.Call) and _named(node.func, "setdefault") and len(node.args) >= 2:
            key, value = node.args[0], node.args[1]
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if not isinstance(target, ast.Subscript):
                continue
            key, value = target.slice, node.value
        else:
            continue
        if (
            isinstance(key, ast.Constant)
            and key.value == _SETTINGS_VARIABLE
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
            and _MODULE.fullmatch(value.value)
        ):
            yield value.value, node.lineno
