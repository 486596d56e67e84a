"""The file ``dualorm seed new`` writes: a seed module ready to fill in."""

from __future__ import annotations

import re
from pathlib import Path

from dualorm.errors import SeedError
from dualorm.seeding.discovery import SEED_FILE


def write_seed_file(folder: Path, name: str) -> Path:
    """Create ``folder/NNNN_<name>.py`` from the template and return its path."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    if not slug:
        raise SeedError(f"seed name {name!r} has no letters or digits")
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name[:4]) for p in folder.glob("*.py") if SEED_FILE.match(p.name)]
    path = folder / f"{max(numbers, default=0) + 1:04d}_{slug}.py"
    title = name.strip()
    path.write_text(_TEMPLATE.format(title=title, cls=_class_name(slug)), encoding="utf-8")
    return path


def _class_name(slug: str) -> str:
    return "".join(part.capitalize() for part in slug.split("_")) + "Seed"


_TEMPLATE = '''"""{title}."""

from __future__ import annotations

from dualorm.seeding import NON_PRODUCTION, Seed, SeedContext


class {cls}(Seed):
    name = "{title}"
    description = ""
    environments = NON_PRODUCTION
    version = "1"
    dependencies: tuple[str, ...] = ()

    def execute(self, ctx: SeedContext) -> None:
        """Write this seed's rows; a second run must add nothing.

        Natural keys make that easy: ``ctx.upsert("roles", rows, key=["name"])``, or
        ``ctx.copy("users", columns, rows)`` for large volumes; ``ctx.session`` (SQLAlchemy)
        and ``ctx.django_model("User")`` (Django) work in the same transaction.
        """
        ctx.logger.info("seed %s has nothing to write yet", "{title}")
'''
