"""The model-schema cache: a run on unchanged models imports none of them, any change to what
they were read from is seen, a tampered entry is never trusted, and every answer is the one
a full read gives.

The project is a copy of the reference one in a temporary directory, driven through the
console commands in fresh processes (as a user or CI runs them). Each model set notes in
``.imports.log`` when it is imported, which is how a run shows it read the models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.project_files import ROOT, copy_reference
from tests.reference import REFERENCE_PYPROJECT

# Appended to each model module: a line per import in a file no import looks at (a hidden
# name; written, never read, so never an input of the cache).
MARKER = """
import os as _os

with open(_os.path.join(_os.path.dirname(__file__), "..", ".imports.log"), "a") as _log:
    _log.write("{name}\\n")
"""
USER_COLUMN = '    __tablename__ = "users"\n'


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(ROOT)])}
        self.env.pop("DUALORM_MODEL_FLAG", None)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dualorm", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def check(self, *flags: str) -> tuple[int, dict[str, object], list[str]]:
        """``migrate check --json``: exit code, result, and the model sets it imported."""
        log = self.root / ".imports.log"
        log.unlink(missing_ok=True)
        done = self.run("migrate", "check", "--json", *flags)
        assert done.returncode in (0, 1), done.stderr
        imported = log.read_text().split() if log.exists() else []
        return done.returncode, json.loads(done.stdout), sorted(imported)

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def entry(self, name: str) -> Path:
        return self.root / ".dualorm" / "cache" / f"models-{name}.json"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    copy_reference(tmp_path, "django_app", "sa_models", "migrations")
    (tmp_path / "pyproject.toml").write_text(REFERENCE_PYPROJECT, encoding="utf-8")
    for module, name in (("sa_models/models.py", "sqlalchemy"), ("django_app/models.py", "django")):
        with (tmp_path / module).open("a", encoding="utf-8") as handle:
            handle.write(MARKER.format(name=name))
    made = Project(tmp_path)
    # Emit the generated files: check then reports the models, not missing migrations.
    done = made.run("migrate", "make")
    assert done.returncode == 0, done.stderr
    return made


def _add_user_column(project: Project) -> None:
    project.edit(
        "sa_models/models.py",
        USER_COLUMN,
        USER_COLUMN + "    nickname: Mapped[str | None] = mapped_column(Text)\n",
    )


def test_an_unchanged_project_is_checked_without_importing_any_model(project: Project) -> None:
    code, cold, imported = project.check()
    assert (code, cold["ok"], imported) == (0, True, ["django", "sqlalchemy"])
    code, warm, imported = project.check()
    assert (code, warm, imported) == (0, cold, [])
    # A file whose time moved but whose bytes did not (a checkout, touch) is still the same.
    models = project.root / "sa_models" / "models.py"
    os.utime(models, ns=(models.stat().st_atime_ns, models.stat().st_mtime_ns + 10**10))
    assert project.check() == (0, cold, [])


def test_a_check_answered_from_the_cache_loads_neither_the_planner_nor_the_sql_parser(
    project: Project,
) -> None:
    project.check()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dualorm", "migrate", "check", "--json"],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    unneeded = {"pglast", "yaml", "sqlalchemy", "django.db.models", "dualorm.spec.ops"}
    assert "dualorm.autogen.generate" in loaded
    assert not unneeded & loaded
    assert not {m for m in loaded if m.startswith("dualorm.autogen.plan")}


def test_editing_a_model_file_is_seen(project: Project) -> None:
    project.check()
    _add_user_column(project)
    code, result, imported = project.check()
    assert code == 1
    # The Django models were read after the SQLAlchemy ones in the run that cached them, so
    # the SQLAlchemy modules are among their inputs too: both are read again.
    assert "sqlalchemy" in imported
    found = result["models"]["sqlalchemy"]  # type: ignore[index]
    assert any("nickname" in d["object"] for d in found)
    # The new reading is kept: the next run answers the same without importing.
    assert project.check() == (1, result, [])


def test_a_module_added_where_imports_look_is_seen(project: Project) -> None:
    project.check()
    # A module that shadows nothing today, beside the models: the listing changed.
    (project.root / "sa_models" / "extra.py").write_text("X = 1\n", encoding="utf-8")
    code, result, imported = project.check()
    assert (code, "sqlalchemy" in imported) == (0, True)
    # Added at the project's top level (a sys.path entry), it is seen by both model sets.
    (project.root / "helpers.py").write_text("X = 1\n", encoding="utf-8")
    assert project.check() == (0, result, ["django", "sqlalchemy"])


def test_an_environment_variable_the_models_read_is_an_input(project: Project) -> None:
    project.edit(
        "sa_models/models.py",
        USER_COLUMN,
        USER_COLUMN
        + '    if __import__("os").environ.get("DUALORM_MODEL_FLAG"):\n'
        + "        nickname: Mapped[str | None] = mapped_column(Text)\n",
    )
    assert project.check()[0] == 0
    project.env["DUALORM_MODEL_FLAG"] = "1"
    code, result, imported = project.check()
    assert (code, "sqlalchemy" in imported) == (1, True)
    assert any("nickname" in d["object"] for d in result["models"]["sqlalchemy"])  # type: ignore[index]
    assert project.check() == (1, result, [])
    # The value is kept as an HMAC, never in clear.
    assert b"DUALORM_MODEL_FLAG" in project.entry("sqlalchemy").read_bytes()
    project.env["DUALORM_MODEL_FLAG"] = "secret-value-7f3a"
    project.check()
    assert b"secret-value-7f3a" not in project.entry("sqlalchemy").read_bytes()
    del project.env["DUALORM_MODEL_FLAG"]
    assert project.check()[0] == 0


def test_a_changed_setting_reads_the_models_again(project: Project) -> None:
    project.check()
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(
        REFERENCE_PYPROJECT.replace("sa_models:Base.metadata", "sa_models.models:Base.metadata"),
        encoding="utf-8",
    )
    code, _, imported = project.check()
    assert (code, imported) == (0, ["django", "sqlalchemy"])


def _nicknames(result: dict[str, object]) -> list[str]:
    return [d["object"] for d in result["models"]["sqlalchemy"]]  # type: ignore[index]


def test_a_tampered_entry_is_ignored_and_rewritten(project: Project) -> None:
    project.check()
    entry, answer = project.entry("sqlalchemy"), project.entry("check")
    before = entry.read_bytes()
    _add_user_column(project)
    _, truth, _ = project.check()
    assert "users.nickname" in _nicknames(truth)
    header, body = entry.read_bytes().split(b"\n", 1)
    # Edits that would hide the change: the cached column renamed under the valid header,
    # and the current body under the header (same key, old signature) of the entry before.
    forged = (
        header + b"\n" + body.replace(b'"nickname"', b'"nicknamX"'),
        before.split(b"\n", 1)[0] + b"\n" + body,
    )
    for tampered in forged:
        entry.write_bytes(tampered)
        answer.write_bytes(b"garbage")  # the cached answer is not asked: the entry is
        code, result, imported = project.check()
        assert (code, result, imported) == (1, truth, ["sqlalchemy"])
        assert entry.read_bytes() != tampered  # rewritten
    assert project.check() == (1, truth, [])  # and trusted again
    # The cached answer itself, edited to say all is well: ignored, asked of the models.
    header, body = answer.read_bytes().split(b"\n", 1)
    answer.write_bytes(header + b"\n" + body.replace(b"nickname", b"nicknamX"))
    assert project.check() == (1, truth, [])


def test_results_are_the_same_with_and_without_the_cache(project: Project) -> None:
    warm = [project.check() for _ in range(2)][-1]
    assert warm[2] == []
    no_cache = project.check("--no-cache")
    assert no_cache == (warm[0], warm[1], ["django", "sqlalchemy"])
    _add_user_column(project)
    project.check()  # the changed models are cached
    specs = project.root / "migrations"
    written = {}
    for flags in ((), ("--no-cache",)):
        before = set(specs.glob("*.yaml"))
        done = project.run(
            "migrate", "new", "nick", "--autogenerate", "--from", "sqlalchemy", *flags
        )
        assert done.returncode == 0, done.stderr
        (path,) = set(specs.glob("*.yaml")) - before
        written[flags] = path.read_text(encoding="utf-8")
        path.unlink()
    assert written[()] == written[("--no-cache",)]
    assert "add_column" in written[()] and "nickname" in written[()]


def test_no_cache_outside_autogenerate_is_a_usage_error(project: Project) -> None:
    done = project.run("migrate", "new", "x", "--no-cache")
    assert done.returncode == 2
    assert "--no-cache" in done.stderr


def test_a_cached_schema_is_the_schema_read_in_full(tmp_path: Path) -> None:
    from dualorm.autogen.generate import django_models, sqlalchemy_models
    from dualorm.config import Config
    from dualorm.sources import django as django_source
    from dualorm.sources import sqlalchemy as sa_source

    (tmp_path / "pyproject.toml").write_text(REFERENCE_PYPROJECT, encoding="utf-8")
    config = Config.load(tmp_path)
    full_sa = sa_source.load(sa_source.resolve_metadata(config.sa_metadata))
    full_django = django_source.load(["django_app"], config.django_settings)
    for _ in range(2):  # a miss that stores, then a hit
        sa, sa_tables = sqlalchemy_models(config)
        django, apps, _read, _through = django_models(config)
        assert config.state_dir.joinpath("cache", "models-sqlalchemy.json").is_file()
        for cached, full in ((sa, full_sa), (django, full_django)):
            # Equal, including what equality leaves out, and as fast to look up in.
            assert cached == full
            assert (cached.declares_enums, cached.declares_sequences) == (
                full.declares_enums,
                full.declares_sequences,
            )
            assert all(cached.get(t.key) == t for t in full)
        assert sa_tables == set(full_sa.keys())
        assert apps == django_source.table_apps(config.django_settings)
    assert sqlalchemy_models(config, cache=False)[0] == full_sa
