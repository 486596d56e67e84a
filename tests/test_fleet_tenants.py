"""``dualorm fleet`` over schema-per-tenant layouts: many tenant schemas of one real database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from project_files import project
from runner_specs import applied_ids, chain, fleet_cli, snapshot, table_ops, write_spec

from dualorm import api
from dualorm.config import Config, Environment
from dualorm.db import connection
from dualorm.errors import ConfigError, SafetyError
from dualorm.fleet import expand_tenants, fleet_plan, fleet_status, fleet_up, read_databases
from dualorm.runner.tenancy import ledger_schema, tenant_of, tenant_url
from dualorm.sources.postgres import load
from dualorm.testing import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
TENANTS = [f"tenant_{i}" for i in range(5)]


@pytest.fixture
def shop(admin_url: str) -> Iterator[str]:
    """A fresh database holding five empty tenant schemas and one schema that is no tenant."""
    url = create_database(admin_url, "tenants")
    with connection(url, autocommit=True) as conn:
        for name in [*TENANTS, "reporting"]:
            conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield url
    finally:
        drop_database(admin_url, url)


def _listing(root: Path, url: str, schemas: str = "tenant_*") -> Path:
    listing = root / "databases.txt"
    listing.write_text(f"# one database, a schema per tenant\nshop = {url}  schemas = {schemas}\n")
    return listing


def _fleet(root: Path, url: str) -> tuple[Config, list[Any], Path]:
    config = project(root, url)
    listing = _listing(root, url)
    return config, expand_tenants(read_databases(listing)), listing


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with connection(url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def _tables(url: str, schema: str) -> list[str]:
    rows = _rows(
        url,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{schema}' AND c.relkind = 'r' ORDER BY 1",
    )
    return [str(r[0]) for r in rows]


def _ledger(url: str, tenant: str) -> list[str]:
    """The tenant's dualorm ledger, read by name (not through the code under test)."""
    schema = ledger_schema(tenant)
    found = _rows(url, f"SELECT to_regclass('\"{schema}\".migrations') IS NOT NULL")
    if not found[0][0]:
        return []
    return [str(r[0]) for r in _rows(url, f'SELECT id FROM "{schema}".migrations ORDER BY id')]


def _foreign(url: str, tenant: str) -> tuple[list[object], list[object]]:
    alembic = _rows(url, f'SELECT version_num FROM "{tenant}".alembic_version')
    django = _rows(url, f'SELECT name FROM "{tenant}".django_migrations ORDER BY name')
    return [r[0] for r in alembic], [r[0] for r in django]


# -- the targets ---------------------------------------------------------------------------


def test_schemas_on_a_line_name_tenants_or_a_pattern(tmp_path: Path) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text(
        "shop = postgresql://app@db1/shop  schemas = acme, globex\n"
        "host=db2 dbname=saas user=app schemas=tenant_*\n"
        "plain = postgresql://app@db3/billing\n",
        encoding="utf-8",
    )
    shop, saas, plain = read_databases(listing)
    assert (shop.name, shop.schemas) == ("shop", ("acme", "globex"))
    assert (saas.name, saas.schemas) == ("saas", ("tenant_*",))
    assert plain.schemas == ()
    acme, globex = expand_tenants([shop])
    assert (acme.name, acme.tenant, tenant_of(acme.url)) == ("shop/acme", "acme", "acme")
    assert globex.url.startswith("postgresql://app@db1/shop?options=")
    assert tenant_of(plain.url) is None


@pytest.mark.parametrize(
    ("schemas", "message"),
    [
        ("public", "the database's own schema"),
        ("dualorm_acme", "reserved for dualorm's ledgers"),
        ("pg_acme", "system schema"),
        ("x" * 64, "longer than PostgreSQL's 63 bytes"),
        (" , ", "no tenant schema listed"),
    ],
    ids=["public", "ledger", "system", "long", "empty"],
)
def test_a_bad_tenant_name_names_the_line(tmp_path: Path, schemas: str, message: str) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text(f"shop = postgresql://app@db/shop schemas = {schemas}\n")
    with pytest.raises(ConfigError) as caught:
        read_databases(listing)
    assert message in str(caught.value) and f"{listing}:1" in str(caught.value)


def test_ledger_names_stay_within_63_bytes_and_apart() -> None:
    long_a, long_b = "é" * 31 + "a", "é" * 31 + "b"
    assert ledger_schema("acme") == "dualorm_acme"
    assert all(len(ledger_schema(t).encode()) <= 63 for t in (long_a, long_b, "x" * 63))
    assert ledger_schema(long_a) != ledger_schema(long_b)


def test_a_pattern_matching_no_schema_is_refused_before_anything(tmp_path: Path, shop: str) -> None:
    config = project(tmp_path, shop)
    chain(tmp_path, 1)
    targets = read_databases(_listing(tmp_path, shop, "nobody_*"))
    with pytest.raises(ConfigError, match="'nobody_\\*' matches no schema of shop"):
        fleet_up(config, targets)
    assert _tables(shop, "public") == []


# -- fleet up ------------------------------------------------------------------------------


def test_fleet_up_migrates_every_tenant_into_its_own_schema_and_ledgers(
    tmp_path: Path, shop: str
) -> None:
    config, targets, _ = _fleet(tmp_path, shop)
    ids = chain(tmp_path, 4)
    assert [t.name for t in targets] == [f"shop/{t}" for t in TENANTS]
    report = fleet_up(config, targets, parallel=3)
    assert report.ok and [r.applied for r in report.results] == [tuple(ids)] * len(TENANTS)
    for tenant in TENANTS:
        assert _tables(shop, tenant) == [
            "alembic_version",
            "django_migrations",
            "t1",
            "t2",
            "t3",
            "t4",
        ]
        assert _ledger(shop, tenant) == ids
        assert _foreign(shop, tenant) == ([ids[-1]], ids)
    # Nothing landed in public, in the database's own ledger, or in the schema that is no tenant.
    assert _tables(shop, "public") == [] and _tables(shop, "reporting") == []
    assert _rows(shop, "SELECT to_regnamespace('dualorm') IS NULL") == [(True,)]
    again = fleet_up(config, targets, parallel=3)
    assert again.ok and all(r.applied == () for r in again.results)


def test_a_listed_tenant_that_does_not_exist_yet_is_created(tmp_path: Path, shop: str) -> None:
    config = project(tmp_path, shop)
    ids = chain(tmp_path, 2)
    targets = read_databases(_listing(tmp_path, shop, "tenant_0, newcomer"))
    report = fleet_up(config, targets)
    assert report.ok and [r.name for r in report.results] == ["shop/tenant_0", "shop/newcomer"]
    assert _tables(shop, "newcomer") == ["alembic_version", "django_migrations", "t1", "t2"]
    assert _ledger(shop, "newcomer") == ids


def test_single_databases_keep_their_ledger_beside_tenants(tmp_path: Path, shop: str) -> None:
    config = project(tmp_path, shop)
    ids = chain(tmp_path, 3)
    # The database itself, migrated half-way as a single database before tenants existed.
    assert fleet_up(config, read_databases(_plain(tmp_path, shop)), to=ids[0]).ok
    listing = tmp_path / "mixed.txt"
    listing.write_text(f"whole = {shop}\nshop = {shop} schemas = tenant_0, tenant_1\n")
    report = fleet_up(config, read_databases(listing))
    assert report.ok
    assert [r.applied for r in report.results] == [tuple(ids[1:]), tuple(ids), tuple(ids)]
    assert applied_ids(shop) == ids and snapshot(shop)["alembic"] == [(ids[-1],)]
    assert _tables(shop, "public") == ["alembic_version", "django_migrations", "t1", "t2", "t3"]
    assert _ledger(shop, "tenant_0") == ids and _ledger(shop, "tenant_2") == []


def _plain(root: Path, url: str) -> Path:
    listing = root / "plain.txt"
    listing.write_text(f"whole = {url}\n")
    return listing


def test_a_search_path_in_a_single_database_url_keeps_the_dualorm_ledger(
    tmp_path: Path, shop: str
) -> None:
    from psycopg.conninfo import make_conninfo

    url = make_conninfo(shop, options="-c search_path=tenant_0,public")
    config = project(tmp_path, url)
    ids = chain(tmp_path, 2)
    listing = tmp_path / "plain.txt"
    listing.write_text(f"whole = {url}\n")
    assert fleet_up(config, read_databases(listing)).ok
    # Only dualorm's own setting makes a tenant: the ledger stays the database's.
    assert applied_ids(shop) == ids and _ledger(shop, "tenant_0") == []
    assert _tables(shop, "tenant_0") == ["alembic_version", "django_migrations", "t1", "t2"]


# -- failures ------------------------------------------------------------------------------


def _block(url: str, tenant: str, table: str) -> None:
    with connection(url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{tenant}"."{table}" (id int)')


def _unblock(url: str, tenant: str, table: str) -> None:
    with connection(url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{tenant}"."{table}"')


def _tenant_snapshot(url: str, tenant: str) -> dict[str, Any]:
    tenant_url_ = tenant_url(url, tenant)
    with connection(tenant_url_, autocommit=True) as conn:
        catalog = load(conn, schemas=[tenant])
    return {"catalog": catalog, "ledger": _ledger(url, tenant), "foreign": _foreign(url, tenant)}


def test_a_failing_tenant_others_finish_and_a_rerun_completes(tmp_path: Path, shop: str) -> None:
    config, targets, _ = _fleet(tmp_path, shop)
    ids = chain(tmp_path, 4)
    assert fleet_up(config, targets, to=ids[1], parallel=2).ok
    _block(shop, "tenant_2", "t3")
    before = _tenant_snapshot(shop, "tenant_2")
    report = fleet_up(config, targets, parallel=2, continue_on_error=True)
    results = {r.name: r for r in report.results}
    broken = results["shop/tenant_2"]
    assert broken.result == "failed" and broken.exit_code == 1 and broken.applied == ()
    assert "0003_m3" in (broken.error or "")
    assert all(results[f"shop/{t}"].applied == tuple(ids[2:]) for t in TENANTS if t != "tenant_2")
    assert _tenant_snapshot(shop, "tenant_2") == before
    assert report.exit_code == 1
    _unblock(shop, "tenant_2", "t3")
    rerun = fleet_up(config, targets, parallel=2)
    assert rerun.ok and [r.applied for r in rerun.results] == [(), (), tuple(ids[2:]), (), ()]
    assert all(_ledger(shop, t) == ids for t in TENANTS)


def test_a_failing_tenant_stops_the_fleet_by_default(tmp_path: Path, shop: str) -> None:
    config, targets, _ = _fleet(tmp_path, shop)
    chain(tmp_path, 3)
    _block(shop, "tenant_1", "t1")
    report = fleet_up(config, targets, parallel=1)
    assert [r.result for r in report.results] == ["ok", "failed", *["skipped"] * 3]
    assert report.stopped and "shop/tenant_1" in report.stopped
    assert all(_ledger(shop, t) == [] for t in TENANTS[1:])
    assert _rows(shop, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'dualorm%'") == [(2,)]
    _unblock(shop, "tenant_1", "t1")
    rerun = fleet_up(config, targets, parallel=3)
    assert rerun.ok and [len(r.applied) for r in rerun.results] == [0, 3, 3, 3, 3]


def test_production_tenants_need_no_backup_and_a_confirmation(tmp_path: Path, shop: str) -> None:
    config, targets, _ = _fleet(tmp_path, shop)
    chain(tmp_path, 2)
    production = config.with_(environment=Environment.PRODUCTION)
    with pytest.raises(SafetyError, match="--no-backup"):
        fleet_up(production, targets, assume_yes=True)
    report = fleet_up(production, targets, backup=False, continue_on_error=True)
    assert {r.result for r in report.results} == {"refused"} and report.exit_code == 3
    assert all(_tables(shop, t) == [] for t in TENANTS)


def test_production_rules_hold_per_tenant(tmp_path: Path, shop: str) -> None:
    config, targets, _ = _fleet(tmp_path, shop)
    ids = chain(tmp_path, 2)
    production = config.with_(environment=Environment.PRODUCTION)
    first = fleet_up(production, targets, assume_yes=True, backup=False, parallel=2)
    assert first.ok and all(r.applied == tuple(ids) for r in first.results)
    # A lint error (an index built under a write lock) refuses every tenant, each unchanged.
    write_spec(
        tmp_path,
        "0003_index",
        [ids[-1]],
        "  - create_index: {name: t1_label_idx, table: t1, columns: [label]}\n",
    )
    before = {t: _tenant_snapshot(shop, t) for t in TENANTS}
    refused = fleet_up(
        production, targets, assume_yes=True, backup=False, parallel=2, continue_on_error=True
    )
    assert {r.result for r in refused.results} == {"refused"} and refused.exit_code == 3
    assert all("require-concurrent-index" in (r.error or "") for r in refused.results)
    assert {t: _tenant_snapshot(shop, t) for t in TENANTS} == before
    # A tenant failing half-way is rolled back to where it stood; the others reach head.
    write_spec(tmp_path, "0003_index", [ids[-1]], table_ops("t3"))
    write_spec(tmp_path, "0004_more", ["0003_index"], table_ops("t4"))
    _block(shop, "tenant_3", "t4")
    before = _tenant_snapshot(shop, "tenant_3")
    report = fleet_up(
        production, targets, assume_yes=True, backup=False, parallel=2, continue_on_error=True
    )
    results = {r.name: r for r in report.results}
    assert results["shop/tenant_3"].result == "failed" and report.exit_code == 1
    assert _tenant_snapshot(shop, "tenant_3") == before
    done = [*ids, "0003_index", "0004_more"]
    assert all(_ledger(shop, t) == done for t in TENANTS if t != "tenant_3")


# -- status, drift, validate ---------------------------------------------------------------


def test_status_matrix_and_drift_per_tenant(tmp_path: Path, shop: str) -> None:
    config, targets, listing = _fleet(tmp_path, shop)
    ids = chain(tmp_path, 3)
    assert fleet_up(config, targets[:3]).ok
    assert fleet_up(config, targets[3:], to=ids[0]).ok
    with connection(shop, autocommit=True) as conn:
        conn.execute('ALTER TABLE "tenant_1".t2 ADD COLUMN patched_by_hand text')
    status = fleet_status(config, targets)
    assert status.versions == {
        ids[2]: ["shop/tenant_0", "shop/tenant_1", "shop/tenant_2"],
        ids[0]: ["shop/tenant_3", "shop/tenant_4"],
    }
    assert status.drifted == ("shop/tenant_1",) and status.exit_code == 1
    prints = {d.name: d.fingerprint for d in status.databases}
    assert prints["shop/tenant_0"] == prints["shop/tenant_2"] != prints["shop/tenant_3"]
    assert all(d.ledgers_agree for d in status.databases)
    plan = fleet_plan(config, targets)
    assert [d.pending for d in plan.databases] == [()] * 3 + [tuple(ids[1:])] * 2
    done = fleet_cli(tmp_path, "status", "--databases", str(listing), "--json")
    out, err = done.communicate(timeout=60)
    assert done.returncode == 1, err
    document = json.loads(out)
    assert document["drift"] == ["shop/tenant_1"] and document["head"] == ids[2]


def test_two_fleet_runs_at_once_migrate_each_tenant_once(tmp_path: Path, shop: str) -> None:
    project(tmp_path, shop)
    ids = chain(tmp_path, 6)
    listing = tmp_path / "plain.txt"
    listing.write_text(f"shop = {shop}\n")
    args = ("up", "--databases", str(listing), "--tenants", "tenant_*", "--parallel", "3")
    runs = [fleet_cli(tmp_path, *args, "--json"), fleet_cli(tmp_path, *args, "--json")]
    reports = []
    for proc in runs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    for index, tenant in enumerate(TENANTS):
        applied = [m for r in reports for m in r["databases"][index]["applied"]]
        assert sorted(applied) == ids
        assert _ledger(shop, tenant) == ids and _foreign(shop, tenant) == ([ids[-1]], ids)
    assert _tables(shop, "public") == []


def test_a_tenant_lock_holds_that_tenant_only(tmp_path: Path, shop: str) -> None:
    from dualorm.errors import LockHeld
    from dualorm.runner.locks import MigrationLock

    config, targets, _ = _fleet(tmp_path, shop)
    ids = chain(tmp_path, 2)
    with MigrationLock(targets[0].url, "00000000-0000-0000-0000-000000000000", "here"):
        report = fleet_up(config, targets, parallel=2, no_wait=True, continue_on_error=True)
    assert [r.result for r in report.results] == ["refused", *["ok"] * 4]
    assert isinstance(report.results[0].error, str) and "here" in report.results[0].error
    assert report.results[0].exit_code == LockHeld("x").exit_code
    assert all(_ledger(shop, t) == ids for t in TENANTS[1:]) and _ledger(shop, "tenant_0") == []


def test_the_reference_schema_validates_clean_in_every_tenant(tmp_path: Path, shop: str) -> None:
    from dualorm.validate import SchemaValidator

    config = Config.load(ROOT, environ={})
    targets = expand_tenants(read_databases(_listing(tmp_path, shop)))
    report = fleet_up(config, targets, parallel=3)
    assert report.ok, [r.error for r in report.results]
    for target in targets:
        tenant = config.with_(database_url=target.url)
        result = SchemaValidator(tenant, sources=("sqlalchemy", "django", "database"))
        found = result.validate_schema()
        assert found.valid, (target.name, [str(e) for e in found.errors])
    assert _tables(shop, "public") == []


def test_fleet_up_names_its_rows_tenants(tmp_path: Path, shop: str) -> None:
    _, _, listing = _fleet(tmp_path, shop)
    chain(tmp_path, 1)
    done = fleet_cli(tmp_path, "up", "--databases", str(listing), "--parallel", "2")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    header = next(line for line in out.splitlines() if "result" in line)
    assert "tenant" in header and "database" not in header
    assert all(f"shop/{t}" in out for t in TENANTS)
    status = fleet_cli(tmp_path, "status", "--databases", str(listing))
    out, err = status.communicate(timeout=120)
    assert status.returncode == 0, err
    header = next(line for line in out.splitlines() if "version" in line and "pending" in line)
    assert "tenant" in header and "database" not in header
    document = fleet_cli(tmp_path, "status", "--databases", str(listing), "--json")
    rows = json.loads(document.communicate(timeout=120)[0])["databases"]
    assert [r["tenant"] for r in rows] == TENANTS


# An extension the server ships, and the column type the tenants' table uses: citext (its own
# type) where the contrib modules are installed, else pgvector, as on the embedded server
# (which ships no contrib module), with a plain column (specs do not name vector types).
EXTENSION_TYPES = {"citext": "citext", "vector": "text"}


def _shared(url: str) -> tuple[str, str]:
    """The extension to share and the spec that creates it with a shared schema and a table."""
    rows = _rows(url, "SELECT name FROM pg_available_extensions ORDER BY name")
    available = [name for (name,) in rows if name in EXTENSION_TYPES]
    assert available, "the server ships neither citext nor pgvector"
    extension = available[0]
    spec = (
        "  - run_sql:\n      sql: |\n"
        f"        CREATE EXTENSION IF NOT EXISTS {extension} SCHEMA public;\n"
        "        CREATE SCHEMA IF NOT EXISTS shared;\n"
        "        CREATE TABLE IF NOT EXISTS shared.plans (id int PRIMARY KEY);\n"
        "      reverse_sql: SELECT 1\n"
        "  - create_table:\n      name: emails\n      columns:\n"
        "        - {name: id, type: bigint, primary_key: true}\n"
        f"        - {{name: address, type: '{EXTENSION_TYPES[extension]}'}}\n"
    )
    return extension, spec


def test_tenants_in_parallel_share_extensions_and_schemas_without_racing(
    tmp_path: Path, shop: str
) -> None:
    config, targets, listing = _fleet(tmp_path, shop)
    extension, shared = _shared(shop)
    write_spec(tmp_path, "0001_shared", [], shared)
    done = fleet_cli(tmp_path, "up", "--databases", str(listing), "--parallel", "4", "--json")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, out + err
    assert all(r["result"] == "ok" for r in json.loads(out)["databases"])
    extensions = _rows(shop, "SELECT extname, extnamespace::regnamespace::text FROM pg_extension")
    assert (extension, "public") in extensions
    assert _tables(shop, "shared") == ["plans"]
    assert all(_tables(shop, t)[-1] == "emails" for t in TENANTS)
    # An extension with no schema would land in whichever tenant ran first: refused.
    write_spec(
        tmp_path,
        "0002_unplaced",
        ["0001_shared"],
        "  - run_sql: {sql: CREATE EXTENSION IF NOT EXISTS pg_trgm, reverse_sql: SELECT 1}\n",
    )
    report = fleet_up(config, targets, parallel=4, continue_on_error=True)
    assert {r.result for r in report.results} == {"failed"}
    assert all("SCHEMA public" in (r.error or "") for r in report.results)
    assert _rows(shop, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == [(0,)]


def test_a_data_check_reads_the_tenant_schema(tmp_path: Path, shop: str) -> None:
    from dualorm.datacheck import DataKind, check_data
    from dualorm.schema import Column, PrimaryKey, schema, table
    from dualorm.target_catalog import load_target

    with connection(shop, autocommit=True) as conn:
        for where, label in (("public", "NULL"), ("tenant_0", "NULL"), ("tenant_1", "'x'")):
            conn.execute(f'CREATE TABLE "{where}".items (id bigint PRIMARY KEY, label text)')
            conn.execute(f'INSERT INTO "{where}".items VALUES (1, {label}), (2, {label})')
    model = schema(
        [
            table(
                "items",
                [Column("id", "bigint", nullable=False), Column("label", "text", nullable=False)],
                primary_key=PrimaryKey("items_pkey", ("id",)),
            )
        ]
    )
    found = {}
    for tenant in ("tenant_0", "tenant_1"):
        with connection(tenant_url(shop, tenant), autocommit=True) as conn:
            issues = check_data(conn, model, load_target(conn))
        found[tenant] = [(i.kind, i.object, i.count) for i in issues]
    assert found == {"tenant_0": [(DataKind.NULL_VIOLATION, "items.label", 2)], "tenant_1": []}


def _tool(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a tool of the reference project (alembic, manage.py) against ``url``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env["DATABASE_URL"] = url
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_alembic_and_django_check_clean_in_a_tenant(tmp_path: Path, shop: str) -> None:
    config = Config.load(ROOT, environ={})
    # The database itself at head first: a tenant must never read public's alembic_version.
    assert fleet_up(config, read_databases(_plain(tmp_path, shop))).ok
    current = _tool(tenant_url(shop, "tenant_4"), "-m", "alembic", "-c", ALEMBIC_INI, "current")
    assert current.returncode == 0, current.stderr
    assert "(head)" not in current.stdout
    targets = expand_tenants(read_databases(_listing(tmp_path, shop, "tenant_0, tenant_1")))
    assert fleet_up(config, targets, parallel=2).ok
    for target in targets:
        checked = _tool(target.url, "-m", "alembic", "-c", ALEMBIC_INI, "check")
        assert checked.returncode == 0, (target.name, checked.stdout, checked.stderr)
        current = _tool(target.url, "-m", "alembic", "-c", ALEMBIC_INI, "current")
        assert "(head)" in current.stdout, current.stderr
        made = _tool(target.url, "manage.py", "makemigrations", "--check", "--dry-run")
        assert made.returncode == 0, (target.name, made.stdout, made.stderr)
        validated = _tool(target.url, "-m", "dualorm", "validate", "--data")
        assert validated.returncode == 0, (target.name, validated.stdout, validated.stderr)


ALEMBIC_INI = "migrations/alembic.ini"


SLOW = (
    "  - run_sql:\n      sql: |\n"
    "        DO $$ BEGIN IF to_regclass('slow_marker') IS NOT NULL THEN\n"
    "          PERFORM pg_sleep(2); END IF; END $$\n"
)


def _wait_for_sleep(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with connection(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE '%%pg_sleep%%' AND state = 'active' AND pid <> pg_backend_pid()"
            ).fetchone()
            if row and int(str(row[0])) > 0:
                return
            time.sleep(0.05)
    raise AssertionError("no tenant reached the slow migration")


def test_sigkill_over_tenants_then_rerun_converges_without_a_stale_lock(
    tmp_path: Path, shop: str
) -> None:
    _, targets, listing = _fleet(tmp_path, shop)
    ids = chain(tmp_path, 2)
    write_spec(tmp_path, "0003_slow", [ids[-1]], SLOW)
    write_spec(
        tmp_path, "0004_after", ["0003_slow"], "  - add_column: {table: t1, name: x, type: text}\n"
    )
    for tenant in TENANTS:
        _block(shop, tenant, "slow_marker")
    proc = fleet_cli(tmp_path, "up", "--databases", str(listing), "--parallel", "2")
    _wait_for_sleep(shop)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    for tenant in TENANTS:
        _unblock(shop, tenant, "slow_marker")
    rerun = fleet_cli(tmp_path, "up", "--databases", str(listing), "--parallel", "2", "--json")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert json.loads(out)["ok"] is True
    every = [*ids, "0003_slow", "0004_after"]
    for target in targets:
        report = api.migrate_status(project(tmp_path, target.url))
        assert report.applied == tuple(every) and report.ledgers_agree, target.name
        assert report.lock_holder is None
    assert all(_foreign(shop, t) == (["0004_after"], every) for t in TENANTS)
    locks = _rows(
        shop,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    assert locks == [(0,)]
    assert _tables(shop, "public") == []
