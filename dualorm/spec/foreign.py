"""Tables owned by others: the committed snapshot the spec replay starts from.

A spec may reference a table dualorm did not create, above all an FK to Django's
``auth_user``. Such a table is one an installed Django app's models create and no spec
creates (contrib and third-party apps, and the tables of the project's own apps that
``makemigrations`` migrates), or one marked ``external`` in the ownership map and mapped by
the SQLAlchemy metadata. ``dualorm migrate make`` writes their shape at head to
``<migrations_dir>/foreign_tables.json`` (:data:`SNAPSHOT_NAME`), canonical JSON that is
committed beside the specs, and ``make --check`` reports it stale when the models moved. The
spec replay starts from these tables (:func:`start_schema`), so a reference to one is checked
like any other, while an operation that creates, drops or alters one is refused at load
(:func:`check_operation`): dualorm never emits anything for a table it does not own. No file
means no foreign tables.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dualorm.errors import SpecError
from dualorm.ownership import Ownership, OwnershipMap
from dualorm.schema import ForeignKey, Schema, Table, TableKey, as_key
from dualorm.spec.codec import decode, encode
from dualorm.spec.files import spec_paths
from dualorm.spec.operation import label
from dualorm.spec.ops import RenameTable

if TYPE_CHECKING:
    from dualorm.config import Config
    from dualorm.spec.operation import Operation

__all__ = [
    "EXTERNAL",
    "SNAPSHOT_NAME",
    "ForeignTable",
    "check_operation",
    "collect",
    "created_tables",
    "how_to_create",
    "read_snapshot",
    "referenced",
    "render_snapshot",
    "schema_of",
    "snapshot_path",
    "start_schema",
]

SNAPSHOT_NAME = "foreign_tables.json"
EXTERNAL = "external"
"""The owner of a table the ownership map marks ``external`` (no Django app creates it)."""


@dataclass(frozen=True, slots=True)
class ForeignTable:
    """A table another owner creates: its shape, its owner and how Django names its model.

    Attributes:
        table: the table as the owner's models describe it.
        owner: the Django app label, or :data:`EXTERNAL`.
        model: the Django model label (``"auth.User"``); ``None`` for an external table.
        swappable: the setting that swaps the model (``"AUTH_USER_MODEL"``), if any.
    """

    table: Table
    owner: str
    model: str | None = None
    swappable: str | None = None

    def owned_by(self) -> str:
        """The owner as a sentence names it."""
        if self.owner == EXTERNAL:
            return "an external owner"
        return f"Django app {self.owner}"


def snapshot_path(directory: Path | str) -> Path:
    return Path(directory) / SNAPSHOT_NAME


# -- the file ---------------------------------------------------------------------------------


def render_snapshot(tables: Iterable[ForeignTable]) -> str:
    """Return the snapshot's canonical text (sorted keys, tables in key order)."""

    rows = [
        {
            "model": t.model,
            "owner": t.owner,
            "swappable": t.swappable,
            "table": encode(t.table),
        }
        for t in sorted(tables, key=lambda t: t.table.key)
    ]
    return json.dumps({"format": 1, "tables": rows}, sort_keys=True, indent=1) + "\n"


def read_snapshot(directory: Path | str) -> dict[TableKey, ForeignTable]:
    """Return the foreign tables of ``directory``'s snapshot by key (no file: none).

    A snapshot that cannot be read is a :class:`~dualorm.errors.SpecError` (exit 2).
    """

    path = snapshot_path(directory)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), None, f"cannot read the foreign tables: {exc}") from None
    try:
        document = json.loads(text)
        found: dict[TableKey, ForeignTable] = {}
        for row in document["tables"]:
            table = decode(row["table"])
            if not isinstance(table, Table):
                raise TypeError("not a table")
            found[table.key] = ForeignTable(
                table, str(row["owner"]), row.get("model"), row.get("swappable")
            )
    except (ValueError, KeyError, TypeError) as exc:
        raise SpecError(
            str(path),
            None,
            f"not a foreign-table snapshot ({exc}); `dualorm migrate make` writes it again",
        ) from None
    return found


def start_schema(directory: Path | str) -> Schema:
    """The schema the specs of ``directory`` start from: the foreign tables (or empty)."""
    return schema_of(read_snapshot(directory).values())


def schema_of(tables: Iterable[ForeignTable]) -> Schema:
    """The schema holding ``tables``."""
    state = Schema()
    for foreign in tables:
        state = state.with_table(foreign.table)
    return state


# -- what a spec may do -----------------------------------------------------------------------


def _tables(op: Operation) -> list[TableKey]:
    """The tables ``op`` creates, drops or alters (read from its ``table``/``new_name``)."""

    value: Any = getattr(op, "table", None)
    keys: list[TableKey] = []
    if isinstance(value, str):
        keys.append(as_key(value))
    if keys and isinstance(op, RenameTable):
        keys.append((keys[0][0], op.new_name))
    return keys


def check_operation(op: Operation, foreign: Mapping[TableKey, ForeignTable]) -> str | None:
    """Return why ``op`` may not run (it changes a foreign table), or ``None``."""
    for key in _tables(op):
        owner = foreign.get(key)
        if owner is not None:
            return (
                f"{op.describe()}: table {label(key)} is owned by {owner.owned_by()}, and "
                "dualorm never creates, drops or alters a table it does not own (change it "
                f"through {owner.owner}'s own migrations)"
            )
    return None


def referenced(
    operations: Iterable[Operation], foreign: Mapping[TableKey, ForeignTable]
) -> list[ForeignTable]:
    """The foreign tables the foreign keys in ``operations`` point at, in key order."""

    found: dict[TableKey, ForeignTable] = {}

    def walk(value: Any) -> None:
        if isinstance(value, ForeignKey):
            if value.ref_key in foreign:
                found[value.ref_key] = foreign[value.ref_key]
        elif isinstance(value, tuple | list):
            for item in value:
                walk(item)
        elif is_dataclass(value) and not isinstance(value, type):
            for f in fields(value):
                walk(getattr(value, f.name))

    for op in operations:
        walk(op)
    return [found[k] for k in sorted(found)]


def how_to_create(table: ForeignTable) -> str:
    """What makes ``table`` exist: its app's own ``migrate``, or its external owner."""
    if table.owner == EXTERNAL:
        return "create it first (its owner is external to dualorm)"
    return f"run `python manage.py migrate {table.owner}` first"


# -- reading the owners -----------------------------------------------------------------------


def collect(
    config: Config, created: Collection[TableKey] = (), own_apps: Collection[str] = ()
) -> list[ForeignTable]:
    """Read the foreign tables of ``config``'s project from the Django app registry and the
    SQLAlchemy metadata (Django is set up; nothing is contacted); ``created`` are the tables
    the specs create (:func:`created_tables`), never foreign, and so are the tables of the
    Django apps ``own_apps`` (those dualorm writes every migration of: a model added there is
    a change the specs have yet to make, not another owner's table)."""
    found: dict[TableKey, ForeignTable] = {}
    if config.has("django_settings"):
        found.update(_django_tables(config, created, frozenset(own_apps)))
    for key in created:
        found.pop(key, None)
    if config.has("sa_metadata") and config.ownership:
        for foreign in _external_tables(config):
            found.setdefault(foreign.table.key, foreign)
    return list(found.values())


def _django_tables(
    config: Config, created: Collection[TableKey], own_apps: frozenset[str]
) -> dict[TableKey, ForeignTable]:
    # Imported here: the model sets (Django, SQLAlchemy) load only when their tables are read.
    from django.apps import apps

    # Imported here: the model sets (Django, SQLAlchemy) load only when their tables are read.
    from dualorm.sources import django as django_source

    owners = {
        key: app
        for key, app in django_source.table_apps(config.django_settings).items()
        if app not in own_apps
    }
    labels = sorted(set(owners.values()))
    if not labels:
        return {}
    # The tables the specs create are not foreign: not read (a 1,000-model app of its own).
    shapes = django_source.load(labels, config.django_settings, skip=frozenset(created))
    models = {
        model._meta.db_table: model
        for app in labels
        for model in apps.get_app_config(app).get_models(include_auto_created=True)
    }
    found = {}
    for table in shapes:
        model = models.get(table.name)
        name = None if model is None else model._meta.label
        swappable = None if name is None else _swappable(name)
        found[table.key] = ForeignTable(table, owners[table.key], name, swappable)
    return found


def created_tables(directory: Path | str) -> set[TableKey]:
    """The tables the specs of ``directory`` create (``create_table``, a rename's new name),
    read from the YAML alone: which tables are foreign must be known before the specs load.

    A file that does not read as a spec is skipped here; loading it reports the fault.
    """
    # Imported here: the YAML reader is needed only when the spec cache lacks the tables.
    from dualorm.spec.reader import compose, plain

    found: set[TableKey] = set()
    for path in spec_paths(Path(directory)):
        try:
            node = compose(path, path.read_text(encoding="utf-8"))
        except (SpecError, OSError, UnicodeDecodeError):
            continue
        document = None if node is None else plain(node)
        operations = document.get("operations") if isinstance(document, dict) else None
        for item in operations if isinstance(operations, list) else ():
            for kind, body in item.items() if isinstance(item, dict) else ():
                if not isinstance(body, dict):
                    continue
                schema = str(body.get("schema") or "public")
                name = body.get("new_name") if kind == "rename_table" else body.get("name")
                if kind in ("create_table", "rename_table") and isinstance(name, str):
                    found.add((schema, name))
    return found


def _swappable(model_label: str) -> str | None:
    # Imported here: the model sets (Django, SQLAlchemy) load only when their tables are read.
    from django.apps import apps

    return apps.get_swappable_settings_name(model_label)


def _external_tables(config: Config) -> list[ForeignTable]:
    # Imported here: the model sets (Django, SQLAlchemy) load only when their tables are read.
    from dualorm.sources import sqlalchemy as sa_source

    rules = OwnershipMap(config.ownership)
    mapped = sa_source.load(sa_source.resolve_metadata(config.sa_metadata))
    found = []
    for table in mapped:
        entry = rules.rule(table.key)
        if entry is not None and entry[1].owner is Ownership.EXTERNAL:
            found.append(ForeignTable(table, EXTERNAL))
    return found
