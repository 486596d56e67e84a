"""dualorm: one PostgreSQL schema, two ORMs.

The public API, loaded lazily: ``import dualorm`` costs next to nothing, so the CLI starts
fast and the runner applies specs without importing SQLAlchemy or Django. Each name below
lives in the module :data:`_EXPORTS` maps it to.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # the neutral schema
    "CheckConstraint": "dualorm.schema",
    "Column": "dualorm.schema",
    "EnumType": "dualorm.schema",
    "FkAction": "dualorm.schema",
    "ForeignKey": "dualorm.schema",
    "Identity": "dualorm.schema",
    "Index": "dualorm.schema",
    "PrimaryKey": "dualorm.schema",
    "Schema": "dualorm.schema",
    "Table": "dualorm.schema",
    "UniqueConstraint": "dualorm.schema",
    "canonical_type": "dualorm.pgtypes",
    # configuration
    "Config": "dualorm.config",
    "Environment": "dualorm.config",
    "Ownership": "dualorm.ownership",
    # errors
    "BackupCorrupt": "dualorm.errors",
    "BackupKeyError": "dualorm.errors",
    "ChecksumMismatch": "dualorm.errors",
    "ConfigError": "dualorm.errors",
    "ConfirmationRequired": "dualorm.errors",
    "DatabaseUnreachable": "dualorm.errors",
    "DependentsExist": "dualorm.errors",
    "DriftDetected": "dualorm.errors",
    "DualormError": "dualorm.errors",
    "EnvironmentMismatch": "dualorm.errors",
    "GraphError": "dualorm.errors",
    "IrreversibleError": "dualorm.errors",
    "LintRefused": "dualorm.errors",
    "LockHeld": "dualorm.errors",
    "MigrationFailed": "dualorm.errors",
    "SafetyError": "dualorm.errors",
    "SeedError": "dualorm.errors",
    "SpecError": "dualorm.errors",
    "UsageError": "dualorm.errors",
    # reconciliation
    "Difference": "dualorm.diff",
    "DiffKind": "dualorm.diff",
    "compare": "dualorm.diff",
    "normalize": "dualorm.normalize",
    "SchemaValidator": "dualorm.validate",
    "ValidationResult": "dualorm.validate",
    # change specs and operations
    "AddCheck": "dualorm.spec.ops",
    "AddColumn": "dualorm.spec.ops",
    "AddEnumValue": "dualorm.spec.ops",
    "AddForeignKey": "dualorm.spec.ops",
    "AddPrimaryKey": "dualorm.spec.ops",
    "AddUnique": "dualorm.spec.ops",
    "AlterColumn": "dualorm.spec.ops",
    "AlterForeignKey": "dualorm.spec.ops",
    "ChangeKind": "dualorm.spec.ops",
    "CreateEnum": "dualorm.spec.ops",
    "CreateIndex": "dualorm.spec.ops",
    "CreateTable": "dualorm.spec.ops",
    "DropColumn": "dualorm.spec.ops",
    "DropConstraint": "dualorm.spec.ops",
    "DropEnum": "dualorm.spec.ops",
    "DropEnumValue": "dualorm.spec.ops",
    "DropIndex": "dualorm.spec.ops",
    "DropTable": "dualorm.spec.ops",
    "Operation": "dualorm.spec.ops",
    "RenameColumn": "dualorm.spec.ops",
    "RenameEnumValue": "dualorm.spec.ops",
    "RenameTable": "dualorm.spec.ops",
    "RunPython": "dualorm.spec.ops",
    "RunSQL": "dualorm.spec.ops",
    "SetComment": "dualorm.spec.ops",
    "ValidateConstraint": "dualorm.spec.ops",
    "Migration": "dualorm.spec.model",
    "load_spec": "dualorm.spec.load",
    "load_specs": "dualorm.spec.load",
    "migration_steps": "dualorm.emit.sql",
    "render_migration_sql": "dualorm.emit.sql",
    # running migrations
    "baseline": "dualorm.api",
    "migrate_down": "dualorm.api",
    "migrate_status": "dualorm.api",
    "migrate_up": "dualorm.api",
    "lint": "dualorm.runner.lint",
    "create_migration_plan": "dualorm.runner.plan",
    # seeding
    "Seed": "dualorm.seeding.seed",
    "SeedContext": "dualorm.seeding.seed",
    "SeedManager": "dualorm.seeding.manager",
    # backups
    "create_backup": "dualorm.backup.api",
    "list_backups": "dualorm.backup.api",
    "prune_backups": "dualorm.backup.api",
    "restore_backup": "dualorm.backup.restore",
    "verify_backup": "dualorm.backup.api",
    # production safety
    "Notifier": "dualorm.notify",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dualorm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]
