"""``dualorm migrate new|make``: spec templates and the generated Alembic and Django files.

The runner's commands (``up``, ``down``, ``status``...) are added to the same :data:`app` by
``dualorm/cli/migrate_run.py``.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Change specs and the migrations generated from them.", no_args_is_help=True)


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="What the migration does, in a few words.")],
) -> None:
    """Write a change spec template with the next id, depending on the current heads."""
    from dualorm.config import Config
    from dualorm.spec.make import new_spec

    config = Config.load()
    path = new_spec(config, name)
    typer.echo(
        f"created {path.relative_to(config.root) if path.is_relative_to(config.root) else path}"
    )


@app.command()
def make(
    check: Annotated[
        bool, typer.Option("--check", help="Only list stale files; exit 1 if there are any.")
    ] = False,
) -> None:
    """Emit the Alembic revision and Django migration of every new or changed spec."""
    from dualorm.cli.output import fail
    from dualorm.config import Config
    from dualorm.spec.make import make as make_files

    config = Config.load()
    artefacts = make_files(config, check=check)
    for a in artefacts:
        shown = a.path.relative_to(config.root) if a.path.is_relative_to(config.root) else a.path
        verb = "stale" if check else "wrote"
        typer.echo(f"{verb}: {shown} ({a.tool}, {a.migration_id}: {a.reason})")
    if check and artefacts:
        typer.echo(
            f"{len(artefacts)} generated file(s) out of date; run `dualorm migrate make`", err=True
        )
        raise fail(1)
    if not artefacts:
        typer.echo("generated migrations are up to date")
