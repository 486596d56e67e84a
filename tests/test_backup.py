"""Backups against a real server: round trips, damage, keys, secrets, safety rules, the CLI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import psycopg
import pytest

from dualorm.backup import create_backup, list_backups, prune_backups, restore_backup
from dualorm.backup import verify_backup as verify
from dualorm.backup.crypto import generate_key
from dualorm.backup.dump import ClientTarget
from dualorm.cli import main
from dualorm.config import Config, Environment
from dualorm.db import connect, pg_bin
from dualorm.errors import (
    BackupCorrupt,
    BackupKeyError,
    ConfirmationRequired,
    DualormError,
    SafetyError,
)
from dualorm.runner.ledger import ensure_ledger, write_label
from dualorm.testing import scratch_database

MARKER = "PLAINTEXT-MARKER-7f3a91"
PASSWORD = "pw-Zq8s3cr3t-never-shown"

SCHEMA_SQL = """
CREATE TABLE customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name varchar(100),
    created_at timestamptz NOT NULL DEFAULT now(),
    balance numeric(12, 2),
    active boolean NOT NULL DEFAULT true,
    profile jsonb
);
CREATE TABLE orders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    placed_on date NOT NULL,
    items integer[],
    note text,
    payload bytea
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
INSERT INTO customers (email, name, balance, active, profile)
SELECT 'user' || g || '@example.test', 'name ' || g, g * 1.25, g % 3 <> 0,
       jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g::text))
FROM generate_series(1, 400) AS g;
INSERT INTO orders (customer_id, placed_on, items, note, payload)
SELECT 1 + g % 400, date '2024-01-01' + g % 365, ARRAY[g, g + 1], repeat('note ', g % 7),
       decode(md5(g::text), 'hex')
FROM generate_series(1, 3000) AS g;
"""


def populate(url: str, migration: str = "0001_initial") -> None:
    with connect(url) as conn:
        conn.execute(SCHEMA_SQL)
        conn.execute(
            "INSERT INTO customers (email, name) VALUES ('known@example.test', %s)", (MARKER,)
        )
        ensure_ledger(conn)
        conn.execute(
            "INSERT INTO dualorm.migrations (id, name, version, checksum, duration_ms, "
            "applied_by, correlation_id) VALUES (%s, 'initial', '1', repeat('a', 64), 5, "
            "'test', gen_random_uuid())",
            (migration,),
        )
        label(conn, "development")
        conn.commit()


def label(conn: psycopg.Connection[tuple[object, ...]], environment: str) -> None:
    """Label a test database the way `dualorm db label` does."""
    write_label(conn, Environment(environment))


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Count and md5 over the ordered contents of every table outside the system schemas."""
    with connect(url) as conn:
        tables = conn.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        ).fetchall()
        result = {}
        for (table,) in tables:
            row = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                f"FROM {table} AS t"
            ).fetchone()
            assert row is not None
            result[str(table)] = (int(str(row[0])), str(row[1]))
    return result


def with_password(url: str) -> str:
    """The same URL carrying a password the trust-auth test server ignores."""
    return f"{url}{'&' if '?' in url else '?'}password={PASSWORD}"


def config_for(url: str, tmp_path: Path, **changes: object) -> Config:
    values: dict[str, object] = {
        "root": tmp_path,
        "database_url": url,
        "django_app_label": "django_app",
        "backup_key": generate_key(),
        "backup_dir": str(tmp_path / "backups"),
    }
    values.update(changes)
    return Config(**values)  # type: ignore[arg-type]


@pytest.fixture
def source(database_url: str) -> str:
    populate(database_url)
    return database_url


@pytest.fixture
def target(admin_url: str):  # type: ignore[no-untyped-def]
    """A fresh database labelled development (restore refuses an unlabelled one)."""
    with scratch_database(admin_url, prefix="restore") as url:
        with connect(url) as conn:
            label(conn, "development")
            conn.commit()
        yield url


def flip_byte(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x40
    path.write_bytes(bytes(data))


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encrypted", "compression"), [(True, "zstd"), (False, "zstd"), (True, "none")]
)
def test_restore_into_a_fresh_database_gives_identical_rows(
    source: str, target: str, tmp_path: Path, encrypted: bool, compression: str
) -> None:
    config = config_for(source, tmp_path)
    backup = create_backup("round", encrypt=encrypted, config=config, compression=compression)
    assert backup.manifest.encrypted is encrypted
    assert backup.manifest.compression == compression
    restore_backup(backup.path, target, config=config)
    before, after = fingerprint(source), fingerprint(target)
    assert after == before
    assert {"public.customers", "public.orders", "dualorm.migrations"} <= set(after)
    assert after["public.orders"][0] == 3000


def test_file_manifest_and_modes(source: str, tmp_path: Path) -> None:
    config = config_for(source, tmp_path)
    events: list[object] = []
    backup = create_backup(config=config, progress=events.append)
    for path in (backup.path, backup.manifest_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = json.loads(backup.manifest_path.read_text())
    with connect(source) as conn:
        row = conn.execute(
            "SELECT current_database(), current_setting('server_version')"
        ).fetchone()
    assert row is not None
    assert written["database"] == row[0]
    assert written["server_version"] == str(row[1]).split()[0]
    assert written["migration_head"] == "0001_initial"
    assert written["encrypted"] is True
    assert written["encryption"] == "aes-256-gcm-chunked-v1"
    assert written["compression"] == "zstd"
    assert written["pg_dump_compression"] == "none"
    assert written["pg_dump_version"][0].isdigit()
    assert written["size"] == backup.path.stat().st_size
    assert backup.path.name.startswith(str(row[0]))
    assert events, "progress was reported"
    assert not [p for p in backup.path.parent.iterdir() if p.name.endswith(".part")]


def test_migration_head_is_null_without_a_ledger(database_url: str, tmp_path: Path) -> None:
    with connect(database_url) as conn:
        conn.execute("CREATE TABLE t (id int)")
        conn.commit()
    backup = create_backup("plain", config=config_for(database_url, tmp_path))
    assert backup.manifest.migration_head is None


def test_restore_replaces_the_target_ledger(source: str, target: str, tmp_path: Path) -> None:
    config = config_for(source, tmp_path)
    backup = create_backup("ledger", config=config)
    populate(target, migration="0002_later")
    restore_backup(backup.path, target, config=config)
    with connect(target) as conn:
        rows = conn.execute("SELECT id FROM dualorm.migrations ORDER BY id").fetchall()
        customers = conn.execute("SELECT count(*) FROM customers").fetchone()
    assert rows == [("0001_initial",)]
    assert customers == (401,)


def test_a_failing_restore_leaves_the_target_as_it_was(
    source: str, target: str, tmp_path: Path
) -> None:
    config = config_for(source, tmp_path)
    backup = create_backup("fails", config=config)
    populate(target, migration="0002_later")
    with connect(target) as conn:
        # --clean cannot drop customers while a view outside the archive depends on it.
        conn.execute("CREATE VIEW keeps_customers AS SELECT id FROM customers")
        conn.execute("DELETE FROM orders WHERE customer_id > 10")
        conn.commit()
    before = fingerprint(target)
    with pytest.raises(DualormError, match="rolled back") as info:
        restore_backup(backup.path, target, config=config)
    assert info.value.exit_code == 1
    assert fingerprint(target) == before


# -- damage -----------------------------------------------------------------------------------


def test_flipped_byte_fails_verify_and_restore_refuses(
    source: str, target: str, tmp_path: Path
) -> None:
    config = config_for(source, tmp_path)
    backup = create_backup("flip", config=config)
    verify(backup.path, config=config)
    flip_byte(backup.path, backup.manifest.size // 2)
    with pytest.raises(BackupCorrupt, match="checksum"):
        verify(backup.path, config=config)
    populate(target, migration="0002_later")
    before = fingerprint(target)
    with pytest.raises(BackupCorrupt) as info:
        restore_backup(backup.path, target, config=config)
    assert info.value.exit_code == 1
    assert fingerprint(target) == before


def rewrite_manifest(backup_manifest: Path, data: Path) -> None:
    """Make the manifest match a damaged file, as an attacker with write access could."""
    import hashlib

    written = json.loads(backup_manifest.read_text())
    written["sha256"] = hashlib.sha256(data.read_bytes()).hexdigest()
    written["size"] = data.stat().st_size
    backup_manifest.write_text(json.dumps(written))


@pytest.mark.parametrize("encrypted", [True, False])
def test_truncated_file_fails_verify_and_restore_refuses(
    source: str, target: str, tmp_path: Path, encrypted: bool
) -> None:
    config = config_for(source, tmp_path)
    backup = create_backup("cut", config=config, encrypt=encrypted)
    with backup.path.open("r+b") as handle:
        handle.truncate(backup.manifest.size - 100)
    with pytest.raises(BackupCorrupt, match="checksum"):
        verify(backup.path, config=config)
    # Even with a manifest that agrees with the cut file, the stream itself gives it away.
    rewrite_manifest(backup.manifest_path, backup.path)
    with pytest.raises(BackupCorrupt, match="truncated"):
        verify(backup.path, config=config)
    before = fingerprint(target)
    with pytest.raises(BackupCorrupt):
        restore_backup(backup.path, target, config=config)
    assert fingerprint(target) == before


def test_tampering_with_a_matching_manifest_fails_authentication(
    source: str, tmp_path: Path
) -> None:
    config = config_for(source, tmp_path)
    backup = create_backup("forged", config=config)
    flip_byte(backup.path, backup.manifest.size - 20)
    rewrite_manifest(backup.manifest_path, backup.path)
    with pytest.raises(BackupCorrupt, match="failed authentication"):
        verify(backup.path, config=config)


def test_encrypted_backup_is_opaque(source: str, tmp_path: Path) -> None:
    backup = create_backup("opaque", config=config_for(source, tmp_path))
    listed = subprocess.run(
        [pg_bin("pg_restore"), "--list", str(backup.path)], capture_output=True, check=False
    )
    assert listed.returncode != 0
    content = backup.path.read_bytes()
    assert MARKER.encode() not in content
    assert b"known@example.test" not in content
    assert b"CREATE TABLE" not in content


# -- keys -------------------------------------------------------------------------------------


def test_wrong_or_missing_key_is_exit_2_and_target_untouched(
    source: str, target: str, tmp_path: Path
) -> None:
    backup = create_backup("keyed", config=config_for(source, tmp_path))
    before = fingerprint(target)
    for key in (generate_key(), None):
        config = config_for(source, tmp_path, backup_key=key)
        with pytest.raises(BackupKeyError) as info:
            verify(backup.path, config=config)
        assert info.value.exit_code == 2
        with pytest.raises(BackupKeyError):
            restore_backup(backup.path, target, config=config)
    assert fingerprint(target) == before


def test_malformed_key_writes_nothing(source: str, tmp_path: Path) -> None:
    config = config_for(source, tmp_path, backup_key="bm90IGEga2V5")
    with pytest.raises(BackupKeyError, match="32 bytes") as info:
        create_backup("bad", config=config)
    assert info.value.exit_code == 2
    assert not (tmp_path / "backups").exists()


def test_a_failing_dump_leaves_nothing_and_shows_no_password(
    source: str, admin_url: str, tmp_path: Path
) -> None:
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    from psycopg import sql

    role = f"nopriv_{uuid.uuid4().hex[:8]}"
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    with connect(source, autocommit=True) as conn:
        # It may read the ledger (the manifest's migration head) but not the tables.
        conn.execute(
            sql.SQL(
                "GRANT USAGE ON SCHEMA dualorm TO {0}; "
                "GRANT SELECT ON ALL TABLES IN SCHEMA dualorm TO {0}"
            ).format(sql.Identifier(role))
        )
    try:
        # The server trusts the connection; the role simply may not read the tables.
        parts = urlsplit(source)
        host = parts.netloc.rpartition("@")[2]
        url = urlunsplit(parts._replace(netloc=f"{role}:{PASSWORD}@{host}"))
        config = config_for(url, tmp_path)
        with pytest.raises(DualormError, match="pg_dump") as info:
            create_backup("denied", config=config)
        assert info.value.exit_code == 1
        assert PASSWORD not in str(info.value)
        assert list((tmp_path / "backups").iterdir()) == []
    finally:
        with connect(source, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# -- production safety ------------------------------------------------------------------------


def test_production_requires_encryption_and_confirmation(
    source: str, target: str, tmp_path: Path
) -> None:
    for url in (source, target):
        with connect(url) as conn:
            label(conn, "production")
            conn.commit()
    prod = config_for(source, tmp_path, environment=Environment.PRODUCTION, backup_key=None)
    with pytest.raises(SafetyError, match="encrypted") as info:
        create_backup("p", config=prod)
    assert info.value.exit_code == 3
    keyed = prod.with_(backup_key=generate_key())
    with pytest.raises(SafetyError, match="no-encrypt"):
        create_backup("p", config=keyed, encrypt=False)
    assert not (tmp_path / "backups").exists()
    backup = create_backup("p", config=keyed)
    with pytest.raises(ConfirmationRequired) as refused:
        restore_backup(backup.path, target, config=keyed)
    assert refused.value.exit_code == 3
    restore_backup(backup.path, target, config=keyed, confirm=True)
    assert fingerprint(target) == fingerprint(source)


def test_target_labelled_production_needs_confirmation(
    source: str, target: str, tmp_path: Path
) -> None:
    config = config_for(source, tmp_path)
    backup = create_backup("lab", config=config)
    with connect(target) as conn:
        label(conn, "production")
        conn.commit()
    with pytest.raises(ConfirmationRequired, match="labelled production"):
        restore_backup(backup.path, target, config=config)


# -- listing and pruning ----------------------------------------------------------------------


def test_prune_keeps_the_newest(source: str, tmp_path: Path) -> None:
    config = config_for(source, tmp_path)
    names = [create_backup(f"b{i}", config=config).manifest.name for i in range(4)]
    assert [b.manifest.name for b in list_backups(config=config)] == names[::-1]
    removed = prune_backups(2, config=config)
    assert sorted(b.manifest.name for b in removed) == names[:2]
    left = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert left == sorted(
        f"{n}{suffix}" for n in names[2:] for suffix in (".dump", ".manifest.json")
    )


# -- secrets ----------------------------------------------------------------------------------


def test_client_programs_never_get_the_password_in_argv(source: str) -> None:
    target = ClientTarget.from_url(with_password(source))
    assert PASSWORD not in target.conninfo
    assert target.env["PGPASSWORD"] == PASSWORD
    assert PASSWORD not in target.label


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_cli_round_trip_shows_no_password(
    source: str,
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", with_password(source))
    monkeypatch.setenv("DUALORM_BACKUP_KEY", generate_key())
    monkeypatch.setenv("DUALORM_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.delenv("DUALORM_ENV", raising=False)
    outputs = []
    code, out = cli(["backup", "create", "--name", "cli", "--json"], capsys)
    outputs.append(out)
    assert code == 0, out
    created = json.loads(out[out.index("{") :])
    assert set(created) == {"path", "manifest", "sha256", "size", "encrypted"}
    assert created["encrypted"] is True
    for argv in (
        ["backup", "list", "--json"],
        ["backup", "list"],
        ["backup", "verify", created["path"]],
        ["backup", "restore", created["path"], "--confirm", "--target-url", with_password(target)],
    ):
        code, out = cli(argv, capsys)
        outputs.append(out)
        assert code == 0, out
    assert "***" in outputs[-1]
    listed = json.loads(outputs[1][outputs[1].index("[") :])
    assert [entry["name"] for entry in listed] == ["cli"]
    assert fingerprint(target) == fingerprint(source)
    everything = "\n".join(outputs) + Path(created["manifest"]).read_text()
    assert PASSWORD not in everything
    assert PASSWORD.encode() not in Path(created["path"]).read_bytes()


def test_cli_exit_codes(
    source: str,
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", source)
    key = generate_key()
    monkeypatch.setenv("DUALORM_BACKUP_KEY", key)
    monkeypatch.setenv("DUALORM_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.delenv("DUALORM_ENV", raising=False)
    assert cli(["backup", "create", "--name", "x"], capsys)[0] == 0
    path = str(tmp_path / "backups" / "x.dump")
    code, out = cli(["backup", "restore", path, "--target-url", target], capsys)
    assert code == 3 and "--confirm" in out
    monkeypatch.setenv("DUALORM_BACKUP_KEY", generate_key())
    code, out = cli(["backup", "verify", path], capsys)
    assert code == 2 and out.count("error:") == 1 and "wrong key" in out
    monkeypatch.setenv("DUALORM_BACKUP_KEY", "%%%")
    code, out = cli(["backup", "create", "--name", "y"], capsys)
    assert code == 2 and "DUALORM_BACKUP_KEY" in out and "%%%" not in out
    assert not (tmp_path / "backups" / "y.dump").exists()
    monkeypatch.delenv("DUALORM_BACKUP_KEY")
    monkeypatch.setenv("DUALORM_ENV", "production")
    code, out = cli(["backup", "create", "--name", "z"], capsys)
    assert code == 3
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [
        "x.dump",
        "x.manifest.json",
    ]
    monkeypatch.setenv("DUALORM_ENV", "development")
    monkeypatch.setenv("DUALORM_BACKUP_KEY", key)
    flip_byte(Path(path), 200)
    code, out = cli(["backup", "verify", path], capsys)
    assert code == 1 and "checksum" in out
    code, out = cli(["backup", "prune", "--keep", "0"], capsys)
    assert code == 2
    code, out = cli(["backup", "prune", "--keep", "1"], capsys)
    assert code == 0 and "0 backup(s) removed" in out
    assert os.path.exists(path)


def test_migrate_status_reads_the_restored_ledger(database_url: str, tmp_path: Path) -> None:
    from dualorm.api import migrate_status, migrate_up

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_one.yaml").write_text(
        'id: "0001_one"\nname: one\ndependencies: []\noperations:\n'
        "  - create_table: {name: one, columns: [{name: id, type: bigint, primary_key: true}]}\n"
    )
    config = Config(
        root=tmp_path,
        database_url=database_url,
        django_app_label="django_app",
        backup_dir=str(tmp_path / "b"),
        environment=Environment.TESTING,
    )
    migrate_up(config)
    backup = create_backup(config=config, encrypt=False)
    (folder / "0002_two.yaml").write_text(
        'id: "0002_two"\nname: two\ndependencies: ["0001_one"]\noperations:\n'
        "  - create_table: {name: two, columns: [{name: id, type: bigint, primary_key: true}]}\n"
    )
    migrate_up(config)
    assert migrate_status(config).pending == ()

    restore_backup(backup.path, database_url, config=config)

    status = migrate_status(config)
    assert status.applied == ("0001_one",) and status.pending == ("0002_two",)
    assert status.ledgers_agree
