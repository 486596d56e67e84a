"""``migrate new NAME --autogenerate`` and ``migrate check``: the project around the plan.

:func:`read_project` reads the model sets the project configures and replays its specs (no
database: as ``makemigrations`` works, from the models and the history alone), and says which
tables the specs manage: not the tables other owners create (``foreign_tables.json``), not
the tables of the Django apps dualorm does not write the migrations of
(:mod:`dualorm.autogen.apps`), not ``external`` ones. :func:`autogenerate` plans the change
of one model set (``--from``) or of both, which must then agree, and writes the spec;
against an empty history that is the initial spec of the whole model set. The written text is
loaded back through the spec loader and replayed before the file is created.
:func:`check` is the offline CI gate: the model sets against the replayed specs, and the
emitted Alembic and Django files against their specs (``migrate make --check``).

A warm ``migrate check`` answers from the cache (about 200 modules loaded): the ORMs' sources,
the spec reader and replay (yaml), the spec writer and :mod:`dualorm.spec.make` (the emitters)
are imported inside the functions that use them, for that start-up time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dualorm.autogen.cache import cached, schema_data, schema_from
from dualorm.collector import few_collections
from dualorm.config import Config
from dualorm.diff import Difference, compare
from dualorm.errors import InternalError, SafetyError, SpecError, UsageError
from dualorm.ownership import Ownership, OwnershipMap
from dualorm.schema import DEFAULT_SCHEMA, Schema, Table, TableKey, normalized
from dualorm.schema import schema as schema_of
from dualorm.spec.artefact import Artefact
from dualorm.spec.cache import cached_specs, spec_key
from dualorm.spec.model import Migration

if TYPE_CHECKING:
    from dualorm.autogen.plan import Change
    from dualorm.autogen.renames import Answers, Ask
    from dualorm.spec.ops import Operation

__all__ = [
    "CheckResult",
    "Generated",
    "Project",
    "autogenerate",
    "check",
    "head",
    "read_project",
]

SOURCES = ("sqlalchemy", "django")


@dataclass(frozen=True)
class Project:
    """The model sets, the replayed specs and what the specs manage."""

    models: dict[str, Schema]
    have: Schema
    migrations: list[Migration]
    scope: frozenset[TableKey]
    ownership: OwnershipMap
    apps: dict[TableKey, str] = field(default_factory=dict)
    """The app of every table the models of another app dualorm manages than the default
    one create: a new one is created with ``app:``."""
    unrecorded: frozenset[TableKey] = frozenset()
    """Other owners' tables the models reference that ``foreign_tables.json`` lacks (read
    from their owners): the autogenerate writes it (:func:`dualorm.spec.make.record_foreign`)."""
    through: dict[TableKey, tuple[str, str]] = field(default_factory=dict)
    """The owner table and field of each table of a managed app a ``ManyToManyField``
    creates: a new one is created with ``many_to_many:``."""


DjangoModels = tuple[Schema, dict[TableKey, str], tuple[str, ...], dict[TableKey, tuple[str, str]]]
"""What :func:`django_models` reads: the model schema, the app of every installed table, the
apps read, and ``{through table: (owner table, field)}``."""


def sqlalchemy_models(config: Config, cache: bool = True) -> tuple[Schema, set[TableKey]]:
    """The SQLAlchemy models as a ``Schema``, and the tables their metadata names (from the
    model-schema cache while the models are unchanged, :mod:`dualorm.autogen.cache`)."""

    def read() -> tuple[Schema, set[TableKey]]:
        from dualorm.sources import sqlalchemy as sa_source

        metadata = sa_source.resolve_metadata(config.sa_metadata)
        keys = {(t.schema or DEFAULT_SCHEMA, t.name) for t in metadata.tables.values()}
        return sa_source.load(metadata), keys

    def decode(data: Any) -> tuple[Schema, set[TableKey]]:
        return schema_from(data[0]), {(str(a), str(b)) for a, b in data[1]}

    return cached(
        config,
        "sqlalchemy",
        read,
        encode=lambda v: [schema_data(v[0]), sorted(v[1])],
        decode=decode,
        use=cache,
    )


def django_models(
    config: Config, cache: bool = True, known: Sequence[str] | None = None
) -> DjangoModels:
    """The models of the Django apps dualorm manages as a ``Schema``, the app of every table
    an installed app creates, the apps read, and the owner table and field of each of their
    tables a ``ManyToManyField`` creates (cached as :func:`sqlalchemy_models` is).

    ``known`` are the default app and the apps the specs place tables in
    (:func:`dualorm.autogen.apps.spec_apps`; ``None``: the default app alone); the apps of
    ``django_apps`` whose migrations are all dualorm's are read too
    (:func:`dualorm.autogen.apps.managed_apps`). The cache entry is keyed on ``known``.
    """
    wanted = tuple(known) if known is not None else (config.default_app,)

    def read() -> DjangoModels:
        from dualorm.autogen.apps import managed_apps
        from dualorm.sources import django as django_source

        owners = django_source.table_apps(config.django_settings)
        labels = managed_apps(config, wanted)
        models = django_source.load(list(labels), config.django_settings)
        through = django_source.through_tables(list(labels), config.django_settings)
        return models, owners, labels, through

    def decode(data: Any) -> DjangoModels:
        owners = {(str(a), str(b)): str(app) for a, b, app in data[1]}
        through = {(str(a), str(b)): (str(t), str(f)) for a, b, t, f in data[3]}
        return schema_from(data[0]), owners, tuple(str(app) for app in data[2]), through

    return cached(
        config,
        "django",
        read,
        encode=lambda v: [
            schema_data(v[0]),
            sorted((*k, app) for k, app in v[1].items()),
            list(v[2]),
            sorted((*k, *fact) for k, fact in v[3].items()),
        ],
        decode=decode,
        use=cache,
        extra="\0".join(wanted),
    )


def configured(config: Config) -> tuple[str, ...]:
    """The model sets the project configures (``sa_metadata``, ``django_settings``)."""
    found = []
    if config.has("sa_metadata"):
        found.append("sqlalchemy")
    if config.has("django_settings") and config.has("django_app_label"):
        found.append("django")
    return tuple(found)


def _replayed(migrations: Sequence[Migration], start: Schema) -> Schema:
    """The schema ``migrations`` build from ``start``, as :func:`~dualorm.spec.replay.replay`
    gives it. The loader checked every operation already, so a run of table creations is
    added at once instead of one validated ``apply`` each (a 1,000-table initial spec)."""
    from dualorm.spec.ops import CreateTable

    state, pending = start, []
    for migration in migrations:
        for op in migration.operations:
            if isinstance(op, CreateTable):
                pending.append(normalized(op.definition))
                continue
            if pending:
                state, pending = _added(state, pending), []
            state = op.apply(state)
    return _added(state, pending) if pending else state


def _added(state: Schema, tables: Sequence[Table]) -> Schema:
    """``state`` with ``tables`` added; its enum types and sequences kept."""
    return schema_of(
        [*state, *tables],
        state.enums,
        declares_enums=state.declares_enums,
        sequences=state.sequences if state.declares_sequences else None,
    )


def head(config: Config) -> tuple[Schema, list[Migration], Schema]:
    """The tables other owners create, the specs (unchanged ones from the cache) and the
    schema they build: the specs at head, offline."""
    from dualorm.spec.replay import start_schema

    directory = config.migrations_path
    start = start_schema(directory)
    # No specs directory yet: a new project's empty history (the initial spec creates it).
    migrations = cached_specs(directory, config.state_dir / "cache") if directory.is_dir() else []
    return start, migrations, _replayed(migrations, start)


def read_project(
    config: Config, sources: tuple[str, ...], *, owners: bool = True, cache: bool = True
) -> Project:
    """Read ``sources`` and the specs of ``config``; nothing is written, no server is asked.

    ``owners`` also reads the model sets not among ``sources`` for who owns each table
    (needed only where a table would be dropped); without it the owners come from the
    configuration and ``sources`` alone. ``cache=False`` reads every model set in full
    instead of from the model-schema cache.
    """
    start, migrations, have = head(config)
    models: dict[str, Schema] = {}
    if "sqlalchemy" in sources:
        models["sqlalchemy"] = sqlalchemy_models(config, cache)[0]
    apps: dict[TableKey, str] | None = None
    read: tuple[str, ...] = ()
    through: dict[TableKey, tuple[str, str]] = {}
    django = config.has("django_settings") and config.has("django_app_label")
    if django and (owners or "django" in sources):
        from dualorm.autogen.apps import spec_apps

        known = spec_apps(migrations, config.default_app)
        django_schema, apps, read, through = django_models(config, cache, known)
        if "django" in sources:
            models["django"] = django_schema
    elif "django" in sources:
        models["django"] = django_models(config, cache)[0]
    sa_tables: set[TableKey] = set(models["sqlalchemy"].keys()) if "sqlalchemy" in models else set()
    if owners and not sa_tables and config.has("sa_metadata"):
        sa_tables = sqlalchemy_models(config, cache)[1]
    ownership = OwnershipMap(
        config.ownership,
        django_apps=apps,
        read_apps=None if apps is None else read,
        sqlalchemy_tables=sa_tables,
    )
    everything = set(have.keys()).union(*(s.keys() for s in models.values()))
    others = {key for key, app in (apps or {}).items() if app not in read}
    scope = frozenset(
        key
        for key in everything
        if key not in start
        and key not in others
        and ownership.policy(key).owner is not Ownership.EXTERNAL
    )
    missing = _foreign_targets(models, have, scope)
    if missing:
        have = _added(have, _foreign_tables(config, missing, set(have.keys()) | scope))
    default = config.default_app if apps is not None else None
    managed = {key: app for key, app in (apps or {}).items() if app in read and app != default}
    return Project(models, have, migrations, scope, ownership, managed, frozenset(missing), through)


def _foreign_targets(
    models: dict[str, Schema], have: Schema, scope: frozenset[TableKey]
) -> set[TableKey]:
    """The tables the models' foreign keys reference that neither the specs build nor the
    models create here: another owner's (``auth_user``), not yet in the foreign-tables
    snapshot (a new project's, or a first reference to one)."""
    known = set(have.keys()) | scope
    return {
        fk.ref_key
        for models_schema in models.values()
        for table in models_schema
        if table.key in scope
        for fk in table.foreign_keys
        if fk.ref_key not in known
    }


def _foreign_tables(config: Config, keys: set[TableKey], created: set[TableKey]) -> list[Table]:
    """The foreign tables ``keys`` as their owners create them (the Django app registry, the
    external SQLAlchemy tables), as ``migrate make`` writes them to the snapshot."""
    from dualorm.spec.foreign import collect

    return [normalized(t.table) for t in collect(config, created) if t.table.key in keys]


@dataclass(frozen=True)
class Generated:
    """What ``migrate new --autogenerate`` wrote (``path`` ``None``: nothing changed)."""

    path: Path | None
    migration_id: str | None
    change: Change
    paths: tuple[Path, ...] = ()
    """Every spec written: one, or several in a row for a large initial model set."""
    snapshot: Path | None = None
    """``foreign_tables.json``, when written too (it lacked a table the specs reference)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": None if self.path is None else str(self.path),
            "paths": [str(p) for p in self.paths],
            "snapshot": None if self.snapshot is None else str(self.snapshot),
            "id": self.migration_id,
            "source": self.change.source,
            "operations": [op.describe() for op in self.change.operations],
            "possible_renames": [c.describe() for c in self.change.unconfirmed],
        }


def _plan(
    config: Config, source: str | None, answers: Answers, ask: Ask | None, cache: bool
) -> tuple[Change, Project]:
    # Imported here: the planner and the operations, which `check` answered from its cache
    # does not need.
    from dualorm.autogen.apps import placed
    from dualorm.autogen.plan import plan_change, require_agreement
    from dualorm.spec.ops import DropTable

    available = configured(config)
    if source is not None and source not in SOURCES:
        raise UsageError(f"--from {source!r}: choose sqlalchemy or django")
    if source is not None and source not in available:
        raise UsageError(f"--from {source}: the project configures no {source} models")
    chosen = (source,) if source is not None else available
    if not chosen:
        raise UsageError("--autogenerate needs sa_metadata or django_settings in [tool.dualorm]")
    # The other model set is read for the owners only when a table is to be dropped: a
    # table the other side owns is not dropped because this side does not map it.
    project = read_project(config, chosen, owners=len(chosen) == len(available), cache=cache)

    def planned(project: Project) -> dict[str, Change]:
        # A new table of another app dualorm manages is created with its `app:`.
        return {
            name: placed(
                plan_change(
                    project.models[name],
                    project.have,
                    source=name,
                    ownership=project.ownership,
                    scope=project.scope,
                    answers=answers,
                    ask=ask,
                ),
                project.apps,
                project.through,
            )
            for name in chosen
        }

    plans = planned(project)
    drops = any(isinstance(op, DropTable) for plan in plans.values() for op in plan.operations)
    if drops and len(chosen) < len(available):
        project = read_project(config, chosen, cache=cache)
        plans = planned(project)
    if len(plans) == 2:
        require_agreement(plans["sqlalchemy"], plans["django"])
    return next(iter(plans.values())), project


@few_collections()
def autogenerate(
    config: Config,
    name: str,
    *,
    source: str | None = None,
    answers: Answers | None = None,
    ask: Ask | None = None,
    cache: bool = True,
) -> Generated:
    """Write the spec that brings the specs to the model set(s); see the module docstring.

    ``cache=False`` (``--no-cache``) reads the model sets in full, not from the model-schema
    cache (:mod:`dualorm.autogen.cache`); the spec written is the same.

    Raises:
        DriftDetected: without ``source``, the two model sets ask for different changes.
        UsageError: a bad ``--from`` or ``--rename``, a change a spec cannot express.
        SafetyError: the spec file exists already.
    """
    from dualorm.autogen.renames import Answers
    from dualorm.spec.dump import render_spec
    from dualorm.spec.files import next_id
    from dualorm.spec.graph import MigrationGraph

    change, project = _plan(config, source, answers or Answers(), ask, cache)
    if not change.operations:
        return Generated(None, None, change)
    first = next_id(config.migrations_path, name)
    number, _, slug = first.partition("_")
    deps = sorted(MigrationGraph({m.id: m.dependencies for m in project.migrations}).leaf_nodes())
    # Writing specs needs the spec writer; `check` never loads it.
    from dualorm.autogen.write import chunks as split
    from dualorm.autogen.write import spec_mapping

    chunks = split(change.operations)
    files: list[tuple[Path, str]] = []

    state = project.have
    for n, ops in enumerate(chunks):
        spec_id = first if n == 0 else f"{int(number) + n:04d}_{slug}_{n + 1}"
        title = name.strip() if len(chunks) == 1 else f"{name.strip()} ({n + 1} of {len(chunks)})"
        text = render_spec(
            spec_id,
            title,
            _description(ops),
            [spec_mapping(op) for op in ops],
            deps,
            header=_header(change),
        )
        state = _verify(text, spec_id, state, ops)
        files.append((config.migrations_path / f"{spec_id}.yaml", text))
        deps = [spec_id]
    snapshot = _write(config, files, project)
    return Generated(files[0][0], first, change, tuple(p for p, _ in files), snapshot)


def _write(config: Config, files: list[tuple[Path, str]], project: Project) -> Path | None:
    """Write the specs (none over an existing file), then the foreign-table snapshot when
    they reference a table it lacks; return the snapshot's path when written."""
    for path, _ in files:
        if path.exists():
            raise SafetyError(f"{path} exists already; it is not overwritten")
    config.migrations_path.mkdir(parents=True, exist_ok=True)
    for path, text in files:
        path.write_text(text, encoding="utf-8")
    if not project.unrecorded:
        return None
    from dualorm.spec.make import record_foreign  # the emitters' module: only here

    return record_foreign(config)


def _description(ops: Sequence[Operation]) -> str:
    shown = "; ".join(op.describe() for op in ops[:3])
    more = f"; and {len(ops) - 3} more" if len(ops) > 3 else ""
    return f"{shown}{more}"


def _header(change: Change) -> str:
    lines = [f"Written by `dualorm migrate new --autogenerate` from the {change.source} models."]
    if change.unconfirmed:
        lines += [
            "Possible renames, written as drop + add: the data of the dropped one is lost,",
            "and `dualorm migrate lint` reports it until acknowledged. If one is a rename,",
            "delete this file and run the command again with:",
        ]
        lines += [f"  {c.describe()}: {c.flag}" for c in change.unconfirmed]
    return "\n".join(lines)


def _verify(text: str, spec_id: str, start: Schema, ops: Sequence[Operation]) -> Schema:
    """Load ``text`` through the spec loader on ``start`` and check that its replay is what
    ``ops`` build; return that schema."""
    from dualorm.spec.load import load_spec
    from dualorm.spec.replay import replay

    expected = start
    for op in ops:
        expected = op.apply(expected)
    with tempfile.TemporaryDirectory(prefix="dualorm-autogen-") as folder:
        written = Path(folder) / f"{spec_id}.yaml"
        written.write_text(text, encoding="utf-8")
        try:
            migration = load_spec(written, start)
        except SpecError as exc:
            from dualorm.spec.reader import USING_PLACEHOLDER

            if USING_PLACEHOLDER in text and "placeholder" in str(exc):
                return expected  # a person writes the conversion; the loader says where
            raise InternalError(f"the autogenerated spec does not load: {exc}") from exc
    replayed = replay([migration], start)
    if replayed != expected:
        left = compare(replayed, expected, source="spec", target="plan")
        shown = "; ".join(d.detail for d in left[:5]) or "a difference compare misses"
        raise InternalError(f"the autogenerated spec replays differently: {shown}")
    return expected


# -- migrate check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """What ``migrate check`` found: model changes per model set, stale generated files."""

    changes: dict[str, tuple[Difference, ...]]
    stale: tuple[Any, ...]

    @property
    def ok(self) -> bool:
        return not self.stale and not any(self.changes.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "models": {name: [d.to_dict() for d in found] for name, found in self.changes.items()},
            "stale": [
                {"id": a.migration_id, "tool": a.tool, "path": str(a.path), "reason": a.reason}
                for a in self.stale
            ],
        }


@few_collections()
def check(config: Config, *, cache: bool = True) -> CheckResult:
    """Compare every configured model set with the replayed specs, and the generated files
    with their specs; offline. ``cache=False`` reads the model sets and the generated files in
    full, not from the model-schema cache.

    The answer itself is cached too, keyed on the specs: while neither they nor anything the
    model sets and the generated files were read from changed, it is given without loading
    either.
    """
    specs = spec_key(config.migrations_path) if cache else None

    def decode(data: Any) -> CheckResult:
        changes, stale = data
        return CheckResult({str(k): tuple(v) for k, v in changes.items()}, tuple(stale))

    return cached(
        config,
        "check",
        lambda: _check(config, cache),
        encode=lambda r: [r.changes, r.stale],
        decode=decode,
        use=specs is not None,
        extra=specs or "",
    )


def _check(config: Config, cache: bool) -> CheckResult:
    from dualorm.autogen.convert import Context, is_change
    from dualorm.autogen.plan import changes_of

    sources = configured(config)
    project = read_project(config, sources, cache=cache)
    changes: dict[str, tuple[Difference, ...]] = {}
    for name in sources:
        found = changes_of(
            project.models[name],
            project.have,
            source=name,
            ownership=project.ownership,
            scope=project.scope,
        )
        context = Context(project.models[name], project.have, name)
        moving = [d for d in found if is_change(d, context)]
        changes[name] = tuple(moving)
    # The generated files exist only where `migrate make` writes them: both ORMs configured.
    stale = tuple(_stale_files(config, project.migrations, cache)) if "django" in sources else ()
    return CheckResult(changes, stale)


def make_check(config: Config) -> list[Artefact]:
    """``migrate make --check``'s list (:func:`dualorm.spec.make.make` with ``check``), kept
    in the model-schema cache (the entry ``make-check``) with everything reading it opened or
    listed: the settings and the app registry's modules, the specs, the emitted files. While
    none of them changed, it is given without setting Django up, decoding a spec or loading
    the emitters' planning (the SQL parser with the operations)."""

    def read() -> list[Artefact]:
        from dualorm.spec.make import make

        return make(config, check=True)

    return _cached_artefacts(config, "make-check", read, cache=True)


def _stale_files(config: Config, migrations: Sequence[Migration], cache: bool) -> list[Artefact]:
    """``migrate make --check``'s list for :func:`check`: cached with the Django app registry
    it reads, keyed on the specs too."""

    def read() -> list[Artefact]:
        from dualorm.spec.make import outdated

        return outdated(config, migrations)

    return _cached_artefacts(config, "emitted", read, cache=cache)


def _cached_artefacts(
    config: Config, entry: str, read: Callable[[], list[Artefact]], *, cache: bool
) -> list[Artefact]:
    """``read()``'s generated files, from the model-schema cache ``entry`` while nothing it
    read has changed (keyed on the specs: none while they do not load)."""
    specs = spec_key(config.migrations_path)

    def decode(data: Any) -> list[Artefact]:
        if not all(isinstance(a, Artefact) for a in data):
            raise TypeError("not a list of generated files")
        return list(data)

    return cached(
        config,
        entry,
        read,
        encode=tuple,
        decode=decode,
        use=cache and specs is not None,
        extra=specs or "",
    )
