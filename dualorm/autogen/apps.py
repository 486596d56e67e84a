"""The Django apps ``migrate new --autogenerate`` and ``migrate check`` read: dualorm's own.

dualorm manages a Django app when it writes that app's migrations: the project's
``default_app``, every app a replayed spec's ``create_table`` names (``app:``), and, where
``[tool.dualorm] django_apps`` lists apps, each listed app of the project's own whose
migrations are all dualorm's (no migration file, or only files with dualorm's header: the
test ``migrate make`` uses, :func:`dualorm.spec.django_files.makemigrations_free`). Their
models are the Django model set; every other installed app's tables (contrib, third-party,
an app ``makemigrations`` migrates) stay another owner's. A new table of a managed app other
than the default one is created with ``app: <label>`` (:func:`placed`), so ``migrate make``
emits it into that app's migrations. A new table a ``ManyToManyField`` of those models creates
(its auto-created through model) is created with ``many_to_many:`` (:func:`placed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from dualorm.autogen.plan import Change
from dualorm.config import Config
from dualorm.schema import TableKey
from dualorm.spec.model import Migration
from dualorm.spec.ops import CreateTable, Operation
from dualorm.spec.through import ManyToMany

__all__ = ["managed_apps", "placed", "spec_apps"]


def spec_apps(migrations: Sequence[Migration], default_app: str) -> tuple[str, ...]:
    """The default app and every app a ``create_table`` of ``migrations`` names, sorted."""
    found = {default_app}
    for migration in migrations:
        for op in migration.operations:
            if isinstance(op, CreateTable) and op.app is not None:
                found.add(op.app)
    return tuple(sorted(found))


def managed_apps(config: Config, known: Sequence[str]) -> tuple[str, ...]:
    """``known`` (:func:`spec_apps`) and the apps of ``django_apps`` dualorm writes all the
    migrations of, sorted. Django is set up; without ``django_apps`` nothing is asked of it."""
    if config.django_apps is None:
        return tuple(known)
    # Imported here: the emitters' app checks, needed only where django_apps lists apps.
    from dualorm.spec.django_files import dualorm_apps

    listed = dualorm_apps(config, (label for label in config.django_apps if label not in known))
    return tuple(sorted({*known, *listed}))


def placed(
    change: Change,
    apps: Mapping[TableKey, str],
    through: Mapping[TableKey, tuple[str, str]] | None = None,
) -> Change:
    """``change`` with ``app:`` on each new table of ``apps`` (table to app: the tables the
    models of the managed apps other than the default one create) and ``many_to_many:`` on
    each new table of ``through`` (table to its owner table and ``ManyToManyField``)."""
    if not apps and not through:
        return change
    return replace(
        change, operations=tuple(_place(op, apps, through or {}) for op in change.operations)
    )


def _place(
    op: Operation, apps: Mapping[TableKey, str], through: Mapping[TableKey, tuple[str, str]]
) -> Operation:
    if not isinstance(op, CreateTable):
        return op
    key = op.definition.key
    if op.app is None and key in apps:
        op = replace(op, app=apps[key])
    if op.many_to_many is None and key in through:
        op = replace(op, many_to_many=ManyToMany(*through[key]))
    return op
