"""Backups that must be refused: labels kept, other environments and plaintext kept out of
production, keys required, killed writers, lying manifests, FIFOs and endless files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_backup import config_for, fingerprint, label, populate

from dualorm.backup import create_backup, list_backups, prune_backups, restore_backup
from dualorm.backup import verify_backup as verify
from dualorm.backup.crypto import generate_key
from dualorm.cli import main
from dualorm.config import Environment
from dualorm.db import connect
from dualorm.errors import BackupCorrupt, SafetyError
from dualorm.testing import scratch_database

ROOT = Path(__file__).resolve().parent.parent


def labelled(url: str, environment: str) -> None:
    with connect(url) as conn:
        label(conn, environment)
        conn.commit()


def label_of(url: str) -> str | None:
    with connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT value FROM dualorm.meta WHERE key = 'environment'").fetchone()
    return str(row[0]) if row else None


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def source(database_url: str) -> str:
    populate(database_url)
    return database_url


@pytest.fixture
def production(admin_url: str):  # type: ignore[no-untyped-def]
    """A populated database labelled production, with its own marker row."""
    with scratch_database(admin_url, prefix="prod") as url:
        populate(url)
        labelled(url, "production")
        with connect(url) as conn:
            conn.execute("INSERT INTO customers (email, name) VALUES ('ceo@prod.test', 'real')")
            conn.commit()
        yield url


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.dualorm]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DUALORM_ENV", raising=False)
    monkeypatch.delenv("DUALORM_BACKUP_KEY", raising=False)
    monkeypatch.setenv("DUALORM_BACKUP_DIR", str(tmp_path / "backups"))
    return tmp_path / "backups"


# -- labels and environments ------------------------------------------------------------------


def test_a_development_backup_into_production_is_refused_and_the_label_kept(
    source: str,
    production: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = generate_key()
    backup = create_backup("dev", config=config_for(source, tmp_path, backup_key=key))
    assert backup.manifest.environment == "development"
    before = fingerprint(production)
    prod = config_for(production, tmp_path, backup_key=key, environment=Environment.PRODUCTION)
    with pytest.raises(SafetyError, match="allow-environment-change") as refused:
        restore_backup(backup.path, production, config=prod, confirm=True)
    assert refused.value.exit_code == 3 and "development" in str(refused.value)
    assert fingerprint(production) == before

    restore_backup(
        backup.path, production, config=prod, confirm=True, allow_environment_change=True
    )
    assert label_of(production) == "production"
    # The hole this closes: the relabelled database was then wiped by a development reset.
    after = fingerprint(production)
    (tmp_path / "pyproject.toml").write_text("[tool.dualorm]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DUALORM_ENV", raising=False)
    monkeypatch.setenv("DATABASE_URL", production)
    assert main(["reset", "--env", "development", "--confirm"]) == 3
    assert "labelled production" in capsys.readouterr().err
    assert fingerprint(production) == after


def test_restore_keeps_a_development_targets_label(
    source: str, admin_url: str, tmp_path: Path
) -> None:
    labelled(source, "staging")
    config = config_for(source, tmp_path)
    backup = create_backup("staging", config=config)
    with scratch_database(admin_url, prefix="dev") as target:
        labelled(target, "development")
        restore_backup(backup.path, target, config=config)
        assert label_of(target) == "development"


def test_an_unlabelled_target_is_refused_naming_the_label_command(
    source: str, admin_url: str, tmp_path: Path
) -> None:
    backup = create_backup("any", config=config_for(source, tmp_path))
    with scratch_database(admin_url, prefix="bare") as target:
        with connect(target, autocommit=True) as conn:
            conn.execute("CREATE TABLE keep (id int)")
        with pytest.raises(SafetyError, match="dualorm db label ENV") as refused:
            restore_backup(backup.path, target, config=config_for(source, tmp_path))
        assert refused.value.exit_code == 3
        assert list(fingerprint(target)) == ["public.keep"]


def test_a_garbage_target_label_is_refused_naming_it(
    source: str, admin_url: str, tmp_path: Path
) -> None:
    backup = create_backup("any", config=config_for(source, tmp_path))
    with scratch_database(admin_url, prefix="moon") as target:
        labelled(target, "development")
        with connect(target, autocommit=True) as conn:
            conn.execute("UPDATE dualorm.meta SET value = 'moon' WHERE key = 'environment'")
        before = fingerprint(target)
        with pytest.raises(SafetyError, match="'moon'"):
            restore_backup(backup.path, target, config=config_for(source, tmp_path))
        assert fingerprint(target) == before


def test_a_planted_unencrypted_backup_is_refused_in_production(
    production: str, tmp_path: Path
) -> None:
    key = generate_key()
    prod = config_for(production, tmp_path, backup_key=key, environment=Environment.PRODUCTION)
    create_backup("real", config=prod)
    planted = create_backup(
        "planted", config=config_for(production, tmp_path, backup_key=None), encrypt=False
    )
    before = fingerprint(production)
    with pytest.raises(SafetyError, match="not encrypted") as refused:
        restore_backup(planted.path, production, config=prod, confirm=True)
    assert refused.value.exit_code == 3
    assert fingerprint(production) == before


# -- keys -------------------------------------------------------------------------------------


def test_create_without_a_key_is_refused_unless_unencrypted(
    source: str, cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", source)
    assert main(["backup", "create", "--name", "x"]) == 3
    assert "--unencrypted" in capsys.readouterr().err
    assert files(cli_env) == []
    assert main(["backup", "create", "--name", "x", "--unencrypted"]) == 0
    assert "NOT encrypted" in capsys.readouterr().out
    assert files(cli_env) == ["x.dump", "x.manifest.json"]


def test_unencrypted_is_never_allowed_in_production(
    production: str, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", production)
    monkeypatch.setenv("DUALORM_ENV", "production")
    monkeypatch.setenv("DUALORM_BACKUP_KEY", generate_key())
    assert main(["backup", "create", "--name", "x", "--unencrypted"]) == 3
    assert files(cli_env) == []


# -- killed writers ---------------------------------------------------------------------------

KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dualorm.backup import create_backup
    from dualorm.config import Config

    def stall(event):
        # Mid-dump: the temporary file exists and holds data; wait to be killed.
        print("dumping", flush=True)
        time.sleep(600)

    config = Config(root=Path(sys.argv[2]), database_url=sys.argv[1], backup_dir=sys.argv[3])
    create_backup("x", config=config, encrypt=False, progress=stall)
    """
)


def test_a_writer_killed_mid_dump_never_blocks_a_retry(source: str, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, source, str(tmp_path), str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    ) as writer:
        assert writer.stdout is not None and writer.stderr is not None
        line = writer.stdout.readline().strip()
        assert line == b"dumping", writer.stderr.read()
        leftovers = [p for p in files(folder) if p.endswith(".part")]
        assert leftovers and all(p.startswith(".x.dump.") for p in leftovers)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    config = config_for(source, tmp_path)
    backup = create_backup("x", config=config)
    verify(backup.path, config=config)
    assert files(folder) == ["x.dump", "x.manifest.json"]


def test_a_stale_part_file_of_the_old_name_does_not_block(source: str, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir(mode=0o700)
    (folder / ".x.dump.part").write_bytes(b"half a dump")
    backup = create_backup("x", config=config_for(source, tmp_path))
    assert backup.path.name == "x.dump"


# -- lying manifests --------------------------------------------------------------------------


def test_prune_never_deletes_the_data_of_a_backup_it_keeps(source: str, tmp_path: Path) -> None:
    config = config_for(source, tmp_path)
    made = [create_backup(f"b{i}", config=config) for i in range(3)]
    newest = made[-1]
    # The oldest manifest is edited to describe the newest backup's file.
    data = json.loads(made[0].manifest_path.read_text())
    data["file"] = newest.path.name
    made[0].manifest_path.write_text(json.dumps(data))
    with pytest.raises(BackupCorrupt, match="b2.dump"):
        verify(made[0].manifest_path, config=config)

    removed = prune_backups(1, config=config)
    assert [b.manifest.name for b in removed] == ["b1"]
    assert newest.path.exists()
    verify(newest.path, config=config)


def test_a_manifest_copied_under_another_name_is_not_listed(source: str, tmp_path: Path) -> None:
    config = config_for(source, tmp_path)
    kept = create_backup("kept", config=config)
    (kept.path.parent / "decoy.manifest.json").write_text(kept.manifest_path.read_text())
    assert [b.manifest_path.name for b in list_backups(config=config)] == ["kept.manifest.json"]
    prune_backups(1, config=config)
    assert kept.path.exists()


# -- FIFOs and endless files ------------------------------------------------------------------


def run_cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "dualorm.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    assert time.monotonic() - started < 60
    return done


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.parametrize("which", ["data", "manifest"])
def test_verify_and_restore_refuse_what_is_not_a_regular_file(
    source: str, tmp_path: Path, kind: str, which: str
) -> None:
    config = config_for(source, tmp_path)
    backup = create_backup("odd", config=config)
    victim = backup.path if which == "data" else backup.manifest_path
    victim.unlink()
    if kind == "fifo":
        os.mkfifo(victim)
    else:
        victim.symlink_to("/dev/zero")
    env = {"DATABASE_URL": source, "DUALORM_BACKUP_KEY": config.backup_key or ""}
    before = fingerprint(source)
    for argv in (("verify", str(backup.path)), ("restore", str(backup.path), "--confirm")):
        done = run_cli("backup", *argv, env=env)
        assert done.returncode == 1, done.stderr
        assert "not a regular file" in done.stderr and str(victim) in done.stderr
    assert fingerprint(source) == before


def test_a_file_longer_than_its_manifest_is_read_no_further(source: str, tmp_path: Path) -> None:
    config = config_for(source, tmp_path)
    backup = create_backup("long", config=config)
    with backup.path.open("ab") as handle:
        handle.write(b"\0" * (8 << 20))
    with pytest.raises(BackupCorrupt, match="tampered or truncated") as found:
        verify(backup.path, config=config)
    assert f"manifest says {backup.manifest.size}" in str(found.value)


def test_a_manifest_without_an_environment_still_reads(source: str, tmp_path: Path) -> None:
    config = config_for(source, tmp_path)
    backup = create_backup("old", config=config)
    data = json.loads(backup.manifest_path.read_text())
    del data["environment"]
    backup.manifest_path.write_text(json.dumps(data))
    assert verify(backup.path, config=config).backup.manifest.environment is None
