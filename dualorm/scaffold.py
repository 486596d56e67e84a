"""``dualorm init``: settle the project's values, plan the files, write them.

What the project suggests is found by :func:`dualorm.scaffold_discovery.discover`.
:func:`choose` settles each value from a flag, the single candidate, or the caller's question.
:func:`plan` lays out every file (the ``[tool.dualorm]`` table, the specs directory, an Alembic
environment from :mod:`dualorm.scaffold_templates` unless the project has one) and refuses
anything that exists before :func:`write` writes a single byte; a write that fails half-way
removes what it had written.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from dualorm import scaffold_templates as templates
from dualorm.errors import ConfigError, DualormError, SafetyError, UsageError
from dualorm.scaffold_discovery import DOTTED, Candidate, Discovery, relative

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
_PATTERNS = {
    "sa_metadata": re.compile(rf"{DOTTED}:{DOTTED}"),
    "django_settings": re.compile(DOTTED),
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
    in_the_way = sorted(relative(root, p) for p in blocked)
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
    return relative(root, resolved) if resolved.is_relative_to(root) else str(resolved)


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
