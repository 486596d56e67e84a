"""``dualorm migrate new|make``: the generated files are current and byte for byte
reproducible, stale ones are listed, and a malformed spec writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from project_files import ROOT, SPECS_DIR, copy_reference, pyproject

from dualorm.cli import main
from dualorm.config import Config
from dualorm.spec.lineage import chain_parents
from dualorm.spec.load import load_specs
from dualorm.spec.make import render_all


def test_committed_files_are_what_make_generates() -> None:
    config = Config.load(ROOT)
    migrations = load_specs(config.migrations_path)
    rendered = render_all(config, migrations)
    assert len(rendered) == 2 * len(migrations)
    for path, (_, text) in rendered.items():
        assert path.read_text(encoding="utf-8") == text, f"{path} differs from a fresh render"


def test_make_check_is_clean_on_main(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["migrate", "make", "--check"]) == 0


def test_parallel_specs_are_chained_in_run_order() -> None:
    parents = chain_parents(load_specs(ROOT / "migrations"))
    assert parents["0001_initial"] == ()
    assert parents["0002_user_image_and_active_key_index"] == ("0001_initial",)
    assert parents["0003_add_user_preferences"] == ("0002_user_image_and_active_key_index",)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's specs, with empty generated-file folders of its own."""
    settings = {
        "migrations_dir": SPECS_DIR,
        "django_settings": "django_app.settings",
        "django_app_label": "django_app",
    }
    (tmp_path / "pyproject.toml").write_text(pyproject(settings), encoding="utf-8")
    copy_reference(tmp_path, SPECS_DIR, skip=("versions",))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "dualorm.spec.make._migrations_dir", lambda config, app: tmp_path / "django_migrations"
    )
    return tmp_path


def test_check_lists_missing_files_then_make_writes_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "make", "--check"]) == 1
    out = capsys.readouterr().out
    assert "0003_add_user_preferences" in out and "missing" in out
    assert not (project / "django_migrations").exists()
    assert main(["migrate", "make"]) == 0
    assert (project / "migrations/alembic/versions/0001_initial.py").exists()
    assert (project / "django_migrations/0003_add_user_preferences.py").exists()
    assert (project / "django_migrations/__init__.py").exists()
    capsys.readouterr()
    assert main(["migrate", "make", "--check"]) == 0


def test_editing_a_spec_makes_its_files_stale(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "make"]) == 0
    spec = project / "migrations/0002_user_image_and_active_key_index.yaml"
    spec.write_text(spec.read_text().replace("type: text", "type: varchar(500)"))
    capsys.readouterr()
    assert main(["migrate", "make", "--check"]) == 1
    out = capsys.readouterr().out
    assert "0002_user_image_and_active_key_index" in out and "checksum changed" in out
    assert "0001_initial" not in out


def test_make_check_reads_the_spec_cache_and_the_tables_the_specs_create(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dualorm.spec.cache import SpecCache
    from dualorm.spec.foreign import created_tables

    directory = project / "migrations"
    assert main(["migrate", "make"]) == 0
    cache = SpecCache(directory, project / ".dualorm" / "cache")
    # make kept the created tables beside the specs, exactly as the YAML names them.
    assert cache.created() == created_tables(directory)
    assert cache.migrations() == load_specs(directory)
    # A spec emptied of its operations: the cache misses and the full load sees it.
    spec = directory / "0004_session_expiry_covering_index.yaml"
    text = spec.read_text()
    spec.write_text(text[: text.index("operations:")] + "operations: []\n")
    capsys.readouterr()
    assert main(["migrate", "make", "--check"]) == 1
    assert "0004_session_expiry_covering_index: checksum changed" in capsys.readouterr().out
    assert SpecCache(directory, project / ".dualorm" / "cache").migrations() == load_specs(
        directory
    )


def test_make_check_prints_on_the_fast_path_what_typer_prints(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dualorm.cli import build_app
    from dualorm.cli.fast import fast_main
    from dualorm.cli.output import run

    for args in (["migrate", "make", "--check"], ["migrate", "check"]):
        results = []
        for fast in (True, False):
            capsys.readouterr()
            code = fast_main(args) if fast else run(build_app(), args)
            results.append((code, *capsys.readouterr()))
        assert results[0] == results[1]
        assert results[0][0] == 1 and "stale:" in results[0][1]


def test_malformed_spec_writes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = project / "migrations/0003_add_user_preferences.yaml"
    spec.write_text(spec.read_text().replace("create_index:", "create_indexx:"))
    assert main(["migrate", "make"]) == 2
    assert "0003_add_user_preferences.yaml:" in capsys.readouterr().err
    assert not (project / "django_migrations").exists()
    assert not (project / "migrations/alembic/versions").exists()


def test_new_writes_a_template_with_the_next_id(project: Path) -> None:
    assert main(["migrate", "new", "Add nickname to users"]) == 0
    path = project / "migrations/0007_add_nickname_to_users.yaml"
    text = path.read_text()
    assert 'id: "0007_add_nickname_to_users"' in text
    assert '["0006_deferrable_foreign_keys"]' in text
    loaded = {m.id: m for m in load_specs(project / "migrations")}
    assert loaded["0007_add_nickname_to_users"].operations == ()


def test_new_refuses_a_name_without_letters(project: Path) -> None:
    assert main(["migrate", "new", "---"]) == 2


def test_make_never_overwrites_a_file_it_did_not_write(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What `manage.py makemigrations` wrote under the id of a spec.
    theirs = project / "django_migrations" / "0001_initial.py"
    theirs.parent.mkdir()
    theirs.write_text("# written by makemigrations\n", encoding="utf-8")
    for args in (["migrate", "make"], ["migrate", "make", "--check"]):
        assert main(args) == 3
        err = capsys.readouterr().err
        assert "0001_initial.py was not written by dualorm" in err and "move it away" in err
    assert theirs.read_text(encoding="utf-8") == "# written by makemigrations\n"
    assert not (project / "migrations" / "alembic" / "versions").exists()


def test_make_check_reads_djangos_graph_only_for_apps_holding_makemigrations_files(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import sys

    # A project whose one app holds only dualorm's files: make --check needs no migration
    # graph of Django's (nor its model layer); a file makemigrations wrote brings it back.
    app = tmp_path / "notes"
    (app / "migrations").mkdir(parents=True)
    for name in ("__init__.py", "models.py", "migrations/__init__.py"):
        (app / name).write_text("", encoding="utf-8")
    (tmp_path / "site_settings.py").write_text(
        'SECRET_KEY = "x"\nINSTALLED_APPS = ["notes"]\nDATABASES = {}\n', encoding="utf-8"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dualorm]\nmigrations_dir = "migrations"\ndjango_settings = "site_settings"\n'
        'django_app_label = "notes"\n',
        encoding="utf-8",
    )
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_notes.yaml").write_text(
        'id: "0001_notes"\nname: notes\ndependencies: []\noperations:\n'
        "  - create_table:\n      name: notes_note\n      columns:\n"
        "        - {name: id, type: bigint, primary_key: true}\n",
        encoding="utf-8",
    )
    probe = (
        "import sys; from dualorm.cli import main; code = main(['migrate', 'make', '--check']); "
        "print(code, 'django.db.migrations' in sys.modules, 'django' in sys.modules)"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def check() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()

    done = subprocess.run(
        [sys.executable, "-m", "dualorm", "migrate", "make"], cwd=tmp_path, env=env, text=True
    )
    assert done.returncode == 0
    assert check()[-1] == "0 False True"
    # Nothing changed since: the answer comes from the cache, without setting Django up.
    assert check()[-1] == "0 False False"
    (app / "migrations" / "0000_theirs.py").write_text(
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
        "    initial = True\n    dependencies = []\n    operations = []\n",
        encoding="utf-8",
    )
    found = check()
    assert found[-1] == "1 True True"
    assert any("0001_notes" in line and "emitted order changed" in line for line in found)
