"""Where change specs are: the spec files of a directory (read by the loader, the cache key
and the foreign-table scan alike, without importing the YAML loader), and the id the next
one gets."""

from __future__ import annotations

import os
import re
from pathlib import Path

from dualorm.errors import UsageError

__all__ = ["SPEC_SUFFIXES", "next_id", "spec_paths"]

SPEC_SUFFIXES = (".yaml", ".yml")


def spec_paths(directory: Path) -> list[Path]:
    """Return the spec files of ``directory`` (regular files or links to them), sorted by name.

    The listing's own file types answer "is it a file" (only a link costs a ``stat``), and
    the names are sorted before they become paths, in the order paths of one directory
    sort in (``normcase``: by case-folded name on Windows): a long history is listed in a
    fraction of the time a ``stat`` and a path comparison per spec took.
    """
    if not directory.is_dir():
        return []
    with os.scandir(directory) as entries:
        names = [entry.name for entry in entries if _is_spec_name(entry.name) and entry.is_file()]
    return [directory / name for name in sorted(names, key=os.path.normcase)]


def _is_spec_name(name: str) -> bool:
    """Whether ``name`` has a spec suffix as ``Path.suffix`` reads it (``.yaml`` alone has none)."""
    return name.endswith(SPEC_SUFFIXES) and name.rpartition(".")[0] != ""


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
