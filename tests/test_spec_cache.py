"""The spec cache: a hit gives exactly what a full load gives; any change is a full load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from project_files import SPECS_ONLY, pyproject, use_project
from runner_specs import chain, write_spec

from dualorm.errors import SpecError
from dualorm.schema import Column, table
from dualorm.spec.cache import CACHE_NAME, SpecCache, cached_specs, spec_key
from dualorm.spec.codec import decode, encode
from dualorm.spec.files import spec_paths
from dualorm.spec.load import load_specs
from dualorm.spec.ops import CreateTable
from dualorm.spec.through import ManyToMany


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


def test_a_miss_loads_the_bytes_its_key_was_made_of(tmp_path: Path) -> None:
    """Each spec is read once on a miss: the cache's key and the load see the same bytes."""
    ids = specs(tmp_path, 2)
    directory = tmp_path / "migrations"
    cache = SpecCache(directory, tmp_path / "cache")
    path = directory / f"{ids[1]}.yaml"
    keyed = path.read_text()
    path.write_text(keyed.replace("name: label", "name: caption"))  # edited after the key
    files = cache.take_files()
    assert files is not None and list(files) == spec_paths(directory)
    assert cache.take_files() is None
    assert load_specs(directory, files=files) != load_specs(directory)
    path.write_text(keyed)
    assert load_specs(directory, files=files) == load_specs(directory)


class _Planted:
    """Unpickling this writes a marker file: what a hostile cache file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.write_text, (self.marker, "code ran"))


def plant(path: Path, marker: Path, key: str | None) -> None:
    import pickle

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = pickle.dumps((key, _Planted(marker)))
    path.write_bytes(payload)


def test_a_planted_pickle_never_runs_and_status_still_works(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dualorm.cli import main

    specs(tmp_path, 2)
    (tmp_path / "pyproject.toml").write_text(pyproject(SPECS_ONLY))
    use_project(monkeypatch, tmp_path, database_url)
    cache = tmp_path / ".dualorm" / "cache"
    key = spec_key(tmp_path / "migrations")
    old, new = tmp_path / "old-marker", tmp_path / "new-marker"
    # The old file name, with the key the old code compared after unpickling, and the new one.
    plant(cache / "specs.pickle", old, key)
    plant(cache / CACHE_NAME, new, key)
    assert main(["migrate", "status"]) == 0
    assert main(["migrate", "up"]) == 0
    assert main(["migrate", "status"]) == 0
    assert not old.exists() and not new.exists()
    assert (cache / CACHE_NAME).read_bytes()[:18] == b"dualorm-spec-cache"


def test_a_foreign_or_edited_cache_is_a_miss_not_an_error(tmp_path: Path) -> None:
    specs(tmp_path, 2)
    directory, cache = tmp_path / "migrations", tmp_path / "cache"
    expected = load_specs(directory)
    cached_specs(directory, cache)
    stored = (cache / CACHE_NAME).read_bytes()
    header, _, body = stored.partition(b"\n")
    # A body edited under a valid header (another table name): the signature no longer holds.
    (cache / CACHE_NAME).write_bytes(header + b"\n" + body.replace(b'"t1"', b'"evil"'))
    assert cached_specs(directory, cache) == expected
    # A file whose body names a class outside the spec model is a miss too.
    forged = body.replace(b"dualorm.spec.ops:CreateTable", b"subprocess:Popen")
    (cache / CACHE_NAME).write_bytes(header + b"\n" + forged)
    assert cached_specs(directory, cache) == expected
    for junk in (b"", b"\n", b"dualorm-spec-cache 2 x y\n{}", stored[:40], b"\xff" * 64):
        (cache / CACHE_NAME).write_bytes(junk)
        assert cached_specs(directory, cache) == expected


def test_a_cache_signed_by_another_user_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs(tmp_path, 2)
    directory, cache = tmp_path / "migrations", tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-a"))
    cached_specs(directory, cache)
    written = (cache / CACHE_NAME).read_bytes()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-b"))
    assert cached_specs(directory, cache) == load_specs(directory)
    # The miss rewrote the cache with this user's signature.
    assert (cache / CACHE_NAME).read_bytes() != written


def test_enum_comment_and_collation_operations_are_cached(tmp_path: Path) -> None:
    from test_spec_enums import SPEC

    directory, cache = tmp_path / "migrations", tmp_path / ".dualorm" / "cache"
    directory.mkdir()
    (directory / "0001_base.yaml").write_text(SPEC)
    first = cached_specs(directory, cache)
    assert (cache / CACHE_NAME).is_file()
    again = cached_specs(directory, cache)
    assert again == first == load_specs(directory)
    assert again[0].operations[7].to.collation is None  # type: ignore[attr-defined]


def test_a_hit_reads_identities_without_importing_any_operation(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from dualorm.spec.apps import spec_apps

    specs(tmp_path, 3)
    directory, cache = tmp_path / "migrations", tmp_path / "cache"
    expected = load_specs(directory)
    cached_specs(directory, cache)
    probe = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from dualorm.spec.cache import cached_apps, cached_specs\n"
        f"found = cached_specs(Path({str(directory)!r}), Path({str(cache)!r}))\n"
        "print(json.dumps({'ids': [[m.id, m.checksum, list(m.dependencies)] for m in found],\n"
        "    'apps': cached_apps(found, 'shop'),\n"
        "    'modules': sorted(n for n in sys.modules if n.startswith('dualorm.spec'))}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["ids"] == [[m.id, m.checksum, list(m.dependencies)] for m in expected]
    assert {k: tuple(v) for k, v in seen["apps"].items()} == spec_apps(expected, "shop")
    assert not {"dualorm.spec.ops", "dualorm.spec.load", "dualorm.spec.apps"} & set(seen["modules"])
    # Read in this process, the operations decode on first use and equal a full load's.
    hit = cached_specs(directory, cache)
    assert [m.operations for m in hit] == [m.operations for m in expected] and hit == expected


def test_a_table_operation_cached_before_definition_was_named_reads_back() -> None:
    """The cache stores a dataclass's fields by position, never by name: a ``CreateTable``
    written when its table was the field ``table`` reads back as today's ``definition``."""
    users = table("users", [Column("id", "bigint", nullable=False)])
    # line, acknowledge, the table, app: what the cache held for a CreateTable before.
    written = {"c": "dualorm.spec.ops:CreateTable", "a": [None, [], encode(users), "accounts"]}
    assert decode(written) == CreateTable(users, "accounts")
    # Written before many_to_many was added: the field takes its default.
    assert encode(CreateTable(users, "accounts")) == {**written, "a": [*written["a"], None]}
    fact = CreateTable(users, "accounts", ManyToMany("groups", "users"))
    assert decode(encode(fact)) == fact
    dropped = decode({"c": "dualorm.spec.ops:DropTable", "a": [None, [], encode(users)]})
    assert dropped.definition == users and dropped.table == "users"
