"""The ``dualorm`` command line: typer sub-apps wired together, errors mapped to exit codes.

Commands render what the library returns; the library never prints. Every
:class:`~dualorm.errors.DualormError` becomes one line on stderr and its documented exit code
(0 success, 1 problems found or failed, 2 bad input, 3 refused by a safety rule).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

_HELP = "One PostgreSQL schema, two ORMs: validate, migrate, seed, back up."


def _root() -> typer.Typer:
    import typer

    app = typer.Typer(
        name="dualorm",
        help=_HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    def print_version(value: bool) -> None:
        if value:
            typer.echo(f"dualorm {version()}")
            raise typer.Exit()

    # The callback also keeps a one-command app (`validate`'s) a group, so the command stays
    # a subcommand.
    @app.callback()
    def options(
        show_version: bool = typer.Option(
            False,
            "--version",
            callback=print_version,
            is_eager=True,
            help="Print dualorm's version and exit.",
        ),
    ) -> None:
        pass

    return app


def version() -> str:
    """The installed distribution's version (the package's own when run from a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("dualorm")
    except PackageNotFoundError:
        from dualorm import __version__

        return __version__


def build_app() -> typer.Typer:
    """Return the whole ``dualorm`` app, every sub-app imported."""
    from dualorm.cli import backup, db, fleet, migrate, models, seed
    from dualorm.cli.init import init
    from dualorm.cli.reset import reset
    from dualorm.cli.validate import validate

    app = _root()
    app.add_typer(db.app, name="db")
    app.add_typer(seed.app, name="seed")
    app.add_typer(backup.app, name="backup")
    app.add_typer(migrate.app, name="migrate")
    app.add_typer(fleet.app, name="fleet")
    app.add_typer(models.app, name="models")
    app.command(name="validate")(validate)
    app.command(name="reset")(reset)
    app.command(name="init")(init)
    return app


def _migrate_app() -> typer.Typer:
    # `dualorm migrate ...` imports only the migrate commands: deploys run `migrate up` and
    # `migrate status` on every release, and start-up time is most of what they cost.
    from dualorm.cli import migrate

    app = _root()
    app.add_typer(migrate.app, name="migrate")
    return app


def _validate_app() -> typer.Typer:
    # `dualorm validate` gates CI on every push; like migrate it imports only its own command.
    from dualorm.cli.validate import validate

    app = _root()
    app.command(name="validate")(validate)
    return app


def _models_app() -> typer.Typer:
    # `dualorm models render --check` gates CI too; it needs neither psycopg nor the backup
    # commands the whole app imports.
    from dualorm.cli import models

    app = _root()
    app.add_typer(models.app, name="models")
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script's entry point)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["migrate"]:
        # `migrate status` and a plain `migrate up` run without typer when they can.
        from dualorm.cli.fast import fast_main

        code = fast_main(args)
        if code is not None:
            return code
    from dualorm.cli.output import run

    if args[:1] == ["migrate"]:
        app = _migrate_app()
    elif args[:1] == ["validate"]:
        app = _validate_app()
    elif args[:1] == ["models"]:
        app = _models_app()
    else:
        app = build_app()
    return run(app, args)
