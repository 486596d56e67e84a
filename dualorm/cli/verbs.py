"""Every ``migrate`` verb, declared once: its options, its help and what it does.

The faces are derived from :data:`VERBS`, so they cannot drift apart:

* the typer commands of ``dualorm migrate`` (:func:`typer_command`, in :mod:`dualorm.cli.migrate`),
* the subcommands of ``python manage.py dualmigrate`` (:func:`add_argparse_verbs`),
* the console script's fast start-up path (:mod:`dualorm.cli.fast`, for verbs marked ``fast``).

Each verb's handler takes an :class:`Invocation` (the parsed options, how to write, how to
build the project's :class:`~dualorm.config.Config`) and returns the exit code. Handlers call
the library and render what it returns; every rule (production's policy included) is the
library's. Neither typer nor rich is imported here, so the fast path stays fast.
"""

from __future__ import annotations

import argparse
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dualorm.cli.render import (
    Write,
    configure,
    lock_waiter,
    progress_printer,
    render_baseline,
    render_migrate,
    render_status,
)

if TYPE_CHECKING:
    from pathlib import Path

    from dualorm.config import Config

__all__ = [
    "MODELS_VERBS",
    "VERBS",
    "Invocation",
    "Option",
    "Verb",
    "add_argparse_verbs",
    "typer_command",
]


@dataclass(frozen=True)
class Option:
    """One option (or positional argument) of a verb."""

    flag: str
    """``--to``; for a positional argument, its metavar (``NAME``)."""
    dest: str
    help: str
    type: type = str
    default: Any = None
    short: str | None = None
    negative: str | None = None
    """For a flag that defaults to on: the flag that turns it off (``--no-backup``)."""
    positional: bool = False


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    handler: Callable[[Invocation], int]
    options: tuple[Option, ...] = ()
    fast: bool = False
    """Runs on the console script's fast path (no typer): deploys run it on every release."""


@dataclass
class Invocation:
    """One run of a verb: its options by ``dest``, the writers, and the project's config."""

    options: dict[str, Any]
    out: Write
    err: Write
    load_config: Callable[[], Config]
    stdout: Any = None
    """The stream rich tables go to (``plan``, ``lint``); ``None`` is ``sys.stdout``."""
    _config: Config | None = field(default=None, init=False)

    def config(self) -> Config:
        """The project's config, with ``--env`` applied when the verb has it."""
        if self._config is None:
            from dualorm.config import Environment

            config = self.load_config()
            env = self.options.get("env")
            if env is not None:
                config = config.with_(environment=Environment.parse(env, origin="--env"))
            self._config = config
        return self._config

    def __getitem__(self, dest: str) -> Any:
        return self.options[dest]


# -- the options verbs share ---------------------------------------------------------------

JSON = Option("--json", "json", "Print the result as JSON.", bool, False)
LOG_FORMAT = Option(
    "--log-format",
    "log_format",
    "Log records on stderr as text or one JSON object a line.",
    str,
    "text",
)
VERBOSE = Option("--verbose", "verbose", "Log every migration and statement.", bool, False, "-v")
NO_WAIT = Option(
    "--no-wait", "no_wait", "Exit 3 at once if another runner holds the lock.", bool, False
)
NO_CACHE = Option(
    "--no-cache",
    "no_cache",
    "Read the model sets in full, not from the model-schema cache (.dualorm/cache).",
    bool,
    False,
)
DRY_RUN = Option(
    "--dry-run", "dry_run", "Change nothing: rehearse and roll back, print the SQL.", bool, False
)
ENV = Option("--env", "env", "The environment (default DUALORM_ENV).")
YES = Option("--yes", "yes", "Production: the plan is reviewed and confirmed.", bool, False)
BUDGET = Option(
    "--max-downtime", "max_downtime", "Production: seconds any writer may be blocked.", float
)
BACKUP = Option(
    "--backup", "backup", "Production: verified backup first.", bool, True, negative="--no-backup"
)
LOGGING = (JSON, LOG_FORMAT, VERBOSE)
POLICY = (ENV, YES, BUDGET, BACKUP)


def _logged(run: Invocation) -> None:
    configure(run.options.get("log_format", "text"), bool(run.options.get("verbose")))


# -- handlers ------------------------------------------------------------------------------


def _run_options(run: Invocation, direction: str) -> dict[str, Any]:
    """What ``up`` and ``down`` hand the library besides their selection: the run's options
    and the confirmation production's policy asks through."""
    from dualorm.cli.plan_view import terminal_confirm

    return {
        "dry_run": run["dry_run"],
        "no_wait": run["no_wait"],
        "progress": None if run["json"] else progress_printer(run.err),
        "on_lock_wait": lock_waiter(run.err),
        "confirm": terminal_confirm(direction),
        "assume_yes": run["yes"],
        "max_downtime": run["max_downtime"],
        "backup": run["backup"],
    }


def _up(run: Invocation) -> int:
    from dualorm.api import migrate_up

    _logged(run)
    result = migrate_up(run.config(), run["to"], **_run_options(run, "up"))
    render_migrate(result, run.out, run["json"])
    return 0 if result.ok else 1


def _down(run: Invocation) -> int:
    from dualorm.api import migrate_down

    _logged(run)
    result = migrate_down(
        run.config(),
        migration_id=run["migration_id"],
        to=run["to"],
        steps=run["steps"],
        cascade=run["cascade"],
        **_run_options(run, "down"),
    )
    render_migrate(result, run.out, run["json"])
    return 0 if result.ok else 1


def _status(run: Invocation) -> int:
    from dualorm.api import migrate_status

    _logged(run)
    render_status(migrate_status(run.config()), run.out, run["json"])
    return 0


def _baseline(run: Invocation) -> int:
    from dualorm.api import baseline
    from dualorm.errors import DriftDetected

    _logged(run)
    try:
        result = baseline(
            run.config(),
            migration_id=run["migration_id"],
            to=run["to"],
            no_wait=run["no_wait"],
            on_lock_wait=lock_waiter(run.err),
        )
    except DriftDetected as drift:
        # The refusal's stderr line comes from the one error mapping; --json adds every
        # difference, structured, on stdout.
        if run["json"]:
            import json

            differences = [d.to_dict() for d in drift.differences]
            document = {"ok": False, "error": str(drift), "differences": differences}
            run.out(json.dumps(document, indent=2, sort_keys=True))
        raise
    render_baseline(result, run.out, run["json"])
    return 0


def _plan(run: Invocation) -> int:
    from dualorm.cli.plan_view import console, print_json, render_plan

    config = run.config()
    if run["sql"]:
        from dualorm.api import migrate_script

        run.out(migrate_script(config).rstrip("\n") or "-- nothing to do")
        return 0
    from dualorm.runner.plan import create_migration_plan

    result = create_migration_plan(config)
    if run["json"]:
        print_json(result.to_dict(), run.out)
    else:
        render_plan(result, console(run.stdout))
    return 0


def _lint(run: Invocation) -> int:
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


def _new(run: Invocation) -> int:
    from dualorm.spec.make import new_spec

    config = run.config()
    if run["autogenerate"]:
        return _autogenerate(run, config)
    from dualorm.errors import UsageError

    flags = [("--from", "source"), ("--rename", "rename"), ("--rename-table", "rename_table")]
    flags += [("--rename-value", "rename_value"), ("--no-cache", "no_cache")]
    given = [f for f, d in flags if run[d]]
    if given:
        raise UsageError(f"{', '.join(given)} apply only with --autogenerate")
    path = new_spec(config, run["name"])
    run.out(f"created {_shown(config, path)}")
    return 0


def _shown(config: Config, path: Any) -> Any:
    return path.relative_to(config.root) if path.is_relative_to(config.root) else path


def _autogenerate(run: Invocation, config: Config) -> int:
    from dualorm.autogen import autogenerate, parse_answers

    answers = parse_answers(run["rename"], run["rename_table"], run["rename_value"])
    result = autogenerate(
        config,
        run["name"],
        source=run["source"],
        answers=answers,
        ask=terminal_question(),
        cache=not run["no_cache"],
    )
    if run["json"]:
        import json

        run.out(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return 0
    if result.path is None:
        run.out(f"no changes: the {result.change.source} models agree with the specs")
        return 0
    for candidate in result.change.unconfirmed:
        run.err(
            f"warning: {candidate.describe()} may be a rename; written as drop + add (data "
            f"loss, reported by `migrate lint`); if it is one, delete the spec and pass "
            f"{candidate.flag}"
        )
    count = len(result.change.operations)
    if len(result.paths) > 1:
        shown = ", ".join(str(_shown(config, p)) for p in result.paths)
        run.out(f"created {shown} ({count} operation(s), one spec after another)")
        return 0
    run.out(f"created {_shown(config, result.path)} ({count} operation(s))")
    return 0


def terminal_question() -> Callable[[str], bool] | None:
    """Ask a yes/no question on the terminal (Django's questioner); ``None`` without one."""
    import sys

    if not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        sys.stderr.write(f"{question} [y/N] ")
        sys.stderr.flush()
        return sys.stdin.readline().strip().lower() in ("y", "yes")

    return ask


def _check(run: Invocation) -> int:
    from dualorm.autogen import check

    config = run.config()
    result = check(config, cache=not run["no_cache"])
    if run["json"]:
        import json

        run.out(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return 0 if result.ok else 1
    for name, found in result.changes.items():
        for d in found:
            run.out(f"{name}: {d.kind.value} {d.object}: {d.detail}")
    for a in result.stale:
        run.out(f"stale: {_shown(config, a.path)} ({a.tool}, {a.migration_id}: {a.reason})")
    if result.ok:
        run.out("the models, the specs and the generated migrations agree")
        return 0
    hints = []
    if any(result.changes.values()):
        hints.append("`dualorm migrate new NAME --autogenerate`")
    if result.stale:
        hints.append("`dualorm migrate make`")
    run.err(f"models or generated migrations are out of date; run {' and '.join(hints)}")
    return 1


def _make(run: Invocation) -> int:
    from dualorm.spec.make import NO_LONGER_EMITTED, make

    config = run.config()
    check = run["check"]
    artefacts = make(config, check=check)
    for a in artefacts:
        shown = a.path.relative_to(config.root) if a.path.is_relative_to(config.root) else a.path
        verb = "stale" if check else "removed" if a.reason == NO_LONGER_EMITTED else "wrote"
        run.out(f"{verb}: {shown} ({a.tool}, {a.migration_id}: {a.reason})")
    if check and artefacts:
        run.err(f"{len(artefacts)} generated file(s) out of date; run `dualorm migrate make`")
        return 1
    if not artefacts:
        run.out("generated migrations are up to date")
    return 0


def _squash(run: Invocation) -> int:
    from dualorm.errors import UsageError
    from dualorm.spec.squash import squash

    if not run["to"]:
        raise UsageError("`migrate squash` needs --to ID: the last spec the squash replaces")
    config = run.config()
    result = squash(config, run["to"])

    def shown(path: Path) -> Path:
        return path.relative_to(config.root) if path.is_relative_to(config.root) else path

    run.out(f"wrote {shown(result.path)} (replaces {', '.join(result.replaces)})")
    for path in result.written:
        run.out(f"wrote: {shown(path)}")
    for old, new in result.moved:
        run.out(f"moved: {shown(old)} -> {shown(new)}")
    run.out("keep the replaced specs until every database has run `dualorm migrate up`")
    return 0


def _init(run: Invocation) -> int:
    from dualorm.errors import UsageError
    from dualorm.spec.from_database import init_from_database

    if not run["from_database"]:
        raise UsageError(
            "`migrate init` writes the first spec of an existing database: pass --from-database"
        )
    config = run.config()

    def globs(text: str | None) -> list[str]:
        return [g.strip() for g in (text or "").split(",") if g.strip()]

    result = init_from_database(
        config,
        spec_id=run["migration_id"],
        tables=globs(run["tables"]),
        exclude=globs(run["exclude"]),
    )
    for warning in result.warnings:
        run.err(f"warning: {warning}")
    if run["json"]:
        import json

        run.out(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return 0
    shown = (
        result.path.relative_to(config.root)
        if result.path.is_relative_to(config.root)
        else result.path
    )
    run.out(f"wrote {shown} ({len(result.tables)} table(s))")
    run.out(f"record it applied here with `dualorm migrate baseline --to {result.migration_id}`")
    return 0


VERBS: tuple[Verb, ...] = (
    Verb(
        "new",
        "Write a change spec with the next id, depending on the current heads: a template, "
        "or with --autogenerate the change of the models since the specs.",
        _new,
        (
            Option("NAME", "name", "What the migration does, in a few words.", positional=True),
            Option(
                "--autogenerate",
                "autogenerate",
                "Write the operations that bring the specs to the models (no database).",
                bool,
                False,
            ),
            Option(
                "--from",
                "source",
                "The model set that wins: sqlalchemy or django (default: both must agree).",
            ),
            Option("--rename", "rename", "Renamed columns: table.old=new, comma-separated."),
            Option("--rename-table", "rename_table", "Renamed tables: old=new, comma-separated."),
            Option(
                "--rename-value",
                "rename_value",
                "Renamed enum labels: enum.old=new, comma-separated.",
            ),
            NO_CACHE,
            JSON,
        ),
    ),
    Verb(
        "check",
        "Exit 1 when a model set differs from the specs or a generated migration is stale.",
        _check,
        (NO_CACHE, JSON),
        fast=True,
    ),
    Verb(
        "make",
        "Emit the Alembic revision and Django migration of every new or changed spec.",
        _make,
        (
            Option(
                "--check", "check", "Only list stale files; exit 1 if there are any.", bool, False
            ),
        ),
        fast=True,
    ),
    Verb(
        "up",
        "Apply pending migrations, each in its own transaction with its ledger rows.",
        _up,
        (
            Option("--to", "to", "Stop once this id is applied (not in production)."),
            DRY_RUN,
            NO_WAIT,
            *LOGGING,
            *POLICY,
        ),
        fast=True,
    ),
    Verb(
        "down",
        "Roll back applied migrations in reverse order (by default the last one).",
        _down,
        (
            Option("--id", "migration_id", "Roll back this migration."),
            Option("--to", "to", "Roll back everything after this id."),
            Option("--steps", "steps", "Roll back the last N (default 1).", int),
            Option(
                "--cascade", "cascade", "With --id, roll back its dependents first.", bool, False
            ),
            DRY_RUN,
            NO_WAIT,
            *LOGGING,
            *POLICY,
        ),
    ),
    Verb(
        "status",
        "Show applied and pending migrations, edited specs, and the lock holder.",
        _status,
        LOGGING,
        fast=True,
    ),
    Verb(
        "baseline",
        "Adopt a database managed by Alembic or Django, or re-record an edited spec.",
        _baseline,
        (
            Option("--id", "migration_id", "Re-record this applied spec's checksum."),
            Option("--to", "to", "Adopt this id and what it needs as applied."),
            NO_WAIT,
            *LOGGING,
        ),
    ),
    Verb(
        "squash",
        "Write one spec replacing the history up to --to, and its Alembic and Django files.",
        _squash,
        (Option("--to", "to", "The last spec the squash replaces."),),
    ),
    Verb(
        "init",
        "Write the initial spec of the tables of an existing database, from its catalog.",
        _init,
        (
            Option(
                "--from-database",
                "from_database",
                "Read the live catalog (the one source there is).",
                bool,
                False,
            ),
            Option("--id", "migration_id", "The new spec's id (default: 0001_initial)."),
            Option("--table", "tables", "Only these tables: comma-separated globs."),
            Option("--exclude", "exclude", "Leave these tables out: comma-separated globs."),
            JSON,
        ),
    ),
    Verb(
        "plan",
        "Show each pending statement's lock, rewrite or scan, table size, lint and risk.",
        _plan,
        (
            JSON,
            Option("--sql", "sql", "Print the psql script `migrate up` would run.", bool, False),
        ),
    ),
    Verb(
        "lint",
        "Lint every change spec for dangerous DDL; exit 1 while an error is unacknowledged.",
        _lint,
        (JSON,),
    ),
)


def _render(run: Invocation) -> int:
    from pathlib import Path

    from dualorm.models_render import render_models

    config = run.config()
    output = None if run["output"] is None else (Path.cwd() / run["output"]).resolve()
    result = render_models(
        config,
        run["orm"],
        tables=run["tables"],
        app=run["app"],
        output=output,
        check=run["check"],
    )
    if result.path is None:
        run.out(result.text.rstrip("\n"))
        return 0
    shown = _shown(config, result.path)
    if run["check"]:
        if result.stale:
            run.err(f"{shown} is out of date; run `dualorm models render --orm {run['orm']}`")
            return 1
        run.out(f"{shown} is up to date")
        return 0
    run.out(f"{'wrote' if result.stale else 'unchanged'}: {shown} ({result.tables} table(s))")
    return 0


MODELS_VERBS: tuple[Verb, ...] = (
    Verb(
        "render",
        "Write the tables of the specs at head as SQLAlchemy or Django models (generated).",
        _render,
        (
            Option("--orm", "orm", "sqlalchemy or django.", str, "sqlalchemy"),
            Option("--tables", "tables", "Only these tables: comma-separated globs."),
            Option("--app", "app", "Django: the app_label the models declare."),
            Option("--output", "output", "The module to write (default: standard output)."),
            Option("--check", "check", "Write nothing; exit 1 if --output is stale.", bool, False),
        ),
    ),
)
"""The verbs of ``dualorm models``."""


def verb(name: str) -> Verb:
    return next(v for v in VERBS if v.name == name)


# -- typer ---------------------------------------------------------------------------------


def typer_command(spec: Verb, load_config: Callable[[], Config]) -> Callable[..., None]:
    """Return a function typer turns into ``spec``'s command (signature built from options)."""
    import sys
    from typing import Annotated

    import typer

    def command(**options: Any) -> None:
        from dualorm.cli.fast import _write

        code = spec.handler(
            Invocation(options, _write(sys.stdout), _write(sys.stderr), load_config)
        )
        if code:
            raise typer.Exit(code)

    parameters = []
    annotations: dict[str, Any] = {}
    for option in spec.options:
        hint: Any = (
            option.type if option.default is not None or option.positional else (option.type | None)
        )
        if option.positional:
            info: Any = typer.Argument(help=option.help, metavar=option.flag)
        else:
            names = [f"{option.flag}/{option.negative}" if option.negative else option.flag]
            if option.short:
                names.append(option.short)
            info = typer.Option(*names, help=option.help)
        annotated = Annotated[hint, info]
        annotations[option.dest] = annotated
        default = inspect.Parameter.empty if option.positional else option.default
        parameters.append(
            inspect.Parameter(
                option.dest, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotated
            )
        )
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {**annotations, "return": None}
    command.__name__ = spec.name
    command.__doc__ = spec.help
    return command


# -- argparse (manage.py dualmigrate) ------------------------------------------------------


def add_argparse_verbs(subparsers: Any, **parser_kwargs: Any) -> None:
    """Add every verb of :data:`VERBS` to ``subparsers`` (an argparse subparsers action)."""
    for spec in VERBS:
        sub = subparsers.add_parser(
            spec.name, help=spec.help, description=spec.help, **parser_kwargs
        )
        for option in spec.options:
            _argparse_option(sub, option)


def _argparse_option(parser: argparse.ArgumentParser, option: Option) -> None:
    if option.positional:
        parser.add_argument(option.dest, metavar=option.flag, help=option.help)
        return
    names = [option.flag, *([option.short] if option.short else [])]
    if option.type is bool:
        if option.negative:
            parser.add_argument(
                *names,
                dest=option.dest,
                action=argparse.BooleanOptionalAction,
                default=option.default,
                help=option.help,
            )
        else:
            parser.add_argument(*names, dest=option.dest, action="store_true", help=option.help)
        return
    parser.add_argument(
        *names, dest=option.dest, type=_typed(option), default=option.default, help=option.help
    )


def _typed(option: Option) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return option.type(text)
        except ValueError:
            kind = {int: "a whole number", float: "a number"}.get(option.type, "a value")
            raise argparse.ArgumentTypeError(
                f"{option.flag} must be {kind}, not {text!r}"
            ) from None

    convert.__name__ = option.type.__name__
    return convert


# -- the fast path -------------------------------------------------------------------------


def parse_fast(name: str, args: Sequence[str]) -> dict[str, Any] | None:
    """Read ``args`` for a ``fast`` verb exactly as typer would, or ``None`` to leave it to typer.

    Anything unusual (``--help``, an unknown or repeated option, a value typer would refuse or
    that looks like an option) returns ``None``, and typer reports it.
    """
    spec = next((v for v in VERBS if v.name == name and v.fast), None)
    if spec is None:
        return None
    options = {o.dest: o.default for o in spec.options}
    flags: dict[str, tuple[Option, bool]] = {}
    for o in spec.options:
        if o.positional:
            return None
        for n in (o.flag, *([o.short] if o.short else [])):
            flags[n] = (o, True)
        if o.negative:
            flags[o.negative] = (o, False)
    seen: set[str] = set()
    rest = list(args)
    while rest:
        token = rest.pop(0)
        name_, eq, inline = token.partition("=")
        found = flags.get(token) or (flags.get(name_) if eq else None)
        if found is None:
            return None
        option, on = found
        if option.dest in seen:
            return None
        seen.add(option.dest)
        if option.type is bool:
            if eq:
                return None
            options[option.dest] = on
            continue
        value = inline if eq else (rest.pop(0) if rest else None)
        if value is None or value.startswith("-"):
            return None
        try:
            converted = option.type(value)
        except ValueError:
            return None
        if isinstance(converted, float) and not math.isfinite(converted):
            return None  # typer's message for it
        options[option.dest] = converted
    return options
