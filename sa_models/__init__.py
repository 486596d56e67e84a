"""The reference authentication schema as SQLAlchemy 2.0 declarative models.

The same schema is declared as Django models in ``django_app.models``; ``dualorm validate``
keeps the two (and the live database) in agreement. Constraint and index names follow
PostgreSQL's own defaults (``users_pkey``, ``users_email_key``, ``accounts_user_id_fkey``) so
that a table created by either ORM or by hand reads the same.
"""

from sa_models.models import (
    Account,
    ApiKey,
    AuditLog,
    Base,
    Permission,
    Role,
    RolePermission,
    Session,
    User,
    UserPreferences,
    UserRole,
    VerificationToken,
)

__all__ = [
    "Account",
    "ApiKey",
    "AuditLog",
    "Base",
    "Permission",
    "Role",
    "RolePermission",
    "Session",
    "User",
    "UserPreferences",
    "UserRole",
    "VerificationToken",
]
