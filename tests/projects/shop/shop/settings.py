"""Settings of the example shop: two apps of its own, Django's contrib apps and two
third-party apps (django-taggit, Django REST framework's token authentication).

The database comes from ``DATABASE_URL`` (``postgresql://user:password@host:port/name``).
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "shop-example-key-not-for-production"
DEBUG = False
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Third-party apps from PyPI, with models and migrations of their own.
    "taggit",
    "rest_framework",
    "rest_framework.authtoken",
    "catalog",
    "orders",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _database(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    # A Unix-socket directory travels in the query string (``?host=/run/postgresql``).
    query = dict(parse_qsl(parts.query))
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or query.get("host", ""),
        "PORT": str(parts.port or query.get("port", "")),
    }


DATABASES = {"default": _database(os.environ.get("DATABASE_URL", "postgresql:///shop"))}

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
