"""The one place that decides a database's environment and whether a command may run on it.

The label in ``dualorm.meta`` is written only from an explicit choice: ``DUALORM_ENV`` set, a
:class:`~dualorm.config.Config` naming an environment other than the default, or
``dualorm db label ENV``. The embedded server under ``./.dualorm`` is development by itself.
Everything else that is unlabelled stays unlabelled, and the destructive commands (``reset``,
``seed clear``, development seeds, ``backup restore``) refuse it (exit 3) and name the command
that labels it: an unlabelled database may be one dualorm never managed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dualorm.config import Config, Environment
from dualorm.db import connect, redact, resolve_url
from dualorm.errors import EnvironmentMismatch, SafetyError
from dualorm.runner import ledger
from dualorm.runner.ledger import environment_label
from dualorm.runner.tenancy import ledger_of

if TYPE_CHECKING:
    import psycopg

LABEL_COMMAND = "dualorm db label ENV"


def is_embedded(config: Config) -> bool:
    """Whether ``config`` names the embedded server (no ``DATABASE_URL``)."""
    return not config.database_url


def explicit_environment(config: Config) -> Environment | None:
    """The environment the caller chose, or ``None`` when it is only the default.

    ``DUALORM_ENV`` counts when set; so does a ``Config`` naming a non-default environment
    (the Python API's way to choose). Development by default is never a choice.
    """
    if os.environ.get("DUALORM_ENV", "").strip():
        return config.environment
    if config.environment is not Environment.DEVELOPMENT:
        return config.environment
    return None


def may_label(config: Config) -> bool:
    """Whether a first ``migrate up``/``baseline`` may write ``config.environment`` as label."""
    if explicit_environment(config) is not None:
        return True
    return is_embedded(config)


def effective_label(conn: psycopg.Connection[Any], config: Config) -> Environment | None:
    """The database's label; the embedded server is development even before it is written."""

    label = environment_label(conn)
    if label is None and _serves_embedded(conn, config):
        return Environment.DEVELOPMENT
    return label


def _serves_embedded(conn: psycopg.Connection[Any], config: Config) -> bool:
    # Asked of the server itself: a URL handed in beside the config may name any database.
    if config.database_url:
        return False
    row = conn.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'").fetchone()
    if not row or not row[0]:
        return False
    pgdata = config.state_dir / "pgdata"
    return os.path.realpath(str(row[0])) == os.path.realpath(pgdata)


def unlabelled(what: str, where: str) -> SafetyError:
    """The refusal for a destructive command on an unlabelled database."""
    return SafetyError(
        f"{where} has no environment label, so {what} is refused (it may be a database dualorm "
        f"never managed); label it first with `{LABEL_COMMAND}`"
    )


def require_label(
    conn: psycopg.Connection[Any],
    config: Config,
    requested: Environment,
    what: str,
    *,
    where: str = "the database",
) -> Environment:
    """Return the label when it is ``requested``; refuse an unlabelled or other database."""
    label = effective_label(conn, config)
    if label is None:
        raise unlabelled(what, where)
    if label is not requested:
        raise EnvironmentMismatch(label.value, requested.value)
    return label


def check_request(config: Config, requested: Environment, command: str) -> None:
    """Refuse a ``--env`` that contradicts an explicit ``DUALORM_ENV`` (exit 3)."""
    chosen = explicit_environment(config)
    if chosen is not None and chosen is not requested:
        raise SafetyError(
            f"{command} --env {requested.value} is refused: DUALORM_ENV is {chosen.value}"
        )


def label_database(config: Config, environment: Environment) -> tuple[Environment | None, str]:
    """Label the database ``environment`` (``dualorm db label``); return (old label, URL).

    Labelling an unlabelled database, or confirming the label it has, is allowed; changing a
    label is refused, and so is a label contradicting ``DUALORM_ENV``.
    """

    check_request(config, environment, "db label")
    url = resolve_url(config)
    with connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ledger_of(conn).create_key,))
        current = ledger.environment_label(conn)
        if current is not None and current is not environment:
            raise SafetyError(
                f"{redact(url)} is labelled {current.value}: relabelling it "
                f"{environment.value} is refused"
            )
        if current is None:
            ledger.write_label(conn, environment)
    return current, redact(url)
