"""``dualorm models``: the typer commands of :data:`dualorm.cli.commands.MODELS_VERBS`."""

from __future__ import annotations

import typer

from dualorm.cli.commands import MODELS_VERBS
from dualorm.cli.verbs import typer_command

app = typer.Typer(help="Models generated from the change specs.", no_args_is_help=True)


def _config():  # type: ignore[no-untyped-def]
    from dualorm.config import Config

    return Config.load()


for _verb in MODELS_VERBS:
    app.command(_verb.name, help=_verb.help)(typer_command(_verb, _config))
