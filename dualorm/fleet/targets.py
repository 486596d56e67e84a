"""The databases of a fleet: read from a ``--databases`` file or ``[tool.dualorm.fleet]``.

A databases file holds one database a line, either a connection string alone (a
``postgresql://`` URL or ``host=... dbname=...`` keywords) or ``name = connection string``;
blank lines and ``#`` comments (at the start of a line, or after a blank) are skipped. A
database without a name is called by its database name. ``${VAR}`` is replaced by the
environment variable ``VAR``, so a password can come from the environment without being
written in the file; libpq itself reads ``PGPASSWORD`` and ``PGPASSFILE``, and a pgpass-style
file given as ``--passfile`` (or ``passfile`` in the table) is handed to libpq for every
database. Only a target's name is ever shown: its URL goes through
:func:`dualorm.db.redact` wherever a message must quote it.

``[tool.dualorm.fleet]`` holds the same: ``databases`` is a list of lines in the file's
format or a table of ``name = "url"``, and ``passfile`` a path relative to the pyproject.

Schema-per-tenant layouts (see :mod:`dualorm.runner.tenancy`): a line may end with
``schemas = acme, globex`` (tenant schemas by name) or ``schemas = tenant_*`` (every schema
matching a pattern: ``*``, ``?`` and ``[...]`` as in shell globs, case-sensitive; ``public``,
the system schemas and dualorm's ledger schemas never match), in either connection string
form: ``schemas`` is no libpq keyword. ``--tenants`` (or ``tenants`` in the table, a string
or a list) gives the schemas of every database whose line names none. Each tenant schema is
one target, named ``<database>/<schema>``, reached at the database's URL with the tenant's
``search_path`` (:func:`~dualorm.runner.tenancy.tenant_url`). Names are checked when the
line is read; patterns are matched by :func:`expand_tenants`, which the fleet commands call
before any database is touched.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from psycopg.conninfo import make_conninfo

from dualorm.config import Config, conninfo_keywords
from dualorm.db import connect, connection_params, database_name, is_url, libpq_url, redact
from dualorm.errors import ConfigError, DatabaseUnreachable
from dualorm.runner.tenancy import LEDGER_PREFIX, check_tenant, tenant_url

__all__ = [
    "Target",
    "expand_tenants",
    "from_pyproject",
    "parse_lines",
    "parse_tenants",
    "read_databases",
    "resolve_targets",
]

_NAMED = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.:@-]*)\s*=\s*(\S.*)$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCHEMAS = re.compile(r"^(.*?)\s+schemas\s*=\s*(.*)$")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Target:
    """One target of a fleet: a database, or one tenant schema of a database; the name it is
    shown by and the URL it is reached at (a tenant's carries its ``search_path``)."""

    name: str
    url: str
    where: str
    """Where it was declared (``fleet.txt:3``), for messages."""
    schemas: tuple[str, ...] = ()
    """A database line's tenant schemas and patterns, until :func:`expand_tenants`."""
    tenant: str | None = None
    """The tenant schema this target migrates; ``None`` for a whole database."""

    def __repr__(self) -> str:
        return f"Target({self.name!r}, {redact(self.url)!r}, {self.where!r})"


def read_databases(
    path: Path, *, passfile: Path | None = None, environ: Mapping[str, str] | None = None
) -> list[Target]:
    """Read a databases file (see the module docstring); bad lines name ``path:line``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--databases {path}: {exc.strerror or exc}") from None
    lines = [(f"{path}:{number}", line) for number, line in enumerate(text.splitlines(), 1)]
    return parse_lines(lines, passfile=passfile, environ=environ, origin=str(path))


def parse_lines(
    lines: list[tuple[str, str]],
    *,
    passfile: Path | None = None,
    environ: Mapping[str, str] | None = None,
    origin: str,
) -> list[Target]:
    """Targets from ``(where, line)`` pairs; an empty fleet is bad input too."""
    env = os.environ if environ is None else environ
    if passfile is not None and not passfile.is_file():
        raise ConfigError(f"passfile {passfile} does not exist")
    found: list[tuple[str | None, str, str, tuple[str, ...]]] = []
    for where, raw in lines:
        line = _without_comment(raw).strip()
        if not line:
            continue
        name, url = _split(line)
        url, schemas = _schemas(url, where)
        url = _expand(url, env, where)
        _check_url(url, where)
        if passfile is not None:
            url = _with_passfile(url, passfile)
        found.append((name, url, where, schemas))
    if not found:
        raise ConfigError(f"{origin}: no databases listed")
    return _named(found)


def parse_tenants(value: str | list[str], where: str) -> tuple[str, ...]:
    """Tenant schemas and patterns from ``acme, tenant_*`` (or a list of them)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{where}: tenants must be schema names or patterns")
    found = tuple(dict.fromkeys(i.strip() for i in items if i.strip()))
    if not found:
        raise ConfigError(f"{where}: no tenant schema listed")
    for item in found:
        if not _GLOB.search(item):
            check_tenant(item, where)
    return found


def expand_tenants(targets: Sequence[Target]) -> list[Target]:
    """One target per tenant schema: names as listed, patterns matched in each database.

    A database whose line names no schemas stays one target. Reaching a database to match a
    pattern fails as connecting does (``DatabaseUnreachable``, exit 2), and a pattern matching
    no schema is bad input (``ConfigError``, exit 2): both before any target is migrated.
    """
    expanded: list[Target] = []
    seen: dict[str, str] = {}
    for target in targets:
        if not target.schemas:
            expanded.append(target)
            continue
        for tenant in _tenants_of(target):
            name = f"{target.name}/{tenant}"
            if name in seen:
                raise ConfigError(
                    f"{target.where}: the tenant {name!r} is listed twice (first at {seen[name]})"
                )
            seen[name] = target.where
            url = tenant_url(target.url, tenant)
            expanded.append(Target(name, url, target.where, tenant=tenant))
    return expanded


def _tenants_of(target: Target) -> list[str]:
    patterns = [s for s in target.schemas if _GLOB.search(s)]
    named = [s for s in target.schemas if not _GLOB.search(s)]
    if not patterns:
        return named
    existing = _schemas_of(target)
    found = list(named)
    for pattern in patterns:
        matched = [s for s in existing if fnmatch.fnmatchcase(s, pattern)]
        if not matched:
            raise ConfigError(f"{target.where}: {pattern!r} matches no schema of {target.name}")
        found += matched
    return list(dict.fromkeys(found))


def _schemas_of(target: Target) -> list[str]:
    """The schemas of the target's database that can be tenants, sorted."""
    with connect(target.url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname <> ALL(%s) "
            "AND left(nspname, 3) <> 'pg_' AND left(nspname, %s) <> %s ORDER BY nspname",
            (["public", "information_schema", "dualorm"], len(LEDGER_PREFIX), LEDGER_PREFIX),
        ).fetchall()
    return [str(r[0]) for r in rows]


def _schemas(url: str, where: str) -> tuple[str, tuple[str, ...]]:
    """Split ``... schemas = a, b`` off a line's connection string."""
    match = _SCHEMAS.match(url)
    if match is None:
        return url, ()
    return match.group(1).strip(), parse_tenants(match.group(2), where)


def from_pyproject(config: Config, environ: Mapping[str, str] | None = None) -> list[Target]:
    """The targets ``[tool.dualorm.fleet]`` lists; a ``ConfigError`` when it lists none."""
    table = fleet_table(config)
    where = f"{config.pyproject}: [tool.dualorm.fleet]"
    databases = table.get("databases")
    lines: list[tuple[str, str]]
    if isinstance(databases, list) and all(isinstance(d, str) for d in databases):
        lines = [(f"{where} databases[{i}]", d) for i, d in enumerate(databases)]
    elif isinstance(databases, dict) and all(isinstance(v, str) for v in databases.values()):
        lines = [(f"{where} databases.{k}", f"{k} = {v}") for k, v in databases.items()]
    else:
        raise ConfigError(
            f"{where} databases must be a list of connection strings or a table of "
            "name = connection string (or pass --databases FILE)"
        )
    passfile = table.get("passfile")
    if passfile is not None and not isinstance(passfile, str):
        raise ConfigError(f"{where} passfile must be a path")
    root = config.root
    path = (root / passfile) if passfile else None
    targets = parse_lines(lines, passfile=path, environ=environ, origin=where)
    tenants = table.get("tenants")
    if tenants is None:
        return targets
    return with_tenants(targets, parse_tenants(tenants, f"{where} tenants"))


def with_tenants(targets: list[Target], tenants: tuple[str, ...]) -> list[Target]:
    """``targets`` whose databases name no schemas of their own get ``tenants``."""
    return [t if t.schemas else Target(t.name, t.url, t.where, tenants) for t in targets]


def fleet_table(config: Config) -> dict[str, Any]:
    """``[tool.dualorm.fleet]`` of the project's pyproject, empty when it has none."""
    if config.pyproject is None or not config.pyproject.is_file():
        return {}
    data = tomllib.loads(config.pyproject.read_text(encoding="utf-8"))
    table = data.get("tool", {}).get("dualorm", {}).get("fleet", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{config.pyproject}: [tool.dualorm] fleet must be a table")
    return table


def resolve_targets(
    config: Config,
    databases: Path | None,
    passfile: Path | None = None,
    tenants: str | None = None,
) -> list[Target]:
    """The fleet a command runs over: ``--databases`` when given, else the pyproject's;
    ``tenants`` (``--tenants``) for every database whose line names no schemas."""
    found = _listed(config, databases, passfile)
    if tenants is not None:
        found = with_tenants(found, parse_tenants(tenants, "--tenants"))
    return found


def _listed(config: Config, databases: Path | None, passfile: Path | None) -> list[Target]:
    if databases is not None:
        return read_databases(databases, passfile=passfile)
    if not fleet_table(config).get("databases"):
        raise ConfigError(
            "no fleet: pass --databases FILE (one connection string, or name = connection "
            "string, a line) or list them in [tool.dualorm.fleet] databases"
        )
    targets = from_pyproject(config)
    if passfile is not None:
        targets = [
            Target(t.name, _with_passfile(t.url, passfile), t.where, t.schemas) for t in targets
        ]
    return targets


def _without_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    # A '#' after a blank starts a comment; inside a URL it would have to be percent-encoded.
    match = re.search(r"\s#", line)
    return line[: match.start()] if match else line


def _split(line: str) -> tuple[str | None, str]:
    match = _NAMED.match(line)
    if match is None or match.group(1) in conninfo_keywords():
        return None, line
    return match.group(1), match.group(2).strip()


def _expand(url: str, env: Mapping[str, str], where: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"{where}: the environment variable {name} is not set")
        return env[name]

    return _VARIABLE.sub(value, url)


def _check_url(url: str, where: str) -> None:
    try:
        connection_params(url)
    except (ConfigError, DatabaseUnreachable) as exc:
        # The messages show the string without its password already.
        raise ConfigError(f"{where}: {exc}") from None


def _with_passfile(url: str, passfile: Path) -> str:
    conninfo = libpq_url(url)
    if not is_url(conninfo):
        return make_conninfo(conninfo, passfile=str(passfile))
    parts = urlsplit(conninfo)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "passfile"]
    query.append(("passfile", str(passfile)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _named(found: list[tuple[str | None, str, str, tuple[str, ...]]]) -> list[Target]:
    def derived(url: str) -> str:
        host = str(connection_params(url).get("host") or "localhost")
        return f"{database_name(url)}@{host}"

    plain = [database_name(url) for name, url, _, _ in found if name is None]
    targets: list[Target] = []
    seen: dict[str, str] = {}
    for name, url, where, schemas in found:
        if name is None:
            name = database_name(url)
            if plain.count(name) > 1:
                name = derived(url)
        if name in seen:
            raise ConfigError(
                f"{where}: the database {name!r} is listed twice (first at {seen[name]}); "
                "give each a distinct name (name = connection string)"
            )
        seen[name] = where
        targets.append(Target(name, url, where, schemas))
    return targets
