"""The validator: read the chosen sources, compare every pair, optionally check the data.

:class:`SchemaValidator` is what ``dualorm validate`` runs and what a test suite or a deploy
script calls directly::

    result = SchemaValidator(sources=("sqlalchemy", "database")).validate_schema()
    if not result.valid:
        raise SystemExit(result.to_dict())

Sources are ``sqlalchemy`` (the MetaData named by ``Config.sa_metadata``), ``django`` (every
installed app under ``Config.django_settings``, or the apps of ``Config.django_apps``) and
``database`` (the live catalog). Each table's owner comes from ``Config.ownership`` and, where
that says nothing, from the configured model sets (:class:`~dualorm.ownership.OwnershipMap`):
the Django app registry and the SQLAlchemy metadata are consulted even when their side is not
among the sources, so a pair gives the same answer whichever third source is chosen.

When a database is among them, or ``DATABASE_URL`` is set and answers, the model
sides are first normalised through the server (:mod:`dualorm.normalize`) so that defaults,
checks and predicates compare in the server's own spelling; ``sqlalchemy,django`` alone needs
no database and never starts one.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import combinations
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dualorm.collector import few_collections
from dualorm.config import Config
from dualorm.datacheck import DataIssue, check_data
from dualorm.db import connect, resolve_url
from dualorm.diff import Difference, DiffKind, Severity, compare
from dualorm.errors import ConfigError, DatabaseUnreachable
from dualorm.normalize import normalize_all
from dualorm.ownership import OwnershipMap
from dualorm.pgnames import truncate_identifier
from dualorm.schema import DEFAULT_SCHEMA, Schema, TableKey
from dualorm.sources import django as django_source
from dualorm.target_catalog import load_target

if TYPE_CHECKING:
    import psycopg

    from dualorm.normalize import Rejection

__all__ = ["SOURCES", "SchemaValidator", "ValidationResult", "parse_sources"]

SOURCES = ("sqlalchemy", "django", "database")
"""Every source name, in the order pairs are formed (the earlier one is the pair's source)."""


def _sqlalchemy_models(config: Config) -> Schema:
    # Imported here: SQLAlchemy (some 190 modules) loads only when its models are read.
    from dualorm.sources import sqlalchemy as sa_source

    return sa_source.load(sa_source.resolve_metadata(config.sa_metadata))


def _sqlalchemy_partial(config: Config) -> set[TableKey]:
    """The tables the SQLAlchemy metadata marks as mapped in part (the metadata is imported
    already: its models were read)."""
    if not config.has("sa_metadata"):
        return set()
    # Imported here: SQLAlchemy (some 190 modules) loads only when its models are read.
    from dualorm.sources import sqlalchemy as sa_source

    return sa_source.partial_tables(sa_source.resolve_metadata(config.sa_metadata))


def _django_models(config: Config) -> Schema:
    return django_source.load(config.django_apps, config.django_settings)


MODEL_LOADERS: Mapping[str, Callable[[Config], Schema]] = MappingProxyType(
    {"sqlalchemy": _sqlalchemy_models, "django": _django_models}
)
"""How each model source of :data:`SOURCES` is read from the project's configuration (the
other source, ``database``, is the live catalog)."""

MODEL_SOURCES = tuple(MODEL_LOADERS)

Finding = Difference | DataIssue


def parse_sources(value: str | Iterable[str]) -> tuple[str, ...]:
    """Return the chosen source names in canonical order; reject unknown names and singletons.

    >>> parse_sources("database, sqlalchemy")
    ('sqlalchemy', 'database')
    """
    names = value.split(",") if isinstance(value, str) else list(value)
    chosen = [n.strip().lower() for n in names if n.strip()]
    unknown = sorted(set(chosen) - set(SOURCES))
    if unknown:
        raise ConfigError(
            f"unknown source(s) {', '.join(unknown)} in --sources; choose two or three of "
            + ", ".join(SOURCES)
        )
    ordered = tuple(s for s in SOURCES if s in chosen)
    if len(ordered) < 2:
        raise ConfigError(
            f"--sources needs at least two of {', '.join(SOURCES)} to compare, got "
            + (", ".join(ordered) or "none")
        )
    return ordered


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """What a validation found: schema differences per pair and, with ``data``, row issues."""

    sources: tuple[str, ...]
    differences: tuple[Difference, ...] = ()
    data_issues: tuple[DataIssue, ...] = ()

    @property
    def errors(self) -> list[Finding]:
        found: list[Finding] = [d for d in self.differences if d.severity is Severity.ERROR]
        return found + [i for i in self.data_issues if i.severity == Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        found: list[Finding] = [d for d in self.differences if d.severity is Severity.WARNING]
        return found + [i for i in self.data_issues if i.severity == Severity.WARNING]

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Every ``(source, target)`` pair that was compared, in report order."""
        return list(combinations(self.sources, 2))

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"valid", "errors", "warnings"}``, as ``dualorm validate --json`` prints."""
        return {
            "valid": self.valid,
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
        }


class SchemaValidator:
    """Compare the chosen sources pairwise and, with ``data``, check rows against the models.

    Args:
        config: project configuration; ``Config.load()`` when omitted. Supplies the
            ``sa_metadata`` path, the Django settings and apps, table ownership and
            ``DATABASE_URL``.
        sources: two or three of ``sqlalchemy``, ``django``, ``database``.
        database_url: overrides ``Config.database_url``. With neither, a ``database`` source
            (or ``data``) uses the embedded server.
        data: also run :func:`dualorm.datacheck.check_data` for each model source against
            the catalog (needs a database).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        sources: Sequence[str] = SOURCES,
        database_url: str | None = None,
        data: bool = False,
    ) -> None:
        self.config = config if config is not None else Config.load()
        self.sources = parse_sources(sources)
        self.database_url = database_url or self.config.database_url
        self.data = data

    def validate_schema(self) -> ValidationResult:
        """Read every chosen source, compare each pair and return what was found."""
        with few_collections():
            return self._validate_schema()

    def _validate_schema(self) -> ValidationResult:
        # Connecting and reading the catalog is mostly waiting on the server, so it runs in a
        # worker while the models load; a model error still wins over a database error.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dualorm-catalog") as pool:
            reading = pool.submit(self._open_and_read)
            try:
                models = {
                    name: self._load_model(name) for name in self.sources if name in MODEL_SOURCES
                }
            except BaseException:
                with contextlib.suppress(BaseException):
                    _close(reading.result()[0])
                raise
            conn, catalog = reading.result()
        try:
            return self._compare(models, conn, catalog)
        finally:
            _close(conn)

    def _compare(
        self,
        models: dict[str, Schema],
        conn: psycopg.Connection[Any] | None,
        catalog: Schema | None,
    ) -> ValidationResult:
        schemas: dict[str, Schema] = dict(models)
        rejections: dict[str, tuple[Rejection, ...]] = {}
        if conn is not None:
            for name, model in models.items():
                schemas[name], rejections[name] = normalize_all(model, conn)
            if "database" in self.sources and catalog is not None:
                schemas["database"] = catalog
        ownership = self._ownership(models)
        differences = [
            d
            for source, target in self.pairs
            for d in compare(
                schemas[source],
                schemas[target],
                source=source,
                target=target,
                ownership=ownership,
                live_target=target == "database",
            )
        ]
        differences = _with_rejections(differences, rejections, self.pairs)
        issues: list[DataIssue] = []
        if self.data and conn is not None and catalog is not None:
            for name in MODEL_SOURCES:
                if name in schemas and name in models:
                    issues += check_data(conn, schemas[name], catalog, source=name)
        return ValidationResult(self.sources, tuple(differences), tuple(issues))

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(combinations(self.sources, 2))

    def _open_and_read(self) -> tuple[psycopg.Connection[Any] | None, Schema | None]:
        """Open the connection (see :meth:`_open`) and read the catalog when it is compared."""
        conn = self._open()
        if conn is None or not ("database" in self.sources or self.data):
            return conn, None

        try:
            # A tenant's connection reads its tenant schema (dualorm.target_catalog).
            return conn, load_target(conn)
        except BaseException:
            _close(conn)
            raise

    def _load_model(self, name: str) -> Schema:
        return MODEL_LOADERS[name](self.config)

    def _ownership(self, models: dict[str, Schema]) -> OwnershipMap:
        """Return the configured rules with the owners the model sets imply.

        The Django app registry is read when the comparison first asks for an owner (see
        :class:`~dualorm.ownership.OwnershipMap`): a sqlalchemy/database pair that agrees
        on its tables does not set Django up.
        """
        django_apps = None
        if self.config.has("django_settings"):
            django_apps = functools.partial(_django_owners, self.config.django_settings)
        sqlalchemy_tables: set[TableKey] = set()
        partial: dict[TableKey, set[str]] = {}
        if "sqlalchemy" in models:
            sqlalchemy_tables = set(models["sqlalchemy"].keys())
            partial = {key: {"sqlalchemy"} for key in _sqlalchemy_partial(self.config)}
        elif self.config.has("sa_metadata"):
            # A project that configures only Django validates django,database; SQLAlchemy
            # loads only here, for the table names of the metadata.
            from dualorm.sources import sqlalchemy as sa_source

            metadata = sa_source.resolve_metadata(self.config.sa_metadata)
            sqlalchemy_tables = {
                (t.schema or DEFAULT_SCHEMA, truncate_identifier(t.name))
                for t in metadata.tables.values()
            }
        return OwnershipMap(
            self.config.ownership,
            django_apps=django_apps,
            read_apps=self.config.django_apps,
            sqlalchemy_tables=sqlalchemy_tables,
            partial_maps=partial,
        )

    def _open(self) -> psycopg.Connection[Any] | None:
        """Return a connection when one is needed (or offered and reachable), else ``None``."""

        required = "database" in self.sources or self.data
        url = self.database_url
        if url is None and required:
            url = resolve_url(self.config)
        if url is None:
            return None
        try:
            return connect(url)
        except DatabaseUnreachable:
            if required:
                raise
            # Only the models are compared: an unreachable optional server means comparing
            # them as written, not failing a check that needs no database.
            return None


def _django_owners(settings_module: str) -> dict[TableKey, str]:
    return django_source.table_apps(settings_module)


def _with_rejections(
    differences: list[Difference],
    rejections: dict[str, tuple[Rejection, ...]],
    pairs: list[tuple[str, str]],
) -> list[Difference]:
    """Report each expression the server refused as a difference of its object.

    A refusal explains the difference already found for that object (a default of a sequence
    that kept another name, a check over a column the database lacks): its reason is added to
    that difference's detail. Nothing is added where the object's table is missing from, or
    extra to, the other side: that is the finding. Otherwise the refusal is its own
    ``rejected_expression`` error, in the pair of that source with the database (or its
    first pair).
    """
    out = list(differences)
    lonely = (DiffKind.MISSING_TABLE, DiffKind.EXTRA_TABLE)
    for source, refused in rejections.items():
        mine = [i for i, d in enumerate(out) if source in (d.source, d.target)]
        for r in refused:
            if any(out[i].kind in lonely and out[i].object == r.table_object for i in mine):
                continue
            note = f"PostgreSQL rejects {source}'s {r.what} {r.expression!r}: {r.reason}"
            same = [i for i in mine if out[i].object == r.object]
            for i in same:
                out[i] = replace(out[i], detail=f"{out[i].detail}; {note}")
            if not same:
                out.append(_rejected(source, r, note, pairs))
    return out


def _rejected(source: str, r: Rejection, note: str, pairs: list[tuple[str, str]]) -> Difference:
    with_database = [p for p in pairs if source in p and "database" in p]
    first, second = (with_database or [p for p in pairs if source in p])[0]
    return Difference(
        kind=DiffKind.REJECTED_EXPRESSION,
        object=r.object,
        source=first,
        target=second,
        severity=Severity.ERROR,
        detail=f"{r.object}: {note}",
        from_value=r.expression if first == source else None,
        to_value=r.expression if second == source else None,
    )


def _close(conn: psycopg.Connection[Any] | None) -> None:
    if conn is not None:
        try:
            conn.rollback()
        finally:
            conn.close()
