"""``dualorm models render`` for tables with a foreign key to a table another owner creates.

The project is the example shop with ``orders`` handed to dualorm (as in
tests/test_foreign_tables.py): its specs create ``orders_note`` with an FK to Django's
``auth_user`` and one to ``django_content_type``. Rendered for SQLAlchemy, the two tables are
declared in part (a plain ``Table`` of the referenced columns, marked partial): the module
imports, ``create_all`` runs, reading it back gives ``orders_note`` as the specs build it, and
``dualorm validate`` with the module as the project's metadata is clean. Rendered for Django,
the keys point at ``settings.AUTH_USER_MODEL`` and ``"contenttypes.ContentType"``,
``manage.py check`` passes, and the migrations dualorm emits from those models leave
``makemigrations --check`` clean and apply.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from project_files import copy_shop, write_project
from test_foreign_tables import AUTHOR, NOTES, dualorm, manage

from dualorm.sources import sqlalchemy as sa_source
from dualorm.spec.load import replay_directory

NOTE = ("public", "orders_note")


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> Path:
    """The shop with ``orders`` managed by dualorm, its foreign-table snapshot written."""
    project = copy_shop(tmp_path)
    (project / "orders" / "models.py").write_text('"""Managed by dualorm\'s specs."""\n')
    (project / "orders" / "migrations" / "0001_initial.py").unlink()
    write_project(project, NOTES, AUTHOR)
    made = dualorm(project, database_url, "migrate", "make")
    assert made.returncode == 0, made.stderr
    return project


def _imported(path: Path) -> ModuleType:
    name = f"rendered_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_sqlalchemy_declares_the_foreign_tables_in_part_and_validates_clean(
    project: Path, database_url: str
) -> None:
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.orm import configure_mappers

    rendered = dualorm(
        project, database_url, "models", "render", "--orm", "sqlalchemy", "--output", "sa_gen.py"
    )
    assert rendered.returncode == 0, rendered.stderr
    text = (project / "sa_gen.py").read_text()
    assert "auth_user = Table(" in text and "django_content_type = Table(" in text
    assert "# auth_user is created by Django app auth, not by these models" in text
    assert 'ForeignKey("auth_user.id", ondelete="CASCADE")' in text
    assert "class AuthUser" not in text  # a plain table, not a mapped class
    block = text[text.index("auth_user = Table(") :]
    block = block[: block.index("\n)\n")]
    assert re.findall(r'Column\("(\w+)"', block) == ["id"]  # the referenced column only

    module = _imported(project / "sa_gen.py")
    configure_mappers()
    back = sa_source.load(module.Base.metadata)
    head = replay_directory(project / "migrations")
    assert back.get(NOTE) == head.get(NOTE)  # the managed table, unchanged
    assert set(back.keys()) == {NOTE, ("public", "auth_user"), ("public", "django_content_type")}
    assert [t.name for t in module.Base.metadata.sorted_tables][-1] == "orders_note"

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        module.Base.metadata.create_all(engine)
        assert "orders_note" in inspect(engine).get_table_names()
        module.Base.metadata.drop_all(engine)
    finally:
        engine.dispose()

    # The project's metadata is now the rendered module, and no ownership rule says that it
    # maps auth_user in part: the module says so itself.
    pyproject = project / "pyproject.toml"
    settings = pyproject.read_text().replace("shop_sa.models:Base.metadata", "sa_gen:Base.metadata")
    pyproject.write_text(settings.replace('"auth_user" = "partial:sqlalchemy"', ""))
    assert manage(project, database_url, "migrate", "auth").returncode == 0
    up = dualorm(project, database_url, "migrate", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    migrated = manage(project, database_url, "migrate")  # the other apps' tables
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    checked = dualorm(project, database_url, "validate")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "sqlalchemy vs django: no differences" in checked.stdout
    assert "sqlalchemy vs database: no differences" in checked.stdout


def test_django_points_at_the_models_that_create_the_foreign_tables(
    project: Path, database_url: str
) -> None:
    args = ["models", "render", "--orm", "django", "--app", "orders"]
    rendered = dualorm(project, database_url, *args, "--output", "orders/models.py")
    assert rendered.returncode == 0, rendered.stderr
    text = (project / "orders" / "models.py").read_text()
    assert "from django.conf import settings" in text
    assert "author = models.ForeignKey(\n        settings.AUTH_USER_MODEL," in text
    assert '"contenttypes.ContentType"' in text
    checked = manage(project, database_url, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # From now on dualorm's Django migrations carry the rendered models' state
    # (docs/generated_models.md): emitted again, makemigrations finds nothing to do.
    emitted = project / "orders" / "migrations"
    for path in emitted.glob("000*.py"):
        path.unlink()
    made = dualorm(project, database_url, "migrate", "make")
    assert made.returncode == 0, made.stdout + made.stderr
    settled = manage(project, database_url, "makemigrations", "--check", "--dry-run", "orders")
    assert settled.returncode == 0, settled.stdout + settled.stderr
    migrated = manage(project, database_url, "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr


def test_django_without_django_settings_is_refused_naming_the_table(
    project: Path, database_url: str
) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('django_settings = "shop.settings"', ""))
    refused = dualorm(project, database_url, "models", "render", "--orm", "django")
    assert refused.returncode == 2
    assert "table auth_user is created by Django app auth" in refused.stderr
    assert "set django_settings" in refused.stderr
    # SQLAlchemy needs no Django: the snapshot gives the tables' shape.
    done = dualorm(project, database_url, "models", "render", "--orm", "sqlalchemy")
    assert done.returncode == 0, done.stderr
    assert "auth_user = Table(" in done.stdout
