"""No password leaves dualorm: not in output, logs, the audit table, manifests or ``.dualorm/``.

The password ``S3cr3t pa:ss@w,rd%`` holds a space, a colon, an at sign, a comma and a percent
sign; it is written into DATABASE_URL (URL and keyword form), DATABASE_REPLICA_URLS and a
malformed URL, and every command is run as a user runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from project_files import NOTES_SPEC, SPECS_DIR, write_project

from dualorm.config import Config, split_replica_urls
from dualorm.db import connect
from dualorm.replicas import check_replicas

PASSWORD = "S3cr3t pa:ss@w,rd%"
ENCODED = quote(PASSWORD, safe="")


def test_replica_urls_keep_a_comma_inside_a_password(tmp_path: Path, database_url: str) -> None:
    with connect(database_url) as conn:
        host, port, dbname = conn.info.host, conn.info.port, conn.info.dbname
    encoded = f"postgresql://postgres:{ENCODED}@{in_url(host)}:{port}/{dbname}"
    keyword = f"host={host} port={port} user=postgres dbname={dbname} password='{PASSWORD}'"
    raw = f"postgres://postgres:a,b@{in_url(host)}:{port}/{dbname}"
    value = f"{encoded},{keyword} , {raw},"
    config = Config.load(tmp_path, {"DATABASE_REPLICA_URLS": value})
    assert config.replica_urls == (encoded, keyword, raw)
    assert split_replica_urls("host=a password=x,y user=u,host=b") == (
        "host=a password=x,y user=u",
        "host=b",
    )
    # Each entry reaches the server whole (the test server is its own "replica" here).
    statuses = check_replicas(database_url, config.replica_urls)
    assert [s.reachable for s in statuses] == [True, True, True], statuses
    for status in statuses:
        assert PASSWORD not in repr(status) and ENCODED not in repr(status)
        assert "a,b" not in repr(status)


# -- every command, every way of writing the password, as a user runs it -----------------------

MODELS = """
import sqlalchemy as sa

metadata = sa.MetaData()
notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("body", sa.Text),
)
"""

COMMANDS = (
    ("migrate", "status"),
    ("migrate", "up", "--log-format", "json", "--verbose"),
    ("migrate", "status", "--json"),
    ("validate", "--sources", "sqlalchemy,database"),
    ("validate", "--replicas"),
    ("backup", "create", "--unencrypted"),
)


def in_url(host: str) -> str:
    """``host`` as a URL's netloc holds it: a socket directory percent-encoded."""
    return quote(host, safe="") if host.startswith("/") else host


def forms(host: str, port: int | str, dbname: str) -> dict[str, str]:
    """DATABASE_URL written three ways, each carrying PASSWORD."""
    return {
        "url": f"postgresql://postgres:{ENCODED}@{in_url(host)}:{port}/{dbname}",
        "keyword": (f"host={host} port={port} user=postgres dbname={dbname} password='{PASSWORD}'"),
        "malformed": f"postgresql//postgres:{PASSWORD}@{in_url(host)}:{port}/{dbname}",
    }


def replicas(host: str, port: int | str, dbname: str) -> str:
    both = forms(host, port, dbname)
    raw = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/{dbname}"
    return f"{both['url']},{both['keyword']},{raw}"


def leaks(text: str | bytes) -> list[str]:
    data = text if isinstance(text, str) else text.decode("utf-8", "replace")
    pieces = (PASSWORD, ENCODED, ENCODED.lower(), "S3cr3t", "w,rd%", "pa:ss@")
    return [p for p in pieces if p in data]


def notes_project(root: Path) -> Path:
    """Table ``notes``, in a spec and in a SQLAlchemy models module."""
    settings = {
        "migrations_dir": SPECS_DIR,
        "sa_metadata": "models:metadata",
        "django_app_label": "django_app",
    }
    return write_project(root, NOTES_SPEC, settings=settings, files={"models.py": MODELS})


def run_cli(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualorm.cli", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def files_under(*folders: Path) -> dict[Path, bytes]:
    found = {}
    for folder in folders:
        for path in folder.rglob("*") if folder.is_dir() else ():
            if path.is_file() and "pgdata" not in path.parts:
                found[path] = path.read_bytes()
    return found


@pytest.mark.parametrize("reachable", [True, False], ids=["real server", "unreachable port"])
@pytest.mark.parametrize("form", ["url", "keyword", "malformed"])
def test_no_command_shows_the_password(
    tmp_path: Path, database_url: str, form: str, reachable: bool
) -> None:
    with connect(database_url) as conn:
        host, port, dbname = conn.info.host, conn.info.port, conn.info.dbname
    root = notes_project(tmp_path / "project")
    target = forms(host, port if reachable else 1, dbname)[form]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUALORM_", "DATABASE_"))}
    env.update(
        DATABASE_URL=target,
        DATABASE_REPLICA_URLS=replicas(host, port if reachable else 1, dbname),
        DUALORM_BACKUP_DIR=str(tmp_path / "backups"),
        DUALORM_DEBUG="1",
    )
    codes = {}
    for command in COMMANDS:
        done = run_cli(root, env, *command)
        codes[" ".join(command)] = done.returncode
        assert not leaks(done.stdout), (command, done.stdout)
        assert not leaks(done.stderr), (command, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        if not (reachable and form != "malformed"):
            # Refused or unreachable: the message still says which server, without the password.
            assert host in done.stderr or in_url(host) in done.stderr, (command, done.stderr)
    connects = reachable and form != "malformed"
    if connects:
        assert codes["migrate up --log-format json --verbose"] == 0, codes
        assert codes["backup create --unencrypted"] == 0, codes
        assert list((tmp_path / "backups").glob("*.json")), "no manifest written"
    else:
        assert set(codes.values()) == {2}, codes
    for path, data in files_under(root / ".dualorm", tmp_path / "backups").items():
        if path.suffix != ".dump":
            assert not leaks(data), path
    with connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('dualorm.audit') IS NOT NULL").fetchone()
        rows = conn.execute("SELECT a::text FROM dualorm.audit a").fetchall() if exists[0] else []
    assert bool(rows) == connects
    for (row,) in rows:
        assert not leaks(str(row)), row


@pytest.mark.parametrize("form", ["url", "keyword", "malformed"])
def test_python_api_errors_hold_no_password(tmp_path: Path, form: str) -> None:
    import dualorm
    from dualorm.errors import DualormError

    root = notes_project(tmp_path)
    config = Config(
        root=root, django_app_label="django_app", database_url=forms("127.0.0.1", 1, "auth")[form]
    )
    calls = {
        "migrate_status": lambda: dualorm.migrate_status(config),
        "migrate_up": lambda: dualorm.migrate_up(config),
        "create_backup": lambda: dualorm.create_backup(config=config, encrypt=False),
        "connect": lambda: connect(str(config.database_url)),
    }
    for name, call in calls.items():
        with pytest.raises(DualormError) as info:
            call()
        assert info.value.exit_code == 2, (name, info.value)
        assert not leaks(str(info.value)) and not leaks(repr(info.value)), (name, info.value)
        assert info.value.__cause__ is None or not leaks(str(info.value.__cause__)), name
