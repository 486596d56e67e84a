"""The administrator account, through the SQLAlchemy models.

The password comes from ``DUALORM_ADMIN_PASSWORD``; when that is unset one is generated and
handed to the operator once (``dualorm seed run`` prints it). Only its argon2 hash is stored.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

from argon2 import PasswordHasher
from sqlalchemy import select

from dualorm.seeding import NON_PRODUCTION, Seed, SeedContext
from sa_models import Role, User, UserRole

ADMIN_EMAIL = "admin@example.com"


class AdminUser(Seed):
    name = "Admin user"
    description = "admin@example.com with the admin role; password from DUALORM_ADMIN_PASSWORD."
    environments = NON_PRODUCTION
    version = "1"
    dependencies = ("0001_roles_and_permissions",)

    def execute(self, ctx: SeedContext) -> None:
        session = ctx.session
        admin = session.scalar(select(User).where(User.email == ADMIN_EMAIL))
        if admin is None:
            password = os.environ.get("DUALORM_ADMIN_PASSWORD")
            if not password:
                password = secrets.token_urlsafe(18)
                ctx.report_secret("admin password (admin@example.com)", password)
            admin = User(
                email=ADMIN_EMAIL,
                username="admin",
                name="Administrator",
                password_hash=PasswordHasher().hash(password),
                is_staff=True,
                email_verified=datetime.now(UTC),
            )
            session.add(admin)
            session.flush()
            ctx.logger.info("created the admin user")
        role_id = session.scalar(select(Role.id).where(Role.name == "admin"))
        if role_id is None:
            raise LookupError("role 'admin' is missing: seed 0001_roles_and_permissions first")
        if session.get(UserRole, (admin.id, role_id)) is None:
            session.add(UserRole(user_id=admin.id, role_id=role_id))
