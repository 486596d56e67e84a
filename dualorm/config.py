"""Configuration: ``[tool.dualorm]`` in the nearest pyproject.toml, then environment variables.

``Config.load()`` walks up from the working directory to the first ``pyproject.toml`` that has a
``[tool.dualorm]`` table; paths in it are relative to that file, and its directory goes first on
``sys.path`` so the project's own modules import (Alembic's ``prepend_sys_path``). Nothing
defaults to a particular project: a command reads the keys it needs (``migrate up`` never reads
``sa_metadata``), and reading one the project does not set, or any project path when no table
was found, is a :class:`~dualorm.errors.ConfigError` (exit 2) naming the key and ``dualorm
init``. Environment variables (``DATABASE_URL``, ``DATABASE_REPLICA_URLS``, ``DUALORM_ENV``,
``DUALORM_BACKUP_KEY``, ``DUALORM_BACKUP_DIR``, ``DUALORM_WEBHOOK_URL``,
``DUALORM_WEBHOOK_SECRET``) are read once, here. ``DATABASE_URL`` and each replica may be a URL
or a keyword connection string; how the replica list is split is :func:`split_replica_urls`'s
rule.
"""

from __future__ import annotations

import enum
import functools
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, overload

from dualorm.errors import ConfigError
from dualorm.ownership import FILE_KEYS, Ownership, Rule, parse_file_keys


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    TESTING = "testing"
    STAGING = "staging"
    PRODUCTION = "production"

    @classmethod
    def parse(cls, value: str, *, origin: str = "DUALORM_ENV") -> Environment:
        try:
            return cls(value.strip().lower())
        except ValueError:
            allowed = ", ".join(e.value for e in cls)
            raise ConfigError(f"{origin}={value!r} is not one of {allowed}") from None


ProjectKey = Literal["sa_metadata", "django_settings", "django_app_label"]

_WHAT: dict[str, str] = {
    "sa_metadata": 'the SQLAlchemy MetaData, as "module:attribute" '
    '(for example "myproject.models:Base.metadata")',
    "django_settings": 'the Django settings module (for example "myproject.settings")',
    "django_app_label": "the label of the Django app whose migrations get the tables a spec "
    'creates without naming an app (default_app, for example "catalog")',
    "default_app": "the label of the Django app whose migrations get the tables a spec "
    'creates without naming an app (for example "catalog")',
    "migrations_dir": "the directory of the change specs",
    "seeds_dir": "the directory of the seeds",
    "backup_dir": "the directory of the backups",
}


class _Required:
    """A ``[tool.dualorm]`` key without a default: read unset, it is a ``ConfigError``.

    Only the commands that read a key need it, so the check is where it is read, not where the
    file is loaded. The value is kept in the instance's ``__dict__`` under the field's name;
    the descriptor, a data descriptor, is looked up first.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> None: ...

    @overload
    def __get__(self, instance: Config, owner: type | None = None) -> str: ...

    def __get__(self, instance: Config | None, owner: type | None = None) -> str | None:
        if instance is None:
            return None  # the dataclass default
        value: str | None = instance.__dict__.get(self.name)
        if value is None:
            raise instance.missing(self.name)
        return value

    def __set__(self, instance: Config, value: str | None) -> None:
        instance.__dict__[self.name] = value


@dataclass(frozen=True, repr=False, eq=False)
class Config:
    """One project's settings. ``sa_metadata``, ``django_settings`` and ``django_app_label``
    have no default: reading one unset raises :meth:`missing`'s error (:meth:`has` asks)."""

    root: Path = field(default_factory=Path.cwd)
    sa_metadata: _Required = _Required()
    django_settings: _Required = _Required()
    django_app_label: _Required = _Required()
    migrations_dir: str = "migrations"
    seeds_dir: str = "seeds"
    backup_dir: str = "backups"
    ownership: Mapping[str, Rule | Ownership] = field(default_factory=dict)
    django_apps: tuple[str, ...] | None = None
    environment: Environment = Environment.DEVELOPMENT
    database_url: str | None = None
    replica_urls: tuple[str, ...] = ()
    backup_key: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    pyproject: Path | None = None
    """The ``pyproject.toml`` the ``[tool.dualorm]`` table came from (``None``: built in code)."""
    unconfigured: bool = False
    """``load()`` found no ``[tool.dualorm]`` table: every project path and key is an error."""

    @property
    def default_app(self) -> str:
        """The app a table a spec creates without ``app:`` belongs to (``default_app``;
        ``django_app_label`` is its older name)."""
        return self.django_app_label

    @property
    def migrations_path(self) -> Path:
        return self._project_path("migrations_dir", self.migrations_dir)

    @property
    def seeds_path(self) -> Path:
        return self._project_path("seeds_dir", self.seeds_dir)

    @property
    def backup_path(self) -> Path:
        return self._project_path("backup_dir", self.backup_dir)

    def has(self, key: ProjectKey) -> bool:
        """Whether ``key`` is set (reading an unset one raises :meth:`missing`'s error)."""
        return self.__dict__.get(key) is not None

    def missing(self, key: str) -> ConfigError:
        """The error for a command that needs ``key`` where the project does not set it."""
        what = _WHAT.get(key, key)
        # The file key is default_app; django_app_label is the field's (and the older) name.
        key = "default_app" if key == "django_app_label" else key
        if self.unconfigured:
            return ConfigError(
                f"this command needs the project's {key} ({what}), but no pyproject.toml with a "
                f"[tool.dualorm] table was found in {self.root} or any directory above it; run "
                "`dualorm init` to create one"
            )
        where = f"{self.pyproject}: " if self.pyproject is not None else ""
        return ConfigError(
            f"{where}[tool.dualorm] {key} is not set; this command needs it: {what} "
            "(`dualorm init` writes it)"
        )

    def _project_path(self, key: str, directory: str) -> Path:
        if self.unconfigured and not Path(directory).is_absolute():
            raise self.missing(key)
        return self.root / directory

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={self.__dict__[f.name]!r}" for f in fields(self) if f.repr)
        return f"Config({shown})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    @property
    def state_dir(self) -> Path:
        """Where the embedded server and other local state live."""
        return self.root / ".dualorm"

    def with_(self, **changes: Any) -> Config:
        # replace() reads every field not changed; the unset required keys are copied as None.
        unset: dict[str, Any] = {k: None for k in _REQUIRED if k not in changes and not self.has(k)}
        return replace(self, **unset, **changes)

    @classmethod
    def load(cls, start: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
        """Read ``[tool.dualorm]`` found by walking up from ``start`` and the environment.

        The folder of the pyproject found goes first on ``sys.path`` (see
        :func:`prepend_sys_path`). With no table found the config is ``unconfigured``: the
        database commands still run, every command that needs the project exits 2.
        """
        env = os.environ if environ is None else environ
        begin = (start or Path.cwd()).resolve()
        found = _find_pyproject(begin)
        root, table = found if found is not None else (begin, {})
        pyproject = root / "pyproject.toml" if found is not None else None
        values = _file_values(table, root / "pyproject.toml")
        if env.get("DUALORM_BACKUP_DIR"):
            values["backup_dir"] = env["DUALORM_BACKUP_DIR"]
        if found is not None:
            prepend_sys_path(root)
        return cls(
            root=root,
            environment=Environment.parse(env.get("DUALORM_ENV") or "development"),
            database_url=env.get("DATABASE_URL") or None,
            replica_urls=split_replica_urls(env.get("DATABASE_REPLICA_URLS", "")),
            backup_key=env.get("DUALORM_BACKUP_KEY") or None,
            webhook_url=env.get("DUALORM_WEBHOOK_URL") or None,
            webhook_secret=env.get("DUALORM_WEBHOOK_SECRET") or None,
            pyproject=pyproject,
            unconfigured=found is None,
            **values,
        )


_REQUIRED: tuple[ProjectKey, ...] = ("sa_metadata", "django_settings", "django_app_label")
_STRING_KEYS = (*_REQUIRED, "migrations_dir", "seeds_dir", "backup_dir")
_prepended: list[str] = []


def prepend_sys_path(folder: Path) -> None:
    """Put ``folder`` first on ``sys.path``, replacing the folder an earlier call put there.

    An installed console script then imports the project's own modules (its models, its
    settings) from any subdirectory, without ``PYTHONPATH=.``. One project per process: a
    second project's folder takes the first one's place rather than piling up.
    """
    entry = str(folder)
    for previous in _prepended:
        if previous in sys.path:
            sys.path.remove(previous)
    _prepended.clear()
    if sys.path[:1] != [entry]:
        sys.path.insert(0, entry)
        _prepended.append(entry)


def _file_values(table: Mapping[str, Any], pyproject: Path) -> dict[str, Any]:
    if "default_app" in table:
        if "django_app_label" in table:
            raise ConfigError(
                f"{pyproject}: [tool.dualorm] sets both default_app and django_app_label, "
                "its older name; keep default_app"
            )
    # [tool.dualorm.fleet] is read by dualorm.fleet.targets.
    unknown = set(table) - set(_STRING_KEYS) - FILE_KEYS - {"default_app", "fleet"}
    if unknown:
        raise ConfigError(
            f"{pyproject}: unknown [tool.dualorm] key(s): " + ", ".join(sorted(unknown))
        )
    values: dict[str, Any] = {}
    for key in (*_STRING_KEYS, "default_app"):
        if key not in table:
            continue
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"{pyproject}: [tool.dualorm] {key} must be a non-empty string "
                f"({_WHAT[key]}), got {_toml_kind(value)} {value!r}"
            )
        values["django_app_label" if key == "default_app" else key] = value
    values.update(parse_file_keys(table, pyproject))
    return values


def _toml_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a string" if isinstance(value, str) else type(value).__name__


def split_replica_urls(value: str) -> tuple[str, ...]:
    """Split ``DATABASE_REPLICA_URLS`` into its entries, URLs or keyword connection strings.

    A comma separates two entries only where the next one starts: right after it (spaces
    allowed) comes ``postgresql://`` or ``postgres://`` (a ``+driver`` too), or a libpq
    keyword and ``=`` (``host=``, ``dbname=``, ...). Every other comma belongs to the entry
    it stands in, so a password holding a comma, percent-encoded (``%2C``) or not, is kept
    whole; inside a single-quoted keyword value (``password='a,host=b'``) no comma splits.
    Empty entries (``a,,b``, a trailing comma) are dropped.

    >>> split_replica_urls("postgresql://r:a,b@r1/db, host=r2 password='x,host=y'")
    ('postgresql://r:a,b@r1/db', "host=r2 password='x,host=y'")
    """
    entries: list[str] = []
    start, cursor, quoted = 0, 0, False
    keyword_entry = not _starts_url(value, 0)
    while cursor < len(value):
        char = value[cursor]
        if quoted and char == "\\":
            cursor += 2
            continue
        if char == "'" and keyword_entry:
            quoted = not quoted
        elif char == "," and not quoted and _starts_entry(value, cursor + 1):
            entries.append(value[start:cursor])
            start = cursor + 1
            keyword_entry = not _starts_url(value, start)
        cursor += 1
    entries.append(value[start:])
    return tuple(e.strip() for e in entries if e.strip())


def _starts_url(value: str, at: int) -> bool:
    scheme, sep, _ = value[at:].lstrip().partition("://")
    return bool(sep) and scheme.lower().split("+", 1)[0] in ("postgresql", "postgres")


def _starts_entry(value: str, at: int) -> bool:
    rest = value[at:].lstrip()
    if not rest or rest.startswith(",") or _starts_url(value, at):
        return True
    end = 0
    while end < len(rest) and (rest[end].isalnum() or rest[end] == "_"):
        end += 1
    return rest[end:].lstrip().startswith("=") and rest[:end] in conninfo_keywords()


@functools.cache
def conninfo_keywords() -> frozenset[str]:
    """The keywords libpq accepts in a connection string (``host``, ``dbname``, ...)."""
    from psycopg import pq

    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def _find_pyproject(start: Path) -> tuple[Path, Mapping[str, Any]] | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{candidate}: {exc}") from None
        tool = data.get("tool", {})
        if not isinstance(tool, dict) or "dualorm" not in tool:
            continue
        if not isinstance(tool["dualorm"], dict):
            raise ConfigError(
                f"{candidate}: [tool.dualorm] must be a table, got "
                f"{_toml_kind(tool['dualorm'])} {tool['dualorm']!r}"
            )
        return folder, tool["dualorm"]
    return None
