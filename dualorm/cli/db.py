"""``dualorm db url|start|stop|label``: the database URL, the embedded server, the label."""

from __future__ import annotations

import typer

app = typer.Typer(help="The database URL and the embedded PostgreSQL server.", no_args_is_help=True)


@app.command()
def url() -> None:
    """Print the database URL (password hidden), starting the embedded server if needed."""
    from dualorm.config import Config
    from dualorm.db import redact, resolve_url

    typer.echo(redact(resolve_url(Config.load())))


@app.command()
def start() -> None:
    """Start the embedded server under ./.dualorm (when DATABASE_URL is unset)."""
    from dualorm.config import Config
    from dualorm.db import EmbeddedServer, redact

    config = Config.load()
    if config.database_url:
        typer.echo(f"DATABASE_URL is set; nothing to start ({redact(config.database_url)})")
        return
    typer.echo(f"embedded server running: {redact(EmbeddedServer(config.state_dir).start())}")


@app.command()
def stop() -> None:
    """Stop the embedded server."""
    from dualorm.config import Config
    from dualorm.db import EmbeddedServer

    stopped = EmbeddedServer(Config.load().state_dir).stop()
    typer.echo("embedded server stopped" if stopped else "embedded server was not running")


@app.command()
def label(
    env: str = typer.Argument(help="development, testing, staging or production."),
) -> None:
    """Label the database with its environment (an unlabelled one only; never relabels)."""
    from dualorm.config import Config, Environment
    from dualorm.environment import label_database

    environment = Environment.parse(env, origin="ENV")
    before, where = label_database(Config.load(), environment)
    state = "already labelled" if before is not None else "labelled"
    typer.echo(f"{where} {state} {environment.value}")
