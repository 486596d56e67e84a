"""Where change specs are: the spec files of a directory (read by the loader, the cache key
and the foreign-table scan alike, without importing the YAML loader)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SPEC_SUFFIXES", "spec_paths"]

SPEC_SUFFIXES = (".yaml", ".yml")


def spec_paths(directory: Path) -> list[Path]:
    """Return the spec files of ``directory``, sorted by name."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())
