"""The environment rules of dualorm/environment.py, each on a real database through the CLI.

The label is written only from an explicit choice (DUALORM_ENV, a non-default Config,
``dualorm db label``); the embedded server is development by itself; everything else stays
unlabelled, and destructive commands refuse an unlabelled database (exit 3) naming the command
that labels it; a ``--env`` contradicting DUALORM_ENV is refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dualorm.cli import main
from dualorm.config import Config, Environment
from dualorm.db import EmbeddedServer, connect
from dualorm.environment import LABEL_COMMAND, effective_label
from dualorm.runner.ledger import environment_label
from tests.project_files import NOTES_SPEC, SPECS_DIR, WITH_SEEDS, use_project, write_project
from tests.reference import REFERENCE_APP

SEED = """
from dualorm.seeding import Seed


class Notes(Seed):
    def execute(self, ctx):
        ctx.upsert("notes", [{"id": 1, "body": "one"}, {"id": 2, "body": "two"}], key=["id"])
"""


def notes_project(root: Path) -> Path:
    """Table ``notes`` and a seed filling it, with the reference Django app."""
    settings = {"migrations_dir": SPECS_DIR, **WITH_SEEDS}
    return write_project(root, NOTES_SPEC, settings=settings, files={"seeds/0001_notes.py": SEED})


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_project(monkeypatch, notes_project(tmp_path), database_url)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def label_of(url: str) -> Environment | None:
    with connect(url, autocommit=True) as conn:
        return environment_label(conn)


def notes(url: str) -> list[tuple[object, ...]]:
    with connect(url, autocommit=True) as conn:
        return conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()


def test_db_label_labels_an_unlabelled_database_and_never_relabels_it(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "db", "label", "staging")
    assert code == 0 and "labelled staging" in out
    assert label_of(database_url) is Environment.STAGING
    code, out, _ = run(capsys, "db", "label", "staging")
    assert code == 0 and "already labelled staging" in out
    # There is no flag to relabel: another environment is refused, the label stays.
    code, _, err = run(capsys, "db", "label", "production")
    assert code == 3 and "relabelling it production is refused" in err
    assert label_of(database_url) is Environment.STAGING
    code, _, err = run(capsys, "db", "label", "nowhere")
    assert code == 2 and "nowhere" in err
    assert label_of(database_url) is Environment.STAGING


def test_db_label_contradicting_dualorm_env_is_refused(
    project: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DUALORM_ENV", "production")
    code, _, err = run(capsys, "db", "label", "development")
    assert code == 3 and "DUALORM_ENV is production" in err
    assert label_of(database_url) is None


FIRST_RUNS = {"up": ["migrate", "up"], "baseline": ["migrate", "baseline", "--to", "0001_notes"]}


def first_run(capsys: pytest.CaptureFixture[str], url: str, verb: str) -> tuple[int, str, str]:
    """``migrate up``, or adopting a database whose tables were made by another tool."""
    if verb == "baseline":
        with connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE notes (id bigint PRIMARY KEY, body text)")
    return run(capsys, *FIRST_RUNS[verb])


@pytest.mark.parametrize("verb", FIRST_RUNS)
def test_the_first_run_without_dualorm_env_leaves_the_database_unlabelled(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    code, _, err = first_run(capsys, database_url, verb)
    assert code == 0, err
    assert label_of(database_url) is None
    # Unlabelled, it is refused by the destructive commands, which name the labelling command.
    code, _, err = run(capsys, "reset", "--env", "development", "--confirm")
    assert code == 3 and LABEL_COMMAND in err
    code, _, err = run(capsys, "seed", "clear", "--env", "development", "--confirm")
    assert code == 3 and LABEL_COMMAND in err
    code, _, err = run(capsys, "seed", "run", "--env", "development")
    assert code == 3 and LABEL_COMMAND in err
    assert label_of(database_url) is None


@pytest.mark.parametrize("verb", FIRST_RUNS)
def test_the_first_run_with_dualorm_env_labels_the_database(
    project: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    verb: str,
) -> None:
    monkeypatch.setenv("DUALORM_ENV", "staging")
    code, _, err = first_run(capsys, database_url, verb)
    assert code == 0, err
    assert label_of(database_url) is Environment.STAGING
    # A later run for another environment is refused by the label it wrote.
    monkeypatch.setenv("DUALORM_ENV", "testing")
    code, _, err = run(capsys, "migrate", "up")
    assert code == 3 and "staging" in err
    assert label_of(database_url) is Environment.STAGING


def test_a_non_default_config_is_an_explicit_choice(project: Path, database_url: str) -> None:
    from dualorm.api import migrate_up

    migrate_up(Config.load().with_(environment=Environment.TESTING))
    assert label_of(database_url) is Environment.TESTING


def test_seed_clear_for_development_under_dualorm_env_production_deletes_nothing(
    project: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run(capsys, "db", "label", "development")[0] == 0
    assert run(capsys, "migrate", "up")[0] == 0
    code, _, err = run(capsys, "seed", "run", "--env", "development")
    assert code == 0, err
    seeded = notes(database_url)
    assert seeded == [(1, "one"), (2, "two")]
    monkeypatch.setenv("DUALORM_ENV", "production")
    code, _, err = run(capsys, "seed", "clear", "--env", "development", "--confirm")
    assert code == 3 and "DUALORM_ENV is production" in err
    assert notes(database_url) == seeded
    monkeypatch.delenv("DUALORM_ENV")
    code, _, err = run(capsys, "seed", "clear", "--env", "development", "--confirm")
    assert code == 0, err
    assert notes(database_url) == []


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR", "DUALORM_ENV", "DATABASE_REPLICA_URLS")
    }
    return subprocess.run(
        [sys.executable, "-m", "dualorm.cli", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="pgserver's POSIX sockets")
def test_the_embedded_server_is_development_by_itself(tmp_path: Path) -> None:
    pytest.importorskip("pgserver")
    root = notes_project(tmp_path)
    if os.geteuid() == 0:
        tmp_path.chmod(0o755)
    started = cli(root, "db", "start")
    if started.returncode != 0:
        pytest.skip(f"the embedded server cannot start here: {started.stderr.strip()[-300:]}")
    server = EmbeddedServer(root / ".dualorm")
    try:
        url = server.start()
        config = Config(root=root, **REFERENCE_APP)
        with connect(url, autocommit=True) as conn:
            # Development before anything is written, and no DUALORM_ENV needed for it.
            assert environment_label(conn) is None
            assert effective_label(conn, config) is Environment.DEVELOPMENT
        done = cli(root, "seed", "clear", "--env", "development", "--confirm")
        assert done.returncode == 0, done.stderr
        done = cli(root, "migrate", "up")
        assert done.returncode == 0, done.stderr
        assert label_of(url) is Environment.DEVELOPMENT
        done = cli(root, "seed", "run", "--env", "development")
        assert done.returncode == 0, done.stderr
        assert notes(url) == [(1, "one"), (2, "two")]
        done = cli(root, "reset", "--env", "development", "--confirm")
        assert done.returncode == 0, done.stderr
        assert label_of(url) is Environment.DEVELOPMENT
    finally:
        cli(root, "db", "stop")
    assert not server.running()
