"""``dualorm migrate``: the typer commands, one per verb of :data:`dualorm.cli.commands.VERBS`.

Nothing is declared here: each command's options, help and behaviour come from the verb's
one declaration, which ``manage.py dualmigrate`` and the fast start-up path read too.
"""

from __future__ import annotations

import typer

from dualorm.cli.commands import VERBS
from dualorm.cli.verbs import typer_command

app = typer.Typer(help="Change specs and the migrations generated from them.", no_args_is_help=True)


def _config():  # type: ignore[no-untyped-def]
    from dualorm.config import Config

    return Config.load()


for _verb in VERBS:
    app.command(_verb.name, help=_verb.help)(typer_command(_verb, _config))
