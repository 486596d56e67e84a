"""What a loaded change spec is: a ``Migration`` (ordered operations plus identity) and the
``Step`` values the SQL emitter turns it into for the runner.

Data flow: ``migrations/*.yaml`` -> :func:`dualorm.spec.load.load_specs` -> ``Migration`` ->
:func:`dualorm.emit.sql.migration_steps` -> ``[Step]`` -> the runner executes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from dualorm.spec.ops import Operation

Direction = Literal["up", "down"]


@dataclass(frozen=True)
class Migration:
    """One change spec. ``checksum`` is the sha256 of its canonical content, never typed in."""

    id: str
    name: str
    version: str
    description: str
    dependencies: tuple[str, ...]
    operations: tuple[Operation, ...]
    checksum: str
    path: Path | None = None
    replaces: tuple[str, ...] = ()
    """The migrations a squash stands for, in apply order (``migrate squash``); empty for any
    other migration. See :mod:`dualorm.spec.squash`."""

    @property
    def reversible(self) -> bool:
        return all(op.reversible for op in self.operations)


@dataclass(frozen=True)
class Step:
    """One thing the runner executes: a SQL statement, or a ``module:function`` to call.

    ``transactional`` is False for statements PostgreSQL refuses inside a transaction block
    (``CREATE INDEX CONCURRENTLY``); the runner runs those on their own, outside one.
    A ``python`` step is called as ``function(connection)`` with the migration's psycopg
    connection, inside the migration's transaction.
    """

    operation: Operation
    sql: str | None = None
    python: str | None = None
    transactional: bool = True
