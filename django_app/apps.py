"""App configuration of the reference Django models."""

from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig


class DjangoAppConfig(AppConfig):
    name = "django_app"
    label = "django_app"
    verbose_name = "Authentication (shared schema)"
    default_auto_field = "django.db.models.BigAutoField"
    # Explicit, because an editable install can expose the package as a namespace with two
    # locations, which Django refuses to guess between.
    path = str(Path(__file__).resolve().parent)
