"""``dualorm init``: find a project's settings and model set, plan the files, write them.

:func:`discover` reads the project statically (``ast``; the project's code is never imported)
for Django settings modules (the ``DJANGO_SETTINGS_MODULE`` default ``manage.py`` sets, else
any ``*/settings.py``) and SQLAlchemy ``MetaData`` (a ``DeclarativeBase`` subclass, the result
of ``declarative_base()``, a ``MetaData()`` at module level). :func:`choose` settles each value
from a flag, the single candidate, or the caller's question. :func:`plan` lays out every file
(the ``[tool.dualorm]`` table, the specs directory, an Alembic environment unless the project
has one) and refuses anything that exists before :func:`write` writes a single byte; a write
that fails half-way removes what it had written.
"""

from __future__ import annotations

import ast
import configparser
import json
import keyword
import os
import re
import tomllib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from dualorm import scaffold_templates as templates
from dualorm.errors import ConfigError, DualormError, SafetyError, UsageError

INSTALLED_APP = "dualorm.contrib.django"

LABELS = {
    "sa_metadata": "SQLAlchemy MetaData",
    "django_settings": "Django settings module",
    "default_app": "Django app for the tables specs create (default_app)",
}
FLAGS = {
    "sa_metadata": "--sa-metadata MODULE:ATTR",
    "django_settings": "--django-settings MODULE",
    "migrations_dir": "--migrations-dir PATH",
    "default_app": "--default-app LABEL",
}
_LOOKED_FOR = {
    "sa_metadata": "a DeclarativeBase subclass, declarative_base() or MetaData() at module level",
    "django_settings": "the DJANGO_SETTINGS_MODULE default of manage.py, or a */settings.py",
    "default_app": "an INSTALLED_APPS entry of the settings that is a package of the project "
    "with a models module",
}
_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_PATTERNS = {
    "sa_metadata": re.compile(rf"{_DOTTED}:{_DOTTED}"),
    "django_settings": re.compile(_DOTTED),
    "default_app": re.compile(r"[A-Za-z_]\w*"),
    # Letters, digits, `_`, `-`, `.` and `/` only: the value goes into TOML and into
    # alembic.ini, whose interpolation reads `%`.
    "migrations_dir": re.compile(r"[\w.\-/]+"),
}
_SHAPES = {
    "sa_metadata": "look like 'package.module:Base.metadata'",
    "django_settings": "be a dotted module name like 'mysite.settings'",
    "migrations_dir": "be a relative path inside the project (letters, digits, _ - . /)",
    "default_app": "be a Django app label like 'catalog'",
}
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


@dataclass(frozen=True)
class Choices:
    """The values of the ``[tool.dualorm]`` table ``init`` writes."""

    sa_metadata: str
    django_settings: str
    migrations_dir: str = "migrations"
    default_app: str | None = None
    seeds_dir: str = "seeds"
    backup_dir: str = "backups"


@dataclass(frozen=True)
class PlannedFile:
    """One file ``init`` writes (``path`` relative to the project), or appends to."""

    path: Path
    text: str
    append: bool = False


@dataclass(frozen=True)
class Plan:
    """Every file to write, checked: none of them exists (pyproject.toml is appended to)."""

    root: Path
    choices: Choices
    files: tuple[PlannedFile, ...]
    alembic_kept: Path | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class InitResult:
    """What ``init`` wrote, what it kept, and where the Django settings module lives."""

    root: Path
    choices: Choices
    written: tuple[Path, ...]
    appended: tuple[Path, ...]
    alembic_kept: Path | None
    settings_file: Path | None
    notes: tuple[str, ...]


Ask = Callable[[str, Sequence[Candidate]], str]


# -- discovery --------------------------------------------------------------------------------


def discover(root: Path) -> Discovery:
    """Return the Django settings and SQLAlchemy ``MetaData`` candidates of the project."""
    root = root.resolve()
    found: list[Candidate] = []
    for path in _python_files(root):
        module = _module_name(root, path)
        tree = _parse(path, _MARKERS)
        if module is not None and tree is not None:
            found.extend(_metadata_candidates(tree, module, _relative(root, path)))
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


def _relative(root: Path, path: Path) -> str:
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
                found.append(Candidate(module, _relative(root, path)))
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
                origin = f"{_relative(root, path)}:{line}"
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
            and _PATTERNS["django_settings"].fullmatch(value.value)
        ):
            yield value.value, node.lineno


# -- choosing ---------------------------------------------------------------------------------


def check_value(key: str, value: str) -> str:
    """Return ``value`` for ``key`` tidied, or raise ``UsageError`` saying what it must be."""
    tidy = value.strip()
    if key == "migrations_dir":
        tidy = PurePosixPath(tidy).as_posix() if tidy else tidy
        parts = PurePosixPath(tidy).parts
        if not parts or tidy.startswith("/") or ".." in parts:
            tidy = ""
    if not tidy or not _PATTERNS[key].fullmatch(tidy):
        flag = FLAGS[key].split()[0]
        raise UsageError(f"{flag} {value!r} must {_SHAPES[key]}")
    return tidy


def choose(key: str, given: str | None, candidates: Sequence[Candidate], ask: Ask | None) -> str:
    """Settle ``key``: the flag's value, else the caller's answer, else the single candidate.

    ``ask`` is the question a terminal puts (``None`` without one, or when the user said yes
    to everything found). Without it, no candidate or several is a ``UsageError`` (exit 2)
    listing them and the flag that chooses.
    """
    if given is not None:
        return check_value(key, given)
    if ask is not None:
        return check_value(key, ask(key, candidates))
    if len(candidates) == 1:
        return candidates[0].value
    if not candidates:
        raise UsageError(
            f"no {LABELS[key]} found (looked for {_LOOKED_FOR[key]}); pass {FLAGS[key]}"
        )
    listed = ", ".join(f"{c.value} ({c.origin})" for c in candidates)
    raise UsageError(
        f"{len(candidates)} {LABELS[key]} candidates found: {listed}; "
        f"pass {FLAGS[key]} to choose one"
    )


# -- planning ---------------------------------------------------------------------------------


def choose_optional(
    key: str, given: str | None, candidates: Sequence[Candidate], ask: Ask | None
) -> tuple[str | None, str | None]:
    """Settle an optional key as :func:`choose` does, except that without a flag, an answer
    or a single candidate it is left out: return ``(value or None, note saying why)``."""
    if given is not None or ask is not None or len(candidates) == 1:
        return choose(key, given, candidates, ask), None
    if not candidates:
        return None, (
            f"no {LABELS[key]} found (looked for {_LOOKED_FOR[key]}); "
            f"set {key} in [tool.dualorm] or pass {FLAGS[key]}"
        )
    listed = ", ".join(f"{c.value} ({c.origin})" for c in candidates)
    return None, (
        f"{key} not written: {len(candidates)} candidates found ({listed}); set it in "
        f"[tool.dualorm] or pass {FLAGS[key]}"
    )


def check(root: Path, migrations_dir: str = "migrations") -> None:
    """Refuse, before any question is asked, what would stop ``init`` whatever the answers.

    Raises:
        SafetyError: pyproject.toml has a ``[tool.dualorm]`` table, or a file ``init`` would
            write exists (each named).
        ConfigError: pyproject.toml is not valid TOML.
    """
    _targets(root.resolve(), PurePosixPath(check_value("migrations_dir", migrations_dir)))


def plan(root: Path, choices: Choices, discovery: Discovery | None = None) -> Plan:
    """Return every file ``init`` writes for ``choices``; raise before anything is written.

    Raises:
        SafetyError: a ``[tool.dualorm]`` table or a file to write exists (exit 3).
        UsageError: a value of ``choices`` is malformed, pyproject.toml is not valid TOML
            (or would not be with the table appended), or the project is not writable.
    """
    root = root.resolve()
    for key in ("sa_metadata", "django_settings", "migrations_dir"):
        check_value(key, getattr(choices, key))
    if choices.default_app is not None:
        check_value("default_app", choices.default_app)
    mdir = PurePosixPath(choices.migrations_dir)
    targets, kept = _targets(root, mdir)
    texts = {
        Path("pyproject.toml"): _tool_table(root, choices),
        Path(mdir, ".gitkeep"): "",
        Path("alembic.ini"): templates.ALEMBIC_INI.format(
            script_location=f"{mdir}/alembic", versions=f"{mdir}/alembic/versions"
        ),
        Path(mdir, "alembic", "env.py"): templates.ENV_PY,
        Path(mdir, "alembic", "script.py.mako"): templates.SCRIPT_PY_MAKO,
        Path(mdir, "alembic", "versions", ".gitkeep"): "",
    }
    files = tuple(
        PlannedFile(path, texts[path], append=path == Path("pyproject.toml") and exists)
        for path, exists in targets
    )
    _check_writable(root, files)
    taken = [
        c for c in (discovery.sa_metadata if discovery else ()) if c.value == choices.sa_metadata
    ]
    notes = [c.note for c in taken if c.note]
    if kept is not None:
        notes.extend(_kept_notes(root, kept, mdir))
    return Plan(root, choices, files, kept, tuple(notes))


def _targets(root: Path, mdir: PurePosixPath) -> tuple[list[tuple[Path, bool]], Path | None]:
    """Return ``[(path, exists)]`` to write and the Alembic environment kept, or refuse."""
    pyproject = root / "pyproject.toml"
    if pyproject.exists():
        _read_pyproject(pyproject)
    targets = [(Path("pyproject.toml"), pyproject.exists())]
    specs = root / mdir
    if not specs.exists():
        targets.append((Path(mdir, ".gitkeep"), False))
    kept = _alembic_environment(root, mdir)
    if kept is None:
        script = Path(mdir, "alembic")
        targets += [
            (Path("alembic.ini"), False),
            (script / "env.py", False),
            (script / "script.py.mako", False),
            (script / "versions" / ".gitkeep", False),
        ]
    blocked = {p for path, exists in targets if not exists for p in _blocking(root, path)}
    if specs.exists() and not specs.is_dir():
        blocked.add(specs)
    in_the_way = sorted(_relative(root, p) for p in blocked)
    if len(in_the_way) == 1:
        raise SafetyError(
            f"{root / in_the_way[0]} already exists: dualorm init never overwrites a file; "
            "move it away and run it again"
        )
    if in_the_way:
        raise SafetyError(
            f"{', '.join(in_the_way)} already exist in {root}: dualorm init never overwrites "
            "a file; move them away and run it again"
        )
    return targets, kept


def _blocking(root: Path, path: Path) -> Iterator[Path]:
    """Yield what stands where ``path`` (or a directory above it) would be created."""
    target = root / path
    if target.exists() or target.is_symlink():
        yield target
        return
    for parent in target.parents:
        if parent == root or not parent.is_relative_to(root):
            return
        if parent.exists() and not parent.is_dir():
            yield parent
            return


def _read_pyproject(path: Path) -> str:
    try:
        text = path.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    tool = data.get("tool")
    if isinstance(tool, dict) and "dualorm" in tool:
        raise SafetyError(
            f"{path} already has a [tool.dualorm] table: dualorm init never rewrites it; edit "
            "it by hand, or remove it and run dualorm init again"
        )
    return text


def _tool_table(root: Path, choices: Choices) -> str:
    """Return the text to write: the whole new pyproject.toml, or what to append to it."""
    values = {k: json.dumps(v) for k, v in asdict(choices).items() if k != "default_app"}
    table = templates.TOOL_TABLE.format(**values)
    if choices.default_app is not None:
        table += f"default_app = {json.dumps(choices.default_app)}\n"
    path = root / "pyproject.toml"
    if not path.exists():
        return table
    text = _read_pyproject(path)
    newline = "\r\n" if "\r\n" in text else "\n"
    if not text or text.endswith(newline * 2):
        gap = ""
    else:
        gap = newline if text.endswith("\n") else newline * 2
    addition = gap + table.replace("\n", newline)
    try:
        tomllib.loads(text + addition)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: appending a [tool.dualorm] table would not be valid TOML ({exc}); "
            "add it by hand"
        ) from None
    return addition


def _check_writable(root: Path, files: Sequence[PlannedFile]) -> None:
    for planned in files:
        folder = (root / planned.path).parent
        while not folder.exists():
            folder = folder.parent
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"{folder} is not writable: dualorm init cannot write {planned.path}")


def _alembic_environment(root: Path, mdir: PurePosixPath) -> Path | None:
    for path in (
        Path("alembic.ini"),
        Path(mdir, "alembic.ini"),
        Path(mdir, "alembic", "env.py"),
        Path(mdir, "env.py"),
    ):
        if (root / path).is_file():
            return path
    return None


def _kept_notes(root: Path, kept: Path, mdir: PurePosixPath) -> list[str]:
    wanted = (root / mdir / "alembic").resolve()
    if kept.suffix == ".ini":
        parser = configparser.ConfigParser(defaults={"here": str((root / kept).parent)})
        try:
            parser.read(root / kept, encoding="utf-8")
            location = parser.get("alembic", "script_location")
        except (configparser.Error, UnicodeDecodeError):
            return [f"{kept} has no readable [alembic] script_location"]
        script = Path(location)
        script = script if script.is_absolute() else root / script
    else:
        script = (root / kept).parent
    if script.resolve() == wanted:
        return []
    return [
        f"the Alembic environment of {kept} reads revisions from {_shown(root, script)}, but "
        f"dualorm migrate make writes them to {mdir}/alembic/versions: point its "
        "script_location (or version_locations) there"
    ]


def _shown(root: Path, path: Path) -> str:
    resolved = path.resolve()
    return _relative(root, resolved) if resolved.is_relative_to(root) else str(resolved)


# -- writing ----------------------------------------------------------------------------------


def write(plan: Plan) -> InitResult:
    """Write the planned files (the pyproject table last); undo them all if one fails."""
    created: list[Path] = []
    folders: list[Path] = []
    current = plan.root
    try:
        for planned in sorted(plan.files, key=lambda f: f.append):
            current = plan.root / planned.path
            folders.extend(_make_folders(plan.root, current.parent))
            with current.open("a" if planned.append else "x", encoding="utf-8", newline="") as out:
                if not planned.append:
                    created.append(current)
                out.write(planned.text)
    except OSError as exc:
        for path in reversed(created):
            path.unlink(missing_ok=True)
        for folder in reversed(folders):
            try:
                folder.rmdir()
            except OSError:
                pass
        if isinstance(exc, FileExistsError):
            raise SafetyError(
                f"{current} appeared while dualorm init was writing; nothing was written"
            ) from None
        raise DualormError(
            f"cannot write {current}: {exc.strerror or exc}; nothing was written"
        ) from None
    return InitResult(
        root=plan.root,
        choices=plan.choices,
        written=tuple(f.path for f in plan.files if not f.append),
        appended=tuple(f.path for f in plan.files if f.append),
        alembic_kept=plan.alembic_kept,
        settings_file=settings_file(plan.root, plan.choices.django_settings),
        notes=plan.notes,
    )


def _make_folders(root: Path, folder: Path) -> list[Path]:
    missing = [f for f in (folder, *folder.parents) if f.is_relative_to(root) and not f.exists()]
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


def init_project(root: Path, choices: Choices, discovery: Discovery | None = None) -> InitResult:
    """Plan and write ``dualorm init``'s files for ``choices`` in the project at ``root``."""
    return write(plan(root, choices, discovery))


def settings_file(root: Path, module: str) -> Path | None:
    """Return the project file (relative) the settings module ``module`` is, if it is one."""
    base = Path(*module.split("."))
    for folder in (Path(), Path("src")):
        for path in (folder / base.with_suffix(".py"), folder / base / "__init__.py"):
            if (root / path).is_file():
                return path
    return None
