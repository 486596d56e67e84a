"""Squashing a history: one spec that stands for a prefix of it, in all three ledgers.

``dualorm migrate squash --to ID`` works the way Django's ``squashmigrations`` does. It writes
one spec, ``<first>_squashed_<last>``, whose operations build exactly the schema the specs up
to ``ID`` replay to (written by :mod:`dualorm.spec.dump`, as ``migrate init --from-database``
writes a catalog), with ``replaces:`` listing those specs in apply order. The replaced specs
stay until every database has passed them; a database then counts the squash as applied when
either the squash is recorded or every replaced migration is:

* a database that has none of them (fresh, or not yet at the first) runs the squash's
  operations once, and its ledgers record the squash and every spec it replaces;
* a database in the middle runs the replaced specs it lacks, one by one, then records the
  squash (no DDL: it is already there);
* a database past ``ID`` records the squash on its next ``migrate up``, again without DDL.

Every database therefore ends with the same rows: ``dualorm.migrations`` and
``django_migrations`` hold the squash and every replaced id, ``alembic_version`` the heads
after the squash. In the graph the runner plans on, the squash comes right after the last
spec it replaces, and a spec that depended on a replaced one depends on the squash; rolling
back through it removes its record first and then the replaced specs one by one.

The emitted files follow each tool's rules. The Django migration has ``replaces = [...]``, so
Django itself chooses the squash or the replaced migrations per database, as it does for its
own squashes. Alembic has no squash: the squash's revision is the new base
(``down_revision = None``) and the revision after ``ID`` runs after it; the replaced revisions
move to ``alembic/replaced/`` so that ``alembic upgrade head`` and ``alembic check`` see one
base and one head. Once every database has passed ``ID`` the replaced spec files (and their
emitted files) can be deleted; the squash keeps its ``replaces:`` so their ledger rows stay
known.

Refused (exit 2, nothing written): an unknown ``ID``; an ``ID`` whose history is not a linear
prefix of the apply order (a migration runs before it that it does not depend on, so a
database could hold one without the other); an operation the replayed schema cannot carry
(``run_sql``, ``run_python``: what hand-written code does is not in the schema) or cannot
reverse; a prefix that already holds a squash with its replaced specs present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dualorm.emit.pyformat import read_header
from dualorm.errors import UsageError
from dualorm.spec.dump import render_spec, spec_operations
from dualorm.spec.graph import MigrationGraph
from dualorm.spec.lineage import replaced_ids
from dualorm.spec.load import load_specs
from dualorm.spec.make import ALEMBIC_VERSIONS, REPLACED_VERSIONS, make
from dualorm.spec.replay import replay, start_schema

if TYPE_CHECKING:
    from dualorm.config import Config
    from dualorm.spec.model import Migration

__all__ = ["SquashResult", "render_squash", "squash"]

# -- the command ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SquashResult:
    """What ``migrate squash`` wrote."""

    migration_id: str
    replaces: tuple[str, ...]
    path: Path
    written: tuple[Path, ...]
    moved: tuple[tuple[Path, Path], ...]


def _prefix(migrations: Sequence[Migration], to: str) -> list[Migration]:
    """The specs ``to`` squashes: a linear prefix of the apply order ending at ``to``."""

    ids = [m.id for m in migrations]
    if to not in ids:
        raise UsageError(f"--to {to}: no spec has that id")
    prefix = list(migrations[: ids.index(to) + 1])
    needed = MigrationGraph({m.id: m.dependencies for m in migrations}).ancestors(to)
    stray = [m.id for m in prefix if m.id not in needed]
    if stray:
        raise UsageError(
            f"--to {to}: the history up to it is not a linear prefix: {', '.join(stray)} "
            f"run{'s' if len(stray) == 1 else ''} before it but {to} does not depend on "
            f"{'it' if len(stray) == 1 else 'them'}; squash up to a migration that needs "
            "everything applied before it"
        )
    replaced = replaced_ids(migrations)
    for m in prefix:
        if m.replaces and m.replaces[0] in ids:
            raise UsageError(
                f"--to {to}: {m.id} is a squash whose replaced specs are still there; delete "
                "them (once every database has passed it) before squashing again"
            )
        if m.id in replaced:
            raise UsageError(f"--to {to}: {m.id} is already replaced by a squash")
        for op in m.operations:
            if op.opaque or not op.reversible:
                why = "cannot be reversed" if not op.reversible else "is hand-written code"
                raise UsageError(
                    f"--to {to}: {m.id} ({m.path or m.id}) has {op.describe()}, which {why}: "
                    "the squash is written from the replayed schema, which does not hold what "
                    "it does; squash up to a migration before it"
                )
    return prefix


def _squash_id(prefix: Sequence[Migration]) -> str:
    def number(m: Migration) -> str:
        return m.id.split("_", 1)[0]

    return f"{number(prefix[0])}_squashed_{number(prefix[-1])}"


def render_squash(config: Config, migrations: Sequence[Migration], to: str) -> tuple[str, str]:
    """Return the squash's id and its spec text (nothing written)."""

    prefix = _prefix(migrations, to)
    spec_id = _squash_id(prefix)
    start = start_schema(config.migrations_path)
    built = replay(prefix, start)
    tables = built.restrict(k for k in built.keys() if k not in start)
    replaced = [m.id for m in prefix]
    text = render_spec(
        spec_id,
        f"Squash of {replaced[0]} to {replaced[-1]}",
        f"The schema of the {len(replaced)} spec(s) it replaces, in one migration",
        spec_operations(tables, (), start),
        (),
        header=(
            f"Written by `dualorm migrate squash --to {to}`.\n"
            "Keep the replaced specs until every database has passed them."
        ),
        replaces=replaced,
    )
    return spec_id, text


def squash(config: Config, to: str) -> SquashResult:
    """Write the squash of the specs up to ``to`` and emit its files (``migrate squash``).

    Everything is checked before the first file is written: a refused squash writes nothing,
    and a spec that would not load back leaves the migrations directory as it was.
    """

    directory = config.migrations_path
    migrations = load_specs(directory)
    spec_id, text = render_squash(config, migrations, to)
    path = directory / f"{spec_id}.yaml"
    if path.exists():
        raise UsageError(f"{path} already exists: a squash up to {to} was written before")
    with path.open("x", encoding="utf-8") as handle:
        handle.write(text)
    try:
        loaded = load_specs(directory)
        artefacts = make(config)
    except BaseException:
        path.unlink()
        raise
    squashed = next(m for m in loaded if m.id == spec_id)
    moved = _retire_revisions(config, squashed.replaces)
    written = tuple(a.path for a in artefacts)
    return SquashResult(spec_id, squashed.replaces, path, written, moved)


def _retire_revisions(config: Config, replaced: Sequence[str]) -> tuple[tuple[Path, Path], ...]:
    """Remove the replaced revisions from ``alembic/versions`` (``make`` wrote them again
    under ``alembic/replaced``); a file dualorm did not write is left alone."""

    moved = []
    for migration_id in replaced:
        old = config.migrations_path / ALEMBIC_VERSIONS / f"{migration_id}.py"
        new = config.migrations_path / REPLACED_VERSIONS / f"{migration_id}.py"
        if old.exists() and read_header(old).get("Spec") == migration_id and new.exists():
            old.unlink()
            moved.append((old, new))
    return tuple(moved)
