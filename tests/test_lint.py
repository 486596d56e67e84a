"""Lint rules: each fires on the dangerous form and not on its safe alternative; the lock
each operation is said to take is the one PostgreSQL really takes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from project_files import change_spec

from dualorm.db import connect
from dualorm.emit.sql import statements
from dualorm.runner.impact import impacts
from dualorm.runner.impact_model import Lock, type_change_rewrites
from dualorm.runner.lint import RULES, lint
from dualorm.schema import Schema
from dualorm.sources import sqlalchemy as sa_source
from dualorm.spec.load import load_specs
from dualorm.spec.model import Migration

BASE = """\
id: "0001_base"
name: base
dependencies: []
operations:
  - create_table:
      name: items
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: code, type: varchar(20)}
        - {name: qty, type: integer}
        - {name: owner_id, type: bigint}
  - create_table:
      name: owners
      columns:
        - {name: id, type: bigint, primary_key: true}
"""


def specs(tmp_path: Path, operations: str) -> list[Migration]:
    (tmp_path / "0001_base.yaml").write_text(BASE)
    (tmp_path / "0002_change.yaml").write_text(change_spec(operations))
    return load_specs(tmp_path)


def fired(tmp_path: Path, operations: str, **kwargs: object) -> set[str]:
    found = lint(specs(tmp_path, operations), only=["0002_change"], **kwargs)  # type: ignore[arg-type]
    return {f.rule for f in found}


CASES = [
    (
        "require-concurrent-index",
        "- create_index: {name: items_code_idx, table: items, columns: [code]}",
        "- create_index: {name: items_code_idx, table: items, columns: [code], concurrently: true}",
    ),
    (
        "foreign-key-not-valid",
        "- add_foreign_key: {name: items_owner_fkey, table: items, columns: [owner_id], "
        "references: owners(id)}",
        "- add_foreign_key: {name: items_owner_fkey, table: items, columns: [owner_id], "
        "references: owners(id), not_valid: true}",
    ),
    (
        "check-not-valid",
        "- add_check: {name: items_qty_check, table: items, expression: qty > 0}",
        "- add_check: {name: items_qty_check, table: items, expression: qty > 0, not_valid: true}",
    ),
    (
        "set-not-null",
        "- alter_column: {table: items, name: qty, nullable: false}",
        "- alter_column: {table: items, name: code, type: varchar(40)}",
    ),
    (
        "rewriting-type-change",
        "- alter_column: {table: items, name: qty, type: bigint}",
        "- alter_column: {table: items, name: code, type: text}",
    ),
    (
        "volatile-default",
        "- add_column: {table: items, name: token, type: uuid, server_default: gen_random_uuid()}",
        "- add_column: {table: items, name: token, type: uuid}",
    ),
    (
        "generated-column",
        "- add_column: {table: items, name: big, type: boolean, generated: qty > 100}",
        "- add_column: {table: items, name: big, type: boolean}",
    ),
    (
        "not-null-without-default",
        "- add_column: {table: items, name: flag, type: boolean, nullable: false}",
        "- add_column: {table: items, name: flag, type: boolean, nullable: false, "
        "server_default: 'false'}",
    ),
    (
        "rename-column",
        "- rename_column: {table: items, name: code, new_name: sku}",
        "- add_column: {table: items, name: sku, type: varchar(20)}",
    ),
    (
        "rename-table",
        "- rename_table: {name: items, new_name: products}",
        "- create_table: {name: products, columns: [{name: id, type: bigint, primary_key: true}]}",
    ),
    (
        "unique-without-index",
        "- add_unique: {name: items_code_key, table: items, columns: [code]}",
        "- create_index: {name: items_code_key, table: items, columns: [code], unique: true, "
        "concurrently: true}",
    ),
    (
        "primary-key-on-existing",
        "- drop_constraint: {table: items, name: items_pkey}\n"
        "- add_primary_key: {table: items, columns: [id]}",
        "- create_table: {name: tags, columns: [{name: id, type: bigint, nullable: false}]}\n"
        "- add_primary_key: {table: tags, columns: [id]}",
    ),
    (
        "raw-sql",
        "- run_sql: {sql: 'UPDATE items SET qty = 0', reverse_sql: 'SELECT 1'}",
        "- add_column: {table: items, name: note, type: text}",
    ),
    (
        "irreversible",
        "- run_sql: {sql: 'UPDATE items SET qty = 0'}",
        "- run_sql: {sql: 'UPDATE items SET qty = 0', reverse_sql: 'SELECT 1'}",
    ),
    (
        "destructive",
        "- drop_column: {table: items, name: code}",
        "- add_column: {table: items, name: note, type: text}",
    ),
    (
        "concurrent-not-alone",
        "- add_column: {table: items, name: note, type: text}\n"
        "- create_index: {name: items_code_idx, table: items, columns: [code], concurrently: true}",
        "- create_index: {name: items_code_idx, table: items, columns: [code], concurrently: true}",
    ),
    (
        "exclusive-lock-held",
        "- drop_column: {table: items, name: code}\n"
        "- add_column: {table: owners, name: n, type: text}",
        "- add_column: {table: owners, name: n, type: text}",
    ),
    (
        "require-concurrent-index-drop",
        "- create_index: {name: i, table: items, columns: [code], concurrently: true}",
        "- create_index: {name: i, table: items, columns: [code], concurrently: true}",
    ),
]


@pytest.mark.parametrize(("rule", "dangerous", "safe"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires_on_danger_not_on_safe_form(
    tmp_path: Path, rule: str, dangerous: str, safe: str
) -> None:
    if rule == "require-concurrent-index-drop":
        # Dropping needs an index created by an earlier migration.
        (tmp_path / "0001_base.yaml").write_text(BASE)
        base = specs(tmp_path, safe)
        (tmp_path / "0003_drop.yaml").write_text(
            'id: "0003_drop"\nname: drop\ndependencies: ["0002_change"]\noperations:\n'
            "  - drop_index: {name: i, table: items}\n"
        )
        found = {f.rule for f in lint(load_specs(tmp_path), only=["0003_drop"])}
        assert rule in found
        assert base
        return
    assert rule in fired(tmp_path, dangerous)
    assert rule not in fired(tmp_path, safe)


def test_new_tables_are_never_flagged(tmp_path: Path) -> None:
    (tmp_path / "0001_base.yaml").write_text(
        BASE
        + (
            "  - create_index: {name: items_code_idx, table: items, columns: [code]}\n"
            "  - add_foreign_key: {name: items_owner_fkey, table: items, columns: [owner_id], "
            "references: owners(id)}\n"
        )
    )
    assert {f.rule for f in lint(load_specs(tmp_path)) if f.severity == "error"} == set()


def test_drops_of_what_the_models_still_use(tmp_path: Path) -> None:
    from sa_models import Base

    (tmp_path / "0001_base.yaml").write_text(
        'id: "0001_base"\nname: base\ndependencies: []\noperations:\n'
        "  - create_table: {name: users, columns: [{name: id, type: uuid, primary_key: true},"
        " {name: email, type: varchar(255)}]}\n"
        "  - create_table: {name: roles, columns: [{name: id, type: bigint, primary_key: true}]}\n"
    )
    (tmp_path / "0002_change.yaml").write_text(
        'id: "0002_change"\nname: c\ndependencies: ["0001_base"]\noperations:\n'
        "  - drop_column: {table: users, name: email}\n  - drop_table: {name: roles}\n"
    )
    models = sa_source.load(Base.metadata)
    rules = {f.rule for f in lint(load_specs(tmp_path), only=["0002_change"], models=models)}
    assert {"drop-column-in-use", "drop-table-in-use"} <= rules
    assert not {"drop-column-in-use", "drop-table-in-use"} & {
        f.rule for f in lint(load_specs(tmp_path), only=["0002_change"], models=Schema())
    }


def test_acknowledged_finding_no_longer_blocks(tmp_path: Path) -> None:
    found = lint(
        specs(
            tmp_path,
            "- create_index: {name: items_code_idx, table: items, columns: [code], acknowledge: "
            "[{rule: require-concurrent-index, reason: items holds ten rows}]}",
        ),
        only=["0002_change"],
    )
    (finding,) = [f for f in found if f.rule == "require-concurrent-index"]
    assert finding.acknowledged and finding.acknowledgement == "items holds ten rows"
    assert not finding.blocking
    assert finding.line is not None and finding.path and finding.path.endswith("0002_change.yaml")


def test_missing_lock_timeout(tmp_path: Path) -> None:
    op = "- add_column: {table: items, name: note, type: text}"
    assert "missing-lock-timeout" in fired(tmp_path, op, lock_timeout_ms=0)
    assert "missing-lock-timeout" not in fired(tmp_path, op)


def test_every_rule_is_documented() -> None:
    assert len(RULES) >= 12
    for rule in RULES:
        assert rule.reason and rule.alternative and rule.name == rule.name.lower()


def test_reference_migrations_have_no_blocking_finding() -> None:
    root = Path(__file__).resolve().parent.parent
    assert [f for f in lint(load_specs(root / "migrations")) if f.blocking] == []


@pytest.mark.parametrize(
    ("old", "new", "rewrites"),
    [
        ("character varying(20)", "character varying(40)", False),
        ("character varying(40)", "character varying(20)", True),
        ("character varying(40)", "text", False),
        ("integer", "bigint", True),
        ("numeric(10,2)", "numeric(12,2)", False),
        ("numeric(10,2)", "numeric(10,3)", True),
    ],
)
def test_type_change_rewrite_matches_postgres(
    database_url: str, old: str, new: str, rewrites: bool
) -> None:
    """The rewrite prediction agrees with the server: a rewrite gives a new relfilenode."""
    assert type_change_rewrites(old, new) is rewrites
    with connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE t (c {old})")
        conn.execute("INSERT INTO t VALUES (NULL)")
        before = conn.execute("SELECT pg_relation_filenode('t')").fetchone()
        conn.execute(f"ALTER TABLE t ALTER COLUMN c TYPE {new}")
        after = conn.execute("SELECT pg_relation_filenode('t')").fetchone()
    assert (before != after) is rewrites


LOCK_CASES = [
    "- create_index: {name: items_code_idx, table: items, columns: [code]}",
    "- add_foreign_key: {name: items_owner_fkey, table: items, columns: [owner_id], "
    "references: owners(id), not_valid: true}",
    "- add_check: {name: items_qty_check, table: items, expression: qty > 0}",
    "- add_column: {table: items, name: note, type: text}",
    "- alter_column: {table: items, name: qty, type: bigint}",
    "- drop_column: {table: items, name: code}",
    "- add_unique: {name: items_code_key, table: items, columns: [code]}",
]


@pytest.mark.parametrize("operation", LOCK_CASES, ids=lambda s: s.split(":")[0][2:])
def test_claimed_lock_is_the_lock_postgres_takes(
    tmp_path: Path, database_url: str, operation: str
) -> None:
    base, change = specs(tmp_path, operation)
    with connect(database_url, autocommit=True) as conn:
        for op in base.operations:
            for sql in statements(op):
                conn.execute(sql)
    state = Schema()
    for op in base.operations:
        state = op.apply(state)
    (op,) = change.operations
    claimed = {i.table: i.lock for i in impacts(op, state)}
    with connect(database_url) as conn:
        for sql in statements(op):
            conn.execute(sql)
        rows = conn.execute(
            "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = pg_backend_pid() AND c.relkind = 'r'"
        ).fetchall()
        conn.rollback()
    taken: dict[str, Lock] = {}
    for relname, mode in rows:
        lock = Lock.from_pg(str(mode))
        taken[str(relname)] = max(taken.get(str(relname), Lock.NONE), lock)
    for table, lock in claimed.items():
        assert taken.get(table) == lock, (table, taken)


def test_losing_rows_blocks_only_where_rows_may_be(tmp_path: Path) -> None:
    found = lint(specs(tmp_path, "- drop_column: {table: items, name: code}"), only=["0002_change"])
    (finding,) = [f for f in found if f.rule == "destructive"]
    assert finding.blocking
    # A table the migration creates holds no rows yet: dropping it again loses nothing.
    created = lint(
        specs(
            tmp_path,
            "- create_table: {name: scratch, columns: [{name: id, type: bigint}]}\n"
            "- drop_table: {name: scratch}",
        ),
        only=["0002_change"],
    )
    assert "destructive" not in {f.rule for f in created}


def test_a_label_is_not_used_in_the_migration_that_adds_it(tmp_path: Path) -> None:
    base = BASE + (
        "  - create_enum: {name: item_state, labels: [open]}\n"
        "  - add_column: {table: items, name: state, type: item_state}\n"
    )

    def rules(operations: str) -> set[str]:
        (tmp_path / "0001_base.yaml").write_text(base)
        (tmp_path / "0002_change.yaml").write_text(change_spec(operations))
        return {f.rule for f in lint(load_specs(tmp_path), only=["0002_change"])}

    uses = "- alter_column: {table: items, name: state, server_default: \"'held'::item_state\"}"
    assert "enum-label-used-where-added" in rules(
        f"- add_enum_value: {{enum: item_state, label: held}}\n{uses}"
    )
    assert "enum-label-used-where-added" not in rules(
        "- add_enum_value: {enum: item_state, label: held}"
    )
    # A type created in the same migration may use every label it is given there.
    assert "enum-label-used-where-added" not in rules(
        "- create_enum: {name: fresh, labels: [a]}\n"
        "- add_enum_value: {enum: fresh, label: b}\n"
        "- add_column: {table: items, name: f, type: fresh, server_default: \"'b'::fresh\"}"
    )


def test_every_rule_has_a_test_that_fires_it() -> None:
    """A rule goes in :data:`CASES` (its dangerous and its safe form) or a test of its own that
    names it; a rule no test names can stop firing unnoticed."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    named = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert [rule.name for rule in RULES if rule.name not in named] == []
