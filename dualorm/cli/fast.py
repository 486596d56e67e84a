"""The console script's fast path: ``dualorm migrate status`` and a plain ``migrate up``.

Deploys run these two on every release, and building typer's commands (its option adapters
import pydantic) costs more than the work itself. When the arguments are ones this module
reads exactly as the typer commands in :mod:`dualorm.cli.migrate_run` read them, it calls the
same library functions and renderers without importing typer; anything else (``--help``, any
other option, a repeated or malformed one, a production environment) returns ``None`` and the
typer app runs as before. :func:`guarded` is the error-to-exit-code mapping both paths share.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dualorm.db import redact_text
from dualorm.errors import DualormError, exit_code

__all__ = ["fast_main", "guarded"]

_FLAGS = {"--json": "json", "--verbose": "verbose", "-v": "verbose"}
_VALUES = {"--log-format": "log_format"}
# What each command accepts on the fast path: its flags and valued options.
_COMMANDS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "status": (_FLAGS, _VALUES),
    "up": ({**_FLAGS, "--no-wait": "no_wait"}, {**_VALUES, "--to": "to"}),
}


def guarded(call: Callable[[], int]) -> int:
    """Run ``call``; map ``DualormError`` to one stderr line and its exit code."""
    try:
        return call()
    except DualormError as error:
        sys.stderr.write(f"error: {redact_text(str(error))}\n")
        return exit_code(error)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as error:
        # An error dualorm did not anticipate: still one line and no secret; the traceback
        # only on request, since it can quote connection strings from library frames.
        if os.environ.get("DUALORM_DEBUG"):
            raise
        detail = redact_text(f"{type(error).__name__}: {error}".strip())
        sys.stderr.write(f"error: unexpected {detail} (set DUALORM_DEBUG=1 for a traceback)\n")
        return 1


@dataclass
class _Options:
    flags: set[str] = field(default_factory=set)
    values: dict[str, str] = field(default_factory=dict)


def _parse(command: str, args: Sequence[str]) -> _Options | None:
    accepted = _COMMANDS.get(command)
    if accepted is None:
        return None
    flags, valued = accepted
    options = _Options()
    seen: set[str] = set()
    rest = list(args)
    while rest:
        token = rest.pop(0)
        name, eq, inline = token.partition("=")
        if token in flags and token not in seen:
            options.flags.add(flags[token])
        elif name in valued and name not in seen:
            value = inline if eq else (rest.pop(0) if rest else None)
            # A missing value, or one typer might read as an option, is typer's to report.
            if value is None or value.startswith("-"):
                return None
            options.values[valued[name]] = value
        else:
            return None
        seen.add(name if name in valued else token)
    return options


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def fast_main(args: Sequence[str]) -> int | None:
    """Run ``migrate status`` or a plain ``migrate up`` and return the exit code.

    Returns ``None`` (having done nothing a rerun would repeat) when the typer app must run.
    """
    if len(args) < 2 or args[0] != "migrate":
        return None
    options = _parse(args[1], args[2:])
    if options is None:
        return None
    handled: list[bool] = []

    def call() -> int:
        from dualorm.cli.render import configure

        as_json, verbose = "json" in options.flags, "verbose" in options.flags
        configure(options.values.get("log_format", "text"), verbose)
        if args[1] == "status":
            _status(as_json)
        elif not _up(options, as_json):
            return 0
        handled.append(True)
        return 0

    code = guarded(call)
    return code if handled or code != 0 else None


def _status(as_json: bool) -> None:
    from dualorm.api import migrate_status
    from dualorm.cli.render import render_status
    from dualorm.config import Config

    render_status(migrate_status(Config.load()), _out, as_json)


def _up(options: _Options, as_json: bool) -> bool:
    from dualorm.api import migrate_up
    from dualorm.cli.render import lock_waiter, progress_printer, render_migrate
    from dualorm.config import Config, Environment

    config = Config.load()
    if config.environment is Environment.PRODUCTION:
        return False  # the production path (plan, confirmation, backup) lives in typer's `up`
    result = migrate_up(
        config,
        options.values.get("to"),
        no_wait="no_wait" in options.flags,
        progress=None if as_json else progress_printer(_err),
        on_lock_wait=lock_waiter(_err),
    )
    render_migrate(result, _out, as_json)
    return True
