"""The reference authentication schema as Django models, column for column as ``sa_models``.

Names are PostgreSQL's own defaults, as the SQLAlchemy naming convention produces them, so
both ORMs create the same catalog: unique constraints live in ``Meta.constraints`` (a field's
``unique=True`` would add a ``_like`` pattern index), indexes in ``Meta.indexes``, and foreign
keys carry ``db_index=False`` because an explicit index covers each one that needs it.

Server defaults use ``db_default`` with expressions that compile to the same SQL as the
SQLAlchemy side (``now()`` rather than Django's ``Now()``, which renders
``STATEMENT_TIMESTAMP()``). Django 5.2 cannot put ON DELETE into the database: its foreign
keys are ``DEFERRABLE INITIALLY DEFERRED`` and ``on_delete`` runs in Python.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.db.models.expressions import Func, RawSQL


def now() -> Func:
    return Func(function="now", output_field=models.DateTimeField())


def new_uuid() -> Func:
    return Func(function="gen_random_uuid", output_field=models.UUIDField())


def jsonb(literal: str) -> RawSQL:
    """A jsonb literal default, spelled as PostgreSQL prints it (``'{}'::jsonb``)."""
    return RawSQL(f"'{literal}'::jsonb", (), output_field=models.JSONField())


def stamped_now() -> models.DateTimeField[Any, Any]:
    return models.DateTimeField(db_default=now())


class AccountType(models.TextChoices):
    OAUTH = "oauth"
    OIDC = "oidc"
    EMAIL = "email"
    CREDENTIALS = "credentials"


class User(models.Model):
    id = models.UUIDField(primary_key=True, db_default=new_uuid())
    email = models.CharField(max_length=255)
    username = models.CharField(max_length=50, null=True, blank=True)
    name = models.CharField(max_length=255, null=True, blank=True)
    password_hash = models.CharField(max_length=255, null=True, blank=True)
    email_verified = models.DateTimeField(null=True, blank=True)
    image = models.TextField(null=True, blank=True)
    is_active = models.BooleanField(db_default=True)
    is_staff = models.BooleanField(db_default=False)
    status = models.CharField(max_length=20, db_default=RawSQL("'active'::character varying", ()))
    failed_login_count = models.IntegerField(db_default=0)
    last_login_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(db_default=jsonb("{}"))
    created_at = stamped_now()
    updated_at = stamped_now()

    class Meta:
        db_table = "users"
        constraints = [
            models.UniqueConstraint(fields=["email"], name="users_email_key"),
            models.UniqueConstraint(fields=["username"], name="users_username_key"),
            models.CheckConstraint(
                condition=Q(status__in=["active", "suspended", "deleted"]),
                name="users_status_check",
            ),
            models.CheckConstraint(
                condition=Q(failed_login_count__gte=0), name="users_failed_login_count_check"
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="users_created_at_idx"),
            models.Index(
                fields=["last_login_at"],
                name="users_active_last_login_idx",
                condition=Q(is_active=True),
            ),
        ]

    def __str__(self) -> str:
        return self.email


class Account(models.Model):
    """A link from a user to an OAuth/OIDC provider account."""

    id = models.UUIDField(primary_key=True, db_default=new_uuid())
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, db_index=False, related_name="accounts"
    )
    # Validated in Python only (Django choices, SQLAlchemy Enum): `validate --data` checks it.
    type = models.CharField(max_length=30, choices=AccountType.choices)
    provider = models.CharField(max_length=50)
    provider_account_id = models.CharField(max_length=255)
    refresh_token = models.TextField(null=True, blank=True)
    access_token = models.TextField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    token_type = models.CharField(max_length=50, null=True, blank=True)
    scope = models.TextField(null=True, blank=True)
    id_token = models.TextField(null=True, blank=True)
    created_at = stamped_now()

    class Meta:
        db_table = "accounts"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_account_id"],
                name="accounts_provider_provider_account_id_key",
            ),
        ]
        indexes = [models.Index(fields=["user"], name="accounts_user_id_idx")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.provider_account_id}"


class Session(models.Model):
    id = models.UUIDField(primary_key=True, db_default=new_uuid())
    session_token = models.CharField(max_length=255)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, db_index=False, related_name="sessions"
    )
    expires_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(null=True, blank=True)
    created_at = stamped_now()

    class Meta:
        db_table = "sessions"
        constraints = [
            models.UniqueConstraint(fields=["session_token"], name="sessions_session_token_key"),
        ]
        indexes = [
            models.Index(fields=["user"], name="sessions_user_id_idx"),
            models.Index(fields=["expires_at"], name="sessions_expires_at_idx"),
            models.Index(
                fields=["user"], include=["expires_at"], name="sessions_user_id_expires_idx"
            ),
        ]


class VerificationToken(models.Model):
    pk = models.CompositePrimaryKey("identifier", "token")
    identifier = models.CharField(max_length=255)
    token = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "verification_tokens"
        constraints = [
            models.UniqueConstraint(fields=["token"], name="verification_tokens_token_key"),
        ]


class Role(models.Model):
    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=50)
    description = models.TextField(null=True, blank=True)
    is_system = models.BooleanField(db_default=False)
    created_at = stamped_now()

    class Meta:
        db_table = "roles"
        constraints = [models.UniqueConstraint(fields=["name"], name="roles_name_key")]

    def __str__(self) -> str:
        return self.name


class Permission(models.Model):
    id = models.BigAutoField(primary_key=True)
    codename = models.CharField(max_length=100)
    name = models.CharField(max_length=255)
    resource = models.CharField(max_length=50)
    action = models.CharField(max_length=20)

    class Meta:
        db_table = "permissions"
        constraints = [
            models.UniqueConstraint(fields=["codename"], name="permissions_codename_key"),
            models.UniqueConstraint(
                fields=["resource", "action"], name="permissions_resource_action_key"
            ),
        ]

    def __str__(self) -> str:
        return self.codename


class RolePermission(models.Model):
    pk = models.CompositePrimaryKey("role_id", "permission_id")
    role = models.ForeignKey(
        Role, on_delete=models.CASCADE, db_index=False, related_name="role_permissions"
    )
    permission = models.ForeignKey(
        Permission, on_delete=models.CASCADE, db_index=False, related_name="role_permissions"
    )
    granted_at = stamped_now()

    class Meta:
        db_table = "role_permissions"
        indexes = [
            models.Index(fields=["permission"], name="role_permissions_permission_id_idx"),
        ]


class UserRole(models.Model):
    pk = models.CompositePrimaryKey("user_id", "role_id")
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, db_index=False, related_name="user_roles"
    )
    role = models.ForeignKey(
        Role, on_delete=models.RESTRICT, db_index=False, related_name="user_roles"
    )
    assigned_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        db_column="assigned_by",
        related_name="assigned_roles",
    )
    assigned_at = stamped_now()

    class Meta:
        db_table = "user_roles"
        indexes = [models.Index(fields=["role"], name="user_roles_role_id_idx")]


class ApiKey(models.Model):
    id = models.UUIDField(primary_key=True, db_default=new_uuid())
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, db_index=False, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=128)
    scopes = models.JSONField(db_default=jsonb("[]"))
    rate_limit = models.IntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = stamped_now()

    class Meta:
        db_table = "api_keys"
        constraints = [
            models.UniqueConstraint(fields=["key_hash"], name="api_keys_key_hash_key"),
            models.CheckConstraint(condition=Q(rate_limit__gt=0), name="api_keys_rate_limit_check"),
        ]
        indexes = [
            models.Index(
                fields=["user"],
                name="api_keys_active_user_idx",
                condition=Q(revoked_at__isnull=True),
            ),
        ]


class AuditLog(models.Model):
    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        related_name="audit_logs",
    )
    action = models.CharField(max_length=100)
    resource_type = models.CharField(max_length=50, null=True, blank=True)
    resource_id = models.CharField(max_length=255, null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(db_default=jsonb("{}"))
    duration_ms = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    created_at = stamped_now()

    class Meta:
        db_table = "audit_logs"
        indexes = [
            models.Index(fields=["resource_type", "resource_id"], name="audit_logs_resource_idx"),
            models.Index(fields=["user", "created_at"], name="audit_logs_user_id_created_at_idx"),
            models.Index(
                fields=["resource_type", "-created_at"], name="audit_logs_type_recent_idx"
            ),
        ]


class UserPreferences(models.Model):
    """Added by migration 0003_add_user_preferences."""

    id = models.CharField(max_length=255, primary_key=True)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, db_index=False, related_name="preferences"
    )
    preferences = models.JSONField(db_default=jsonb("{}"))
    created_at = stamped_now()
    updated_at = stamped_now()

    class Meta:
        db_table = "user_preferences"
        indexes = [models.Index(fields=["user"], name="idx_user_preferences_user_id")]
