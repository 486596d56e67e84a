"""Shared CLI plumbing: running the app with the exit-code mapping, consoles, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from dualorm.cli.guard import guarded


def run(app: typer.Typer, argv: list[str]) -> int:
    """Invoke ``app``; map ``DualormError`` to one stderr line and its exit code."""
    command = typer.main.get_command(app)

    def invoke() -> int:
        try:
            # Standalone mode lets click report usage errors itself (exit 2) and turns
            # typer.Exit into SystemExit; our own errors come through untouched.
            command.main(args=argv, prog_name="dualorm", standalone_mode=True)
        except SystemExit as done:
            code = done.code
            return code if isinstance(code, int) else (0 if code is None else 1)
        return 0

    return guarded(invoke)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def fail(code: int) -> typer.Exit:
    """Return the ``typer.Exit`` a command raises to end with ``code`` after printing."""
    return typer.Exit(code)
