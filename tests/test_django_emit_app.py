"""Django migrations emitted into an app that already has migrations ``makemigrations`` wrote.

The project is the example shop (tests/projects/shop) with ``default_app = "orders"``:
``orders/migrations/0001_initial.py`` is Django's own. A spec adds ``orders_wishlist`` with an
FK ``product_id`` to ``catalog_product``; ``migrate make`` must emit a migration Django can
apply next to its own (one leaf, no "Conflicting migrations detected"), with the FK's state
named as Django names it. Everything runs as a user runs it, in the project's directory.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from project_files import copy_shop, write_project
from project_files import run_python as run

WISHLIST = """\
id: "0002_wishlist"
name: Wishlists
dependencies: []
operations:
  - create_table:
      name: orders_wishlist
      columns:
        - {name: id, type: bigint, primary_key: true, identity: by default}
        - {name: product_id, type: bigint, nullable: false}
      foreign_keys:
        - name: orders_wishlist_product_id_fkey
          columns: [product_id]
          references: catalog_product(id)
          on_delete: cascade
"""

WISHLIST_MODEL = """

class Wishlist(models.Model):
    id = models.BigAutoField(primary_key=True)
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, db_index=False, related_name="+"
    )
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The shop, ``orders`` keeping its ``makemigrations`` file, and the wishlist spec."""
    return write_project(copy_shop(tmp_path), WISHLIST)


def make(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(project, url, "-m", "dualorm.cli", "migrate", "make", *args)


def test_first_migration_runs_after_the_apps_own_and_django_migrates(
    project: Path, database_url: str
) -> None:
    models = project / "orders" / "models.py"
    models.write_text(models.read_text() + WISHLIST_MODEL)

    made = make(project, database_url)
    assert made.returncode == 0, made.stdout + made.stderr
    emitted = (project / "orders" / "migrations" / "0002_wishlist.py").read_text()
    assert "('orders', '0001_initial')" in emitted
    assert "Runs after: orders.0001_initial" in emitted
    assert "initial = True" not in emitted
    assert "('catalog', '__latest__')" in emitted

    check = make(project, database_url, "--check")
    assert check.returncode == 0, check.stdout + check.stderr

    done = run(project, database_url, "manage.py", "migrate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Conflicting migrations" not in done.stderr
    clean = run(
        project, database_url, "manage.py", "makemigrations", "orders", "--check", "--dry-run"
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_a_new_makemigrations_file_makes_the_emitted_one_stale(
    project: Path, database_url: str
) -> None:
    made = make(project, database_url)
    assert made.returncode == 0, made.stdout + made.stderr
    own = project / "orders" / "migrations" / "0001_more.py"
    own.write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('orders', '0001_initial')]\n"
        "    operations = []\n"
    )

    check = make(project, database_url, "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "0002_wishlist" in check.stdout + check.stderr

    again = make(project, database_url)
    assert again.returncode == 0, again.stdout + again.stderr
    emitted = (project / "orders" / "migrations" / "0002_wishlist.py").read_text()
    assert "('orders', '0001_more')" in emitted
    assert "('orders', '0001_initial')" not in emitted
    done = run(project, database_url, "manage.py", "migrate")
    assert done.returncode == 0, done.stdout + done.stderr


OWNER = """\
id: "0003_wishlist_owner"
name: Wishlists have an owner
dependencies: ["0002_wishlist"]
operations:
  - add_column: {table: orders_wishlist, name: owner_id, type: integer}
  - create_index: {name: orders_wishlist_owner_idx, table: orders_wishlist, columns: [owner_id]}
  - add_foreign_key:
      name: orders_wishlist_owner_id_fkey
      table: orders_wishlist
      columns: [owner_id]
      references: auth_user(id)
      on_delete: cascade
"""


def test_fk_state_is_named_as_django_names_it_without_a_model(
    project: Path, database_url: str
) -> None:
    (project / "migrations" / "0003_wishlist_owner.yaml").write_text(OWNER)
    made = make(project, database_url)
    assert made.returncode == 0, made.stdout + made.stderr
    folder = project / "orders" / "migrations"

    wishlist = (folder / "0002_wishlist.py").read_text()
    assert "('product', models.ForeignKey(" in wishlist
    assert "db_column='product_id'" not in wishlist
    assert "('product_id'," not in wishlist

    owner = (folder / "0003_wishlist_owner.py").read_text()
    assert "old_name='owner_id'" in owner and "new_name='owner'" in owner
    assert "name='owner'" in owner
    assert "db_column='owner_id'" not in owner

    # Django applies the state (AddField, AddIndex, RenameField, AlterField) and reverses it.
    done = run(project, database_url, "manage.py", "migrate")
    assert done.returncode == 0, done.stdout + done.stderr
    back = run(project, database_url, "manage.py", "migrate", "orders", "0001_initial")
    assert back.returncode == 0, back.stdout + back.stderr


def test_a_makemigrations_file_after_dualorms_is_not_run_before_it(
    project: Path, database_url: str
) -> None:
    made = make(project, database_url)
    assert made.returncode == 0, made.stdout + made.stderr
    (project / "orders" / "migrations" / "0003_later.py").write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('orders', '0002_wishlist')]\n"
        "    operations = []\n"
    )

    check = make(project, database_url, "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    done = run(project, database_url, "manage.py", "migrate")
    assert done.returncode == 0, done.stdout + done.stderr
