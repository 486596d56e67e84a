"""Django migrations from change specs: the shared SQL for the database, native state for Django.

Each spec operation becomes one ``SeparateDatabaseAndState``: its ``database_operations`` are a
``RunSQL`` of exactly the statements :mod:`dualorm.emit.sql` renders (forwards and, when the
operation is reversible, backwards), and its ``state_operations`` are Django's own
``CreateModel``/``AddField``/``AddIndex``/``AddConstraint``... so that Django's model state
follows the schema. An operation that changes no model state (``validate_constraint``,
``run_sql``) is a bare ``RunSQL``; ``run_python`` is a :class:`RunFunction`.

The state operations come from one registry,
:data:`dualorm.emit.django_state.state_renderer`: one function per operation class returning
``(dotted path, args, kwargs)`` triples, which are instantiated and written out by Django's own
``MigrationWriter``. Fields (:mod:`dualorm.emit.django_fields`), indexes and constraints
(:mod:`dualorm.emit.django_indexes`) are taken from the app's models
(:class:`~dualorm.emit.django_target.DjangoTarget`) where the model agrees with the schema at
that point of the history, so that the state after the last spec equals the models and
``makemigrations --check`` stays clean; anything the models do not describe follows a plain
convention (model ``UserPreference`` for table ``user_preference``, field named as its column,
SQL expressions as ``RawSQL``). This module writes the migration file around them.

A ``run_python`` function is called as ``function(connection)`` with the migration's psycopg
connection, the same argument ``dualorm migrate up`` and the Alembic revision give it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import migrations
from django.db.migrations.serializer import BaseSerializer
from django.db.migrations.writer import MigrationWriter, OperationWriter

from dualorm.emit import sql as sql_emit
from dualorm.emit.django_state import StateContext, state_operations
from dualorm.emit.django_target import DjangoTarget
from dualorm.emit.pyformat import header, string_literal
from dualorm.emit.registry import Rendered
from dualorm.errors import IrreversibleError
from dualorm.importpath import resolve_function
from dualorm.schema import DEFAULT_SCHEMA, Schema
from dualorm.spec.model import Migration
from dualorm.spec.ops import Operation, RunPython

__all__ = ["Layout", "RunFunction", "django_operation", "render", "render_migration"]

# -- run_python -------------------------------------------------------------------------------


class RunFunction(migrations.RunPython):
    """Call ``"module:function"`` with the migration's psycopg connection (and its reverse)."""

    def __init__(self, function: str, reverse_function: str | None = None) -> None:
        self.function = function
        self.reverse_function = reverse_function
        super().__init__(self._forwards, self._backwards if reverse_function else None)

    def _forwards(self, apps: Any, schema_editor: Any) -> None:
        resolve_function(self.function)(schema_editor.connection.connection)

    def _backwards(self, apps: Any, schema_editor: Any) -> None:
        assert self.reverse_function is not None
        resolve_function(self.reverse_function)(schema_editor.connection.connection)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"function": self.function}
        if self.reverse_function is not None:
            kwargs["reverse_function"] = self.reverse_function
        return self.__class__.__name__, [], kwargs

    def describe(self) -> str:
        return f"Run python {self.function}"


# -- SQL as it reads in a migration -----------------------------------------------------------


class _Statements:
    """A list of SQL statements that serialises one literal per line of SQL."""

    def __init__(self, statements: Iterable[str]) -> None:
        self.statements = list(statements)


class _StatementsSerializer(BaseSerializer):
    def serialize(self) -> tuple[str, set[str]]:
        value: _Statements = self.value
        if not value.statements:
            return "[]", set()
        items = [string_literal(s, 4) + "," for s in value.statements]
        return "[\n" + "\n".join("    " + item for item in items) + "\n]", set()


MigrationWriter.register_serializer(_Statements, _StatementsSerializer)


# -- migrations -------------------------------------------------------------------------------


def _database_operation(op: Operation) -> Any:
    forwards = _Statements(sql_emit.statements(op))
    try:
        backwards: _Statements | None = _Statements(sql_emit.statements(op.reverse()))
    except IrreversibleError:
        backwards = None
    kwargs: dict[str, Any] = {"sql": forwards}
    if backwards is not None:
        kwargs["reverse_sql"] = backwards
    return migrations.RunSQL(**kwargs)


def django_operation(op: Operation, ctx: StateContext) -> Any:
    """Return the one Django operation that carries ``op`` out (database and state)."""
    if isinstance(op, RunPython):
        return RunFunction(op.function, op.reverse_function)
    database = _database_operation(op)
    state = state_operations(op, ctx)
    if not state:
        return database
    return migrations.SeparateDatabaseAndState(
        database_operations=[database], state_operations=state
    )


def render(op: Operation, ctx: StateContext) -> Rendered:
    """Return ``op`` as the Django operation's source text and the imports it needs."""
    text, imports = OperationWriter(django_operation(op, ctx), indentation=0).serialize()
    return text, frozenset(imports)


def _foreign_dependencies(
    target: DjangoTarget, before: Schema, after: Schema
) -> list[tuple[str, str]]:
    """The other apps the FKs new in ``after`` point into, as Django migration dependencies:
    ``("__setting__", "AUTH_USER_MODEL")`` (MigrationWriter writes it as
    ``migrations.swappable_dependency(settings.AUTH_USER_MODEL)``) or ``(app, "__latest__")``
    (that app's latest migration)."""
    old = {(t.key, fk) for t in before for fk in t.foreign_keys}
    found: list[tuple[str, str]] = []
    for t in after:
        for fk in t.foreign_keys:
            other = target.foreign.get(fk.ref_table)
            if (t.key, fk) in old or other is None or fk.ref_schema != DEFAULT_SCHEMA:
                continue
            model, setting = other
            dependency = (
                ("__setting__", setting) if setting else (model.partition(".")[0], "__latest__")
            )
            if dependency not in found:
                found.append(dependency)
    return sorted(found)


@dataclass(frozen=True)
class Layout:
    """Which operations of a spec one file holds and what it runs after.

    ``dependencies`` are Django's (``(app, name)``; ``("__setting__", "AUTH_USER_MODEL")``);
    ``recorded`` is what the header says it runs after; ``foreign`` the digest of the foreign
    tables it was rendered against (see :mod:`dualorm.spec.django_files`).
    """

    indexes: tuple[int, ...]
    dependencies: tuple[tuple[str, str], ...]
    recorded: tuple[str, ...]
    initial: bool
    foreign: str | None = None
    replaces: tuple[str, ...] = ()
    """For a squash, the replaced specs that have a file in this app."""


def render_migration(
    migration: Migration,
    source: str,
    before: Schema,
    target: DjangoTarget,
    parents: Sequence[str] | None = None,
    app_parents: Sequence[tuple[str, str]] = (),
    *,
    layout: Layout | None = None,
) -> str:
    """Return the whole Django migration file for ``migration``.

    Args:
        migration: the loaded spec.
        source: how the header names the spec file.
        before: the schema the spec applies to (its dependencies replayed).
        target: the app label and the models that give fields their Django-only details.
        parents: the migrations it runs after (default: the spec's dependencies).
        app_parents: the app's own migrations (``(app label, name)``, not written by dualorm)
            it also runs after; the header records them as ``app.name``.
        layout: the operations this file holds (a spec split over several apps) and all it
            runs after; replaces ``parents`` and ``app_parents``.
    """
    if layout is None:
        deps = tuple(migration.dependencies if parents is None else parents)
        schema = before
        for op in migration.operations:
            schema = op.apply(schema)
        layout = Layout(
            tuple(range(len(migration.operations))),
            (
                *app_parents,
                *((target.app_label, d) for d in deps),
                *_foreign_dependencies(target, before, schema),
            ),
            (*(f"{app}.{name}" for app, name in app_parents), *deps),
            not deps and not app_parents,
            replaces=migration.replaces,
        )
    return _render_file(migration, source, before, target, layout)


def _render_file(
    migration: Migration, source: str, before: Schema, target: DjangoTarget, layout: Layout
) -> str:
    schema = before
    operations = []
    chosen = set(layout.indexes)
    for index, op in enumerate(migration.operations):
        after = op.apply(schema)
        if index in chosen:
            operations.append(django_operation(op, StateContext(target, schema, after)))
        schema = after
    django_migration = type(
        "Migration",
        (migrations.Migration,),
        {
            "operations": operations,
            "dependencies": list(layout.dependencies),
            "initial": layout.initial,
            # A squash: Django picks it or the migrations it replaces per database.
            **(
                {"replaces": [(target.app_label, r) for r in layout.replaces]}
                if layout.replaces
                else {}
            ),
        },
    )(migration.id, target.app_label)
    body = MigrationWriter(django_migration, include_header=False).as_string()
    if any(not migration.operations[i].transactional for i in layout.indexes):
        # MigrationWriter does not write ``atomic``; without it Django wraps the migration in
        # a transaction and PostgreSQL refuses the concurrent index build.
        head = "class Migration(migrations.Migration):\n"
        body = body.replace(head, f"{head}\n    atomic = False\n", 1)
    return f"{header(migration, source, layout.recorded, layout.foreign)}\n\n{body}"
