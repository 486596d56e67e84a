"""``python manage.py dualmigrate VERB``: every ``dualorm migrate`` verb from Django.

The verbs, their options and what they do come from :data:`dualorm.cli.commands.VERBS`, the one
declaration ``dualorm migrate`` is built from too; the rules (production's policy included)
are the library's. The database is the one Django's ``DATABASES`` names (``--database``,
default ``default``); everything else (specs directory, app label) comes from
``[tool.dualorm]``. Exit codes are those of ``dualorm migrate``: 0 success, 1 failure, 2 bad
input, 3 refused by a safety rule, 4 an internal error.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote, urlencode

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from dualorm.cli.commands import VERBS, verb
from dualorm.cli.verbs import Invocation, add_argparse_verbs
from dualorm.config import Config
from dualorm.db import redact_text
from dualorm.errors import DualormError, InternalError

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
    help = "Every `dualorm migrate` verb, on the database Django's DATABASES names."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:

        parser.add_argument("--database", default="default", help="The DATABASES alias to migrate.")
        # Django's parser class (inherited by the subparsers) prints usage and exits 2 on a bad
        # option from the command line, and raises CommandError under call_command.
        add_argparse_verbs(parser.add_subparsers(dest="verb", required=True), VERBS)

    def handle(self, *args: Any, **options: Any) -> None:

        def load_config() -> Config:
            url = settings_url(connections[options["database"]].settings_dict)
            return Config.load().with_(database_url=url)

        run = Invocation(options, self._out, self._err, load_config, stdout=self.stdout)
        try:
            code = verb(options["verb"]).handler(run)
        except DualormError as error:
            raise CommandError(redact_text(str(error)), returncode=error.exit_code) from None
        except Exception as error:
            if os.environ.get("DUALORM_DEBUG"):
                raise
            detail = redact_text(f"{type(error).__name__}: {error}".strip())
            raise CommandError(
                f"internal error {detail} (a bug of dualorm; set DUALORM_DEBUG=1 for a traceback)",
                returncode=InternalError.exit_code,
            ) from None
        if code:
            raise CommandError(f"{options['verb']} found problems (see above)", returncode=code)

    def _out(self, text: str) -> None:
        self.stdout.write(text)

    def _err(self, text: str) -> None:
        self.stderr.write(text)
