"""One spec, several Django apps: each operation lands in the migrations of its table's app.

The project is the example shop (tests/projects/shop, ``default_app = "orders"``), its two
apps keeping the migrations ``makemigrations`` wrote. A spec creates ``catalog_brand`` in
``catalog`` (``app: catalog``) and ``orders_giftcard`` in the default app, with FKs to the
brand (created by the same spec), to ``catalog_product`` (``makemigrations``' table) and to
``auth_user``; the apps' models declare both tables as the spec does. Everything runs as a
user runs it, ``python -m dualorm.cli`` and ``manage.py`` in the project's directory.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from project_files import SHOP, copy_shop, write_project
from project_files import run_python as run

from dualorm.db import connection
from dualorm.testing import scratch_database

SPEC = """\
id: "0001_gift_cards"
name: Gift cards of a brand
dependencies: []
operations:
  - create_table:
      name: catalog_brand
      app: catalog
      columns:
        - {name: id, type: bigint, primary_key: true, identity: by default}
        - {name: name, type: varchar(100), nullable: false}
  - create_table:
      name: orders_giftcard
      columns:
        - {name: id, type: bigint, primary_key: true, identity: by default}
        - {name: brand_id, type: bigint, nullable: false}
        - {name: product_id, type: bigint}
        - {name: buyer_id, type: integer, nullable: false}
      foreign_keys:
        - name: orders_giftcard_brand_id_fkey
          columns: [brand_id]
          references: catalog_brand(id)
          on_delete: cascade
          deferrable: true
          initially_deferred: true
        - name: orders_giftcard_product_id_fkey
          columns: [product_id]
          references: catalog_product(id)
          on_delete: set null
          deferrable: true
          initially_deferred: true
        - name: orders_giftcard_buyer_id_fkey
          columns: [buyer_id]
          references: auth_user(id)
          on_delete: cascade
          deferrable: true
          initially_deferred: true
"""

LATER = """\
id: "0002_brand_slug"
name: Brands have a slug
dependencies: ["0001_gift_cards"]
operations:
  - add_column: {table: catalog_brand, name: slug, type: varchar(50)}
  - add_column: {table: orders_giftcard, name: note, type: text}
"""

BRAND = """

class Brand(models.Model):
    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=100)
"""

SLUG = "    slug = models.CharField(max_length=50, null=True, blank=True)\n"

GIFT_CARD = """

class GiftCard(models.Model):
    id = models.BigAutoField(primary_key=True)
    brand = models.ForeignKey(
        "catalog.Brand", on_delete=models.CASCADE, db_index=False, related_name="+"
    )
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
    )
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False, related_name="+"
    )
"""

NOTE = "    note = models.TextField(null=True, blank=True)\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = copy_shop(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert 'default_app = "orders"' in text
    (project / "catalog" / "models.py").write_text(
        (project / "catalog/models.py").read_text() + BRAND
    )
    (project / "orders" / "models.py").write_text(
        (project / "orders/models.py").read_text() + GIFT_CARD
    )
    return write_project(project, SPEC)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def dualorm(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(project, url, "-m", "dualorm.cli", *args)


def manage(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(project, url, "manage.py", *args)


def django_rows(url: str, name: str) -> set[str]:
    with connection(url, autocommit=True) as conn:
        rows = conn.execute("SELECT app FROM django_migrations WHERE name = %s", (name,))
        return {str(r[0]) for r in rows.fetchall()}


def test_one_spec_lands_in_two_apps_that_django_migrates(
    project: Path, database_url: str, admin_url: str
) -> None:
    ok(dualorm(project, database_url, "migrate", "make"))
    catalog = (project / "catalog" / "migrations" / "0001_gift_cards.py").read_text()
    orders = (project / "orders" / "migrations" / "0001_gift_cards.py").read_text()
    assert "name='Brand'" in catalog and "GiftCard" not in catalog
    assert "CREATE TABLE catalog_brand" in catalog.replace('"', "")
    assert "name='GiftCard'" in orders and "name='Brand'" not in orders
    # Each app's file runs after that app's own migrations; orders' after catalog's of the
    # same spec (its FK), and after auth's user model (swappable).
    assert "('catalog', '0001_initial')" in catalog
    assert "Runs after: catalog.0001_initial\n" in catalog
    assert "initial = True" not in catalog
    assert "('catalog', '0001_gift_cards')" in orders
    assert "('orders', '0001_initial')" in orders
    assert "migrations.swappable_dependency(settings.AUTH_USER_MODEL)" in orders
    assert "to='catalog.brand'" in orders and "to='catalog.product'" in orders
    assert "Foreign tables: " in orders and "Foreign tables: " not in catalog

    ok(dualorm(project, database_url, "migrate", "make", "--check"))
    ok(manage(project, database_url, "makemigrations", "--check", "--dry-run"))
    done = ok(manage(project, database_url, "migrate"))
    assert "Applying catalog.0001_gift_cards... OK" in done
    assert "Applying orders.0001_gift_cards... OK" in done
    assert done.index("catalog.0001_gift_cards") < done.index("orders.0001_gift_cards")
    assert django_rows(database_url, "0001_gift_cards") == {"catalog", "orders"}
    report = ok(dualorm(project, database_url, "validate"))
    assert "valid: 0 error(s)" in report
    # The database Django migrated is adopted from both apps' rows; the ledgers then agree.
    ok(dualorm(project, database_url, "migrate", "baseline"))
    status = ok(dualorm(project, database_url, "migrate", "status"))
    assert "1 applied, 0 pending" in status

    # dualorm's own runner records the spec in both apps: Django then has nothing to do.
    with scratch_database(admin_url, prefix="perapp") as fresh:
        for app in ("auth", "catalog", "orders"):
            ok(manage(project, fresh, "migrate", app, "0001_initial"))
        ok(manage(project, fresh, "migrate", "auth"))
        ok(dualorm(project, fresh, "migrate", "up"))
        assert django_rows(fresh, "0001_gift_cards") == {"catalog", "orders"}
        done = ok(manage(project, fresh, "migrate"))
        assert "gift_cards" not in done
        ok(dualorm(project, fresh, "migrate", "status"))
        ok(dualorm(project, fresh, "migrate", "down"))
        assert django_rows(fresh, "0001_gift_cards") == set()


def test_a_later_spec_follows_each_table_into_its_app(project: Path, database_url: str) -> None:
    (project / "migrations" / "0002_brand_slug.yaml").write_text(LATER)
    catalog_models = project / "catalog" / "models.py"
    catalog_models.write_text(catalog_models.read_text() + SLUG)
    orders_models = project / "orders" / "models.py"
    orders_models.write_text(orders_models.read_text() + NOTE)
    ok(dualorm(project, database_url, "migrate", "make"))
    catalog = (project / "catalog" / "migrations" / "0002_brand_slug.py").read_text()
    orders = (project / "orders" / "migrations" / "0002_brand_slug.py").read_text()
    assert "name='slug'" in catalog and "name='note'" not in catalog
    assert "name='note'" in orders and "name='slug'" not in orders
    assert "('catalog', '0001_gift_cards')" in catalog
    assert "('orders', '0001_gift_cards')" in orders
    # Django runs them in dualorm's order: after every file of the spec before.
    assert "Runs after: 0001_gift_cards, orders.0001_gift_cards\n" in catalog
    assert "Runs after: 0001_gift_cards, catalog.0001_gift_cards\n" in orders
    ok(manage(project, database_url, "makemigrations", "--check", "--dry-run"))
    ok(manage(project, database_url, "migrate"))
    ok(manage(project, database_url, "migrate", "orders", "0001_initial"))
    ok(manage(project, database_url, "migrate", "catalog", "0001_initial"))


def test_a_change_of_the_foreign_tables_makes_the_files_using_them_stale(
    project: Path, database_url: str
) -> None:
    ok(dualorm(project, database_url, "migrate", "make"))
    orders = project / "orders" / "migrations" / "0001_gift_cards.py"
    written = orders.read_text()
    # catalog_product (makemigrations' table) gains a column: the snapshot moves, and so does
    # the digest the orders file recorded; catalog's file uses no foreign table.
    models = project / "catalog" / "models.py"
    models.write_text(
        models.read_text().replace(
            "    price = models", "    weight = models.IntegerField(null=True)\n    price = models"
        )
    )
    ok(manage(project, database_url, "makemigrations", "catalog", "--name", "weight"))
    check = dualorm(project, database_url, "migrate", "make", "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "foreign_tables.json" in check.stdout
    assert "orders/migrations/0001_gift_cards.py" in check.stdout
    assert "the foreign tables it uses changed" in check.stdout
    assert "catalog/migrations/0001_gift_cards.py" not in check.stdout
    ok(dualorm(project, database_url, "migrate", "make"))
    assert orders.read_text() != written
    ok(dualorm(project, database_url, "migrate", "make", "--check"))
    ok(manage(project, database_url, "makemigrations", "--check", "--dry-run"))
    ok(manage(project, database_url, "migrate"))


def test_moving_a_table_to_another_app_removes_the_file_dualorm_wrote(
    project: Path, database_url: str
) -> None:
    ok(dualorm(project, database_url, "migrate", "make"))
    written = project / "catalog" / "migrations" / "0001_gift_cards.py"
    assert written.exists()
    spec = project / "migrations" / "0001_gift_cards.yaml"
    spec.write_text(SPEC.replace("      app: catalog\n", "      app: orders\n"))
    (project / "catalog" / "models.py").write_text((SHOP / "catalog" / "models.py").read_text())
    models = project / "orders" / "models.py"
    moved = BRAND + '\n    class Meta:\n        db_table = "catalog_brand"\n'
    models.write_text(models.read_text().replace('"catalog.Brand"', '"orders.Brand"') + moved)

    check = dualorm(project, database_url, "migrate", "make", "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert (
        "stale: catalog/migrations/0001_gift_cards.py (django, 0001_gift_cards: no longer emitted)"
        in check.stdout
    )
    made = ok(dualorm(project, database_url, "migrate", "make"))
    assert "removed: catalog/migrations/0001_gift_cards.py" in made
    assert not written.exists()
    orders = (project / "orders" / "migrations" / "0001_gift_cards.py").read_text()
    assert "name='Brand'" in orders and "name='GiftCard'" in orders
    ok(dualorm(project, database_url, "migrate", "make", "--check"))
    ok(manage(project, database_url, "makemigrations", "--check", "--dry-run"))
    ok(manage(project, database_url, "migrate"))


@pytest.mark.parametrize(
    ("app", "named"),
    [
        ("billing", "'billing' is not an installed Django app"),
        ("auth", "'auth' (django.contrib.auth) is not one of the project's own apps"),
        ("orders", "is declared by the models of app catalog"),
    ],
    ids=["unknown", "contrib", "not-the-models-app"],
)
def test_an_app_dualorm_does_not_write_into_is_exit_2_naming_the_line(
    project: Path, database_url: str, app: str, named: str
) -> None:
    spec = project / "migrations" / "0001_gift_cards.yaml"
    spec.write_text(SPEC.replace("      app: catalog\n", f"      app: {app}\n"))
    done = dualorm(project, database_url, "migrate", "make")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "migrations/0001_gift_cards.yaml:5: " in done.stderr
    assert named in done.stderr
    assert not (project / "catalog" / "migrations" / "0001_gift_cards.py").exists()
    assert not (project / "orders" / "migrations" / "0001_gift_cards.py").exists()


def test_a_default_app_that_is_not_the_projects_is_exit_2(project: Path, database_url: str) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('default_app = "orders"', 'default_app = "sessions"')
    )
    done = dualorm(project, database_url, "migrate", "make")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "default_app 'sessions' (django.contrib.sessions) is not one of" in done.stderr


def test_two_apps_whose_tables_reference_each_other_in_one_spec_are_exit_2(
    project: Path, database_url: str
) -> None:
    spec = project / "migrations" / "0001_gift_cards.yaml"
    looped = SPEC + (
        "  - add_column: {table: catalog_brand, name: card_id, type: bigint}\n"
        "  - add_foreign_key:\n"
        "      name: catalog_brand_card_id_fkey\n"
        "      table: catalog_brand\n"
        "      columns: [card_id]\n"
        "      references: orders_giftcard(id)\n"
    )
    spec.write_text(looped)
    done = dualorm(project, database_url, "migrate", "make")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "reference each other's tables in one spec" in done.stderr
    assert "split the spec" in done.stderr
