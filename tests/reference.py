"""What the reference authentication schema holds, as the tests expect it."""

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
