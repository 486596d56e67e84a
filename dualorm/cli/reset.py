"""``dualorm reset --env development --confirm``: drop everything, migrate up, seed.

Only development and testing databases can be reset. Staging and production are refused
whatever the flags (exit 3), so are a missing ``--confirm``, a ``DUALORM_ENV`` naming staging
or production, a database labelled with another environment, and an unlabelled database
(other than the embedded server, development by itself): it may be one dualorm never
managed. The label survives the reset. What is dropped: every
object in the ``public`` schema (``alembic_version`` and ``django_migrations`` included) and in
any other schema the change specs create tables in, and the ``dualorm`` ledger schema; the
``public`` schema is recreated with its owner and privileges as they were.
:func:`reset_database` does the work and returns a :class:`ResetResult`; :func:`reset` renders
it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import psycopg

    from dualorm.config import Config, Environment
    from dualorm.runner.locks import LockWait
    from dualorm.seeding.reports import SeedResult

RESETTABLE = ("development", "testing")


@dataclass(frozen=True)
class ResetResult:
    """What a reset dropped, applied and seeded."""

    environment: str
    database: str
    dropped_schemas: tuple[str, ...]
    applied: tuple[str, ...]
    seeds: tuple[SeedResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "database": self.database,
            "dropped_schemas": list(self.dropped_schemas),
            "applied": list(self.applied),
            "seeds": [{"id": s.id, "action": s.action} for s in self.seeds],
        }


def check_reset_allowed(config: Config, environment: Environment, *, confirm: bool) -> None:
    """Raise ``ConfirmationRequired`` (exit 3) unless this reset is allowed."""
    from dualorm.errors import ConfirmationRequired

    for name, value in (("--env", environment), ("DUALORM_ENV", config.environment)):
        if value.value not in RESETTABLE:
            raise ConfirmationRequired(
                f"{name} is {value.value}: reset only runs in development or testing, "
                "whatever the flags"
            )
    if not confirm:
        raise ConfirmationRequired(
            f"reset drops every table and row of the {environment.value} database: pass --confirm"
        )


def reset_database(
    config: Config,
    environment: Environment,
    *,
    confirm: bool = False,
    no_wait: bool = False,
    on_lock_wait: LockWait | None = None,
) -> ResetResult:
    """Drop every schema object dualorm manages, then migrate up and seed ``environment``.

    Each step (the drop, the migration, the seeding) takes the migration lock of
    :mod:`dualorm.runner.locks`, waiting for it with no transaction open and calling
    ``on_lock_wait`` with the holder; ``no_wait`` refuses at once instead.

    Raises:
        ConfirmationRequired: staging, production, or no ``confirm``; nothing changed.
        EnvironmentMismatch: the database is labelled with another environment.
        SafetyError: the database has no label (the embedded server is development).
        LockHeld: ``no_wait`` and another runner holds the lock; nothing changed.
    """
    from dualorm.api import migrate_up
    from dualorm.db import connect, redact, resolve_url
    from dualorm.environment import effective_label, unlabelled
    from dualorm.errors import EnvironmentMismatch
    from dualorm.runner import ledger
    from dualorm.runner.locks import claim_session, command_lock
    from dualorm.seeding.manager import SeedManager

    check_reset_allowed(config, environment, confirm=confirm)
    config = config.with_(environment=environment)
    url = resolve_url(config)
    _refuse_tenant(url)
    # Nobody else may be migrating or seeding while the schema disappears.
    lock = command_lock(url, "reset", wait=not no_wait, on_wait=on_lock_wait)
    with lock, connect(url, autocommit=True) as conn:
        claim_session(conn)
        label = effective_label(conn, config)
        if label is None:
            # An unlabelled database may be one dualorm never managed: never drop it.
            raise unlabelled("reset", redact(url))
        if label.value not in RESETTABLE:
            from dualorm.errors import ConfirmationRequired

            raise ConfirmationRequired(
                f"{redact(url)} is labelled {label.value}: reset is refused whatever the flags"
            )
        if label is not environment:
            raise EnvironmentMismatch(label.value, environment.value)
        with conn.transaction():
            dropped = _drop_everything(conn, _spec_schemas(config))
            # The label survives the reset: the database is still the one it was.
            ledger.write_label(conn, label)
    applied = migrate_up(config, no_wait=no_wait, on_lock_wait=on_lock_wait).done
    seeds = SeedManager(config, url, on_lock_wait=on_lock_wait, no_wait=no_wait).run(environment)
    return ResetResult(environment.value, redact(url), dropped, applied, tuple(seeds))


def _refuse_tenant(url: str) -> None:
    from dualorm.errors import UsageError
    from dualorm.runner.tenancy import tenant_of

    tenant = tenant_of(url)
    if tenant is not None:
        raise UsageError(
            f"reset drops the database's public schema, shared by every tenant: refused for "
            f"the tenant {tenant!r} (drop the tenant schema and its ledger by hand)"
        )


def _spec_schemas(config: Config) -> set[str]:
    from dualorm.spec.load import load_specs
    from dualorm.spec.replay import replay

    return {t.schema for t in replay(load_specs(config.migrations_path))}


def _drop_everything(
    conn: psycopg.Connection[tuple[object, ...]], extra: set[str]
) -> tuple[str, ...]:
    from psycopg import sql

    from dualorm.runner.ledger import LEDGER_SCHEMA

    owner_row = conn.execute(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
    ).fetchone()
    grants = conn.execute(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, "
        "a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a "
        "WHERE n.nspname = 'public' AND a.grantee <> n.nspowner"
    ).fetchall()
    present = {
        str(r[0])
        for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
            (sorted({"public", LEDGER_SCHEMA, *extra}),),
        ).fetchall()
    }
    for name in sorted(present):
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    owner = str(owner_row[0]) if owner_row else "pg_database_owner"
    conn.execute(
        sql.SQL("CREATE SCHEMA public AUTHORIZATION {}").format(sql.Identifier(owner.strip('"')))
    )
    for grantee, privilege in grants:
        target = (
            sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(str(grantee).strip('"'))
        )
        conn.execute(
            sql.SQL("GRANT {} ON SCHEMA public TO {}").format(sql.SQL(str(privilege)), target)
        )
    return tuple(sorted(present))


def reset(
    env: Annotated[
        str, typer.Option("--env", help="development or testing; anything else is refused.")
    ],
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Yes, drop every table and row first.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Exit 3 at once if another runner holds the lock.")
    ] = False,
) -> None:
    """Drop everything the schema holds, migrate up and seed (development and testing only)."""
    from dualorm.cli.output import print_json
    from dualorm.cli.render import lock_waiter
    from dualorm.config import Config, Environment

    result = reset_database(
        Config.load(),
        Environment.parse(env, origin="--env"),
        confirm=confirm,
        no_wait=no_wait,
        on_lock_wait=lock_waiter(lambda line: typer.echo(line, err=True)),
    )
    if as_json:
        print_json(result.to_dict())
        return
    typer.echo(f"reset {result.database} ({result.environment})")
    typer.echo(f"dropped schemas: {', '.join(result.dropped_schemas) or 'none'}")
    typer.echo(f"applied {len(result.applied)} migration(s)")
    seeded = sum(1 for s in result.seeds if s.action != "skipped")
    typer.echo(f"seeded {seeded} seed(s)")
