"""Production migrations: the plan shown and confirmed, lint enforced, a verified backup, a
downtime budget, rollback on failure, signed webhooks and replicas waited for.

Data flow of :meth:`dualorm.runner.production.migrator.ProductionMigrator.run`::

    plan (webhook "plan") -> refuse unacknowledged lint errors (LintRefused, exit 3)
      -> confirmation (ConfirmationRequired, exit 3) -> [dry run: rehearse, stop]
      -> backup create + verify (nothing runs unless it succeeds) -> webhook "started"
      -> migrate_up under lock_timeout / statement_timeout / run deadline
         (webhook "migration_applied" per migration)
      -> success: wait for replicas, webhook "succeeded"
      -> failure: webhook "failed"; with rollback_on_failure the failing migration's
         transaction is already rolled back, migrations applied by this run go down
         (newest first), and only when that is impossible the backup is restored;
         webhook "rolled_back" says which happened; ProductionFailed (exit 1).

The modules, by what they hold: :mod:`~dualorm.runner.production.migrator` the run itself,
:mod:`~dualorm.runner.production.result` what a run returns,
:mod:`~dualorm.runner.production.budget` the downtime budget, and
:mod:`~dualorm.runner.production.safeguards` the backup taken first and the undoing of a
failed run.
"""
