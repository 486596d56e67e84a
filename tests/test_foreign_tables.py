"""Specs that reference tables other apps own: an FK from a dualorm table to ``auth_user``.

The project is the example shop (tests/projects/shop: ``django.contrib.auth`` and friends,
``catalog``, ``orders``) with ``orders`` handed to dualorm: its models and its
``makemigrations`` file are removed, and two specs create ``orders_note`` and then give it an
author, an FK to Django's ``auth_user``. Everything runs as a user runs it, through
``python -m dualorm.cli`` and ``manage.py`` in the project's directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from project_files import copy_shop, subprocess_env, write_project

from dualorm.db import connection
from dualorm.errors import SpecError
from dualorm.spec.cache import cached_specs

NOTES = """\
id: "0001_notes"
name: Notes on orders
dependencies: []
operations:
  - create_table:
      name: orders_note
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: body, type: text, nullable: false}
"""

AUTHOR = """\
id: "0002_note_author"
name: Notes have an author
dependencies: ["0001_notes"]
operations:
  - add_column: {table: orders_note, name: author_id, type: integer}
  - add_foreign_key:
      name: orders_note_author_id_fkey
      table: orders_note
      columns: [author_id]
      references: auth_user(id)
      on_delete: cascade
  - add_column: {table: orders_note, name: kind_id, type: integer}
  - add_foreign_key:
      name: orders_note_kind_id_fkey
      table: orders_note
      columns: [kind_id]
      references: django_content_type(id)
"""

DROP_USERS = """\
id: "0003_drop_users"
name: Drop Django's users
dependencies: ["0002_note_author"]
operations:
  - drop_table: {name: auth_user}
"""

MISSING = (
    "auth_user (owned by Django app auth) does not exist yet: "
    "run `python manage.py migrate auth` first"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The shop with ``orders`` managed by dualorm, and the two specs."""
    project = copy_shop(tmp_path)
    (project / "orders" / "models.py").write_text('"""Managed by dualorm\'s specs."""\n')
    (project / "orders" / "migrations" / "0001_initial.py").unlink()
    return write_project(project, NOTES, AUTHOR)


def dualorm(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualorm.cli", *args],
        cwd=project,
        env=subprocess_env(project, url),
        capture_output=True,
        text=True,
        timeout=300,
    )


def manage(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=subprocess_env(project, url),
        capture_output=True,
        text=True,
        timeout=300,
    )


def fk_target(url: str, name: str) -> str | None:
    with connection(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT confrelid::regclass::text FROM pg_constraint WHERE conname = %s", (name,)
        ).fetchone()
    return None if row is None else str(row[0])


def table_exists(url: str, name: str) -> bool:
    with connection(url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def test_make_writes_the_snapshot_and_a_django_migration_django_can_apply(
    project: Path, database_url: str
) -> None:
    made = dualorm(project, database_url, "migrate", "make")
    assert made.returncode == 0, made.stderr
    assert "foreign_tables.json" in made.stdout

    snapshot = json.loads((project / "migrations" / "foreign_tables.json").read_text())
    rows = {row["table"]["a"][0]: row for row in snapshot["tables"]}
    assert rows["auth_user"]["owner"] == "auth"
    assert rows["auth_user"]["model"] == "auth.User"
    assert rows["auth_user"]["swappable"] == "AUTH_USER_MODEL"
    assert rows["django_content_type"]["model"] == "contenttypes.ContentType"
    assert rows["django_content_type"]["swappable"] is None
    assert rows["catalog_product"]["owner"] == "catalog"
    assert "orders_note" not in rows  # dualorm's own table is not foreign

    migration = (project / "orders" / "migrations" / "0002_note_author.py").read_text()
    assert "migrations.swappable_dependency(settings.AUTH_USER_MODEL)" in migration
    assert "to=settings.AUTH_USER_MODEL" in migration
    assert "('contenttypes', '__latest__')" in migration
    assert "to='contenttypes.contenttype'" in migration
    assert "REFERENCES auth_user (id)" in migration or 'REFERENCES "auth_user"' in migration

    check = dualorm(project, database_url, "migrate", "make", "--check")
    assert check.returncode == 0, check.stdout + check.stderr

    # Django's own migrate on a fresh database: auth first (the swappable dependency).
    done = manage(project, database_url, "migrate")
    assert done.returncode == 0, done.stderr
    assert fk_target(database_url, "orders_note_author_id_fkey") == "auth_user"
    assert fk_target(database_url, "orders_note_kind_id_fkey") == "django_content_type"
    # Django's state after the migrations is consistent: the FK fields resolve their models.
    state = manage(project, database_url, "migrate", "--check")
    assert state.returncode == 0, state.stdout + state.stderr


def test_up_refuses_until_auth_is_migrated_then_applies(project: Path, database_url: str) -> None:
    assert dualorm(project, database_url, "migrate", "make").returncode == 0

    # Lint replays the specs from the foreign tables too: the FK is judged, not refused.
    linted = dualorm(project, database_url, "migrate", "lint")
    assert linted.returncode in (0, 1), linted.stdout + linted.stderr
    assert "does not exist" not in linted.stdout + linted.stderr

    for args in (["migrate", "up"], ["migrate", "up", "--dry-run"]):
        refused = dualorm(project, database_url, *args)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert MISSING in refused.stderr
    assert not table_exists(database_url, "orders_note")  # nothing ran, not even 0001

    done = manage(project, database_url, "migrate", "auth")
    assert done.returncode == 0, done.stderr
    planned = dualorm(project, database_url, "migrate", "plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "0002_note_author" in planned.stdout
    applied = dualorm(project, database_url, "migrate", "up")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert fk_target(database_url, "orders_note_author_id_fkey") == "auth_user"


def test_a_spec_that_drops_a_foreign_table_is_refused_at_load_naming_its_owner(
    project: Path, database_url: str
) -> None:
    assert dualorm(project, database_url, "migrate", "make").returncode == 0
    (project / "migrations" / "0003_drop_users.yaml").write_text(DROP_USERS)

    refused = dualorm(project, database_url, "migrate", "make")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "0003_drop_users.yaml:5:" in refused.stderr
    assert "auth_user is owned by Django app auth" in refused.stderr
    assert not (project / "orders" / "migrations" / "0003_drop_users.py").exists()


def test_check_reports_the_snapshot_stale_when_the_models_moved(
    project: Path, database_url: str
) -> None:
    assert dualorm(project, database_url, "migrate", "make").returncode == 0
    path = project / "migrations" / "foreign_tables.json"
    written = path.read_text()
    # As if django.contrib.auth had changed username's length since the snapshot was taken.
    assert written.count('"character varying(150)"') >= 1
    path.write_text(written.replace('"character varying(150)"', '"character varying(100)"'))

    stale = dualorm(project, database_url, "migrate", "make", "--check")
    assert stale.returncode == 1
    assert "foreign_tables.json" in stale.stdout

    assert dualorm(project, database_url, "migrate", "make").returncode == 0
    assert path.read_text() == written
    assert dualorm(project, database_url, "migrate", "make", "--check").returncode == 0


def test_the_spec_cache_is_keyed_on_the_snapshot(
    project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert dualorm(project, database_url, "migrate", "make").returncode == 0
    specs = project / "migrations"
    cache = project / ".dualorm" / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(project / ".xdg"))
    assert [m.id for m in cached_specs(specs, cache)] == ["0001_notes", "0002_note_author"]
    assert (cache / "specs.json").is_file()

    # Without auth_user in the snapshot the FK has nothing to point at: a cached result
    # from before must not hide that.
    path = specs / "foreign_tables.json"
    document = json.loads(path.read_text())
    document["tables"] = [r for r in document["tables"] if r["table"]["a"][0] != "auth_user"]
    path.write_text(json.dumps(document))
    with pytest.raises(SpecError, match="auth_user, which does not exist"):
        cached_specs(specs, cache)


def test_without_a_snapshot_a_reference_to_an_unknown_table_is_still_refused(
    project: Path, database_url: str
) -> None:
    refused = dualorm(project, database_url, "migrate", "lint")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "0002_note_author.yaml" in refused.stderr
    assert "references table auth_user, which does not exist" in refused.stderr
    assert "dualorm migrate make" in refused.stderr


LEGACY = """\
from sqlalchemy import Column, Integer, MetaData, Table, Text

metadata = MetaData()
Table("legacy_accounts", metadata, Column("id", Integer, primary_key=True), Column("code", Text))
Table("reports", metadata, Column("id", Integer, primary_key=True))
"""

INDEX_LEGACY = """\
id: "0001_legacy_index"
name: Index a legacy table
dependencies: []
operations:
  - create_table:
      name: notes
      columns:
        - {name: id, type: integer, primary_key: true}
        - {name: account_id, type: integer}
      foreign_keys:
        - {name: notes_account_fkey, columns: [account_id], references: legacy_accounts(id)}
  - create_index: {name: legacy_accounts_code_idx, table: legacy_accounts, columns: [code]}
"""


def test_external_sqlalchemy_tables_are_foreign_and_never_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dualorm.config import Config
    from dualorm.ownership import Ownership
    from dualorm.spec.foreign import collect, render_snapshot
    from dualorm.spec.load import load_specs

    (tmp_path / "legacy_sa.py").write_text(LEGACY)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = Config(
        root=tmp_path,
        sa_metadata="legacy_sa:metadata",
        ownership={"legacy_*": Ownership.EXTERNAL},
    )
    found = collect(config)
    assert [(f.table.name, f.owner, f.model) for f in found] == [
        ("legacy_accounts", "external", None)
    ]

    specs = tmp_path / "migrations"
    specs.mkdir()
    (specs / "foreign_tables.json").write_text(render_snapshot(found))
    (specs / "0001_legacy_index.yaml").write_text(INDEX_LEGACY.replace("  - create_index", "#"))
    assert [m.id for m in load_specs(specs)] == ["0001_legacy_index"]  # the FK is fine

    (specs / "0001_legacy_index.yaml").write_text(INDEX_LEGACY)
    with pytest.raises(SpecError, match="legacy_accounts is owned by an external owner") as caught:
        load_specs(specs)
    assert caught.value.line == 12


def test_baseline_adopts_specs_that_reference_a_foreign_table(
    project: Path, database_url: str
) -> None:
    assert dualorm(project, database_url, "migrate", "make").returncode == 0
    assert manage(project, database_url, "migrate", "auth").returncode == 0
    assert dualorm(project, database_url, "migrate", "up").returncode == 0
    with connection(database_url, autocommit=True) as conn:
        # The schema stays; dualorm's own ledger forgets it, as on a database built elsewhere.
        conn.execute("DELETE FROM dualorm.migrations")
    adopted = dualorm(project, database_url, "migrate", "baseline", "--to", "0002_note_author")
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    status = dualorm(project, database_url, "migrate", "status", "--json")
    assert json.loads(status.stdout)["pending"] == 0
