"""Alembic revisions from change specs: one readable ``op.*`` call per operation.

Each operation class has one renderer in
:data:`dualorm.emit.alembic_ops.alembic_renderer`. Most build Alembic's own operation objects
(``CreateTableOp``, ``CreateIndexOp``..., :mod:`dualorm.emit.alembic_objects`) and let
Alembic's autogenerate renderer write them, so a revision reads like one Alembic wrote; the few
it cannot render (primary keys, table renames, ``USING`` on a type change) are written in the
same style. Every constraint and index name goes through ``op.f()``, so the target metadata's
naming convention never rewrites an explicit name. This module writes the revision file
around them (:func:`render_revision`).

SQL that no ``op.*`` call expresses (``VALIDATE CONSTRAINT``, ``run_sql``, and a column type
SQLAlchemy has no class for) is taken from :mod:`dualorm.emit.sql` and passed to
``op.execute``: the statements the runner executes, word for word.

Word for word means what reaches PostgreSQL, not what the revision's source says: Alembic
wraps SQL text in ``sa.text()``, which reads ``:word`` as a bind parameter (a missing value
fails the upgrade; inside DDL it becomes ``NULL``) and unescapes ``\\:``. Every SQL text is
therefore written with those colons escaped
(:func:`dualorm.emit.alembic_objects.verbatim`), once for each time SQLAlchemy will read it:
once for ``op.execute`` and a ``sa.text`` written by hand, twice for an expression Alembic's
renderer compiles first. Percent signs are left alone: the renderer
compiles without doubling them, and SQLAlchemy's doubling at run time is undone by the
driver.

``run_python`` operations call :func:`run_python`, which hands the named function the
psycopg connection under ``op.get_bind()``, inside the revision's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from dualorm.emit.alembic_ops import alembic_renderer
from dualorm.emit.pyformat import header, indent_block
from dualorm.emit.registry import Rendered
from dualorm.errors import IrreversibleError
from dualorm.importpath import resolve_function
from dualorm.spec.model import Migration
from dualorm.spec.ops import Operation

__all__ = ["render", "render_revision", "run_python"]


def render(operation: Operation) -> Rendered:
    """Return the ``op.*`` code that applies ``operation`` and the imports it needs."""
    return alembic_renderer(operation)


def run_python(path: str, bind: sa.Connection) -> None:
    """Call ``"module:function"`` with the psycopg connection of an Alembic migration.

    The function gets the same argument ``dualorm migrate up`` gives it: a psycopg
    connection inside the migration's transaction.
    """
    resolve_function(path)(bind.connection.driver_connection)


def _body(operations: Iterable[Operation]) -> tuple[str, set[str]]:
    texts: list[str] = []
    imports: set[str] = set()
    for operation in operations:
        text, needed = render(operation)
        if text:
            texts.append(text)
        imports |= needed
    return ("\n".join(texts) if texts else "pass"), imports


def _downgrade(migration: Migration) -> tuple[str, set[str]]:
    try:
        reverse = [op.reverse() for op in reversed(migration.operations)]
    except IrreversibleError as exc:
        message = f"{migration.id} cannot be rolled back: {exc}"
        return (
            f"raise IrreversibleError({message!r})",
            {"from dualorm.errors import IrreversibleError"},
        )
    return _body(reverse)


def _revision_value(dependencies: Sequence[str]) -> str:
    if not dependencies:
        return "None"
    if len(dependencies) == 1:
        return repr(dependencies[0])
    return "(" + ", ".join(repr(d) for d in dependencies) + ")"


def render_revision(migration: Migration, source: str, parents: Sequence[str] | None = None) -> str:
    """Return the whole Alembic revision file for ``migration`` (``source`` names the spec).

    ``parents`` are the revisions it comes after (default: the spec's dependencies).
    """
    after = tuple(migration.dependencies if parents is None else parents)
    up, up_imports = _body(migration.operations)
    down, down_imports = _downgrade(migration)
    extra = sorted((up_imports | down_imports) - {"import sqlalchemy as sa"})
    imports = ["from alembic import op", "import sqlalchemy as sa", *extra]
    return (
        f"{header(migration, source, after)}\n"
        + "\n".join(imports)
        + "\n\n# revision identifiers, used by Alembic.\n"
        + f"revision = {migration.id!r}\n"
        + f"down_revision = {_revision_value(after)}\n"
        + "branch_labels = None\n"
        + "depends_on = None\n\n\n"
        + f"def upgrade() -> None:\n{indent_block(up)}\n\n\n"
        + f"def downgrade() -> None:\n{indent_block(down)}\n"
    )
