"""The console script's fast path: the ``migrate`` verbs marked ``fast`` (status, up, make, check).

Deploys run these on every release, and building typer's commands (its option adapters
import pydantic) costs more than the work itself. The options are read from the verb's one
declaration (:mod:`dualorm.cli.verbs`) exactly as typer reads them, and the same handler
runs; anything else (``--help``, an unknown, repeated or malformed option) returns ``None``
and the typer app runs instead. :func:`guarded` is the error-to-exit-code mapping both paths
share.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from dualorm.db import redact_text
from dualorm.errors import DualormError, InternalError, exit_code

__all__ = ["fast_main", "guarded"]


def guarded(call: Callable[[], int]) -> int:
    """Run ``call``; map ``DualormError`` to one stderr line and its exit code.

    Any other exception is a bug of dualorm: one line without secrets and exit 4; the
    traceback only with ``DUALORM_DEBUG=1`` (library frames can quote connection strings).
    """
    try:
        return call()
    except InternalError as error:
        return _internal(error, redact_text(str(error)))
    except DualormError as error:
        sys.stderr.write(f"error: {redact_text(str(error))}\n")
        return exit_code(error)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as error:
        return _internal(error, redact_text(f"{type(error).__name__}: {error}".strip()))


def _internal(error: Exception, detail: str) -> int:
    if os.environ.get("DUALORM_DEBUG"):
        raise error
    sys.stderr.write(
        f"error: internal error {detail} (a bug of dualorm; set DUALORM_DEBUG=1 for a traceback)\n"
    )
    return InternalError.exit_code


def _write(stream: object) -> Callable[[str], None]:
    def write(text: str) -> None:
        stream.write(text + "\n")  # type: ignore[attr-defined]
        stream.flush()  # type: ignore[attr-defined]

    return write


def fast_main(args: Sequence[str]) -> int | None:
    """Run a fast ``migrate`` verb and return its exit code, or ``None`` for typer to run."""
    if len(args) < 2 or args[0] != "migrate":
        return None
    from dualorm.cli.verbs import Invocation, parse_fast, verb

    options = parse_fast(args[1], args[2:])
    if options is None:
        return None

    def load_config():  # type: ignore[no-untyped-def]
        from dualorm.config import Config

        return Config.load()

    run = Invocation(options, _write(sys.stdout), _write(sys.stderr), load_config)
    return guarded(lambda: verb(args[1]).handler(run))
