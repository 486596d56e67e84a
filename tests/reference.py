"""What the reference authentication schema holds, as the tests expect it, and the settings
that name its models."""

from __future__ import annotations

from project_files import pyproject

REFERENCE_APP: dict[str, str] = {
    "sa_metadata": "sa_models:Base.metadata",
    "django_settings": "django_app.settings",
    "django_app_label": "django_app",
}
"""The model-set keys naming the repository's reference app, as its pyproject.toml states them."""

REFERENCE_PYPROJECT = pyproject({**REFERENCE_APP, "migrations_dir": "migrations"})
"""The [tool.dualorm] table of a project that uses the reference models and its own specs."""

REFERENCE_TABLES = frozenset(
    {
        "users",
        "accounts",
        "sessions",
        "verification_tokens",
        "roles",
        "permissions",
        "role_permissions",
        "user_roles",
        "api_keys",
        "audit_logs",
        "user_preferences",
    }
)

# The reference change specs in the order dualorm applies them; the last one is the head.
REFERENCE_MIGRATIONS = (
    "0001_initial",
    "0002_user_image_and_active_key_index",
    "0003_add_user_preferences",
    "0004_session_expiry_covering_index",
    "0005_audit_log_recent_by_type_index",
    "0006_deferrable_foreign_keys",
)
