"""The one mapping from an error to a stderr line and an exit code, shared by the typer app
and the fast path (:mod:`dualorm.cli.fast`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from dualorm.db import redact_text
from dualorm.errors import DualormError, InternalError, exit_code

__all__ = ["guarded"]


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
