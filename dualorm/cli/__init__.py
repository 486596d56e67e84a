"""The ``dualorm`` command line: typer sub-apps wired together, errors mapped to exit codes.

Commands render what the library returns; the library never prints. Every
:class:`~dualorm.errors.DualormError` becomes one line on stderr and its documented exit code
(0 success, 1 problems found or failed, 2 bad input, 3 refused by a safety rule).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from dualorm.cli import backup, db, migrate, seed
from dualorm.cli.validate import validate

app = typer.Typer(
    name="dualorm",
    help="One PostgreSQL schema, two ORMs: validate, migrate, seed, back up.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(seed.app, name="seed")
app.add_typer(backup.app, name="backup")
app.add_typer(migrate.app, name="migrate")
app.command(name="validate")(validate)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script's entry point)."""
    from dualorm.cli.output import run

    return run(app, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
