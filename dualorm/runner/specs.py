"""A project's change specs, loaded once per command, and the graph every plan is made on.

Every way in (``migrate up``/``down``/``plan``/``status``, the dry run, the production path,
``manage.py dualmigrate``, the Python API) plans over :attr:`ProjectSpecs.graph`: the chain the
emitted Alembic and Django files run in (each migration after the one before it, so both tools
have one head). The dry run and ``migrate plan`` therefore name exactly the migrations, in
exactly the order, that the real run applies, for any ``--to`` on a branching history.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dualorm.errors import AppliedSpecMissing, ConfigError, GraphError
from dualorm.runner.foreign import DjangoApps
from dualorm.spec.cache import cached_specs, migration_apps
from dualorm.spec.graph import MigrationGraph
from dualorm.spec.lineage import chain_parents, present_squashes, replaced_ids

if TYPE_CHECKING:
    from dualorm.config import Config
    from dualorm.spec.model import Migration

__all__ = ["ProjectSpecs", "load_project_specs"]


@dataclass
class ProjectSpecs:
    """The loaded migrations in apply order, by id, and the graph plans are made on."""

    migrations: list[Migration]
    by_id: dict[str, Migration] = field(init=False)
    graph: MigrationGraph = field(init=False)
    _apps: dict[str, DjangoApps] = field(init=False, default_factory=dict, repr=False)
    squashes: dict[str, tuple[str, ...]] = field(init=False)
    """Each squash whose replaced specs are present, and the ids it replaces."""
    replaced: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {m.id: m for m in self.migrations}
        self.graph = MigrationGraph(chain_parents(self.migrations))
        self.squashes = present_squashes(self.migrations)
        self.replaced = replaced_ids(self.migrations)

    def django_apps(self, default_app: str) -> DjangoApps:
        """The apps each spec has ``django_migrations`` rows in (its Django files' apps)."""
        cached = self._apps.get(default_app)
        if cached is None:
            of = migration_apps(self.migrations, default_app)
            cached = self._apps[default_app] = DjangoApps(
                default_app, {i: a for i, a in of.items() if a != (default_app,)}
            )
        return cached

    def require(self, migration_id: str) -> None:
        """Refuse (exit 2) an id no spec has."""
        if migration_id not in self.by_id:
            raise GraphError(f"unknown migration {migration_id}: no spec has that id")

    def pending(self, applied: Set[str], to: str | None = None) -> list[str]:
        """The ids ``migrate up`` applies, in order (those ``to`` needs, when given).

        A squash none of whose replaced migrations is applied runs in their place.
        """
        ids = [i for i in self.graph.forwards_plan(to) if i not in applied]
        for squash, replaced in self.squashes.items():
            if squash in ids and not applied & set(replaced):
                ids = [i for i in ids if i not in replaced]
        return ids

    def require_applied_known(self, applied: Set[str], where: str) -> None:
        """Refuse (exit 3) to plan while an applied migration has lost its spec file."""
        # Replaced by a squash whose replaced specs were deleted: known, and applied with it.
        missing = sorted(i for i in applied if i not in self.by_id and i not in self.replaced)
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if missing[5:] else ""
            )
            raise AppliedSpecMissing(
                f"{shown} {'is' if len(missing) == 1 else 'are'} applied but no spec in {where} "
                "has that id (deleted or renamed after it was applied): restore the spec file "
                "under its id; a renamed id cannot be re-applied"
            )


def load_project_specs(config: Config) -> ProjectSpecs:
    """Load ``config``'s specs (unchanged ones from the state directory's cache).

    A ``migrations_dir`` that does not exist is bad configuration (exit 2), never an empty
    history: an empty history would plan every table of an adopted database as new.
    """

    path = config.migrations_path
    if not path.is_dir():
        raise ConfigError(
            f"migrations_dir {path} is not a directory (set [tool.dualorm] migrations_dir in "
            f"{config.root / 'pyproject.toml'}, or create it)"
        )
    return ProjectSpecs(cached_specs(path, config.state_dir / "cache"))
