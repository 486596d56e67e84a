"""Backup and recovery: pg_dump streamed through zstd and chunked AES-256-GCM, with manifests.

``create_backup``, ``list_backups``, ``verify_backup``, ``restore_backup`` and ``prune_backups``
are the whole public surface; :mod:`dualorm.backup.crypto` holds the file encryption and
:mod:`dualorm.backup.dump` the pg_dump/pg_restore streams.
"""

from dualorm.backup.api import (
    Backup,
    BackupProgress,
    ProgressCallback,
    RestoreResult,
    VerifyResult,
    create_backup,
    list_backups,
    prune_backups,
    restore_backup,
    verify_backup,
)
from dualorm.backup.crypto import generate_key
from dualorm.backup.manifest import Manifest

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
