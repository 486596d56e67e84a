"""``dualorm fleet up|status|plan``: each verb declared once, the typer commands built from it.

The verbs use :mod:`dualorm.cli.verbs`' declarations (:class:`~dualorm.cli.verbs.Verb`,
:class:`~dualorm.cli.verbs.Option`, the shared options) and its typer builder; the handlers
call :mod:`dualorm.fleet` and render what it returns (:mod:`dualorm.cli.fleet_view`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from dualorm.cli.verbs import (
    BACKUP,
    BUDGET,
    ENV,
    JSON,
    LOG_FORMAT,
    NO_WAIT,
    VERBOSE,
    YES,
    Invocation,
    Option,
    Verb,
    typer_command,
)

__all__ = ["FLEET_VERBS", "app"]

DATABASES = Option(
    "--databases",
    "databases",
    "A file of databases: one connection string, or name = connection string, a line "
    "(default: [tool.dualorm.fleet] databases).",
)
PASSFILE = Option(
    "--passfile",
    "passfile",
    "A pgpass-style file of passwords, handed to libpq for every database.",
)
PARALLEL = Option("--parallel", "parallel", "Targets at once (one connection each).", int, 4)
TENANTS = Option(
    "--tenants",
    "tenants",
    "Tenant schemas of every database whose line names none: names separated by commas, or "
    "a pattern such as 'tenant_*' (default: [tool.dualorm.fleet] tenants).",
)


def _logged(run: Invocation) -> None:
    from dualorm.cli.render import configure

    configure(run["log_format"], bool(run["verbose"]))


def _targets(run: Invocation) -> list[Any]:
    from dualorm.fleet import expand_tenants, resolve_targets

    databases = run["databases"]
    passfile = run["passfile"]
    listed = resolve_targets(
        run.config(),
        Path(databases) if databases else None,
        Path(passfile).resolve() if passfile else None,
        run["tenants"],
    )
    # Patterns are matched once, here: the progress bar counts the tenants they match.
    return expand_tenants(listed)


def _consoles(run: Invocation) -> tuple[Any, Any]:
    from dualorm.cli.plan_view import console

    return console(run.stdout), console(err=True)


def _up(run: Invocation) -> int:
    from dualorm.cli.fleet_view import FleetProgressView, render_report, target_kind
    from dualorm.cli.plan_view import print_json
    from dualorm.fleet import fleet_up

    _logged(run)
    targets = _targets(run)
    out, err = _consoles(run)
    options = {
        "parallel": run["parallel"],
        "canary": run["canary"],
        "continue_on_error": run["continue_on_error"],
        "to": run["to"],
        "no_wait": run["no_wait"],
        "assume_yes": run["yes"],
        "max_downtime": run["max_downtime"],
        "backup": run["backup"],
    }
    if run["json"]:
        report = fleet_up(run.config(), targets, **options)
        print_json(report.to_dict(), run.out)
        return report.exit_code
    kind = target_kind([t.tenant for t in targets])
    with FleetProgressView(err, len(targets), kind) as view:
        report = fleet_up(run.config(), targets, progress=view, **options)
    render_report(report, out)
    return report.exit_code


def _survey(run: Invocation, plan: bool) -> int:
    from dualorm.cli.fleet_view import render_status
    from dualorm.cli.plan_view import print_json
    from dualorm.fleet import fleet_plan, fleet_status

    _logged(run)
    read = fleet_plan if plan else fleet_status
    status = read(run.config(), _targets(run), parallel=run["parallel"])
    if run["json"]:
        print_json(status.to_dict(), run.out)
    else:
        render_status(status, _consoles(run)[0], plan=plan)
    return status.exit_code


FLEET_VERBS: tuple[Verb, ...] = (
    Verb(
        "up",
        "Migrate every database of the fleet up, a few at a time; one report at the end.",
        _up,
        (
            DATABASES,
            PASSFILE,
            TENANTS,
            PARALLEL,
            Option(
                "--canary",
                "canary",
                "Migrate the first K databases first; stop if one fails.",
                int,
                0,
            ),
            Option(
                "--continue-on-error",
                "continue_on_error",
                "Go on with the other databases after one fails (default: stop).",
                bool,
                False,
            ),
            Option("--to", "to", "Stop once this id is applied (not in production)."),
            NO_WAIT,
            JSON,
            LOG_FORMAT,
            VERBOSE,
            ENV,
            YES,
            BUDGET,
            BACKUP,
        ),
    ),
    Verb(
        "status",
        "The fleet's version matrix; names databases whose catalog drifted from the others'.",
        lambda run: _survey(run, plan=False),
        (DATABASES, PASSFILE, TENANTS, PARALLEL, JSON, LOG_FORMAT, VERBOSE, ENV),
    ),
    Verb(
        "plan",
        "What `fleet up` would apply to each database, or why it would refuse; read-only.",
        lambda run: _survey(run, plan=True),
        (DATABASES, PASSFILE, TENANTS, PARALLEL, JSON, LOG_FORMAT, VERBOSE, ENV),
    ),
)

app = typer.Typer(help="One project's migrations over many databases.", no_args_is_help=True)


def _config():  # type: ignore[no-untyped-def]
    from dualorm.config import Config

    return Config.load()


for _verb in FLEET_VERBS:
    app.command(_verb.name, help=_verb.help)(typer_command(_verb, _config))
