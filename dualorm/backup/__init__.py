"""Backup and recovery: pg_dump streamed through zstd and chunked AES-256-GCM, with manifests.

``create_backup``, ``list_backups``, ``verify_backup``, ``restore_backup`` and ``prune_backups``
are the whole public surface; :mod:`dualorm.backup.crypto` holds the file encryption and
:mod:`dualorm.backup.dump` the pg_dump/pg_restore streams, :mod:`dualorm.backup.restore` the
restore and its safety rules.
"""

from dualorm.backup.api import (
    Backup,
    BackupProgress,
    ProgressCallback,
    VerifyResult,
    create_backup,
    list_backups,
    prune_backups,
    verify_backup,
)
from dualorm.backup.crypto import generate_key
from dualorm.backup.manifest import Manifest
from dualorm.backup.restore import RestoreResult, restore_backup

__all__ = [
    "Backup",
    "BackupProgress",
    "Manifest",
    "ProgressCallback",
    "RestoreResult",
    "VerifyResult",
    "create_backup",
    "generate_key",
    "list_backups",
    "prune_backups",
    "restore_backup",
    "verify_backup",
]
