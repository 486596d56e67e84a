"""Adopting an existing database: ``migrate init --from-database`` and ``migrate baseline``.

Everything runs through the CLI, as a user would, in a temporary project whose
``[tool.dualorm]`` names ``migrations/``, against real databases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dualorm.db import connection
from dualorm.schema import Schema
from dualorm.sources.postgres import load
from dualorm.testing import scratch_database
from tests.project_files import project
from tests.reference import REFERENCE_MIGRATIONS
from tests.runner_specs import snapshot, write_spec

ROOT = Path(__file__).resolve().parent.parent


def cli(root: Path, url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``dualorm`` (this checkout's) in the project at ``root`` against ``url``."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    for name in ("DUALORM_ENV", "DATABASE_REPLICA_URLS", "DUALORM_WEBHOOK_URL"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "dualorm.cli", *argv],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def execute(url: str, sql: str) -> None:
    with connection(url, autocommit=True) as conn:
        conn.execute(sql)  # test DDL, written here


def sequences(url: str) -> list[tuple[object, ...]]:
    """Every sequence of ``public`` with its options and the column it belongs to."""
    with connection(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT s.sequencename, s.data_type::text, s.start_value, s.min_value, s.max_value, "
            "s.increment_by, s.cycle, s.cache_size, d.deptype::text, t.relname::text "
            "FROM pg_sequences s "
            "JOIN pg_class c ON c.relname = s.sequencename AND c.relkind = 'S' "
            "LEFT JOIN pg_depend d ON d.objid = c.oid AND d.refclassid = 'pg_class'::regclass "
            "AND d.deptype IN ('a', 'i') "
            "LEFT JOIN pg_class t ON t.oid = d.refobjid "
            "WHERE s.schemaname = 'public' AND s.sequencename <> 'django_migrations_id_seq' "
            "ORDER BY 1"
        ).fetchall()


def tables(url: str) -> list[str]:
    with connection(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('r', 'S') AND relname NOT IN "
            "('alembic_version', 'django_migrations', 'django_migrations_id_seq') ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def init(root: Path, url: str, *argv: str) -> Path:
    """Run ``migrate init --from-database`` and return the spec it wrote."""
    done = cli(root, url, "migrate", "init", "--from-database", *argv, "--json")
    assert done.returncode == 0, done.stderr
    written = Path(json.loads(done.stdout)["path"])
    assert written.parent == root / "migrations"
    return written


def replayed(admin_url: str, root: Path) -> tuple[Schema, list[tuple[object, ...]]]:
    """``migrate up`` of ``root``'s specs on a fresh database: its catalog and sequences,
    after checking that ``migrate down`` then leaves nothing behind."""
    with scratch_database(admin_url) as fresh:
        up = cli(root, fresh, "migrate", "up")
        assert up.returncode == 0, up.stderr
        built = load(fresh), sequences(fresh)
        down = cli(root, fresh, "migrate", "down", "--steps", "1")
        assert down.returncode == 0, down.stderr
        assert tables(fresh) == []
    return built


# -- baseline refusals name every difference ---------------------------------------------------

WIDE = 25


def test_baseline_refusal_lists_every_difference(tmp_path: Path, database_url: str) -> None:
    project(tmp_path, database_url)
    write_spec(
        tmp_path,
        "0001_wide",
        [],
        "  - create_table:\n      name: wide\n      columns:\n"
        "        - {name: id, type: bigint, primary_key: true}\n"
        "        - {name: label, type: varchar(20)}\n",
    )
    extra = ", ".join(f"c{i:02d} integer" for i in range(WIDE))
    execute(database_url, f"CREATE TABLE wide (id bigint PRIMARY KEY, label text, {extra})")

    refused = cli(tmp_path, database_url, "migrate", "baseline", "--to", "0001_wide")
    assert refused.returncode == 1, refused.stderr
    text = refused.stderr
    assert "1 difference(s) found" not in text
    assert f"in {WIDE + 1} way(s)" in text
    assert (
        "type_mismatch wide.label: wide.label is character varying(20) in specs but text in "
        "database"
    ) in text
    shown = [line for line in text.splitlines() if line.startswith("  extra_column wide.c")]
    assert len(shown) == 19  # twenty lines in all, the type mismatch first
    assert f"  and {WIDE + 1 - 20} more" in text
    assert snapshot(database_url)["dualorm"] == []

    as_json = cli(tmp_path, database_url, "migrate", "baseline", "--to", "0001_wide", "--json")
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["ok"] is False
    kinds = sorted({d["kind"] for d in document["differences"]})
    assert kinds == ["extra_column", "type_mismatch"]
    assert len(document["differences"]) == WIDE + 1
    mismatch = next(d for d in document["differences"] if d["kind"] == "type_mismatch")
    assert (mismatch["object"], mismatch["from"], mismatch["to"]) == (
        "wide.label",
        "character varying(20)",
        "text",
    )


# -- init --from-database: round trips ---------------------------------------------------------

HAND_BUILT = """
CREATE TABLE tenants (
    id serial PRIMARY KEY,
    code varchar(20) NOT NULL,
    status varchar(10) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    created_at timestamptz(3) NOT NULL DEFAULT now(),
    price numeric(12,2) DEFAULT 0,
    quantity integer DEFAULT 1,
    total numeric GENERATED ALWAYS AS (price * quantity) STORED,
    tags text[] NOT NULL DEFAULT '{}',
    doc jsonb,
    head_user_id bigint,
    CONSTRAINT tenants_code_key UNIQUE (code) DEFERRABLE
);
COMMENT ON TABLE tenants IS 'Who pays';
COMMENT ON COLUMN tenants.code IS 'Short, unique';
CREATE TABLE "Users" (
    "Id" bigint GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 10) PRIMARY KEY,
    tenant_id integer NOT NULL REFERENCES tenants (id)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    email varchar(255) NOT NULL,
    manager_id bigint REFERENCES "Users" ("Id") ON DELETE SET NULL,
    counter bigserial,
    score integer NOT NULL DEFAULT 0 CHECK (score >= 0)
);
ALTER TABLE tenants ADD CONSTRAINT tenants_head_user_id_fkey
    FOREIGN KEY (head_user_id) REFERENCES "Users" ("Id") ON UPDATE CASCADE;
CREATE TABLE memberships_of_every_user_in_every_tenant_with_a_long_name_63 (
    tenant_id integer NOT NULL,
    user_id bigint GENERATED BY DEFAULT AS IDENTITY,
    role varchar(20) NOT NULL CHECK (role NOT IN ('banned', 'none')),
    CONSTRAINT memberships_of_every_user_in_every_tenant_with_a_long_name_pk
        PRIMARY KEY (tenant_id, user_id)
);
ALTER TABLE memberships_of_every_user_in_every_tenant_with_a_long_name_63
    ADD CONSTRAINT memberships_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) NOT VALID;
ALTER TABLE memberships_of_every_user_in_every_tenant_with_a_long_name_63
    ADD CONSTRAINT memberships_role_check CHECK (role <> '') NOT VALID;
CREATE INDEX users_email_lower_idx ON "Users" (lower(email) text_pattern_ops);
CREATE UNIQUE INDEX users_tenant_email_active_idx ON "Users" (tenant_id, email) WHERE score > 0;
CREATE INDEX tenants_created_desc_idx ON tenants (created_at DESC NULLS LAST, code)
    INCLUDE (status);
CREATE INDEX tenants_doc_gin ON tenants USING gin (doc jsonb_path_ops);
CREATE INDEX tenants_code_hash ON tenants USING hash (code);
CREATE INDEX tenants_code_open_idx ON tenants (code) WHERE status IN ('active', 'closed');
CREATE INDEX users_email_like ON "Users" (email varchar_pattern_ops);
CREATE SEQUENCE shared_counter_seq AS integer START WITH 5 INCREMENT BY 5;
CREATE TABLE events (
    id integer PRIMARY KEY DEFAULT nextval('shared_counter_seq'),
    at date DEFAULT CURRENT_DATE,
    kind char(1) DEFAULT 'x',
    took interval
);
"""


def test_a_hand_built_schema_round_trips_names_included(
    tmp_path: Path, database_url: str, admin_url: str
) -> None:
    project(tmp_path, database_url)
    execute(database_url, HAND_BUILT)
    spec = init(tmp_path, database_url)
    assert spec.name == "0001_initial.yaml"
    text = spec.read_text(encoding="utf-8")
    # The cycle: one of the two foreign keys is added once both tables exist.
    assert "- add_foreign_key:" in text and "not_valid: true" in text

    catalog, built = replayed(admin_url, tmp_path)
    assert catalog == load(database_url)
    assert built == sequences(database_url)

    adopted = cli(tmp_path, database_url, "migrate", "baseline", "--to", "0001_initial")
    assert adopted.returncode == 0, adopted.stderr
    status = json.loads(cli(tmp_path, database_url, "migrate", "status", "--json").stdout)
    assert status["applied"] == 1 and status["pending"] == 0 and status["ledgers_agree"]


def test_the_reference_schema_round_trips(
    tmp_path: Path, database_url: str, admin_url: str
) -> None:
    built = cli(ROOT, database_url, "migrate", "up")
    assert built.returncode == 0, built.stderr
    project(tmp_path, database_url)
    init(tmp_path, database_url)
    catalog, _ = replayed(admin_url, tmp_path)
    assert catalog == load(database_url)
    assert {t.name for t in catalog} >= {"users", "accounts", "user_preferences"}


def test_only_and_exclude_choose_the_tables(tmp_path: Path, database_url: str) -> None:
    project(tmp_path, database_url)
    execute(
        database_url,
        "CREATE TABLE app_a (id bigint PRIMARY KEY); CREATE TABLE app_b (id bigint PRIMARY KEY);"
        "CREATE TABLE legacy_c (id bigint PRIMARY KEY); CREATE TABLE other (id bigint)",
    )
    with (tmp_path / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write('\n[tool.dualorm.tables]\nother = "external"\n')
    done = cli(
        tmp_path, database_url, "migrate", "init", "--from-database",
        "--table", "app_*,legacy_*", "--exclude", "app_b", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tables"] == ["app_a", "legacy_c"]


def test_tables_the_ownership_map_calls_external_are_left_out(
    tmp_path: Path, database_url: str
) -> None:
    project(tmp_path, database_url)
    execute(
        database_url,
        "CREATE TABLE app_a (id bigint PRIMARY KEY); CREATE TABLE legacy_c (id bigint);"
        "CREATE TABLE legacy_d (id bigint)",
    )
    with (tmp_path / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write('\n[tool.dualorm.ownership]\n"legacy_*" = "external"\n')
    done = cli(tmp_path, database_url, "migrate", "init", "--from-database", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tables"] == ["app_a"]


# -- init --from-database: refusals ------------------------------------------------------------


def test_init_refuses_what_a_spec_cannot_say_and_names_it(
    tmp_path: Path, database_url: str
) -> None:
    project(tmp_path, database_url)
    execute(
        database_url,
        "CREATE TYPE mood AS ENUM ('happy', 'sad');"
        "CREATE TABLE people (id bigint PRIMARY KEY, feeling mood);"
        "CREATE TABLE pets (id bigint PRIMARY KEY, owner_id bigint REFERENCES people (id));"
        "CREATE UNLOGGED TABLE scratch (id bigint);"
        "CREATE TABLE bookings (id bigint, during tstzrange, EXCLUDE USING gist (during WITH &&));"
        'CREATE TABLE labels (id bigint PRIMARY KEY, label text COLLATE "C");'
        'CREATE TABLE odd ("a b" integer); CREATE INDEX odd_ab ON odd ("a b");'
        "CREATE TABLE stamped (id bigint PRIMARY KEY, at timestamptz);"
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN NEW.at := now(); RETURN NEW; END$$;"
        "CREATE TRIGGER stamped_touch BEFORE UPDATE ON stamped "
        "FOR EACH ROW EXECUTE FUNCTION touch()",
    )
    refused = cli(tmp_path, database_url, "migrate", "init", "--from-database")
    assert refused.returncode == 2
    for fault in (
        "table scratch is unlogged",
        "table bookings has exclusion constraint bookings_during_excl",
        "index odd.odd_ab has key column 'a b'",
    ):
        assert fault in refused.stderr
    # Enum types and collations are part of the spec format.
    assert "people" not in refused.stderr and "labels" not in refused.stderr
    assert not list((tmp_path / "migrations").iterdir())

    dangling = cli(
        tmp_path, database_url, "migrate", "init", "--from-database",
        "--exclude", "people,scratch,bookings,labels,odd",
    )  # fmt: skip
    assert dangling.returncode == 2
    assert "pets.pets_owner_id_fkey references people, which is not adopted" in dangling.stderr

    done = cli(
        tmp_path, database_url, "migrate", "init", "--from-database",
        "--exclude", "people,pets,scratch,bookings,labels,odd",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning: table stamped has trigger stamped_touch" in done.stderr
    assert (tmp_path / "migrations" / "0001_initial.yaml").is_file()


def test_init_never_overwrites_and_is_for_a_first_adoption(
    tmp_path: Path, database_url: str
) -> None:
    project(tmp_path, database_url)
    execute(database_url, "CREATE TABLE first (id bigint PRIMARY KEY)")
    spec = init(tmp_path, database_url)
    before = spec.read_text(encoding="utf-8")

    again = cli(tmp_path, database_url, "migrate", "init", "--from-database")
    assert again.returncode == 2 and "--id" in again.stderr
    same = cli(tmp_path, database_url, "migrate", "init", "--from-database", "--id", spec.stem)
    assert same.returncode == 3 and spec.name in same.stderr
    assert spec.read_text(encoding="utf-8") == before
    plain = cli(tmp_path, database_url, "migrate", "init")
    assert plain.returncode == 2 and "--from-database" in plain.stderr

    execute(
        database_url,
        "CREATE TABLE second (id bigint PRIMARY KEY, first_id bigint REFERENCES first (id))",
    )
    added = init(tmp_path, database_url, "--id", "0002_adopt_second")
    text = added.read_text(encoding="utf-8")
    assert "dependencies:\n- 0001_initial" in text
    assert "name: second" in text and "name: first\n" not in text


# -- a database Django's own migrate built -----------------------------------------------------


def django_migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "django_app.settings"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("spec_id", ["0001_adopted", None], ids=["new-id", "default-id"])
def test_adopting_a_django_migrated_database(
    tmp_path: Path, database_url: str, admin_url: str, spec_id: str | None
) -> None:
    django_migrate(database_url)
    django_rows = snapshot(database_url)["django"]
    assert len(django_rows) == len(REFERENCE_MIGRATIONS)
    project(tmp_path, database_url)
    with (tmp_path / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write('django_settings = "django_app.settings"\n')
    spec = init(tmp_path, database_url, *(["--id", spec_id] if spec_id else []))
    adopted_id = spec.stem
    if spec_id is not None:
        # Django's rows name its own migrations, not this spec: nothing says what to adopt.
        bare = cli(tmp_path, database_url, "migrate", "baseline")
        assert bare.returncode == 2
        assert f"heads: {adopted_id}" in bare.stderr and "--to" in bare.stderr

    done = cli(tmp_path, database_url, "migrate", "baseline", "--to", adopted_id)
    assert done.returncode == 0, done.stderr
    assert adopted_id in done.stdout
    status = json.loads(cli(tmp_path, database_url, "migrate", "status", "--json").stdout)
    assert status["ledgers_agree"] and status["applied"] == 1 and status["pending"] == 0
    assert status["migrations"][0]["id"] == adopted_id
    ledgers = snapshot(database_url)
    assert [row[0] for row in ledgers["dualorm"]] == [adopted_id]
    assert ledgers["alembic"] == [(adopted_id,)]
    assert set(django_rows) <= set(ledgers["django"])
    assert ("django_app", adopted_id) in ledgers["django"]
    up = cli(tmp_path, database_url, "migrate", "up")
    assert up.returncode == 0 and "nothing to apply" in up.stdout

    catalog, _ = replayed(admin_url, tmp_path)
    assert catalog == load(database_url)


ENUMS_AND_COLLATIONS = """
CREATE TYPE "Ticket State" AS ENUM ('open', 'it''s on hold', 'closed');
CREATE TYPE unused AS ENUM ('x');
CREATE TABLE tickets (
    id bigint PRIMARY KEY,
    state "Ticket State" NOT NULL DEFAULT 'open',
    history "Ticket State"[],
    code text COLLATE "C"
);
COMMENT ON TABLE tickets IS 'support tickets';
COMMENT ON COLUMN tickets.code IS 'bytewise';
"""


def test_enum_types_collations_and_comments_are_adopted(
    tmp_path: Path, database_url: str, admin_url: str
) -> None:
    project(tmp_path, database_url)
    execute(database_url, ENUMS_AND_COLLATIONS)
    spec = init(tmp_path, database_url)
    text = spec.read_text(encoding="utf-8")
    assert "create_enum" in text and "collation: C" in text
    catalog, _ = replayed(admin_url, tmp_path)
    # An enum type no adopted table uses is not adopted.
    assert catalog == Schema(load(database_url).tables, catalog.enums)
    assert [e.name for e in catalog.enums] == ["Ticket State"]
