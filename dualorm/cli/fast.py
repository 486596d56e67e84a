"""The console script's fast path: the ``migrate`` verbs marked ``fast`` (status, up, new, make,
check).

Deploys run these on every release, and building typer's commands (its option adapters
import pydantic) costs more than the work itself. The options are read from the verb's one
declaration (:mod:`dualorm.cli.commands`) exactly as typer reads them, and the same handler
runs; anything else (``--help``, an unknown, repeated or malformed option) returns ``None``
and the typer app runs instead. Both paths map errors to exit codes through
:func:`dualorm.cli.guard.guarded`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dualorm.cli.commands import VERBS, verb
from dualorm.cli.guard import guarded
from dualorm.cli.verbs import Invocation, parse_fast, write_to
from dualorm.config import Config

__all__ = ["fast_main"]


def fast_main(args: Sequence[str]) -> int | None:
    """Run a fast ``migrate`` verb and return its exit code, or ``None`` for typer to run."""
    if len(args) < 2 or args[0] != "migrate":
        return None
    options = parse_fast(VERBS, args[1], args[2:])
    if options is None:
        return None

    run = Invocation(options, write_to(sys.stdout), write_to(sys.stderr), Config.load)
    return guarded(lambda: verb(args[1]).handler(run))
