"""Shared CLI plumbing: running the app with the exit-code mapping, consoles, JSON output."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer

from dualorm.db import redact_text
from dualorm.errors import DualormError, exit_code


def run(app: typer.Typer, argv: list[str]) -> int:
    """Invoke ``app``; map ``DualormError`` to one stderr line and its exit code."""
    command = typer.main.get_command(app)
    try:
        # Standalone mode lets click report usage errors itself (exit 2) and turns
        # typer.Exit into SystemExit; our own errors come through untouched.
        command.main(args=argv, prog_name="dualorm", standalone_mode=True)
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
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
    return 0


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def fail(code: int) -> typer.Exit:
    """Return the ``typer.Exit`` a command raises to end with ``code`` after printing."""
    return typer.Exit(code)
