"""Sample preferences for the test users, through the Django ORM (the classic example).

Needs the ``user_preferences`` table (migration 0003_add_user_preferences) and the test users
of seed 0003. Each user's preferences derive from its id, so reruns produce the same rows.
"""

from __future__ import annotations

import random

from dualorm.seeding import NON_PRODUCTION, Seed, SeedContext

THEMES = ("light", "dark", "system")
LANGUAGES = ("en", "de", "fr", "es", "ja")
SEEDED_BY = "0003_test_users"


def preferences_for(user_id: object) -> dict[str, object]:
    rng = random.Random(str(user_id))
    return {
        "theme": rng.choice(THEMES),
        "language": rng.choice(LANGUAGES),
        "notifications": {"email": rng.random() < 0.8, "push": rng.random() < 0.4},
        "items_per_page": rng.choice((10, 25, 50)),
    }


class UserPreferencesSeed(Seed):
    name = "User preferences"
    description = "Theme, language and notification settings for every test user."
    environments = NON_PRODUCTION
    version = "1"
    dependencies = ("0003_test_users",)

    def execute(self, ctx: SeedContext) -> None:
        user_model = ctx.django_model("User")
        preferences_model = ctx.django_model("UserPreferences")
        users = list(
            user_model.objects.filter(metadata__seeded_by=SEEDED_BY)
            .order_by("id")
            .values_list("id", flat=True)
        )
        wanted = {f"pref_{user_id}": user_id for user_id in users}
        existing = set(
            preferences_model.objects.filter(id__in=list(wanted)).values_list("id", flat=True)
        )
        new = [
            preferences_model(id=pref_id, user_id=user_id, preferences=preferences_for(user_id))
            for pref_id, user_id in wanted.items()
            if pref_id not in existing
        ]
        # bulk_create sends no post_save signals: record the rows for rollback explicitly.
        preferences_model.objects.bulk_create(new, batch_size=1000)
        ctx.record_added("user_preferences", [(p.id,) for p in new])
        ctx.logger.info("added preferences for %d users", len(new))
