"""Restoring a backup into a database: every safety rule first, then the verified archive
streamed into ``pg_restore`` in a single transaction; the target keeps its environment label.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from dualorm.backup import dump
from dualorm.backup.api import (
    Backup,
    ProgressCallback,
    key_for,
    load_backup,
    no_progress,
    pg_restore_program,
    replay_archive,
    verify_backup,
)
from dualorm.config import Config, Environment
from dualorm.db import connect, redact, resolve_url
from dualorm.environment import effective_label, explicit_environment, unlabelled
from dualorm.errors import (
    ConfirmationRequired,
    DualormError,
    EnvironmentMismatch,
    SafetyError,
)
from dualorm.runner.ledger import write_label

__all__ = ["RestoreResult", "restore_backup"]


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """A completed restore: the backup and the (redacted) target URL."""

    backup: Backup
    target: str


def _check_restore(
    backup: Backup,
    target: str,
    config: Config,
    judged: Config,
    *,
    confirm: bool,
    allow_environment_change: bool,
) -> Environment:
    """Apply every restore rule before anything is read or written; return the target's label.

    The target must carry a label (the embedded server is development by itself); a production
    target (by label or ``DUALORM_ENV``) needs ``confirm``, an encrypted backup, and a backup of
    production unless ``allow_environment_change``.
    """

    with contextlib.closing(connect(target)) as conn:
        label = effective_label(conn, judged)
    if label is None:
        raise unlabelled("backup restore", redact(target))
    chosen = explicit_environment(config)
    if chosen is not None and chosen is not label:
        raise EnvironmentMismatch(label.value, chosen.value)
    if label is not Environment.PRODUCTION:
        return label
    where = f"{redact(target)} is labelled production"
    if not confirm:
        raise ConfirmationRequired(f"{where}: restoring into it needs --confirm")
    if not backup.manifest.encrypted:
        raise SafetyError(
            f"{where}: {backup.path} is not encrypted, and production restores only "
            "encrypted backups"
        )
    source = backup.manifest.environment
    if source != label.value and not allow_environment_change:
        raise SafetyError(
            f"{where} but {backup.path} is a backup of {source or 'an unlabelled database'}: "
            "pass --allow-environment-change to restore it anyway"
        )
    return label


def restore_backup(
    path: Path | str,
    target_url: str | None = None,
    *,
    confirm: bool = False,
    allow_environment_change: bool = False,
    config: Config | None = None,
    progress: ProgressCallback | None = None,
    maintenance_work_mem: str | None = "256MB",
) -> RestoreResult:
    """Verify a backup, then restore it into ``target_url`` in a single transaction.

    The target (default ``DATABASE_URL``) is not touched unless every rule passes and the
    backup verifies. Objects in the archive are dropped and recreated (``--clean
    --if-exists``), so the restored ``dualorm`` ledger replaces the target's, except its label:
    the target keeps the environment it was labelled with. Refused (``SafetyError``, exit 3)
    before anything is read: an unlabelled target, a ``DUALORM_ENV`` other than the target's
    label, and for a production target a missing ``confirm``, an unencrypted backup, or a
    backup of another environment without ``allow_environment_change``.
    ``maintenance_work_mem`` is set for the restore's own session only: index builds dominate
    a restore and the server default (64MB) makes them spill to disk.
    """

    config = config or Config.load()
    report = progress or no_progress
    target = target_url or resolve_url(config)
    loaded = load_backup(path)
    # A target named beside the config is judged as itself, never as the embedded server.
    judged = config if target_url is None else config.with_(database_url=target)
    label = _check_restore(
        loaded,
        target,
        config,
        judged,
        confirm=confirm,
        allow_environment_change=allow_environment_change,
    )
    checked = verify_backup(path, config=config, progress=report).backup
    key = key_for(checked, config)
    client = dump.ClientTarget.from_url(target)
    settings = {"maintenance_work_mem": maintenance_work_mem} if maintenance_work_mem else {}
    session = dump.with_session_settings(client, settings)
    program = pg_restore_program(checked)
    with dump.restore_stream(program, dump.restore_args(session), session) as restorer:
        replay_archive(checked, key, restorer, report, "restore", checked=False)
        code, _, errors = restorer.finish()
    if code != 0:
        raise DualormError(
            f"pg_restore into {client.label} failed (exit {code}); the transaction was rolled "
            f"back and the database left as it was: {dump.last_lines(errors)}"
        )
    # The restored dualorm.meta came from the backup's source; the target stays what it was.
    with connect(target, autocommit=True) as conn, conn.transaction():
        write_label(conn, label)
    return RestoreResult(checked, client.label)
