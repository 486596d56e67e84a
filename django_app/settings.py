"""Django settings for the reference app.

The database comes from ``DATABASE_URL`` (parsed, never printed); when it is unset the embedded
PostgreSQL is started on demand. :func:`dualorm.django_setup.setup` may name another database.
Only the project's own apps are installed, so Django creates no table beyond the schema.
"""

from __future__ import annotations

import os

from dualorm.django_setup import default_database

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "dualorm-development-key-not-for-production"
DEBUG = False
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = ["django_app", "dualorm.contrib.django"]

DATABASES = {"default": default_database()}

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Index names follow PostgreSQL's own defaults, which may run to 63 characters; Django's
# 30-character limit (models.E034) exists for Oracle only.
SILENCED_SYSTEM_CHECKS = ["models.E034"]
