"""Configure Django once per process and point its default connection at a database.

Seeding, ``manage.py dualmigrate`` and the Django model source all go through :func:`setup`.
The settings module builds its ``DATABASES["default"]`` with :func:`default_database`, which
reads ``DATABASE_URL`` (the embedded server when unset) unless :func:`setup` was given a URL.
A caller that only needs the model registry (the Django source) asks for ``offline=True``: no
server is started or contacted until a later :func:`setup` names a database, and only the app
registry is populated; the rest of ``django.setup()`` (logging, the URL script prefix, which
import Django's mail, HTTP and URL machinery) is done by the first :func:`setup` that is not
offline.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any

from dualorm.db import libpq_url, redact, resolve_url
from dualorm.errors import ConfigError, DualormError

DEFAULT_SETTINGS = "django_app.settings"
ENGINE = "django.db.backends.postgresql"

# OPTIONS keys that configure Django's wrapper rather than the libpq connection; a new URL
# replaces the libpq ones and keeps these.
_WRAPPER_OPTIONS = frozenset({"pool", "isolation_level", "server_side_binding", "assume_role"})
_URL_KEYS = {
    "dbname": "NAME",
    "user": "USER",
    "password": "PASSWORD",
    "host": "HOST",
    "port": "PORT",
}

_lock = threading.RLock()
_pending: dict[str, Any] | None = None
_offline = False
_placeholder_used = False
_registry_only = False


def database_config(url: str) -> dict[str, Any]:
    """Return the ``DATABASES`` entry (psycopg 3 backend) for a libpq/SQLAlchemy URL.

    Parameters in the query string that are not part of the URL's authority
    (``sslmode``, ``application_name``...) become ``OPTIONS``.
    """
    params: dict[str, Any] | None = plain_url_params(libpq_url(url))
    if params is None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = dict(conninfo_to_dict(libpq_url(url)))
        except psycopg.ProgrammingError:
            raise ConfigError(f"cannot parse the database URL {redact(url)!r}") from None
    entry: dict[str, Any] = {"ENGINE": ENGINE, "NAME": "postgres", "USER": "", "PASSWORD": ""}
    entry.update({"HOST": "", "PORT": "", "OPTIONS": {}})
    for key, value in params.items():
        if key in _URL_KEYS:
            entry[_URL_KEYS[key]] = "" if value is None else str(value)
        elif value is not None:
            entry["OPTIONS"][key] = str(value)
    return entry


def plain_url_params(url: str) -> dict[str, str] | None:
    """The parameters of a plain ``postgresql://user:password@host:port/dbname`` URL, as
    libpq reads them; ``None`` for anything else (a query string, several hosts, a keyword
    string), which libpq itself parses. Setting Django up offline then imports no driver."""
    from urllib.parse import unquote, urlsplit

    scheme, _, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or any(c in rest for c in "?#,[]"):
        return None
    parts = urlsplit(url)
    user_info, at, host_port = parts.netloc.rpartition("@")
    host, colon, port = host_port.rpartition(":") if ":" in host_port else (host_port, "", "")
    if colon and not port.isdigit():
        return None
    params: dict[str, str] = {}
    if at:
        user, _, password = user_info.partition(":")
        # libpq keeps no empty value: "user:@host" has no password.
        if user:
            params["user"] = unquote(user)
        if password:
            params["password"] = unquote(password)
    if host:
        params["host"] = unquote(host)
    if port:
        params["port"] = port
    if parts.path.strip("/"):
        params["dbname"] = unquote(parts.path[1:])
    return params


def _placeholder() -> dict[str, Any]:
    # No NAME: any attempt to connect fails in Django instead of reaching a server.
    return {"ENGINE": ENGINE, "NAME": "", "OPTIONS": {}}


def _environment_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    # Imported here: a settings module imports this one in every Django process, and the
    # configuration (with dualorm.schema behind its ownership rules) is needed only now.
    from dualorm.config import Config

    return resolve_url(Config.load())


def default_database() -> dict[str, Any]:
    """Return the ``DATABASES["default"]`` entry a settings module should use.

    The URL given to :func:`setup` when there is one, else ``DATABASE_URL``, else the
    embedded server (started on demand). Under ``setup(offline=True)`` with no URL known, a
    placeholder that never connects.
    """
    global _placeholder_used
    if _pending is not None:
        if not _pending.get("NAME"):
            _placeholder_used = True
        return dict(_pending)
    return database_config(_environment_url())


def setup(
    settings_module: str = DEFAULT_SETTINGS,
    database_url: str | None = None,
    *,
    offline: bool = False,
) -> None:
    """Configure Django with ``settings_module`` once per process and make its apps ready.

    Args:
        settings_module: dotted path of the settings module; a module that cannot be
            imported is a ``ConfigError`` naming it.
        database_url: point the default connection at this database (also when Django was
            already set up); ``None`` leaves it as the settings made it.
        offline: the caller needs the app registry only. When no URL is known yet, use a
            placeholder connection rather than starting the embedded server, and populate the
            registry without the rest of ``django.setup()``; a later call without
            ``offline`` resolves the real database and completes the setup.
    """
    global _offline
    with _lock:
        if not _apps_ready():
            _configure(settings_module, database_url, offline)
        else:
            _check_same_settings(settings_module)
        if not offline:
            _complete()
        if database_url is not None:
            point_default_at(database_url)
            _offline = False
        elif _offline and not offline:
            point_default_at(_environment_url())
            _offline = False


def point_default_at(url: str) -> None:
    """Point Django's default connection at ``url``; it reconnects on next use.

    The connection of the calling thread is closed now; connections of other threads pick up
    the new parameters the next time they connect.
    """
    from django.db import DEFAULT_DB_ALIAS, connections

    new = database_config(url)
    with _lock:
        connections[DEFAULT_DB_ALIAS].close()
        entry = connections.settings[DEFAULT_DB_ALIAS]
        kept = {k: v for k, v in entry.get("OPTIONS", {}).items() if k in _WRAPPER_OPTIONS}
        for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT"):
            entry[key] = new[key]
        entry["OPTIONS"] = {**new["OPTIONS"], **kept}


def _complete() -> None:
    """Finish a setup that populated the app registry only (logging, the script prefix)."""
    global _registry_only
    if not _registry_only:
        return
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        _populate(registry_only=False)  # the registry is ready: populate() returns at once
    except (ImproperlyConfigured, ImportError) as exc:
        raise ConfigError(f"Django settings {settings.SETTINGS_MODULE!r}: {exc}") from None
    _registry_only = False


def _apps_ready() -> bool:
    from django.apps import apps
    from django.conf import settings

    return settings.configured and apps.ready


def _check_same_settings(settings_module: str) -> None:
    from django.conf import settings

    current = getattr(settings, "SETTINGS_MODULE", None)
    if current and current != settings_module:
        raise ConfigError(
            f"Django is already configured with {current!r} in this process; "
            f"cannot switch to {settings_module!r}"
        )


def _configure(settings_module: str, database_url: str | None, offline: bool) -> None:
    global _pending, _offline, _placeholder_used, _registry_only
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    if database_url is not None:
        _pending = database_config(database_url)
    elif offline and not os.environ.get("DATABASE_URL"):
        _pending = _placeholder()
    _placeholder_used = False
    previous = os.environ.get("DJANGO_SETTINGS_MODULE")
    try:
        if not settings.configured:
            os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
            _import_settings(settings_module)
        else:
            _check_same_settings(settings_module)
        _populate(registry_only=offline)
    except (ImproperlyConfigured, ImportError) as exc:
        _restore_env(previous)
        raise ConfigError(f"Django settings {settings_module!r}: {exc}") from None
    except BaseException:
        _restore_env(previous)
        raise
    finally:
        _pending = None
    _offline = _placeholder_used
    _registry_only = offline


def _populate(*, registry_only: bool) -> None:
    """Run ``django.setup()``, or only its last step (the app registry) for ``registry_only``."""
    import django

    if not registry_only:
        django.setup()
        return
    from django.apps import apps
    from django.conf import settings

    apps.populate(settings.INSTALLED_APPS)


def _import_settings(settings_module: str) -> None:
    try:
        importlib.import_module(settings_module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (settings_module == missing or settings_module.startswith(missing + ".")):
            raise ConfigError(f"Django settings module {settings_module!r} not found") from None
        raise ConfigError(
            f"Django settings module {settings_module!r} cannot be imported: {exc}"
        ) from None
    except DualormError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"Django settings module {settings_module!r} failed to load: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def _restore_env(previous: str | None) -> None:
    if previous is None:
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    else:
        os.environ["DJANGO_SETTINGS_MODULE"] = previous
