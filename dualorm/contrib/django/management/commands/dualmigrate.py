"""``python manage.py dualmigrate up|down|status|plan|baseline``: dualorm's runner from Django.

The database is the one Django's ``DATABASES`` names (``--database``, default ``default``);
everything else (specs directory, app label) comes from ``[tool.dualorm]``. Behaviour, output
and exit codes are those of ``dualorm migrate``: 0 success, 1 failure, 2 bad input, 3 refused
by a safety rule. ``plan`` lists what ``up`` would apply and, with ``--sql``, the script.
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote, urlencode

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dualorm.errors import DualormError

# OPTIONS keys that configure Django's connection wrapper, not libpq.
_WRAPPER_OPTIONS = frozenset({"pool", "isolation_level", "server_side_binding", "assume_role"})


def settings_url(settings_dict: dict[str, Any]) -> str:
    """Return a libpq URL for one ``DATABASES`` entry (password included, never printed)."""
    user = str(settings_dict.get("USER") or "")
    password = str(settings_dict.get("PASSWORD") or "")
    host = str(settings_dict.get("HOST") or "")
    port = str(settings_dict.get("PORT") or "")
    name = str(settings_dict.get("NAME") or "postgres")
    query: dict[str, str] = {}
    netloc = ""
    if user:
        netloc = quote(user, safe="")
        if password:
            netloc += ":" + quote(password, safe="")
        netloc += "@"
    if host.startswith("/"):
        query["host"] = host  # a Unix socket directory goes in the query string
    else:
        netloc += f"[{host}]" if ":" in host else host
    if port:
        if host.startswith("/"):
            query["port"] = port
        else:
            netloc += f":{port}"
    for key, value in (settings_dict.get("OPTIONS") or {}).items():
        if key not in _WRAPPER_OPTIONS and value is not None:
            query[str(key)] = str(value)
    url = f"postgresql://{netloc}/{quote(name, safe='')}"
    return url + ("?" + urlencode(query) if query else "")


class Command(BaseCommand):
    help = "Apply, roll back and inspect dualorm change specs on Django's database."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default", help="The DATABASES alias to migrate.")
        verbs = parser.add_subparsers(dest="verb", required=True)
        up = verbs.add_parser("up", help="Apply pending migrations.")
        up.add_argument("--to", help="Stop once this id is applied.")
        _common(up, dry_run=True, wait=True)
        down = verbs.add_parser("down", help="Roll back applied migrations.")
        group = down.add_mutually_exclusive_group()
        group.add_argument("--id", dest="migration_id", help="Roll back this migration.")
        group.add_argument("--to", help="Roll back everything after this id.")
        group.add_argument("--steps", type=int, help="Roll back the last N (default 1).")
        down.add_argument("--cascade", action="store_true", help="Roll back dependents first.")
        _common(down, dry_run=True, wait=True)
        status = verbs.add_parser("status", help="Show applied and pending migrations.")
        _common(status, dry_run=False, wait=False)
        plan = verbs.add_parser("plan", help="Show what `up` would apply.")
        plan.add_argument("--to", help="Plan up to this id.")
        plan.add_argument("--sql", action="store_true", help="Print the SQL too.")
        _common(plan, dry_run=False, wait=False)
        base = verbs.add_parser("baseline", help="Adopt an existing history.")
        base_group = base.add_mutually_exclusive_group()
        base_group.add_argument("--id", dest="migration_id", help="Re-record this checksum.")
        base_group.add_argument("--to", help="Adopt this id and what it needs.")
        _common(base, dry_run=False, wait=True)

    def handle(self, *args: Any, **options: Any) -> None:
        from django.db import connections

        from dualorm.cli import migrate_run as render
        from dualorm.config import Config

        try:
            render.configure(options["log_format"], options["verbose"])
            url = settings_url(connections[options["database"]].settings_dict)
            config = Config.load().with_(database_url=url)
            self._dispatch(config, options, render)
        except DualormError as error:
            raise CommandError(str(error), returncode=error.exit_code) from None

    def _dispatch(self, config: Any, options: dict[str, Any], render: Any) -> None:
        from dualorm import api

        verb, as_json = options["verb"], options["json"]
        out = self._out
        err = self._err
        if verb == "status":
            render.render_status(api.migrate_status(config), out, as_json)
        elif verb == "plan":
            result = api.migrate_up(config, options["to"], dry_run=True)
            self._plan(result, as_json, options["sql"])
        elif verb == "up":
            result = api.migrate_up(
                config,
                options["to"],
                dry_run=options["dry_run"],
                no_wait=options["no_wait"],
                progress=None if as_json else render.progress_printer(err),
                on_lock_wait=render.lock_waiter(err),
            )
            render.render_migrate(result, out, as_json)
        elif verb == "down":
            result = api.migrate_down(
                config,
                migration_id=options["migration_id"],
                to=options["to"],
                steps=options["steps"],
                cascade=options["cascade"],
                dry_run=options["dry_run"],
                no_wait=options["no_wait"],
                progress=None if as_json else render.progress_printer(err),
                on_lock_wait=render.lock_waiter(err),
            )
            render.render_migrate(result, out, as_json)
        else:
            adopted = api.baseline(
                config,
                migration_id=options["migration_id"],
                to=options["to"],
                no_wait=options["no_wait"],
                on_lock_wait=render.lock_waiter(err),
            )
            render.render_baseline(adopted, out, as_json)

    def _plan(self, result: Any, as_json: bool, sql: bool) -> None:
        import json

        if as_json:
            data = {"planned": list(result.planned)}
            if sql:
                data["sql"] = result.script
            self._out(json.dumps(data, indent=2, sort_keys=True))
            return
        if not result.planned:
            self._out("nothing to apply")
        for migration_id in result.planned:
            self._out(f"apply {migration_id}")
        if sql and result.script:
            self._out(result.script.rstrip("\n"))

    def _out(self, text: str) -> None:
        self.stdout.write(text)

    def _err(self, text: str) -> None:
        self.stderr.write(text)


def _common(parser: argparse.ArgumentParser, *, dry_run: bool, wait: bool) -> None:
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    parser.add_argument(
        "--log-format", default="text", choices=("text", "json"), help="Log record format."
    )
    parser.add_argument("--verbose", action="store_true", help="Log every statement.")
    if dry_run:
        parser.add_argument("--dry-run", action="store_true", help="Change nothing.")
    if wait:
        parser.add_argument(
            "--no-wait", action="store_true", help="Exit 3 if another runner holds the lock."
        )
