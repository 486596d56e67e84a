"""Roles and permissions every environment needs, production included."""

from __future__ import annotations

from dualorm.seeding import ALL_ENVIRONMENTS, Seed, SeedContext

RESOURCES = ("users", "roles", "sessions", "api_keys", "audit_logs")
ACTIONS = ("read", "create", "update", "delete")

ROLES = {
    "admin": "Full access to every resource",
    "moderator": "Reads everything, manages users and their sessions",
    "user": "A signed-in user: reads users",
}

GRANTS = {
    "admin": [f"{r}.{a}" for r in RESOURCES for a in ACTIONS],
    "moderator": [f"{r}.read" for r in RESOURCES]
    + ["users.update", "sessions.update", "sessions.delete"],
    "user": ["users.read"],
}


class RolesAndPermissions(Seed):
    name = "Roles and permissions"
    description = "The system roles (admin, moderator, user), CRUD permissions and grants."
    environments = ALL_ENVIRONMENTS
    version = "1"

    def execute(self, ctx: SeedContext) -> None:
        ctx.upsert(
            "roles",
            [{"name": n, "description": d, "is_system": True} for n, d in ROLES.items()],
            key=["name"],
            update=["description", "is_system"],
        )
        ctx.upsert(
            "permissions",
            [
                {
                    "codename": f"{resource}.{action}",
                    "name": f"Can {action} {resource.replace('_', ' ')}",
                    "resource": resource,
                    "action": action,
                }
                for resource in RESOURCES
                for action in ACTIONS
            ],
            key=["codename"],
            update=["name"],
        )
        query = ctx.connection.execute
        roles = dict(query("SELECT name, id FROM roles").fetchall())
        permissions = dict(query("SELECT codename, id FROM permissions").fetchall())
        ctx.upsert(
            "role_permissions",
            [
                {"role_id": roles[role], "permission_id": permissions[codename]}
                for role, codenames in GRANTS.items()
                for codename in codenames
            ],
            key=["role_id", "permission_id"],
        )
