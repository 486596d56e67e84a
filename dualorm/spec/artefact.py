"""What ``migrate make`` reports of one generated file: :class:`Artefact`.

Apart from :mod:`dualorm.spec.make`, which computes them, so that a report kept by
``migrate check``'s cache (:mod:`dualorm.autogen.cache`) is read back without importing the
emitters' planning and the operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["NO_LONGER_EMITTED", "Artefact"]

NO_LONGER_EMITTED = "no longer emitted"
"""The reason of a file dualorm wrote that no spec gives any more (``make`` removes it)."""


@dataclass(frozen=True)
class Artefact:
    """One generated file: which spec, which tool, where, and why it is (or was) stale."""

    migration_id: str
    tool: str
    path: Path
    reason: str
