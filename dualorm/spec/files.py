"""Where change specs are: the spec files of a directory (read by the loader, the cache key
and the foreign-table scan alike, without importing the YAML loader), and the id the next
one gets."""

from __future__ import annotations

import re
from pathlib import Path

from dualorm.errors import UsageError

__all__ = ["SPEC_SUFFIXES", "next_id", "spec_paths"]

SPEC_SUFFIXES = (".yaml", ".yml")


def spec_paths(directory: Path) -> list[Path]:
    """Return the spec files of ``directory``, sorted by name."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())


_ID = re.compile(r"^(\d+)_")


def _slug(name: str) -> str:
    words = re.findall(r"[a-z0-9]+", name.lower())
    if not words:
        raise UsageError(f"migration name {name!r} has no letters or digits to build an id from")
    return "_".join(words)


def next_id(directory: Path, name: str) -> str:
    """Return the id a new spec called ``name`` in ``directory`` gets: the next number, then
    the slug."""
    numbers = [int(m.group(1)) for p in spec_paths(directory) if (m := _ID.match(p.stem))]
    return f"{max(numbers, default=0) + 1:04d}_{_slug(name)}"
