"""The embedded server behind `dualorm db start|url|stop` really starts and really stops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dualorm.db import EmbeddedServer, connect


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "dualorm.cli", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="pgserver's POSIX sockets")
def test_start_url_stop(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.dualorm]\n")
    if os.geteuid() == 0:
        tmp_path.chmod(0o755)
    started = cli(tmp_path, "db", "start")
    assert started.returncode == 0, started.stderr
    assert "embedded server running" in started.stdout
    assert started.stderr == ""
    server = EmbeddedServer(tmp_path / ".dualorm")
    assert server.running()
    url = server.start()
    with connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("dualorm",)

    stopped = cli(tmp_path, "db", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == "embedded server stopped"
    assert stopped.stderr == ""
    assert not server.running()
    again = cli(tmp_path, "db", "stop")
    assert again.stdout.strip() == "embedded server was not running"
