"""The backup a production run takes before any statement, and the undoing of a run that
failed: its migrations down again, newest first, else the backup restored.

The backup modules (and with them cryptography and zstandard) are imported only when a backup
is taken or restored, so a run without one never loads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dualorm.db import redact_text, resolve_url
from dualorm.errors import DualormError
from dualorm.runner.pipeline import Selection, run_down
from dualorm.runner.production.result import RollbackMethod
from dualorm.runner.specs import load_project_specs

if TYPE_CHECKING:
    from dualorm.backup.api import Backup
    from dualorm.config import Config
    from dualorm.notify import Notifier

__all__ = ["Undone", "take_backup", "undo_rollback", "undo_run"]

Undone = tuple[RollbackMethod, tuple[str, ...], str]
"""How a failed run was undone, the migrations undone, and a detail saying so."""


def take_backup(config: Config, url: str, notifier: Notifier) -> Backup:
    """Create and verify a backup of ``url``; a failure is posted and raised, nothing ran."""
    # Deferred: cryptography and zstandard load only for a run that takes a backup.
    from dualorm.backup.api import create_backup, verify_backup

    try:
        backup = create_backup(url=url, config=config)
        verify_backup(backup.path, config=config)
    except DualormError as exc:
        notifier.post("failed", stage="backup", error=redact_text(str(exc)))
        raise
    return backup


def undo_run(config: Config, applied: tuple[str, ...], backup: Backup | None) -> Undone:
    """Undo what a run going up applied: down steps newest first, else the backup."""
    if not applied:
        return "none", (), "the failing migration's transaction rolled back"
    specs = load_project_specs(config)
    irreversible = [i for i in applied if not specs.by_id[i].reversible]
    undone: list[str] = []
    problem = ""
    if not irreversible:
        try:
            for migration_id in reversed(applied):
                run_down(config, specs, Selection(migration_id=migration_id))
                undone.append(migration_id)
            return "down", tuple(undone), f"rolled back {', '.join(undone)}"
        except DualormError as exc:
            problem = redact_text(str(exc))
    else:
        problem = f"{', '.join(irreversible)} cannot go down"
    return _restore(config, applied, undone, backup, problem)


def undo_rollback(config: Config, rolled_back: tuple[str, ...], backup: Backup | None) -> Undone:
    """Undo a rollback that failed part-way: what it dropped only the backup holds."""
    if not rolled_back:
        return "none", (), "the failing migration's transaction rolled back"
    return _restore(
        config,
        rolled_back,
        [],
        backup,
        f"{', '.join(rolled_back)} were rolled back before it failed",
    )


def _restore(
    config: Config,
    changed: tuple[str, ...],
    undone: list[str],
    backup: Backup | None,
    problem: str,
) -> Undone:
    if backup is None:
        return (
            "incomplete",
            tuple(undone),
            f"{problem}; no backup was taken, so "
            f"{', '.join(i for i in changed if i not in undone)} stay as they are",
        )
    # Deferred: cryptography and zstandard load only when a backup is restored.
    from dualorm.backup.restore import restore_backup

    try:
        restore_backup(backup.path, resolve_url(config), confirm=True, config=config)
    except DualormError as exc:
        return (
            "incomplete",
            tuple(undone),
            f"{problem}; restore failed: {redact_text(str(exc))}",
        )
    return "restore", changed, f"{problem}; restored the backup {backup.path.name}"
