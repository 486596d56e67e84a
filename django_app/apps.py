"""App configuration of the reference Django models."""

from __future__ import annotations

from django.apps import AppConfig


class DjangoAppConfig(AppConfig):
    name = "django_app"
    label = "django_app"
    verbose_name = "Authentication (shared schema)"
    default_auto_field = "django.db.models.BigAutoField"
