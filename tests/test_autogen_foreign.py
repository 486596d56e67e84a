"""Autogenerate in a project whose models reference another owner's table (``auth_user``,
another app's): the first spec is written although no foreign-tables snapshot exists yet,
``migrate make`` then records the referenced tables in it, and the Django migration it
emits is the one ``makemigrations`` would accept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from project_files import copy_shop, subprocess_env


def dualorm(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return python(project, "-m", "dualorm", *args)


def python(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(project, "postgresql://nobody@127.0.0.1:1/unused")
    return subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_initial_spec_of_an_app_referencing_auth_user_and_another_app(
    tmp_path: Path,
) -> None:
    shop = copy_shop(tmp_path)
    # A new project: the orders app has no migrations yet, nor does dualorm.
    (shop / "orders" / "migrations" / "0001_initial.py").unlink()

    new = dualorm(shop, "migrate", "new", "initial", "--autogenerate", "--from", "django")
    assert new.returncode == 0, new.stderr
    spec = yaml.safe_load((shop / "migrations" / "0001_initial.yaml").read_text())
    created = {op["create_table"]["name"]: op["create_table"] for op in spec["operations"]}
    assert sorted(created) == ["orders_order", "orders_orderline"]
    targets = {
        fk["references"].split("(")[0]
        for body in created.values()
        for fk in body.get("foreign_keys", [])
    }
    assert {"auth_user", "catalog_product"} <= targets

    make = dualorm(shop, "migrate", "make")
    assert make.returncode == 0, make.stderr
    snapshot = json.loads((shop / "migrations" / "foreign_tables.json").read_text())
    assert {"auth.User", "catalog.Product"} <= {t["model"] for t in snapshot["tables"]}

    # The emitted Django migration leaves what the fields create themselves (the FKs'
    # db_index indexes, PositiveIntegerField's check) to the fields, as makemigrations does.
    django = python(shop, "manage.py", "makemigrations", "--check", "--dry-run")
    assert django.returncode == 0, django.stdout + django.stderr
