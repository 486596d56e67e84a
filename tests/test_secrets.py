"""No password leaves dualorm: not in output, logs, the audit table, manifests or ``.dualorm/``.

The password ``S3cr3t pa:ss@w,rd%`` holds a space, a colon, an at sign, a comma and a percent
sign; it is written into DATABASE_URL (URL and keyword form), DATABASE_REPLICA_URLS and a
malformed URL, and every command is run as a user runs it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from dualorm.config import Config, split_replica_urls
from dualorm.db import connect
from dualorm.replicas import check_replicas

PASSWORD = "S3cr3t pa:ss@w,rd%"
ENCODED = quote(PASSWORD, safe="")


def test_replica_urls_keep_a_comma_inside_a_password(tmp_path: Path, database_url: str) -> None:
    with connect(database_url) as conn:
        host, port, dbname = conn.info.host, conn.info.port, conn.info.dbname
    encoded = f"postgresql://postgres:{ENCODED}@{host}:{port}/{dbname}"
    keyword = f"host={host} port={port} user=postgres dbname={dbname} password='{PASSWORD}'"
    raw = f"postgres://postgres:a,b@{host}:{port}/{dbname}"
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
