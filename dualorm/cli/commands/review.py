"""The verbs that review pending work without changing anything: ``migrate plan`` and
``migrate lint``, each declared beside its handler.

The library (and rich, for the tables) is imported when a handler runs, so the CLI starts
without it.
"""

from __future__ import annotations

from dualorm.cli.verbs import JSON, Invocation, Option, Verb

__all__ = ["LINT", "PLAN"]


def _plan(run: Invocation) -> int:
    # Imported when the verb runs: the CLI starts without the library (or rich).
    from dualorm.api import migrate_script
    from dualorm.cli.plan_view import console, print_json, render_plan
    from dualorm.runner.plan import create_migration_plan

    config = run.config()
    if run["sql"]:
        run.out(migrate_script(config).rstrip("\n") or "-- nothing to do")
        return 0
    result = create_migration_plan(config)
    if run["json"]:
        print_json(result.to_dict(), run.out)
    else:
        render_plan(result, console(run.stdout))
    return 0


PLAN = Verb(
    "plan",
    "Show each pending statement's lock, rewrite or scan, table size, lint and risk.",
    _plan,
    (
        JSON,
        Option("--sql", "sql", "Print the psql script `migrate up` would run.", bool, False),
    ),
)


def _lint(run: Invocation) -> int:
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.api import migrate_lint
    from dualorm.cli.plan_view import console, print_json, render_findings

    config = run.config()
    findings = migrate_lint(config)
    blocking = [f for f in findings if f.blocking]
    if run["json"]:
        print_json(
            {
                "ok": not blocking,
                "errors": len(blocking),
                "findings": [f.to_dict() for f in findings],
            },
            run.out,
        )
    else:
        render_findings(findings, console(run.stdout), config)
    return 1 if blocking else 0


LINT = Verb(
    "lint",
    "Lint every change spec for dangerous DDL; exit 1 while an error is unacknowledged.",
    _lint,
    (JSON,),
)
