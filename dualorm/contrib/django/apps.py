"""The Django app config that brings ``manage.py dualmigrate`` into a Django project."""

from __future__ import annotations

from django.apps import AppConfig


class DualormConfig(AppConfig):
    """Add ``dualorm.contrib.django`` to ``INSTALLED_APPS``; it has no models or tables."""

    name = "dualorm.contrib.django"
    label = "dualorm"
    verbose_name = "dualorm migrations"
