"""The hostile corpus: bad specs, flags, URLs, configs and ledgers, each through the CLI.

Every case runs one command against a project whose base migration is applied, and asserts
the contract of a refusal: the documented exit code (2 bad input, 3 refused by a safety rule),
one message on stderr that names what is wrong (the file, the flag, the value), no traceback,
no password, and the database and the project's files exactly as they were.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from psycopg import sql

from dualorm.cli import main
from dualorm.db import connection, database_name, with_database
from tests.project_files import SPECS_ONLY, use_project, write_project
from tests.runner_specs import snapshot

SECRET = "hunter2-S3cr3t"

BASE = """\
id: "0001_base"
name: base
dependencies: []
operations:
  - create_table:
      name: accounts
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: owner, type: text, nullable: false}
        - {name: balance, type: integer}
"""

PRODUCTION_LABEL = "UPDATE dualorm.meta SET value = 'production' WHERE key = 'environment'"

HEADER = 'id: "0002_bad"\nname: bad\ndependencies: ["0001_base"]\noperations:\n'


def spec(operations: str) -> dict[str, str]:
    """A second spec, ``0002_bad.yaml``, holding ``operations`` after a valid header."""
    return {"migrations/0002_bad.yaml": HEADER + operations}


def raw(text: str) -> dict[str, str]:
    return {"migrations/0002_bad.yaml": text}


@dataclass(frozen=True)
class Case:
    files: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ("migrate", "up")
    code: int = 2
    names: str = "0002_bad.yaml"
    env: dict[str, str] = field(default_factory=dict)
    sql: str = ""
    """SQL run on the database before the command (a tampered ledger)."""


def _add_column(**fields: str) -> str:
    body = ", ".join(f"{k}: {v}" for k, v in fields.items())
    return f"  - add_column: {{table: accounts, {body}}}\n"


SPECS: dict[str, Case] = {
    # -- YAML that is not a spec --------------------------------------------------------------
    "empty-file": Case(raw("")),
    "top-level-list": Case(raw("- a\n- b\n")),
    "top-level-scalar": Case(raw("just text\n")),
    "unclosed-flow": Case(raw('id: "0002_bad"\nname: [bad\n')),
    "tab-indent": Case(raw('id: "0002_bad"\nname: bad\noperations:\n\t- drop_table: x\n')),
    "duplicate-key": Case(raw('id: "0002_bad"\nid: "0003_bad"\nname: bad\n')),
    "python-tag": Case(raw('id: !!python/object/apply:os.system ["true"]\nname: bad\n')),
    "alias-bomb": Case(
        raw(
            'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n"
                for i in range(8)
            )
            + 'id: "0002_bad"\nname: bad\ndependencies: []\noperations: *i\n'
        )
    ),
    "recursive-alias": Case(raw('id: "0002_bad"\nname: &n [*n]\noperations: []\n')),
    "non-string-key": Case(raw('id: "0002_bad"\nname: bad\n? [1, 2]\n: x\noperations: []\n')),
    "merge-key": Case(
        spec("  - add_column:\n      <<: {table: accounts}\n      name: c\n      type: text\n")
    ),
    "binary-value": Case(raw('id: "0002_bad"\nname: !!binary aGVsbG8=\noperations: []\n')),
    # -- headers ------------------------------------------------------------------------------
    "missing-id": Case(raw("name: bad\ndependencies: []\noperations: []\n")),
    "id-not-string": Case(raw("id: [1]\nname: bad\ndependencies: []\noperations: []\n")),
    "operations-not-list": Case(raw(HEADER.replace("operations:\n", "operations: 7\n"))),
    "dependencies-not-list": Case(
        raw('id: "0002_bad"\nname: bad\ndependencies: "0001_base"\noperations: []\n')
    ),
    "unknown-dependency": Case(
        raw('id: "0002_bad"\nname: bad\ndependencies: ["0009_nope"]\noperations: []\n'),
        names="0009_nope",
    ),
    "self-dependency": Case(
        raw('id: "0002_bad"\nname: bad\ndependencies: ["0002_bad"]\noperations: []\n'),
        names="0002_bad",
    ),
    "unknown-header-key": Case(raw(HEADER + "  - drop_index: {name: x}\nsurprise: 1\n")),
    "duplicate-id": Case(
        {"migrations/0002_bad.yaml": BASE.replace("name: base", "name: again")},
        names="0001_base",
    ),
    # -- operations ---------------------------------------------------------------------------
    "unknown-operation": Case(spec("  - teleport_table: {name: accounts}\n")),
    "operation-not-mapping": Case(spec("  - drop_table\n")),
    "two-keys-operation": Case(spec("  - {drop_table: {name: accounts}, drop_index: {name: x}}\n")),
    "unknown-field": Case(spec("  - drop_table: {name: accounts, cascade_everything: true}\n")),
    "missing-table": Case(spec("  - drop_table: {name: ghosts}\n"), names="ghosts"),
    "add-column-missing-table": Case(
        spec("  - add_column: {table: ghosts, name: c, type: text}\n")
    ),
    "add-existing-column": Case(spec(_add_column(name="owner", type="text"))),
    "drop-missing-column": Case(spec("  - drop_column: {table: accounts, name: nope}\n")),
    "bad-type": Case(spec(_add_column(name="c", type="integr"))),
    "type-injection": Case(spec(_add_column(name="c", type='"text; DROP TABLE accounts"'))),
    "split-numeric": Case(spec(_add_column(name="c", type="numeric(12,2)"))),
    "nullable-not-bool": Case(spec(_add_column(name="c", type="text", nullable='"maybe"'))),
    "nul-in-name": Case(spec(_add_column(name='"c\\0d"', type="text"))),
    "control-char-name": Case(spec(_add_column(name='"c\\x07"', type="text"))),
    "empty-name": Case(spec(_add_column(name='""', type="text"))),
    "index-unknown-column": Case(
        spec("  - create_index: {name: i1, table: accounts, columns: [nope]}\n")
    ),
    "fk-unknown-table": Case(
        spec("  - add_foreign_key: {table: accounts, columns: [owner], references: ghosts(id)}\n")
    ),
    "drop-unknown-index": Case(spec("  - drop_index: {name: no_such_idx}\n")),
    "drop-unknown-constraint": Case(spec("  - drop_constraint: {table: accounts, name: nope}\n")),
    # The function is imported when the migration runs (user code is never run at load):
    # the migration fails, its transaction rolls back.
    "run-python-unknown": Case(
        spec("  - run_python: {function: 'no_such_module:fn'}\n"), code=1, names="no_such_module"
    ),
    "run-python-not-dotted": Case(spec("  - run_python: {function: 'os.system'}\n")),
    # -- SQL text: exactly one expression, statements parsed ----------------------------------
    "default-statement": Case(
        spec(_add_column(name="c", type="text", server_default="\"'x'; DROP TABLE accounts\""))
    ),
    "default-comment-trick": Case(
        spec(_add_column(name="c", type="text", server_default="\"'x' -- \""))
    ),
    "default-block-comment": Case(
        spec(_add_column(name="c", type="text", server_default="\"'x' /* \""))
    ),
    "default-unbalanced-quote": Case(
        spec(_add_column(name="c", type="text", server_default='"\'x"'))
    ),
    "default-subselect-statement": Case(
        spec(_add_column(name="c", type="text", server_default='"(1); SELECT pg_sleep(1)"'))
    ),
    "default-two-expressions": Case(
        spec(_add_column(name="c", type="integer", server_default='"1, 2"'))
    ),
    "check-statement": Case(
        spec(
            "  - add_check:\n      table: accounts\n      name: c1\n"
            '      expression: "balance > 0); DROP TABLE accounts; --"\n'
        )
    ),
    "check-empty": Case(spec('  - add_check: {table: accounts, name: c1, expression: ""}\n')),
    "where-statement": Case(
        spec(
            "  - create_index:\n      name: i1\n      table: accounts\n      columns: [owner]\n"
            '      where: "balance > 0; DROP TABLE accounts"\n'
        )
    ),
    "method-sql": Case(
        spec(
            "  - create_index:\n      name: i1\n      table: accounts\n      columns: [owner]\n"
            '      method: "btree (owner); DROP TABLE accounts; --"\n'
        )
    ),
    "using-statement": Case(
        spec(
            "  - alter_column:\n      table: accounts\n      name: balance\n"
            '      type: bigint\n      using: "balance::bigint; DROP TABLE accounts"\n'
        )
    ),
    "generated-statement": Case(
        spec(_add_column(name="g", type="integer", generated='"balance); DROP TABLE accounts; --"'))
    ),
    "run-sql-begin-commit": Case(
        spec('  - run_sql: {sql: "BEGIN; CREATE TABLE leak (a int); COMMIT;"}\n')
    ),
    "run-sql-commit-only": Case(spec('  - run_sql: {sql: "CREATE TABLE leak (a int); COMMIT"}\n')),
    "run-sql-savepoint": Case(spec('  - run_sql: {sql: "SAVEPOINT s; SELECT 1"}\n')),
    "run-sql-syntax-error": Case(spec('  - run_sql: {sql: "CREAT TABLE nope (a int)"}\n')),
    "run-sql-empty": Case(spec('  - run_sql: {sql: ""}\n')),
    "run-sql-unterminated": Case(spec('  - run_sql: {sql: "SELECT \'abc"}\n')),
}

FLAGS: dict[str, Case] = {
    "unknown-verb": Case(args=("migrate", "teleport"), names="teleport"),
    "unknown-flag": Case(args=("migrate", "up", "--hyperdrive"), names="--hyperdrive"),
    "to-unknown-id": Case(args=("migrate", "up", "--to", "9999_nope"), names="9999_nope"),
    "down-to-unknown-id": Case(args=("migrate", "down", "--to", "9999_nope"), names="9999_nope"),
    "down-id-unknown": Case(args=("migrate", "down", "--id", "9999_nope"), names="9999_nope"),
    "steps-not-number": Case(args=("migrate", "down", "--steps", "many"), names="--steps"),
    "steps-negative": Case(args=("migrate", "down", "--steps", "-1"), names="steps"),
    "max-downtime-nan": Case(args=("migrate", "up", "--max-downtime", "nan"), names="max-downtime"),
    "max-downtime-inf": Case(args=("migrate", "up", "--max-downtime", "inf"), names="max-downtime"),
    "max-downtime-negative": Case(
        args=("migrate", "up", "--max-downtime", "-5"), names="max-downtime"
    ),
    "max-downtime-zero": Case(args=("migrate", "up", "--max-downtime", "0"), names="max-downtime"),
    "max-downtime-word": Case(
        args=("migrate", "up", "--max-downtime", "soon"), names="max-downtime"
    ),
    "validate-unknown-source": Case(
        args=("validate", "--sources", "cobol,database"), names="cobol"
    ),
    "seed-unknown-env": Case(args=("seed", "run", "--env", "moon"), names="moon"),
    "seed-clear-no-confirm": Case(
        args=("seed", "clear", "--env", "development"), code=3, names="--confirm"
    ),
    "reset-no-confirm": Case(args=("reset", "--env", "development"), code=3, names="--confirm"),
    "reset-production": Case(
        args=("reset", "--env", "production", "--confirm"), code=3, names="production"
    ),
    "reset-env-mismatch": Case(
        args=("reset", "--env", "development", "--confirm"),
        env={"DUALORM_ENV": "production"},
        code=3,
        names="production",
    ),
    "seed-clear-env-mismatch": Case(
        args=("seed", "clear", "--env", "development", "--confirm"),
        env={"DUALORM_ENV": "production"},
        code=3,
        names="production",
    ),
    "restore-missing-backup": Case(
        args=("backup", "restore", "no-such-backup", "--confirm"), names="no-such-backup"
    ),
    "verify-missing-backup": Case(args=("backup", "verify", "no-such-backup"), names="no-such"),
    "unknown-environment": Case(env={"DUALORM_ENV": "moon"}, names="moon"),
    "production-without-yes": Case(
        files=spec("  - add_column: {table: accounts, name: note, type: text}\n"),
        env={"DUALORM_ENV": "production"},
        sql=PRODUCTION_LABEL,
        code=3,
        names="confirm",
    ),
    "production-destructive": Case(
        files=spec("  - drop_column: {table: accounts, name: balance}\n"),
        args=("migrate", "up", "--yes"),
        env={"DUALORM_ENV": "production"},
        sql=PRODUCTION_LABEL,
        code=3,
        names="0002_bad",
    ),
    "production-run-sql-drop": Case(
        files=spec('  - run_sql: {sql: "DROP TABLE accounts", reverse_sql: "SELECT 1"}\n'),
        args=("migrate", "up", "--yes"),
        env={"DUALORM_ENV": "production"},
        sql=PRODUCTION_LABEL,
        code=3,
        names="0002_bad",
    ),
    "production-down": Case(
        args=("migrate", "down", "--steps", "1"),
        env={"DUALORM_ENV": "production"},
        sql=PRODUCTION_LABEL,
        code=3,
        names="confirm",
    ),
    "production-down-bad-budget": Case(
        args=("migrate", "down", "--yes", "--max-downtime", "nan"),
        env={"DUALORM_ENV": "production"},
        sql=PRODUCTION_LABEL,
        names="max-downtime",
    ),
    "production-to": Case(
        args=("migrate", "up", "--yes", "--to", "0001_base"),
        env={"DUALORM_ENV": "production"},
        sql=PRODUCTION_LABEL,
        names="--to",
    ),
    "cascade-without-id": Case(args=("migrate", "down", "--cascade"), names="--cascade"),
    "down-two-selectors": Case(
        args=("migrate", "down", "--steps", "1", "--to", "0001_base"), names="--steps"
    ),
    "backup-key-not-base64": Case(
        args=("backup", "create"), env={"DUALORM_BACKUP_KEY": "%%%not-base64%%%"}, names="KEY"
    ),
    "backup-key-short": Case(
        args=("backup", "create"), env={"DUALORM_BACKUP_KEY": "c2hvcnQ="}, names="KEY"
    ),
}

URLS: dict[str, Case] = {
    "unreachable-port": Case(
        env={"DATABASE_URL": f"postgresql://u:{SECRET}@127.0.0.1:1/db"}, names="127.0.0.1"
    ),
    "unreachable-status": Case(
        args=("migrate", "status"),
        env={"DATABASE_URL": f"postgresql://u:{SECRET}@127.0.0.1:1/db"},
        names="127.0.0.1",
    ),
    "unknown-host": Case(
        env={"DATABASE_URL": f"postgresql://u:{SECRET}@no-such-host.invalid/db"},
        names="no-such-host",
    ),
    "missing-database": Case(
        env={"DATABASE_URL": f"postgresql://postgres:{SECRET}@127.0.0.1:5432/no_such_db_x"},
        names="no_such_db_x",
    ),
    "malformed-scheme": Case(
        env={"DATABASE_URL": f"postgresql//user:{SECRET}@host/db"}, names="DATABASE_URL"
    ),
    "garbage-url": Case(env={"DATABASE_URL": f"::{SECRET}::"}, names="DATABASE_URL"),
    "keyword-dsn-spaces": Case(
        env={"DATABASE_URL": f"host=127.0.0.1 port=1 password = {SECRET} dbname=x"},
        names="127.0.0.1",
    ),
    "keyword-dsn-quoted": Case(
        env={"DATABASE_URL": f"host=127.0.0.1 port=1 password='{SECRET} x' dbname=x"},
        names="127.0.0.1",
    ),
    "url-password-space": Case(
        env={"DATABASE_URL": f"postgresql://u:{SECRET}%20x@127.0.0.1:1/db"}, names="127.0.0.1"
    ),
    "validate-unreachable": Case(
        args=("migrate", "plan"),
        env={"DATABASE_URL": f"postgresql://u:{SECRET}@127.0.0.1:1/db"},
        names="127.0.0.1",
    ),
    "replica-unreachable-comma": Case(
        args=("validate", "--replicas"),
        env={"DATABASE_REPLICA_URLS": f"postgresql://u:{SECRET},x@127.0.0.1:1/db"},
        code=1,
        names="127.0.0.1",
    ),
}

CONFIGS: dict[str, Case] = {
    "invalid-toml": Case(files={"pyproject.toml": "[tool.dualorm\nx = 1\n"}, names="pyproject"),
    "migrations-dir-wrong-type": Case(
        files={"pyproject.toml": "[tool.dualorm]\nmigrations_dir = 7\n"}, names="migrations_dir"
    ),
    "migrations-dir-missing": Case(
        files={"pyproject.toml": '[tool.dualorm]\nmigrations_dir = "nowhere"\n'},
        names="nowhere",
    ),
    "seeds-dir-wrong-type": Case(
        files={"pyproject.toml": '[tool.dualorm]\nmigrations_dir = "migrations"\nseeds_dir = []\n'},
        args=("seed", "status"),
        names="seeds_dir",
    ),
    "unknown-sa-module": Case(
        files={
            "pyproject.toml": '[tool.dualorm]\nmigrations_dir = "migrations"\n'
            'sa_metadata = "no_such_models:Base.metadata"\n'
        },
        args=("validate", "--sources", "sqlalchemy,database"),
        names="no_such_models",
    ),
    "sa-metadata-no-colon": Case(
        files={
            "pyproject.toml": '[tool.dualorm]\nmigrations_dir = "migrations"\n'
            'sa_metadata = "no_colon_here"\n'
        },
        args=("validate", "--sources", "sqlalchemy,database"),
        names="sa_metadata",
    ),
}

LEDGERS: dict[str, Case] = {
    "edited-applied-spec": Case(
        files={"migrations/0001_base.yaml": BASE.replace("type: integer", "type: bigint")},
        code=3,
        names="0001_base",
    ),
    "tampered-checksum": Case(
        sql="UPDATE dualorm.migrations SET checksum = repeat('0', 64)", code=3, names="0001_base"
    ),
    "alembic-row-missing": Case(sql="DELETE FROM alembic_version", code=3, names="alembic"),
    "alembic-row-foreign": Case(
        sql="UPDATE alembic_version SET version_num = 'deadbeef'", code=3, names="deadbeef"
    ),
    "garbage-label": Case(
        sql="UPDATE dualorm.meta SET value = 'moon' WHERE key = 'environment'",
        code=3,
        names="moon",
    ),
    "production-label-dev-run": Case(
        sql="UPDATE dualorm.meta SET value = 'production' WHERE key = 'environment'",
        files=spec("  - add_column: {table: accounts, name: note, type: text}\n"),
        code=3,
        names="production",
    ),
}


def _manifest(**fields: object) -> str:
    import json

    document: dict[str, object] = {
        "name": "b1",
        "file": "b1.dump",
        "sha256": "0" * 64,
        "size": 5,
        "database": "x",
        "server_version": "16",
        "migration_head": "0001_base",
        "created_at": "2026-01-01T00:00:00+00:00",
        "encrypted": False,
        "encryption": "none",
        "compression": "none",
        "compression_level": None,
        "pg_dump_version": "16",
        "pg_dump_compression": "none",
        "dump_size": 5,
        "dualorm_version": "0",
        "environment": "development",
        "format": "dualorm-backup",
        "format_version": 1,
    }
    document.update(fields)
    return json.dumps(document)


def _backup(manifest: str, data: str = "PGDMP") -> dict[str, str]:
    return {"backups/b1.manifest.json": manifest, "backups/b1.dump": data}


RESTORE = ("backup", "restore", "backups/b1.manifest.json", "--confirm")
VERIFY = ("backup", "verify", "backups/b1.manifest.json")

BACKUPS: dict[str, Case] = {
    "manifest-not-json": Case(_backup("{not json"), VERIFY, code=1, names="b1.manifest.json"),
    "manifest-not-object": Case(_backup("[1, 2]"), VERIFY, code=1, names="b1.manifest.json"),
    "manifest-missing-field": Case(
        _backup('{"name": "b1"}'), VERIFY, code=1, names="b1.manifest.json"
    ),
    "manifest-foreign-format": Case(
        _backup(_manifest(format="someone-else")), VERIFY, code=1, names="b1.manifest.json"
    ),
    "manifest-escaping-file": Case(
        _backup(_manifest(file="../pyproject.toml")), VERIFY, code=1, names="b1.manifest.json"
    ),
    "manifest-bad-checksum": Case(_backup(_manifest()), VERIFY, code=1, names="b1"),
    "manifest-size-lies": Case(_backup(_manifest(size=10**12)), VERIFY, code=1, names="b1"),
    "data-file-missing": Case(
        {"backups/b1.manifest.json": _manifest()}, VERIFY, code=1, names="b1.dump"
    ),
    "restore-tampered": Case(_backup(_manifest()), RESTORE, code=1, names="b1"),
    "restore-without-confirm": Case(
        _backup(_manifest()),
        ("backup", "restore", "backups/b1.manifest.json"),
        code=3,
        names="--confirm",
    ),
    "restore-directory": Case({"backups/b1.manifest.json/x": "x"}, RESTORE, code=1, names="b1"),
    "restore-encrypted-without-key": Case(
        _backup(_manifest(encrypted=True, encryption="aes-256-gcm-chunked-v1")),
        RESTORE,
        names="KEY",
    ),
    "restore-production-unencrypted": Case(
        _backup(_manifest()),
        RESTORE,
        env={"DUALORM_ENV": "production"},
        sql=PRODUCTION_LABEL,
        code=3,
        names="not encrypted",
    ),
    "prune-negative": Case(args=("backup", "prune", "--keep", "-1"), names="--keep"),
    "prune-word": Case(args=("backup", "prune", "--keep", "all"), names="--keep"),
    "create-bad-name": Case(
        args=("backup", "create", "--name", "../escape", "--unencrypted"), names="../escape"
    ),
    "create-production-unencrypted": Case(
        args=("backup", "create", "--unencrypted"),
        env={"DUALORM_ENV": "production"},
        sql=PRODUCTION_LABEL,
        code=3,
        names="production",
    ),
}

CORPUS = {
    **{f"spec/{k}": v for k, v in SPECS.items()},
    **{f"flag/{k}": v for k, v in FLAGS.items()},
    **{f"url/{k}": v for k, v in URLS.items()},
    **{f"config/{k}": v for k, v in CONFIGS.items()},
    **{f"ledger/{k}": v for k, v in LEDGERS.items()},
    **{f"backup/{k}": v for k, v in BACKUPS.items()},
}


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 100


@pytest.fixture(scope="module")
def base_database(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("base")
    _write_project(root, {})
    with pytest.MonkeyPatch.context() as mp:
        use_project(mp, root, module_database_url, env="development")
        assert main(["migrate", "up"]) == 0
    return module_database_url


def _write_project(root: Path, files: dict[str, str]) -> None:
    """The project of every case: the base spec, then the case's own files over it."""
    write_project(root, BASE, settings=SPECS_ONLY, files=files)


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".dualorm" not in p.parts and "__pycache__" not in p.parts
    }


@pytest.fixture
def clone(base_database: str) -> Iterator[str]:
    """A copy of the migrated base database (CREATE DATABASE ... TEMPLATE), one per case."""
    name = f"hostile_{uuid.uuid4().hex[:12]}"
    base = database_name(base_database)
    with connection(base_database, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(str(base))
            )
        )
    url = with_database(base_database, name)
    try:
        yield url
    finally:
        with connection(base_database, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clone: str) -> Iterator[Path]:
    use_project(monkeypatch, tmp_path, clone, env="development")
    monkeypatch.setenv("DUALORM_BACKUP_DIR", str(tmp_path / "backups"))
    yield tmp_path


@pytest.mark.parametrize("case", list(CORPUS.values()), ids=list(CORPUS))
def test_refused_cleanly(
    case: Case,
    project: Path,
    clone: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _write_project(project, case.files)
    before_files = _files(project)
    if case.sql:
        # A tampered ledger is the case's input.
        with connection(clone, autocommit=True) as conn:
            conn.execute(case.sql)
    before = snapshot(clone)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    code = main(list(case.args))
    out, err = capsys.readouterr()
    assert code == case.code, f"exit {code}, expected {case.code}\nstdout: {out}\nstderr: {err}"
    # A refusal says why on stderr; a check that found problems (exit 1) may report them on
    # stdout, as its result.
    assert err.strip() or (case.code == 1 and out.strip()), "a refusal says why on stderr"
    assert "Traceback" not in out + err
    assert SECRET not in out + err and SECRET.replace("-", "%2D") not in out + err
    assert case.names.lower() in (out + err).lower(), f"message must name {case.names!r}: {err}"
    assert snapshot(clone) == before, "the database changed"
    assert _files(project) == before_files, "the project's files changed"
