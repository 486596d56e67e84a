"""The spec cache: a hit gives exactly what a full load gives; any change is a full load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from runner_specs import chain, write_spec

from dualorm.errors import SpecError
from dualorm.spec.cache import CACHE_NAME, cached_specs, spec_key
from dualorm.spec.load import load_specs, spec_paths


def specs(root: Path, count: int) -> list[str]:
    (root / "migrations").mkdir()
    return chain(root, count)


def test_a_hit_equals_a_full_load_and_an_edit_is_seen(tmp_path: Path) -> None:
    ids = specs(tmp_path, 3)
    directory, cache = tmp_path / "migrations", tmp_path / ".dualorm" / "cache"
    first = cached_specs(directory, cache)
    assert first == load_specs(directory)
    assert (cache / CACHE_NAME).is_file()
    assert cached_specs(directory, cache) == first
    path = directory / f"{ids[1]}.yaml"
    path.write_text(path.read_text().replace("name: label", "name: caption"))
    edited = cached_specs(directory, cache)
    assert edited == load_specs(directory) and edited != first
    write_spec(tmp_path, "0004_m4", [ids[2]], "  - add_column: {table: t1, name: x, type: text}\n")
    assert [m.id for m in cached_specs(directory, cache)] == [*ids, "0004_m4"]


def test_a_broken_spec_fails_every_time_and_is_never_cached(tmp_path: Path) -> None:
    ids = specs(tmp_path, 1)
    directory, cache = tmp_path / "migrations", tmp_path / "cache"
    cached_specs(directory, cache)
    write_spec(tmp_path, "0002_m2", ids, "  - drop_column: {table: t1, name: nope}\n")
    for _ in range(2):
        with pytest.raises(SpecError, match="nope"):
            cached_specs(directory, cache)


def test_a_corrupt_or_unwritable_cache_means_a_full_load(tmp_path: Path) -> None:
    specs(tmp_path, 2)
    directory, cache = tmp_path / "migrations", tmp_path / "cache"
    cache.mkdir()
    (cache / CACHE_NAME).write_bytes(b"not a pickle")
    assert cached_specs(directory, cache) == load_specs(directory)
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    assert cached_specs(directory, blocked / "cache") == load_specs(directory)


def test_the_key_covers_every_spec_file_and_nothing_else(tmp_path: Path) -> None:
    ids = specs(tmp_path, 2)
    directory = tmp_path / "migrations"
    key = spec_key(directory)
    (directory / "notes.txt").write_text("not a spec")
    assert spec_key(directory) == key
    first = directory / f"{ids[0]}.yaml"
    first.write_text(first.read_text() + "\n")
    assert spec_key(directory) != key
    assert [p.name for p in spec_paths(directory)] == sorted(
        p.name for p in directory.iterdir() if p.suffix == ".yaml"
    )
    # Only bytes count for specs: touching one (a fresh checkout) keeps the key.
    changed = spec_key(directory)
    os.utime(directory / f"{ids[1]}.yaml", ns=(0, 0))
    assert spec_key(directory) == changed
