"""Hostile YAML in a spec file: refused at load, fast, with file:line and exit code 2.

Each case adds ``0002_bad.yaml`` to a project whose first spec is applied and runs
``dualorm migrate lint`` and ``dualorm migrate up`` as a user would (a subprocess): exit code 2,
one message naming the file and line, no traceback, and the database exactly as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dualorm.errors import SpecError
from dualorm.spec.load import MAX_SPEC_BYTES, load_specs
from tests.project_files import project
from tests.runner_specs import snapshot, table_ops, write_spec

HEADER = 'id: "0002_bad"\nname: bad\ndependencies: ["0001_base"]\n'


def _bomb(levels: int = 9) -> str:
    """The "billion laughs": each anchor a list of nine aliases of the one before."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        aliases = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{aliases}]")
    return "\n".join(lines) + "\n" + HEADER + f"operations: *a{levels - 1}\n"


# name -> (file text, line the message must name or None, words the message must hold)
CASES: dict[str, tuple[str, int | None, str]] = {
    "alias-bomb": (_bomb(), 1, "anchors and aliases are not supported"),
    "recursive-alias": (HEADER + "description: &d [*d]\noperations: []\n", 4, "anchor &d"),
    "plain-alias": (
        HEADER + "operations: []\nversion: &v 1.0\ndescription: *v\n",
        5,
        "anchors and aliases",
    ),
    "int-key": (HEADER + "1: x\noperations: []\n", 4, "mapping key '1' is read as int"),
    "null-key": (HEADER + "null: x\noperations: []\n", 4, "mapping key 'null' is read as null"),
    "bool-key": (HEADER + "operations: []\nyes: 1\n", 5, "is read as bool"),
    "list-key": (HEADER + "[a]: b\noperations: []\n", 4, "keys must be text, not a list"),
    "complex-key": (HEADER + "? {a: 1}\n: b\noperations: []\n", 4, "not a mapping"),
    "merge-key": (
        HEADER
        + "operations:\n  - add_column:\n      <<: {table: t1}\n      name: c\n      type: text\n",
        6,
        "merge keys (<<) are not supported",
    ),
    "duplicate-key": (HEADER + "name: again\noperations: []\n", 4, "name is given twice"),
    "duplicate-nested-key": (
        HEADER + "operations:\n  - add_column: {table: t1, name: c, name: d, type: text}\n",
        5,
        "name is given twice",
    ),
    "nul-in-name": (
        HEADER + 'operations:\n  - add_column: {table: t1, name: "c\\0d", type: text}\n',
        5,
        "NUL character",
    ),
    "nul-in-key": (HEADER + '"na\\0me": x\noperations: []\n', 4, "NUL character"),
    "bell-in-name": (
        HEADER + 'operations:\n  - add_column: {table: t1, name: "c\\x07", type: text}\n',
        5,
        "control character",
    ),
    "control-in-table": (
        HEADER + 'operations:\n  - add_column: {table: "t1\\x1b", name: c, type: text}\n',
        5,
        "control character",
    ),
    "list-document": ("- id: 0002_bad\n- name: bad\n", 1, "must be a mapping"),
    "scalar-document": ("just some text\n", 1, "must be a mapping"),
    "two-documents": (HEADER + "operations: []\n---\n" + HEADER + "operations: []\n", 5, "second"),
    "python-tag": (
        'id: !!python/object/apply:os.system ["touch pwned"]\n',
        1,
        "tag !!python/object/apply:os.system is not supported",
    ),
    "binary-tag": (HEADER + "description: !!binary aGVsbG8=\noperations: []\n", 4, "!!binary"),
    "impossible-date": (HEADER + "version: 2024-13-45\noperations: []\n", 4, "not a valid"),
    "deep-flow": (HEADER + "operations: " + "[" * 100_000 + "\n", 4, "nested deeper than"),
    "deep-block": (HEADER + "operations:\n  " + "- " * 100_000 + "x\n", 5, "nested deeper"),
    "many-values": (
        HEADER + "operations: [" + ",".join(["x"] * 200_000) + "]\n",
        4,
        "more than 100000 values",
    ),
    "not-utf8": (HEADER + "description: caf\udce9\noperations: []\n", 4, "not UTF-8"),
    "huge-file": (
        HEADER + "operations: []\ndescription: '" + "x" * (MAX_SPEC_BYTES + 10) + "'\n",
        None,
        "larger than 10 MiB",
    ),
}


@pytest.fixture
def applied(tmp_path: Path, database_url: str) -> tuple[Path, str]:
    """A project whose ``0001_base`` (table t1) is applied."""
    project(tmp_path, database_url)
    write_spec(tmp_path, "0001_base", [], table_ops("t1"))
    done = _cli(tmp_path, database_url, "migrate", "up")
    assert done.returncode == 0, done.stderr
    return tmp_path, database_url


def _cli(root: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DUALORM_"))}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "dualorm.cli", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _write_bad(root: Path, text: str) -> Path:
    path = root / "migrations" / "0002_bad.yaml"
    # surrogateescape turns the lone surrogate of "not-utf8" back into the raw byte 0xE9.
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_by_the_loader(tmp_path: Path, case: str) -> None:
    text, line, words = CASES[case]
    (tmp_path / "migrations").mkdir()
    write_spec(tmp_path, "0001_base", [], table_ops("t1"))
    path = _write_bad(tmp_path, text)
    started = time.perf_counter()
    with pytest.raises(SpecError) as raised:
        load_specs(tmp_path / "migrations")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{case} took {elapsed:.2f}s"
    error = raised.value
    assert (error.path, error.line) == (str(path), line)
    assert words in error.message
    assert len(str(error)) < 300


@pytest.mark.parametrize("command", ["lint", "up"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_through_the_cli(applied: tuple[Path, str], case: str, command: str) -> None:
    root, url = applied
    text, line, words = CASES[case]
    path = _write_bad(root, text)
    files = sorted(p.name for p in root.rglob("*") if p.is_file())
    before = snapshot(url)
    started = time.monotonic()
    done = _cli(root, url, "migrate", command)
    elapsed = time.monotonic() - started
    where = f"{path.relative_to(root)}:{line}" if line is not None else "0002_bad.yaml"
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert where in done.stderr, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "MemoryError" not in done.stderr
    assert elapsed < 30, f"{case} took {elapsed:.1f}s"
    assert snapshot(url) == before, "the database changed"
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == files
    assert not (root / "pwned").exists()


def test_a_spec_without_anchors_still_loads(tmp_path: Path) -> None:
    """Everything the screen lets through builds as before: quoted keys, "!" tags, '&' in text."""
    (tmp_path / "migrations").mkdir()
    write_spec(tmp_path, "0001_base", [], table_ops("t1"))
    _write_bad(
        tmp_path,
        HEADER
        + 'description: "R&D *not* an alias, & neither is this"\n'
        + "version: ! 1.0\n"
        + 'operations:\n  - add_column: {"table": t1, name: c, type: text, nullable: true}\n',
    )
    _base, bad = load_specs(tmp_path / "migrations")
    assert bad.description == "R&D *not* an alias, & neither is this"
    assert bad.version == "1.0"
    assert len(bad.operations) == 1
