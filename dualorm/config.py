"""Configuration: ``[tool.dualorm]`` in the nearest pyproject.toml, then environment variables.

``Config.load()`` walks up from the working directory to the first ``pyproject.toml`` that has a
``[tool.dualorm]`` table; paths in it are relative to that file. Environment variables
(``DATABASE_URL``, ``DATABASE_REPLICA_URLS``, ``DUALORM_ENV``, ``DUALORM_BACKUP_KEY``,
``DUALORM_BACKUP_DIR``, ``DUALORM_WEBHOOK_URL``, ``DUALORM_WEBHOOK_SECRET``) are read once, here.
``DATABASE_URL`` and each replica may be a URL or a keyword connection string; how the replica
list is split is :func:`split_replica_urls`'s rule.
"""

from __future__ import annotations

import enum
import functools
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dualorm.errors import ConfigError
from dualorm.ownership import FILE_KEYS, Rule, parse_file_keys
from dualorm.ownership import Ownership as Ownership  # still importable from here


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


@dataclass(frozen=True)
class Config:
    root: Path = field(default_factory=Path.cwd)
    sa_metadata: str = "sa_models:Base.metadata"
    django_settings: str = "django_app.settings"
    django_app_label: str = "django_app"
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

    @property
    def migrations_path(self) -> Path:
        return self.root / self.migrations_dir

    @property
    def seeds_path(self) -> Path:
        return self.root / self.seeds_dir

    @property
    def backup_path(self) -> Path:
        return self.root / self.backup_dir

    @property
    def state_dir(self) -> Path:
        """Where the embedded server and other local state live."""
        return self.root / ".dualorm"

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)

    @classmethod
    def load(cls, start: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
        """Read ``[tool.dualorm]`` found by walking up from ``start`` and the environment."""
        env = os.environ if environ is None else environ
        root, table = _find_pyproject(start or Path.cwd())
        known = {f for f in cls.__dataclass_fields__ if f not in _NOT_FROM_FILE}
        unknown = set(table) - known - FILE_KEYS
        if unknown:
            raise ConfigError(
                f"{root / 'pyproject.toml'}: unknown [tool.dualorm] key(s): "
                + ", ".join(sorted(unknown))
            )
        values: dict[str, Any] = {k: v for k, v in table.items() if k in known}
        for key, value in values.items():
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(
                    f"{root / 'pyproject.toml'}: [tool.dualorm] {key} must be a non-empty "
                    f"string, got {value!r}"
                )
        values.update(parse_file_keys(table, root / "pyproject.toml"))
        if env.get("DUALORM_BACKUP_DIR"):
            values["backup_dir"] = env["DUALORM_BACKUP_DIR"]
        return cls(
            root=root,
            environment=Environment.parse(env.get("DUALORM_ENV") or "development"),
            database_url=env.get("DATABASE_URL") or None,
            replica_urls=split_replica_urls(env.get("DATABASE_REPLICA_URLS", "")),
            backup_key=env.get("DUALORM_BACKUP_KEY") or None,
            webhook_url=env.get("DUALORM_WEBHOOK_URL") or None,
            webhook_secret=env.get("DUALORM_WEBHOOK_SECRET") or None,
            **values,
        )


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
    return rest[end:].lstrip().startswith("=") and rest[:end] in _conninfo_keywords()


@functools.cache
def _conninfo_keywords() -> frozenset[str]:
    """The keywords libpq accepts in a connection string (``host``, ``dbname``, ...)."""
    from psycopg import pq

    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


_NOT_FROM_FILE = {
    "root",
    "ownership",
    "django_apps",
    "environment",
    "database_url",
    "replica_urls",
    "backup_key",
    "webhook_url",
    "webhook_secret",
}


def _find_pyproject(start: Path) -> tuple[Path, dict[str, Any]]:
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{candidate}: {exc}") from None
        section = data.get("tool", {}).get("dualorm")
        if isinstance(section, dict):
            return folder, section
    return start.resolve(), {}
