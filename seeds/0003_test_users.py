"""Realistic test users with sessions, OAuth accounts and API keys, loaded with COPY.

Faker and the random generator run under a fixed seed, so every run produces the same people,
ids and tokens; ``DUALORM_SEED_USERS`` sets how many (default 1,000). Rows whose keys already
exist are skipped, so a second run adds nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

from dualorm.errors import SeedError
from dualorm.seeding import NON_PRODUCTION, Seed, SeedContext

RANDOM_SEED = 20240501
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
SEEDED_BY = "0003_test_users"

USER_COLUMNS = (
    "id", "email", "username", "name", "email_verified", "image", "is_active", "status",
    "last_login_at", "metadata", "created_at", "updated_at",
)  # fmt: skip
SESSION_COLUMNS = ("id", "session_token", "user_id", "expires_at", "ip_address", "user_agent")
ACCOUNT_COLUMNS = (
    "id", "user_id", "type", "provider", "provider_account_id", "token_type", "scope",
    "created_at",
)  # fmt: skip
API_KEY_COLUMNS = (
    "id", "user_id", "name", "key_prefix", "key_hash", "scopes", "rate_limit", "created_at",
)  # fmt: skip


def user_count() -> int:
    raw = os.environ.get("DUALORM_SEED_USERS", "1000")
    try:
        count = int(raw.replace(",", "").replace("_", ""))
    except ValueError:
        raise SeedError(f"DUALORM_SEED_USERS={raw!r} is not a whole number") from None
    if count < 0:
        raise SeedError(f"DUALORM_SEED_USERS={raw!r} must not be negative")
    return count


class People:
    """The generated data set: deterministic for a given count."""

    def __init__(self, count: int) -> None:
        self.rng = random.Random(RANDOM_SEED)
        self.fake = Faker("en_US")
        self.fake.seed_instance(RANDOM_SEED)
        self.users: list[tuple[Any, ...]] = []
        self.sessions: list[tuple[Any, ...]] = []
        self.accounts: list[tuple[Any, ...]] = []
        self.api_keys: list[tuple[Any, ...]] = []
        for number in range(1, count + 1):
            self._person(number)

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _token(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def _person(self, number: int) -> None:
        rng, fake = self.rng, self.fake
        first, last = fake.first_name(), fake.last_name()
        user_id = self._uuid()
        created = EPOCH - timedelta(days=rng.randint(1, 720), seconds=rng.randint(0, 86_399))
        verified = created + timedelta(hours=rng.randint(1, 48)) if rng.random() < 0.8 else None
        active = rng.random() < 0.95
        last_login = created + timedelta(days=rng.randint(0, 30)) if rng.random() < 0.7 else None
        handle = f"{first}.{last}.{number}".lower().replace(" ", "").replace("'", "")
        self.users.append(
            (
                user_id,
                f"{handle}@example.com",
                handle.replace(".", "_")[:50],
                f"{first} {last}",
                verified,
                f"https://avatars.example.com/{user_id}.png",
                active,
                "active" if active else "suspended",
                last_login,
                {"seeded_by": SEEDED_BY, "locale": fake.locale(), "timezone": fake.timezone()},
                created,
                created,
            )
        )
        for _ in range(rng.randint(0, 3)):
            self.sessions.append(
                (
                    self._uuid(),
                    self._token(),
                    user_id,
                    EPOCH + timedelta(days=rng.randint(30, 3650)),
                    ipaddress.ip_address(fake.ipv4_public()),
                    fake.user_agent(),
                )
            )
        if rng.random() < 0.7:
            provider = rng.choice(("github", "google", "gitlab"))
            self.accounts.append(
                (
                    self._uuid(),
                    user_id,
                    "oauth" if provider != "google" else "oidc",
                    provider,
                    str(rng.randint(10**8, 10**12)),
                    "bearer",
                    "openid email profile",
                    created,
                )
            )
        if rng.random() < 0.3:
            token = self._token()
            self.api_keys.append(
                (
                    self._uuid(),
                    user_id,
                    fake.bs()[:100],
                    f"dk_{token[:8]}",
                    hashlib.sha256(token.encode()).hexdigest(),
                    rng.sample(["read", "write", "admin"], rng.randint(1, 2)),
                    rng.choice((100, 1000, 5000)),
                    created,
                )
            )


class TestUsers(Seed):
    name = "Test users"
    description = "Faker users (DUALORM_SEED_USERS, default 1,000) with sessions, accounts, keys."
    environments = NON_PRODUCTION
    version = "1"
    dependencies = ("0001_roles_and_permissions",)

    def execute(self, ctx: SeedContext) -> None:
        people = People(user_count())
        ctx.logger.info("loading %d users", len(people.users))
        ctx.copy("users", USER_COLUMNS, people.users)
        ctx.copy("sessions", SESSION_COLUMNS, people.sessions)
        ctx.copy("accounts", ACCOUNT_COLUMNS, people.accounts)
        ctx.copy("api_keys", API_KEY_COLUMNS, people.api_keys)
        row = ctx.connection.execute("SELECT id FROM roles WHERE name = 'user'").fetchone()
        if row is None:
            raise SeedError("role 'user' is missing: seed 0001_roles_and_permissions first")
        ctx.copy("user_roles", ("user_id", "role_id"), iter_roles(people, row[0]))


def iter_roles(people: People, role_id: Any) -> Iterator[tuple[Any, ...]]:
    return ((user[0], role_id) for user in people.users)
