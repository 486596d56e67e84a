"""``dualorm migrate baseline``: :func:`baseline` and the :class:`BaselineResult` it returns.

:func:`baseline` adopts a database's history (what Alembic or Django recorded, or ``--to``) or
re-records an edited spec's checksum, under the same lock, environment check and audit row as
every mutating command (:mod:`dualorm.runner.session`); :mod:`dualorm.api` lists it among
the commands. Adopting first compares the schema the adopted specs build with the live
catalog, so nothing is recorded over drift; the three ledgers end up recording the same set.
Neither SQLAlchemy nor Django is imported on these paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dualorm.audit import record_run
from dualorm.diff import compare
from dualorm.errors import DriftDetected, GraphError, LedgersDisagree, UsageError
from dualorm.normalize import normalize
from dualorm.runner import foreign, ledger
from dualorm.runner.history import verify_checksums
from dualorm.runner.session import LockWait, locked_run, run_context
from dualorm.runner.specs import ProjectSpecs, load_project_specs
from dualorm.spec.replay import replay, start_of
from dualorm.target_catalog import load_target

if TYPE_CHECKING:
    import psycopg

    from dualorm.audit import RunContext
    from dualorm.config import Config
    from dualorm.spec.model import Migration

__all__ = ["BaselineResult", "baseline"]


@dataclass(frozen=True)
class BaselineResult:
    """What ``migrate baseline`` recorded: adopted ids and re-recorded checksums."""

    correlation_id: str
    adopted: tuple[str, ...] = ()
    rebaselined: tuple[str, ...] = ()
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "correlation_id": self.correlation_id,
            "adopted": list(self.adopted),
            "rebaselined": list(self.rebaselined),
            "source": self.source,
        }


def baseline(
    config: Config,
    *,
    migration_id: str | None = None,
    to: str | None = None,
    no_wait: bool = False,
    on_lock_wait: LockWait | None = None,
    correlation_id: str | None = None,
) -> BaselineResult:
    """Adopt a database's history, or re-record an edited spec's checksum.

    Args:
        migration_id: re-record the checksum of this applied migration (after its spec was
            edited on purpose).
        to: adopt this migration and everything it needs as already applied.

    With neither, the history Alembic (``alembic_version``) or Django (``django_migrations``)
    recorded is adopted. Before anything is recorded, the schema the adopted specs build is
    compared with the live catalog; a difference is :class:`~dualorm.errors.DriftDetected`
    and nothing is written. The three ledgers end up recording the same set.
    """
    if migration_id is not None and to is not None:
        raise UsageError("give at most one of --id and --to")
    specs = load_project_specs(config)
    for named in (migration_id, to):
        if named is not None:
            specs.require(named)
    context = run_context(config, "migrate baseline", correlation_id)
    with locked_run(
        config, context, no_wait=no_wait, on_lock_wait=on_lock_wait, label=True
    ) as conn:
        applied = ledger.applied_migrations(conn)
        if migration_id is not None:
            result = _rebaseline(conn, specs, applied, migration_id, context)
        else:
            result = _adopt(conn, specs, applied, to, context, config)
        record_run(conn, context, "ok", result.to_dict())
    return result


def _rebaseline(
    conn: psycopg.Connection[tuple[object, ...]],
    specs: ProjectSpecs,
    applied: dict[str, ledger.AppliedMigration],
    migration_id: str,
    context: RunContext,
) -> BaselineResult:
    if migration_id not in applied:
        raise UsageError(
            f"{migration_id} is not applied; adopt it with `dualorm migrate baseline --to "
            f"{migration_id}` or apply it with `dualorm migrate up`"
        )
    migration = specs.by_id[migration_id]
    if applied[migration_id].checksum == migration.checksum:
        return BaselineResult(context.correlation_id, source="unchanged")
    with conn.transaction():
        ledger.record_checksum(
            conn,
            migration,
            applied_by=context.applied_by,
            correlation_id=context.correlation_id,
        )
    return BaselineResult(context.correlation_id, rebaselined=(migration_id,), source="spec")


def _adopt(
    conn: psycopg.Connection[tuple[object, ...]],
    specs: ProjectSpecs,
    applied: dict[str, ledger.AppliedMigration],
    to: str | None,
    context: RunContext,
    config: Config,
) -> BaselineResult:
    verify_checksums(specs, applied)
    graph = specs.graph
    if to is not None:
        wanted, source = graph.ancestors(to), "--to"
    else:
        wanted, source = _foreign_history(conn, specs, config)
    missing = [i for i in applied if i in graph.dependencies and i not in wanted]
    wanted |= set(missing)
    for node in wanted:
        lost = graph.ancestors(node) - wanted
        if lost:
            raise GraphError(f"{node} is recorded as applied but {', '.join(sorted(lost))} is not")
    order = [i for i in graph.forwards_plan() if i in wanted]
    _verify_catalog(conn, [specs.by_id[i] for i in order])
    adopted = [i for i in order if i not in applied]
    with conn.transaction():
        for migration_id in adopted:
            ledger.record_applied(
                conn,
                specs.by_id[migration_id],
                duration_ms=0,
                applied_by=context.applied_by,
                correlation_id=context.correlation_id,
                outcome="baselined",
            )
        foreign.sync(
            conn, graph, set(order) | set(applied), specs.django_apps(config.django_app_label)
        )
    return BaselineResult(context.correlation_id, adopted=tuple(adopted), source=source)


def _foreign_history(
    conn: psycopg.Connection[tuple[object, ...]], specs: ProjectSpecs, config: Config
) -> tuple[set[str], str]:
    ledgers = foreign.read_foreign(conn, specs.django_apps(config.django_app_label))
    alembic, django = foreign.foreign_applied(ledgers, specs.graph)
    if django is not None:
        django = {n for n in django if n in specs.graph.dependencies}
    if alembic and django and alembic != django:
        raise LedgersDisagree(
            "alembic_version and django_migrations disagree: Alembic has "
            f"{', '.join(sorted(alembic - django)) or 'nothing more'}, Django has "
            f"{', '.join(sorted(django - alembic)) or 'nothing more'}; "
            "choose with `dualorm migrate baseline --to ID`"
        )
    if alembic:
        return set(alembic), "alembic_version"
    if django:
        return set(django), "django_migrations"
    heads = ", ".join(sorted(specs.graph.leaf_nodes())) or "none"
    raise UsageError(
        "neither alembic_version nor django_migrations records a migration to adopt; "
        "name the last applied one with `dualorm migrate baseline --to ID` (the specs' "
        f"heads: {heads}; a spec written by `dualorm migrate init --from-database` is the "
        "database as it stands)"
    )


def _verify_catalog(
    conn: psycopg.Connection[tuple[object, ...]], migrations: list[Migration]
) -> None:
    # The specs start from the tables other owners create; those are compared by `validate`
    # against their own models, not here against what the specs build.
    start = start_of(migrations)
    built = replay(migrations, start)
    for theirs in start:
        built = built.without(theirs.key)
    # Spec expressions are spelled as written; the server's spelling comes from the server.
    expected = normalize(built, conn)
    schemas = sorted({t.schema for t in expected}) or ["public"]
    live = load_target(conn, schemas=schemas).restrict(expected.keys())
    problems = [d for d in compare(expected, live, source="specs", target="database") if d.is_error]
    if problems:
        raise DriftDetected(
            problems,
            f"nothing was recorded: the schema the adopted specs build (through "
            f"{migrations[-1].id}) differs from the live catalog in {len(problems)} way(s)",
        )
