"""Who owns each table, and which model sets map only some of its columns.

Every table has one owner: a Django app (the app registry says which), SQLAlchemy alone, or
nobody dualorm knows (``external``). Without configuration the owner is inferred from the
model sets: a table some installed app's models create belongs to that app, else a table the
SQLAlchemy metadata maps belongs to SQLAlchemy, else nobody claims it and every side is
expected to hold it (so a stray table in the database is reported). ``[tool.dualorm.ownership]``
overrides the inference by exact table name or by glob, and marks a model set ``partial`` for
a table it maps only some columns of (a read-only mapping): such a set is compared on the
columns it maps. docs/ownership.md is the user's guide to the rules below.

Matching: an exact name (``"auth_user"``, ``"reports.daily"``) wins over any glob; among globs
the longest pattern wins; two different rules whose globs match a table with patterns of the
same length are a ``ConfigError``. A name or glob without a dot is matched against the table
names of schema ``public`` (as a plain name always meant ``public``); one with a dot against
``schema.table``. Globs are :func:`fnmatch.fnmatchcase`, so case matters as it does for
PostgreSQL's stored names.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from dualorm.errors import ConfigError
from dualorm.schema import DEFAULT_SCHEMA, TableKey, as_key

__all__ = [
    "FILE_KEYS",
    "MODEL_SETS",
    "PARTIAL_INFO",
    "Ownership",
    "OwnershipMap",
    "Policy",
    "Rule",
    "parse_file_keys",
    "parse_rule",
]

MODEL_SETS = ("sqlalchemy", "django")
"""The sides that are model sets; any other side (``database``, ``specs``) is a catalog."""

FILE_KEYS = frozenset({"ownership", "tables", "django_apps"})
"""The ``[tool.dualorm]`` keys :func:`parse_file_keys` reads (``tables``: the older name)."""

PARTIAL_INFO = "dualorm_partial"
"""The key of a SQLAlchemy ``Table.info`` that marks the table as mapped in part: the models
declare some columns of a table another owner creates (``models render`` declares the columns
its foreign keys reference so), and are compared on those, as ``partial:sqlalchemy`` says."""

_GLOB_CHARS = frozenset("*?[")


class Ownership(enum.StrEnum):
    """Who owns a table: both ORMs, one of them, or neither.

    ``SHARED`` requires both model sets to map the table; ``DJANGO`` and ``SQLALCHEMY`` let the
    other model set map it or not; ``EXTERNAL`` tables are never reported missing or extra,
    and a model set that maps one anyway is compared on the columns it maps.
    """

    SHARED = "shared"
    SQLALCHEMY = "sqlalchemy"
    DJANGO = "django"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class Rule:
    """One entry of ``[tool.dualorm.ownership]``.

    Attributes:
        owner: the configured owner; ``None`` keeps the owner inferred from the model sets.
        partial: the model sets that map only some of the table's columns.
    """

    owner: Ownership | None = None
    partial: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Policy:
    """What ownership means for one table in a comparison.

    Attributes:
        owner: the configured or inferred owner.
        app: the Django app whose models create the table, when one does.
        partial: model sets compared only on the columns they map.
        unread: model sets that do not read the table at all (the Django side narrowed by
            ``django_apps`` to other apps).
    """

    owner: Ownership = Ownership.SHARED
    app: str | None = None
    partial: frozenset[str] = frozenset()
    unread: frozenset[str] = frozenset()

    def expects(self, side: str) -> bool:
        """Return whether ``side`` must hold the table (else its absence is not reported)."""
        if self.owner is Ownership.EXTERNAL or side in self.unread:
            return False
        if side == "sqlalchemy":
            return self.owner in (Ownership.SHARED, Ownership.SQLALCHEMY)
        if side == "django":
            return self.owner in (Ownership.SHARED, Ownership.DJANGO)
        return True

    def maps_part(self, side: str) -> bool:
        """Return whether ``side`` maps only some columns of the table."""
        return side in self.partial or (self.owner is Ownership.EXTERNAL and side in MODEL_SETS)


_SHARED = Policy()


class OwnershipMap:
    """The configured rules and what the model sets say, resolved per table.

    Args:
        rules: ``{name or glob: rule}``; a value may be a :class:`Rule`, an
            :class:`Ownership` or the string form of a rule (see :func:`parse_rule`).
        django_apps: ``{table key: app label}`` for every table an installed app's models
            create (the app registry); ``None`` when Django is not configured. It may also be
            a function returning that map: it is called once, by the first :meth:`policy`
            (a comparison asks for a table's policy only where ownership can change its
            answer: a table, enum type or sequence one side lacks, or a partial rule), so a
            comparison that needs no owner never sets Django up.
        read_apps: the app labels the Django side reads (``django_apps`` in the config);
            ``None`` for every installed app.
        sqlalchemy_tables: the keys of the tables the SQLAlchemy metadata maps.
        partial_maps: ``{table key: model sets}`` that declare themselves partial for the
            table (a SQLAlchemy table marked with :data:`PARTIAL_INFO`), as a ``partial``
            rule would.
    """

    def __init__(
        self,
        rules: Mapping[str, Rule | Ownership | str] | None = None,
        *,
        django_apps: Mapping[TableKey, str] | Callable[[], Mapping[TableKey, str]] | None = None,
        read_apps: Collection[str] | None = None,
        sqlalchemy_tables: Collection[TableKey] = (),
        partial_maps: Mapping[TableKey, Collection[str]] | None = None,
    ) -> None:
        self._exact: dict[TableKey, tuple[str, Rule]] = {}
        globs: list[tuple[str, Rule]] = []
        for pattern, value in (rules or {}).items():
            rule = value if isinstance(value, Rule) else parse_rule(value, pattern)
            if _GLOB_CHARS.isdisjoint(pattern):
                key = as_key(pattern)
                if key in self._exact:
                    raise ConfigError(
                        f"ownership: {self._exact[key][0]!r} and {pattern!r} name the same table"
                    )
                self._exact[key] = (pattern, rule)
            else:
                globs.append((pattern, rule))
        self._globs = sorted(globs, key=lambda g: -len(g[0]))
        self._django_apps = django_apps
        self._django: dict[TableKey, str] | None = None
        self._read = None if read_apps is None else frozenset(read_apps)
        self._sqlalchemy = frozenset(sqlalchemy_tables)
        self._cache: dict[TableKey, Policy] = {}
        self._partial = {key: frozenset(sets) for key, sets in (partial_maps or {}).items()}
        every = [r for _, r in self._exact.values()] + [r for _, r in globs]
        # Whether any rule can make a model set partial (else no table needs projecting).
        self.has_partial = bool(self._partial) or any(
            r.partial or r.owner is Ownership.EXTERNAL for r in every
        )

    def rule(self, key: TableKey | str) -> tuple[str, Rule] | None:
        """Return ``(pattern, rule)`` of the entry that decides ``key``, or ``None``."""
        key = as_key(key)
        exact = self._exact.get(key)
        if exact is not None:
            return exact
        qualified = f"{key[0]}.{key[1]}"
        found: tuple[str, Rule] | None = None
        for pattern, rule in self._globs:
            if found is not None and len(pattern) < len(found[0]):
                break
            if "." in pattern:
                hit = fnmatchcase(qualified, pattern)
            else:
                hit = key[0] == DEFAULT_SCHEMA and fnmatchcase(key[1], pattern)
            if not hit:
                continue
            if found is not None and found[1] != rule:
                raise ConfigError(
                    f"ownership: {found[0]!r} and {pattern!r} both match {qualified} with "
                    "different rules and neither is longer; add an entry for the table itself"
                )
            found = found or (pattern, rule)
        return found

    def policy(self, key: TableKey | str) -> Policy:
        """Return the :class:`Policy` of table ``key``."""
        key = as_key(key)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        entry = self.rule(key)
        rule = entry[1] if entry is not None else Rule()
        app = self._apps().get(key)
        owner = rule.owner or self._inferred(key, app)
        partial = rule.partial | self._partial.get(key, frozenset())
        unread: frozenset[str] = frozenset()
        if app is not None and self._read is not None and app not in self._read:
            unread = frozenset({"django"})
        if owner is Ownership.SHARED and app is None and not partial and not unread:
            policy = _SHARED
        else:
            policy = Policy(owner, app, partial, unread)
        self._cache[key] = policy
        return policy

    def _apps(self) -> dict[TableKey, str]:
        if self._django is None:
            given = self._django_apps
            self._django = dict((given() if callable(given) else given) or {})
        return self._django

    def _inferred(self, key: TableKey, app: str | None) -> Ownership:
        if app is not None:
            return Ownership.DJANGO
        if key in self._sqlalchemy:
            return Ownership.SQLALCHEMY
        return Ownership.SHARED


def parse_rule(value: Any, pattern: str, origin: str = "ownership") -> Rule:
    """Parse one ownership value: an owner, ``"partial:<set>[,<set>]"`` or a table.

    The table form is ``{ owner = "django", partial = ["sqlalchemy"] }``; either key may be
    left out (no ``owner``: the inferred one). Anything else is a ``ConfigError`` naming
    ``pattern`` and ``origin``.
    """
    where = f"{origin} {pattern!r}"
    if isinstance(value, Ownership):
        return Rule(owner=value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("partial:"):
            return Rule(partial=_model_sets(text.removeprefix("partial:").split(","), where))
        return Rule(owner=_owner(text, where))
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"owner", "partial"})
        if unknown or not value:
            raise ConfigError(
                f"{where}: a table entry takes 'owner' and/or 'partial'"
                + (f", not {', '.join(map(repr, unknown))}" if unknown else "")
            )
        owner = value.get("owner")
        if owner is not None and not isinstance(owner, str):
            raise ConfigError(f"{where}: owner must be a string, got {owner!r}")
        partial = value.get("partial", ())
        names = [partial] if isinstance(partial, str) else partial
        if not isinstance(names, list | tuple):
            raise ConfigError(f"{where}: partial must be a model set or a list of them")
        return Rule(
            owner=None if owner is None else _owner(owner, where),
            partial=_model_sets(names, where),
        )
    raise ConfigError(
        f"{where} = {value!r}: expected one of {_owners()}, 'partial:<model set>' or a table"
    )


def _owner(text: str, where: str) -> Ownership:
    try:
        return Ownership(text.strip().lower())
    except ValueError:
        raise ConfigError(
            f"{where} = {text!r} is not one of {_owners()} or 'partial:<model set>'"
        ) from None


def _owners() -> str:
    return ", ".join(o.value for o in Ownership)


def _model_sets(names: Collection[Any], where: str) -> frozenset[str]:
    chosen = []
    for name in names:
        if not isinstance(name, str) or name.strip().lower() not in MODEL_SETS:
            raise ConfigError(
                f"{where}: partial names a model set ({', '.join(MODEL_SETS)}), got {name!r}"
            )
        chosen.append(name.strip().lower())
    if not chosen:
        raise ConfigError(f"{where}: partial names no model set")
    return frozenset(chosen)


def parse_file_keys(section: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """Return ``Config``'s ``ownership`` and ``django_apps`` from a ``[tool.dualorm]`` table.

    ``[tool.dualorm.ownership]`` (or its older name ``[tool.dualorm.tables]``, not both) maps
    names and globs to rules; ``django_apps`` is a non-empty list of app labels.
    """
    if "ownership" in section and "tables" in section:
        raise ConfigError(
            f"{path}: [tool.dualorm.ownership] and [tool.dualorm.tables] are the same table; "
            "keep one (ownership)"
        )
    name = "tables" if "tables" in section else "ownership"
    entries = section.get(name, {})
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: [tool.dualorm.{name}] must be a table")
    origin = f"{path}: [tool.dualorm.{name}]"
    rules = {str(p): parse_rule(v, str(p), origin) for p, v in entries.items()}
    OwnershipMap(rules)  # two spellings of one table are refused now, not at validate time
    return {"ownership": rules, "django_apps": _apps(section.get("django_apps"), path)}


def _apps(value: Any, path: Path) -> tuple[str, ...] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise ConfigError(
            f"{path}: [tool.dualorm] django_apps must be a non-empty list of app labels "
            f"(leave it out to read every installed app), got {value!r}"
        )
    return tuple(v.strip() for v in value)
