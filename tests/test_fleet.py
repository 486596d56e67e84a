"""``dualorm fleet``: many real databases migrated by one run, failing, killed and run twice."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from project_files import SPECS_ONLY, project, pyproject
from runner_specs import applied_ids, chain, fleet_cli, snapshot, write_spec

from dualorm import api
from dualorm.config import Config, Environment
from dualorm.db import connection
from dualorm.fleet import Target, fleet_status, fleet_up, read_databases
from dualorm.testing import create_database, drop_database

FLEET_SIZE = 5


@pytest.fixture
def fleet_urls(admin_url: str) -> Iterator[list[str]]:
    """Five fresh, empty databases on the real server, dropped after the test."""
    urls = [create_database(admin_url, "fleet") for _ in range(FLEET_SIZE)]
    try:
        yield urls
    finally:
        for url in urls:
            drop_database(admin_url, url)


def _fleet(root: Path, urls: list[str]) -> tuple[Config, list[Target], Path]:
    config = project(root, urls[0])
    lines = [f"db{i} = {url}" for i, url in enumerate(urls)]
    listing = root / "databases.txt"
    listing.write_text("# the fleet\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return config, read_databases(listing), listing


def _block(url: str, table: str) -> None:
    """Make ``table``'s creation fail on this database (the table is there already)."""
    with connection(url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{table}" (id int)')


def _unblock(url: str, table: str) -> None:
    with connection(url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{table}"')


def _has_ledger(url: str) -> bool:
    with connection(url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regnamespace('dualorm') IS NOT NULL").fetchone()
        return bool(row and row[0])


# -- the databases file --------------------------------------------------------------------


def test_databases_file_names_comments_and_environment(tmp_path: Path) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text(
        "# tenants\n\n"
        "postgresql://app@db1/shop\n"
        "eu = postgresql://app:${EU_PASSWORD}@db2/shop   # the EU shard\n"
        "host=db3 dbname=billing user=app\n",
        encoding="utf-8",
    )
    targets = read_databases(listing, environ={"EU_PASSWORD": "hunter22"})
    assert [t.name for t in targets] == ["shop", "eu", "billing"]
    assert targets[1].url == "postgresql://app:hunter22@db2/shop"
    assert targets[1].where == f"{listing}:4"
    assert "hunter22" not in repr(targets[1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a = postgresql://x@h/d\na = postgresql://x@h/e\n", "'a' is listed twice"),
        ("eu = postgresql://app:${NOPE_PW}@db/shop\n", "NOPE_PW is not set"),
        ("mysql://app:hunter22@db/shop\n", "only PostgreSQL URLs"),
        ("# nothing but a comment\n", "no databases listed"),
    ],
    ids=["duplicate", "unset-variable", "not-postgres", "empty"],
)
def test_bad_databases_file_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    from dualorm.errors import ConfigError

    listing = tmp_path / "fleet.txt"
    listing.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_databases(listing, environ={})
    assert message in str(caught.value) and str(listing) in str(caught.value)
    assert "hunter22" not in str(caught.value)


def test_passfile_is_handed_to_libpq(tmp_path: Path, admin_url: str) -> None:
    from dualorm.db import connection_params

    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:*:unused\n", encoding="utf-8")
    passfile.chmod(0o600)
    listing = tmp_path / "fleet.txt"
    listing.write_text(f"main = {admin_url}\nhost=db dbname=x\n", encoding="utf-8")
    targets = read_databases(listing, passfile=passfile)
    assert all(connection_params(t.url)["passfile"] == str(passfile) for t in targets)


def test_pyproject_fleet_table(tmp_path: Path, fleet_urls: list[str]) -> None:
    from dualorm.fleet import resolve_targets

    (tmp_path / "migrations").mkdir()
    chain(tmp_path, 2)
    fleet = f'databases = {{ first = "{fleet_urls[0]}", second = "{fleet_urls[1]}" }}\n'
    (tmp_path / "pyproject.toml").write_text(
        pyproject(SPECS_ONLY, extra=f"\n[tool.dualorm.fleet]\n{fleet}"), encoding="utf-8"
    )
    config = Config.load(tmp_path, environ={})
    targets = resolve_targets(config, None)
    assert [t.name for t in targets] == ["first", "second"]
    report = fleet_up(config, targets)
    assert report.ok and [len(r.applied) for r in report.results] == [2, 2]


# -- fleet up ------------------------------------------------------------------------------


def test_fleet_up_migrates_every_database_and_a_rerun_does_nothing(
    tmp_path: Path, fleet_urls: list[str]
) -> None:
    config, targets, _ = _fleet(tmp_path, fleet_urls)
    ids = chain(tmp_path, 4)
    events: list[str] = []
    report = fleet_up(config, targets, parallel=3, progress=lambda e: events.append(e.kind))
    assert report.ok and report.exit_code == 0
    assert [r.applied for r in report.results] == [tuple(ids)] * FLEET_SIZE
    assert events.count("started") == events.count("finished") == FLEET_SIZE
    assert events.count("migration_done") == 4 * FLEET_SIZE
    assert all(applied_ids(url) == ids for url in fleet_urls)
    again = fleet_up(config, targets, parallel=3)
    assert again.ok and all(r.applied == () for r in again.results)


def test_failing_database_others_finish_and_rerun_completes(
    tmp_path: Path, fleet_urls: list[str]
) -> None:
    config, targets, _ = _fleet(tmp_path, fleet_urls)
    ids = chain(tmp_path, 4)
    fleet_up(config, targets, to=ids[1])
    broken = fleet_urls[2]
    _block(broken, "t3")
    before = snapshot(broken)
    report = fleet_up(config, targets, parallel=2, continue_on_error=True)
    results = {r.name: r for r in report.results}
    assert results["db2"].result == "failed" and results["db2"].exit_code == 1
    assert "0003_m3" in (results["db2"].error or "")
    assert results["db2"].applied == ()
    assert all(results[f"db{i}"].applied == tuple(ids[2:]) for i in (0, 1, 3, 4))
    assert snapshot(broken) == before
    assert report.exit_code == 1 and not report.ok
    _unblock(broken, "t3")
    rerun = fleet_up(config, targets, parallel=2)
    assert rerun.ok
    assert [r.applied for r in rerun.results] == [(), (), tuple(ids[2:]), (), ()]


def test_failing_database_stops_the_fleet_by_default(tmp_path: Path, fleet_urls: list[str]) -> None:
    config, targets, _ = _fleet(tmp_path, fleet_urls)
    ids = chain(tmp_path, 3)
    _block(fleet_urls[1], "t1")
    report = fleet_up(config, targets, parallel=1)
    assert [r.result for r in report.results] == ["ok", "failed", *["skipped"] * 3]
    assert report.stopped and "db1" in report.stopped
    assert not any(_has_ledger(url) for url in fleet_urls[2:])
    _unblock(fleet_urls[1], "t1")
    rerun = fleet_up(config, targets, parallel=2)
    assert rerun.ok and [len(r.applied) for r in rerun.results] == [0, 3, 3, 3, 3]
    assert all(applied_ids(url) == ids for url in fleet_urls)


def test_canary_failure_touches_nothing_beyond_the_canaries(
    tmp_path: Path, fleet_urls: list[str]
) -> None:
    config, targets, _ = _fleet(tmp_path, fleet_urls)
    chain(tmp_path, 3)
    _block(fleet_urls[1], "t2")
    report = fleet_up(config, targets, parallel=4, canary=2, continue_on_error=True)
    assert [r.canary for r in report.results] == [True, True, False, False, False]
    assert [r.result for r in report.results] == ["ok", "failed", *["skipped"] * 3]
    assert report.stopped and "canary" in report.stopped
    assert not any(_has_ledger(url) for url in fleet_urls[2:])


def test_production_rules_apply_to_every_database(tmp_path: Path, fleet_urls: list[str]) -> None:
    config, targets, _ = _fleet(tmp_path, fleet_urls)
    chain(tmp_path, 2)
    production = config.with_(environment=Environment.PRODUCTION)
    report = fleet_up(production, targets, parallel=2, continue_on_error=True)
    assert {r.result for r in report.results} == {"refused"}
    assert report.exit_code == 3
    assert all("--yes" in (r.error or "") for r in report.results)
    assert all(applied_ids(url) == [] for url in fleet_urls if _has_ledger(url))


def test_bad_options_change_nothing(tmp_path: Path, fleet_urls: list[str]) -> None:
    from dualorm.errors import UsageError

    config, targets, _ = _fleet(tmp_path, fleet_urls)
    chain(tmp_path, 1)
    for options in ({"parallel": 0}, {"canary": FLEET_SIZE + 1}, {"to": "0099_nope"}):
        with pytest.raises(UsageError):
            fleet_up(config, targets, **options)  # type: ignore[arg-type]
    assert not any(_has_ledger(url) for url in fleet_urls)


# -- status and drift ----------------------------------------------------------------------


def test_status_matrix_and_drift(tmp_path: Path, fleet_urls: list[str]) -> None:
    config, targets, listing = _fleet(tmp_path, fleet_urls)
    ids = chain(tmp_path, 3)
    fleet_up(config, targets[:3])
    fleet_up(config, targets[3:], to=ids[0])
    with connection(fleet_urls[1], autocommit=True) as conn:
        conn.execute("ALTER TABLE t2 ADD COLUMN patched_by_hand text")
    status = fleet_status(config, targets)
    assert status.versions == {ids[2]: ["db0", "db1", "db2"], ids[0]: ["db3", "db4"]}
    assert status.drifted == ("db1",) and status.exit_code == 1
    done = fleet_cli(tmp_path, "status", "--databases", str(listing), "--json")
    out, err = done.communicate(timeout=60)
    assert done.returncode == 1, err
    document = json.loads(out)
    assert document["drift"] == ["db1"] and document["head"] == ids[2]
    assert [d["pending"] for d in document["databases"]][3] == ids[1:]


def test_unreachable_database_is_reported_without_its_password(
    tmp_path: Path, fleet_urls: list[str]
) -> None:
    project(tmp_path, fleet_urls[0])
    chain(tmp_path, 1)
    listing = tmp_path / "databases.txt"
    listing.write_text(
        f"good = {fleet_urls[0]}\ngone = postgresql://app:hunter22pw@127.0.0.1:1/nowhere\n",
        encoding="utf-8",
    )
    done = fleet_cli(tmp_path, "up", "--databases", str(listing), "--continue-on-error")
    out, err = done.communicate(timeout=60)
    assert done.returncode == 2, err
    assert "hunter22pw" not in out + err
    assert "gone" in out and "cannot connect" in out
    assert applied_ids(fleet_urls[0]) == ["0001_m1"]


# -- killed, and run twice at once ---------------------------------------------------------


SLOW = (
    "  - run_sql:\n      sql: |\n"
    "        DO $$ BEGIN IF to_regclass('public.slow_marker') IS NOT NULL THEN\n"
    "          PERFORM pg_sleep(2); END IF; END $$\n"
)


def _wait_for_sleep(urls: list[str], admin_url: str, timeout: float = 30) -> None:
    from dualorm.db import database_name

    names = [database_name(u) for u in urls]
    deadline = time.monotonic() + timeout
    with connection(admin_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(%s) "
                "AND query LIKE '%%pg_sleep%%' AND state = 'active'",
                (names,),
            ).fetchone()
            if row and int(str(row[0])) > 0:
                return
            time.sleep(0.05)
    raise AssertionError("no database reached the slow migration")


def test_sigkill_then_rerun_converges_without_a_stale_lock(
    tmp_path: Path, fleet_urls: list[str], admin_url: str
) -> None:
    _, _, listing = _fleet(tmp_path, fleet_urls)
    ids = chain(tmp_path, 2)
    write_spec(tmp_path, "0003_slow", [ids[-1]], SLOW)
    write_spec(
        tmp_path, "0004_after", ["0003_slow"], "  - add_column: {table: t1, name: x, type: text}\n"
    )
    for url in fleet_urls:
        _block(url, "slow_marker")
    proc = fleet_cli(tmp_path, "up", "--databases", str(listing), "--parallel", "2")
    _wait_for_sleep(fleet_urls, admin_url)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    for url in fleet_urls:
        _unblock(url, "slow_marker")
    rerun = fleet_cli(tmp_path, "up", "--databases", str(listing), "--parallel", "2", "--json")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert json.loads(out)["ok"] is True
    every = [*ids, "0003_slow", "0004_after"]
    for url in fleet_urls:
        report = api.migrate_status(project(tmp_path, url))
        assert report.applied == tuple(every) and report.ledgers_agree
        assert report.lock_holder is None
    with connection(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND d.datname LIKE 'fleet_%%'"
        ).fetchone()
    assert row is not None and int(str(row[0])) == 0


def test_two_fleet_runs_at_once_migrate_each_database_once(
    tmp_path: Path, fleet_urls: list[str]
) -> None:
    _, _, listing = _fleet(tmp_path, fleet_urls)
    ids = chain(tmp_path, 6)
    runs = [fleet_cli(tmp_path, "up", "--databases", str(listing), "--parallel", "3", "--json")]
    runs.append(fleet_cli(tmp_path, "up", "--databases", str(listing), "--parallel", "3", "--json"))
    reports = []
    for proc in runs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    for index, url in enumerate(fleet_urls):
        applied = [m for r in reports for m in r["databases"][index]["applied"]]
        assert sorted(applied) == ids
        assert applied_ids(url) == ids
        assert snapshot(url)["alembic"] == [(ids[-1],)]


def test_plan_names_what_up_would_apply_and_what_it_would_refuse(
    tmp_path: Path, fleet_urls: list[str]
) -> None:
    from dualorm.fleet import fleet_plan

    config, targets, _ = _fleet(tmp_path, fleet_urls)
    ids = chain(tmp_path, 3)
    fleet_up(config, targets[:3], to=ids[0])
    with connection(fleet_urls[2], autocommit=True) as conn:
        conn.execute("DELETE FROM alembic_version")
    before = [snapshot(url) for url in fleet_urls]
    plan = fleet_plan(config, targets)
    assert [d.pending for d in plan.databases[:2]] == [tuple(ids[1:])] * 2
    assert plan.databases[3].pending == tuple(ids)
    assert plan.databases[2].exit_code == 3 and "alembic_version" in (plan.databases[2].error or "")
    assert plan.exit_code == 3
    assert plan.versions == {
        ids[0]: ["db0", "db1"],
        "(unknown)": ["db2"],
        "(empty)": ["db3", "db4"],
    }
    assert [snapshot(url) for url in fleet_urls] == before
