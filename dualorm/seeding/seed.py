"""The seed contract (:class:`Seed`) and what a seed is handed when it runs (:class:`SeedContext`).

A seed is a module under ``seeds/`` with one :class:`Seed` subclass. It runs in its own
transaction on one connection; everything it writes through the context goes into that
transaction, whichever way it writes:

* the bulk helpers (:meth:`SeedContext.upsert`, :meth:`SeedContext.copy`);
* the SQLAlchemy session (:attr:`SeedContext.session`), bound to the same connection;
* the Django ORM (:meth:`SeedContext.django_model`), whose default connection is pointed at
  the same connection for the duration of the seed.

The context records the primary key of every row the seed adds (bulk helpers report them,
SQLAlchemy flushes and Django ``post_save`` signals are watched), so a rollback removes exactly
those rows and nothing else. Rows added by other means (raw SQL, Django ``bulk_create``) are
recorded with :meth:`SeedContext.record_added`.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from psycopg import sql
from psycopg.types.string import TextLoader

from dualorm import django_setup
from dualorm.config import Environment
from dualorm.errors import SeedError
from dualorm.runner.tenancy import ledger_of
from dualorm.seeding import bulk
from dualorm.seeding.ledger import key_match, seed_rows_ident, table_or_none

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy.engine import Connection as SAConnection
    from sqlalchemy.orm import Session

ALL_ENVIRONMENTS: frozenset[Environment] = frozenset(Environment)
"""Every environment, production included."""

NON_PRODUCTION: frozenset[Environment] = frozenset({Environment.DEVELOPMENT, Environment.TESTING})
"""The default for a seed: development and testing only."""


class Seed(abc.ABC):
    """Base class of a seed: metadata as class attributes, ``execute`` and ``rollback``.

    ``id`` is the module's file name without ``.py`` (``0002_admin_user``); setting it in the
    class is optional and must then match. ``environments`` lists where the seed may run;
    production refuses every seed that does not name it. ``dependencies`` are ids of seeds
    that must be applied first. ``version`` is informational; any edit of the module's source
    changes its checksum, which ``status`` reports as changed-since-applied.
    """

    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    environments: ClassVar[Collection[Environment | str]] = NON_PRODUCTION
    version: ClassVar[str] = "1"
    dependencies: ClassVar[Sequence[str]] = ()

    @abc.abstractmethod
    def execute(self, ctx: SeedContext) -> None:
        """Write the seed's data through ``ctx``. Must be idempotent: a second run adds nothing."""

    def rollback(self, ctx: SeedContext) -> None:
        """Undo the seed: by default remove exactly the rows it added.

        Override to undo more (for example values the seed updated), calling
        ``super().rollback(ctx)`` to remove the added rows.
        """
        ctx.remove_added()


ProgressFn = Callable[[str, Mapping[str, Any]], None]


class SeedContext:
    """What a running seed works with: one connection, one transaction, both ORMs.

    Attributes:
        seed_id: the id of the running seed.
        environment: the environment of this run (equal to the database's label).
        connection: the psycopg connection; its open transaction is the seed's.
        logger: a ``logging.Logger`` named ``dualorm.seeds.<id>``; while the seed runs, its
            records (INFO and up by default) reach the manager's ``progress`` as ``log``
            events, which ``dualorm seed`` prints on stderr.
        secrets: values to show the operator once (a generated password); never logged
            and never written to the ledger.
    """

    def __init__(
        self,
        seed_id: str,
        environment: Environment,
        connection: psycopg.Connection[Any],
        *,
        sa_connection: Callable[[], SAConnection],
        django: Callable[[], DjangoBinding],
        progress: ProgressFn | None = None,
    ) -> None:
        self.seed_id = seed_id
        self.environment = environment
        self.connection = connection
        self.logger = logging.getLogger(f"dualorm.seeds.{seed_id}")
        self.secrets: dict[str, str] = {}
        self._sa_connection = sa_connection
        self._django = django
        self._progress = progress
        self._session: Session | None = None
        self._django_bound: DjangoBinding | None = None
        self._added: dict[str, list[tuple[Any, ...]]] = {}
        self._written: set[str] = set()
        self._tables: dict[str, bulk.TableInfo] = {}
        self.removed: dict[str, int] = {}
        """The rows :meth:`remove_added` actually deleted, per table."""

    # -- the bulk helpers ------------------------------------------------------------------

    def table(self, name: str) -> bulk.TableInfo:
        """Return the catalog's description of ``name`` (cached for the seed)."""
        schema, table = bulk.split_name(name)
        key = f"{schema}.{table}"
        if key not in self._tables:
            self._tables[key] = bulk.table_info(self.connection, key)
        return self._tables[key]

    def upsert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        key: Sequence[str],
        update: Sequence[str] | bool = False,
    ) -> bulk.WriteResult:
        """Insert ``rows`` by natural ``key`` (see :func:`dualorm.seeding.bulk.upsert`)."""
        self._flush_orms()
        result = bulk.upsert(self.connection, self.table(table), rows, key=key, update=update)
        self._wrote(result)
        return result

    def copy(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        format: bulk.CopyFormat = "binary",
    ) -> bulk.WriteResult:
        """Load many rows with COPY; rows whose keys are taken are skipped (idempotent).

        Reports progress as ``rows`` events (table, count) every 10,000 rows.
        """
        self._flush_orms()
        info = self.table(table)

        def progress(count: int) -> None:
            self._emit("rows", {"table": info.qualified, "count": count})

        result = bulk.merge_rows(
            self.connection, info, columns, rows, format=format, progress=progress
        )
        self._wrote(result)
        return result

    def _wrote(self, result: bulk.WriteResult) -> None:
        self.record_added(result.table.qualified, result.inserted)
        if result.rows_in:
            # Rows found already there count too: the seed's data lives in this table.
            self._written.add(result.table.qualified)

    def record_added(self, table: str, keys: Iterable[Sequence[Any]]) -> None:
        """Record rows the seed added to ``table`` by primary key, for rollback and counts."""
        schema, name = bulk.split_name(table)
        rows = [tuple(k) for k in keys]
        self._added.setdefault(f"{schema}.{name}", []).extend(rows)
        if rows:
            self._written.add(f"{schema}.{name}")

    def report_secret(self, label: str, value: str) -> None:
        """Hand ``value`` to the operator once (the CLI prints it); it is never stored."""
        self.secrets[label] = value

    # -- the ORMs --------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """A SQLAlchemy session on the seed's connection and inside its transaction.

        ``session.commit()`` inside a seed only flushes: the seed's transaction commits when
        the seed returns.
        """
        if self._session is None:
            # Imported here: each ORM loads only for a seed that uses it.
            from sqlalchemy import event
            from sqlalchemy.orm import Session

            session = Session(
                bind=self._sa_connection(),
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
            )
            event.listen(session, "after_flush", self._after_flush)
            self._session = session
        return self._session

    def django_model(self, name: str, app_label: str | None = None) -> Any:
        """Return a Django model class whose queries run on the seed's connection."""
        if self._django_bound is None:
            self._flush_orms()
            binding = self._django()
            binding.bind(self.connection, self.record_added)
            self._django_bound = binding
        return self._django_bound.model(name, app_label)

    def _after_flush(self, session: Session, _context: Any) -> None:
        # Imported here: each ORM loads only for a seed that uses it.
        from sqlalchemy import inspect

        for obj in session.new:
            mapper = inspect(obj).mapper
            table = mapper.local_table
            schema = getattr(table, "schema", None) or "public"
            name = getattr(table, "name", "")
            self.record_added(f"{schema}.{name}", [mapper.primary_key_from_instance(obj)])

    def _flush_orms(self) -> None:
        if self._session is not None:
            self._session.flush()

    # -- used by the manager ---------------------------------------------------------------

    def finish(self) -> None:
        """Flush the ORMs and release them; the manager then commits or rolls back."""
        try:
            if self._session is not None:
                # The session works in a savepoint of the seed's transaction; committing it
                # releases the savepoint, and the manager commits the transaction itself.
                self._session.commit()
        finally:
            self.close()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._django_bound is not None:
            self._django_bound.unbind()
            self._django_bound = None

    @property
    def added(self) -> Mapping[str, list[tuple[Any, ...]]]:
        return self._added

    @property
    def written(self) -> frozenset[str]:
        """The tables this seed wrote rows into (added, updated or found already there)."""
        return frozenset(self._written)

    def remove_added(self) -> dict[str, int]:
        """Delete the rows this seed recorded as added, children first.

        Returns the rows actually deleted per table (also added to :attr:`removed`): rows
        deleted since by someone else, or a table dropped since, count zero.
        """

        self._flush_orms()
        seed_rows = ledger_of(self.connection).seed_rows
        tables = self.connection.execute(
            f"SELECT table_name, max(ordinal) FROM {seed_rows} WHERE seed_id = %s "
            "GROUP BY table_name ORDER BY max(ordinal) DESC",
            (self.seed_id,),
        ).fetchall()
        removed: dict[str, int] = {}
        for table_name, _ordinal in tables:
            info = table_or_none(self.connection, str(table_name))
            deleted = 0 if info is None else self._delete_recorded(info)
            removed[str(table_name)] = deleted
            self.removed[str(table_name)] = self.removed.get(str(table_name), 0) + deleted
        return removed

    def _delete_recorded(self, info: bulk.TableInfo) -> int:

        if not info.primary_key:
            raise SeedError(f"table {info.qualified} has no primary key; cannot roll back")
        statement = sql.SQL(
            "DELETE FROM {} AS t USING {} AS r WHERE r.seed_id = %s AND r.table_name = %s AND {}"
        ).format(info.ident, seed_rows_ident(self.connection), key_match(info))
        with self.connection.cursor() as cur:
            cur.execute(statement, (self.seed_id, info.qualified))
            return cur.rowcount

    def _emit(self, kind: str, detail: Mapping[str, Any]) -> None:
        if self._progress is not None:
            self._progress(kind, {"seed": self.seed_id, **detail})


class _DjangoConnection:
    """The seed's psycopg connection as Django's backend expects to find it.

    Django's psycopg backend builds its connections with its own cursor class and loaders
    (jsonb and inet as text, a time-zone aware timestamptz loader). SQLAlchemy shares the same
    connection and needs psycopg's defaults, so Django's adapters go on Django's cursors only.
    """

    def __init__(self, conn: psycopg.Connection[Any], timezone: Any, use_tz: bool) -> None:
        # Imported here: each ORM loads only for a seed that uses it.
        from django.db.backends.postgresql.psycopg_any import get_adapters_template

        self._conn = conn
        self._timezone = timezone
        self.adapters = get_adapters_template(use_tz, timezone)

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        # Imported here: each ORM loads only for a seed that uses it.
        from django.db.backends.postgresql.base import Cursor
        from django.db.backends.postgresql.psycopg_any import register_tzloader

        if args or kwargs:
            raise SeedError("named (server-side) cursors are not available inside a seed")
        # django-stubs types the psycopg 2 cursor; the psycopg 3 one takes the connection.
        cursor_class: Any = Cursor
        cursor = cursor_class(self._conn)
        for name in ("jsonb", "inet", "cidr"):
            cursor.adapters.register_loader(name, TextLoader)
        register_tzloader(self._timezone, cursor)
        return cursor

    def close(self) -> None:
        """Django never closes the seed's connection; the manager does."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class DjangoBinding:
    """Points Django's default connection at a seed's psycopg connection, and back."""

    def __init__(self, settings_module: str, database_url: str, app_label: str) -> None:
        self.settings_module = settings_module
        self.database_url = database_url
        self.app_label = app_label
        self._wrapper: Any = None
        self._receiver: Any = None

    def bind(
        self,
        conn: psycopg.Connection[Any],
        record: Callable[[str, Iterable[Sequence[Any]]], None],
    ) -> None:
        """Make Django's default connection run on ``conn`` and record rows it creates."""
        django_setup.setup(self.settings_module, self.database_url)
        # Imported here: each ORM loads only for a seed that uses it.
        from django.conf import settings
        from django.db import DEFAULT_DB_ALIAS, connections
        from django.db.models.signals import post_save

        wrapper = connections[DEFAULT_DB_ALIAS]
        wrapper.close()
        # Django uses an already-open DB-API connection as is; with autocommit off it commits
        # nothing itself, and atomic() blocks inside the seed become savepoints.
        wrapper.connection = _DjangoConnection(conn, wrapper.timezone, settings.USE_TZ)
        wrapper.autocommit = False
        wrapper.in_atomic_block = False
        wrapper.savepoint_ids = []
        wrapper.needs_rollback = False
        self._wrapper = wrapper

        def created(sender: Any, instance: Any, created: bool, **_: Any) -> None:
            if created:
                pk = instance.pk
                record(sender._meta.db_table, [pk if isinstance(pk, tuple) else (pk,)])

        self._receiver = created
        post_save.connect(created, weak=False, dispatch_uid="dualorm-seed-recorder")

    def model(self, name: str, app_label: str | None = None) -> Any:
        # Imported here: each ORM loads only for a seed that uses it.
        from django.apps import apps

        try:
            return apps.get_model(app_label or self.app_label, name)
        except LookupError as exc:
            raise SeedError(f"Django model {name!r}: {exc}") from None

    def unbind(self) -> None:
        """Detach Django from the seed's connection without closing it."""
        if self._wrapper is None:
            return
        # Imported here: each ORM loads only for a seed that uses it.
        from django.db.models.signals import post_save

        post_save.disconnect(dispatch_uid="dualorm-seed-recorder")
        wrapper = self._wrapper
        wrapper.connection = None
        wrapper.in_atomic_block = False
        wrapper.savepoint_ids = []
        wrapper.needs_rollback = False
        wrapper.run_on_commit = []
        self._wrapper = None
