"""The audit trail of every command run, correlation ids, and structured (text/JSON) logging.

Each run gets a correlation id (a UUID) that appears in its audit row in ``dualorm.audit``,
in every ledger row it writes, in the ``application_name`` of its lock connection and in each
log record. Nothing here ever stores or logs a password: every string that reaches an audit
row or a log line goes through :func:`dualorm.db.redact_text` first.

Logging uses the standard library under the ``dualorm`` logger; the library only emits
records, and the CLI decides where they go with :func:`configure_logging`.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Literal

from psycopg.types.json import Jsonb

from dualorm.db import redact_text
from dualorm.runner.ledger import expect_rowcount
from dualorm.runner.tenancy import ledger_of

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "LOGGER_NAME",
    "RunContext",
    "configure_logging",
    "current_actor",
    "current_host",
    "log",
    "new_correlation_id",
    "record_run",
]

LOGGER_NAME = "dualorm"
LogFormat = Literal["text", "json"]


def new_correlation_id() -> str:
    """Return a fresh correlation id for one run."""
    return str(uuid.uuid4())


def current_actor() -> str:
    """Return who runs this process: the OS user name, or the uid when it has none."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def current_host() -> str:
    return socket.gethostname() or "unknown"


@dataclass(frozen=True)
class RunContext:
    """Who runs what, where, under which correlation id and environment."""

    command: str
    environment: str
    correlation_id: str = field(default_factory=new_correlation_id)
    actor: str = field(default_factory=current_actor)
    host: str = field(default_factory=current_host)

    @property
    def applied_by(self) -> str:
        return f"{self.actor}@{self.host}"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


def record_run(
    conn: psycopg.Connection[tuple[object, ...]],
    context: RunContext,
    outcome: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Insert one ``dualorm.audit`` row for a run; secrets are redacted from ``detail``.

    The row is written in its own transaction (``conn`` is committed), so a failed
    migration's rollback never takes its audit row with it.
    """

    with conn.transaction():
        cur = conn.execute(
            f"INSERT INTO {ledger_of(conn).audit} "
            "(command, environment, actor, host, correlation_id, outcome, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                redact_text(context.command),
                context.environment,
                redact_text(context.actor),
                context.host,
                context.correlation_id,
                outcome,
                Jsonb(_clean(dict(detail or {}))),
            ),
        )
        expect_rowcount(cur.rowcount, 1, "writing the audit row")


# -- logging -----------------------------------------------------------------------------------


def log(level: int, message: str, *, correlation_id: str | None = None, **fields: Any) -> None:
    """Emit one record on the ``dualorm`` logger with structured ``fields``."""
    logger = logging.getLogger(LOGGER_NAME)
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"correlation_id": correlation_id, "fields": fields})


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id:
            entry["correlation_id"] = correlation_id
        entry.update(_clean(getattr(record, "fields", None) or {}))
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = redact_text(str(record.exc_info[1]))
        return json.dumps(entry, sort_keys=True, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        parts = [when, record.levelname.lower(), redact_text(record.getMessage())]
        fields = _clean(getattr(record, "fields", None) or {})
        parts.extend(f"{k}={v}" for k, v in sorted(fields.items()) if v is not None)
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id:
            parts.append(f"cid={correlation_id[:8]}")
        return " ".join(str(p) for p in parts)


def configure_logging(
    fmt: LogFormat = "text", stream: IO[str] | None = None, level: int = logging.INFO
) -> logging.Handler:
    """Send ``dualorm`` log records to ``stream`` (stderr) as text or one JSON object a line.

    Replaces a handler installed by an earlier call, so calling it per command is safe.
    Returns the handler.
    """

    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if getattr(h, "_dualorm", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    handler._dualorm = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler
