"""``python manage.py dualmigrate``: Django's DATABASES, dualorm's behaviour and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from reference import REFERENCE_MIGRATIONS

from dualorm.contrib.django.management.commands.dualmigrate import settings_url

ROOT = Path(__file__).resolve().parent.parent


def manage(url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "django_app.settings"}
    env.pop("DUALORM_ENV", None)
    return subprocess.run(
        [sys.executable, "manage.py", "dualmigrate", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_dualmigrate_verbs_and_exit_codes(database_url: str) -> None:
    plan = manage(database_url, "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["pending"][0] == "0001_initial"
    up = manage(database_url, "up")
    assert up.returncode == 0, up.stderr
    assert f"applied {len(REFERENCE_MIGRATIONS)} migration(s)" in up.stdout
    status = json.loads(manage(database_url, "status", "--json").stdout)
    assert status["applied"] == len(REFERENCE_MIGRATIONS) and status["pending"] == 0
    assert status["ledgers_agree"]
    refused = manage(database_url, "down", "--id", "0001_initial")
    assert refused.returncode == 3 and "--cascade" in refused.stderr
    down = manage(database_url, "down", "--steps", "1")
    assert down.returncode == 0 and "rolled back 1" in down.stdout
    assert json.loads(manage(database_url, "status", "--json").stdout)["pending"] == 1
    bad = manage(database_url, "down", "--steps", "0")
    assert bad.returncode == 2
    unknown = manage(database_url, "up", "--to", "9999_nope")
    assert unknown.returncode == 2 and "9999_nope" in unknown.stderr


def test_every_migrate_verb_is_a_dualmigrate_verb_with_the_same_options() -> None:
    from dualorm.cli import build_app
    from dualorm.cli.commands import VERBS

    listed = manage("postgresql://127.0.0.1:1/none", "--help")
    for spec in VERBS:
        assert spec.name in listed.stdout
    import typer

    group = typer.main.get_command(build_app()).commands["migrate"]  # type: ignore[attr-defined]
    assert sorted(group.commands) == sorted(v.name for v in VERBS)
    for spec in VERBS:
        typer_flags = {o for p in group.commands[spec.name].params for o in p.opts}
        for option in spec.options:
            if not option.positional:
                assert option.flag in typer_flags, (spec.name, option.flag)
        helped = manage("postgresql://127.0.0.1:1/none", spec.name, "--help")
        for option in spec.options:
            assert (option.flag if not option.positional else option.flag) in helped.stdout


def test_production_through_dualmigrate_gets_the_library_policy(database_url: str) -> None:
    from runner_specs import snapshot

    before = snapshot(database_url)
    env = {"DUALORM_ENV": "production"}
    refused = manage_env(database_url, env, "up")
    assert refused.returncode == 3 and "confirmed" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    budget = manage_env(database_url, env, "up", "--yes", "--max-downtime", "nan")
    assert budget.returncode == 2 and "--max-downtime" in budget.stderr
    planned = manage_env(database_url, env, "plan")
    assert planned.returncode == 0 and "0001_initial" in planned.stdout
    assert snapshot(database_url) == before


def manage_env(url: str, extra: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "django_app.settings"}
    env.update(extra)
    return subprocess.run(
        [sys.executable, "manage.py", "dualmigrate", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_settings_url_round_trips_django_settings() -> None:
    from dualorm.django_setup import database_config

    url = "postgresql://app:p%40ss@db.example:6543/auth?sslmode=require"
    entry = database_config(url)
    assert database_config(settings_url(entry)) == entry
    socket = {"NAME": "auth", "USER": "app", "HOST": "/var/run/postgresql", "PORT": "5433"}
    assert database_config(settings_url(socket))["HOST"] == "/var/run/postgresql"


def test_every_declared_verb_is_listed() -> None:
    """A ``Verb`` declared beside its handler but left out of its list has no face at all."""
    import importlib
    import pkgutil

    from dualorm.cli import commands, fleet
    from dualorm.cli.verbs import Verb

    listed = {id(v) for v in (*commands.VERBS, *commands.MODELS_VERBS, *fleet.FLEET_VERBS)}
    modules = [fleet] + [
        importlib.import_module(f"{commands.__name__}.{m.name}")
        for m in pkgutil.iter_modules(commands.__path__)
    ]
    unlisted = [
        f"{module.__name__}.{name}"
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, Verb) and id(value) not in listed
    ]
    assert unlisted == [], "list these in VERBS, MODELS_VERBS or FLEET_VERBS"
