"""Loading change specs: the shape, drops resolved from history, checksums, and one clear
``file:line`` message with exit code 2 for every kind of malformed spec."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from dualorm.errors import DualormError, GraphError, SpecError, exit_code
from dualorm.schema import Column, FkAction, Index, Schema
from dualorm.spec.load import _read_at_most, load_spec, load_specs, replay_directory
from dualorm.spec.ops import (
    Acknowledgement,
    AlterColumn,
    ChangeKind,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropIndex,
    RunPython,
    RunSQL,
)
from dualorm.spec.replay import replay

ROOT = Path(__file__).resolve().parent.parent

BASE = """\
id: "0001_base"
name: Base
dependencies: []
operations:
  - create_table:
      name: users
      columns:
        - {name: id, type: bigint, primary_key: true, identity: by default}
        - {name: email, type: varchar(255), nullable: false, unique: true}
        - {name: score, type: int4, server_default: 0}
      indexes:
        - {name: users_score_idx, columns: [score], where: score > 0}
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _second(tmp_path: Path, operations: str, header: str = "") -> Path:
    _write(tmp_path, "0001_base.yaml", BASE)
    head = header or 'id: "0002_next"\nname: Next\ndependencies: ["0001_base"]\n'
    return _write(tmp_path, "0002_next.yaml", head + "operations:\n" + operations)


def test_the_issue_example_loads(tmp_path: Path) -> None:
    path = ROOT / "migrations" / "0003_add_user_preferences.yaml"
    migration = load_spec(path)
    assert (migration.id, migration.version) == ("0003_add_user_preferences", "1.2.0")
    assert migration.dependencies == ("0001_initial",)
    created = migration.operations[0]
    assert isinstance(created, CreateTable)
    prefs = created.definition
    assert prefs.primary_key is not None and prefs.primary_key.name == "user_preferences_pkey"
    assert prefs.column("id") == Column("id", "character varying(255)", nullable=False)
    assert prefs.column("preferences") == Column(
        "preferences", "jsonb", nullable=False, default="'{}'::jsonb"
    )
    assert prefs.foreign_keys[0].on_delete is FkAction.CASCADE
    assert migration.operations[1] == CreateIndex(
        "user_preferences", Index("idx_user_preferences_user_id", ("user_id",))
    )
    assert migration.operations[0].line == 7


def test_canonical_values(tmp_path: Path) -> None:
    (base,) = load_specs(_write(tmp_path, "0001_base.yaml", BASE).parent)
    users = base.operations[0].definition  # type: ignore[attr-defined]
    assert users.column("score") == Column("score", "integer", default="0")
    assert users.column("id").nullable is False
    assert [u.name for u in users.uniques] == ["users_email_key"]


def test_index_keys_carry_their_ordering_and_include(tmp_path: Path) -> None:
    _second(
        tmp_path,
        "  - create_index:\n"
        "      table: users\n"
        "      columns: [score desc, email NULLS FIRST, lower(email) ASC NULLS LAST, id]\n"
        "      include: [email]\n",
    )
    index = load_specs(tmp_path)[1].operations[0].index  # type: ignore[attr-defined]
    assert index.columns == ("score", "email", "lower(email)", "id")
    assert index.orders == ("DESC", "NULLS FIRST", "", "")
    assert index.include == ("email",)
    assert index.name.startswith("users_score_email_") and "desc" not in index.name.lower()


def test_drops_carry_the_full_object_from_history(tmp_path: Path) -> None:
    _second(
        tmp_path,
        """\
  - drop_index: {name: users_score_idx}
  - drop_column:
      table: users
      name: score
      acknowledge:
        - {rule: drop-column, reason: nothing reads it since 1.4}
""",
    )
    _base, nxt = load_specs(tmp_path)
    drop_index, drop_column = nxt.operations
    assert drop_index == DropIndex("users", Index("users_score_idx", ("score",), where="score > 0"))
    assert drop_column == DropColumn("users", Column("score", "integer", default="0"))
    assert drop_column.acknowledge == (
        Acknowledgement("drop-column", "nothing reads it since 1.4"),
    )
    assert replay_directory(tmp_path).get("users").column("score") is None  # type: ignore[union-attr]
    base_only = replay(load_specs(tmp_path)[:1])
    assert base_only.get("users").column("score")  # type: ignore[union-attr]


def test_alter_column_reads_what_moves(tmp_path: Path) -> None:
    _second(
        tmp_path,
        """\
  - alter_column:
      {table: users, name: score, type: bigint, using: score::bigint, server_default: null}
""",
    )
    op = load_specs(tmp_path)[1].operations[0]
    assert isinstance(op, AlterColumn)
    assert op.changes == ChangeKind.TYPE | ChangeKind.DEFAULT
    assert op.to == Column("score", "bigint") and op.using == "score::bigint"


def test_escape_hatches(tmp_path: Path) -> None:
    _second(
        tmp_path,
        """\
  - run_sql: {sql: "UPDATE users SET score = 1", reverse_sql: "UPDATE users SET score = 0"}
  - run_python: {function: "seeds.backfill:forwards"}
""",
    )
    sql, python = load_specs(tmp_path)[1].operations
    assert sql == RunSQL("UPDATE users SET score = 1", "UPDATE users SET score = 0")
    assert python == RunPython("seeds.backfill:forwards", None)
    assert not load_specs(tmp_path)[1].reversible


def test_load_spec_against_a_given_schema(tmp_path: Path) -> None:
    path = _write(tmp_path, "0001_base.yaml", BASE)
    assert load_spec(path, Schema()).id == "0001_base"


# -- checksums -------------------------------------------------------------------------------


def _checksum(tmp_path: Path, text: str) -> str:
    folder = tmp_path / str(abs(hash(text)))
    folder.mkdir()
    return load_specs(_write(folder, "0001_base.yaml", text).parent)[0].checksum


def test_checksum_ignores_comments_and_layout(tmp_path: Path) -> None:
    original = _checksum(tmp_path, BASE)
    assert len(original) == 64
    commented = "# the first migration\n" + BASE.replace("name: Base", "name:   Base   # why")
    assert _checksum(tmp_path, commented) == original
    block = BASE.replace(
        "{name: score, type: int4, server_default: 0}",
        "name: score\n          type: int4\n          server_default: 0",
    ).replace("        - name: score", "        - name: score")
    assert _checksum(tmp_path, block) == original


def test_checksum_changes_with_meaning(tmp_path: Path) -> None:
    original = _checksum(tmp_path, BASE)
    assert _checksum(tmp_path, BASE.replace("score > 0", "score > 1")) != original
    assert _checksum(tmp_path, BASE.replace("name: Base", "name: Base2")) != original


# -- malformed specs -------------------------------------------------------------------------

MALFORMED: list[tuple[str, str, int, str]] = [
    (
        "unknown_op",
        "  - create_tabel: {name: t, columns: []}\n",
        5,
        "unknown operation create_tabel (did you mean create_table?)",
    ),
    (
        "missing_field",
        "  - create_index: {table: users}\n",
        5,
        "create_index: missing field columns",
    ),
    (
        "unknown_field",
        "  - add_column: {table: users, name: a, type: text, nulable: true}\n",
        5,
        "add_column: unknown field nulable (did you mean nullable?)",
    ),
    (
        "include_unknown_column",
        "  - create_index: {table: users, columns: [email], include: [nickname]}\n",
        5,
        "column users.nickname does not exist",
    ),
    (
        "comma_splits_flow_value",
        "  - add_column: {table: users, name: a, type: numeric(12,2), nullable: false}\n",
        5,
        'the value numeric(12,2) was split at its comma; quote it: type: "numeric(12,2)"',
    ),
    (
        "bad_type",
        "  - add_column: {table: users, name: a, type: varchr(255)}\n",
        5,
        "unknown type 'varchr(255)' (did you mean varchar?)",
    ),
    (
        "bad_modifier",
        "  - add_column: {table: users, name: a, type: numeric(x)}\n",
        5,
        "bad type modifier",
    ),
    (
        "serial",
        "  - add_column: {table: users, name: a, type: serial}\n",
        5,
        "serial is not a type",
    ),
    (
        "two_keys",
        "  - {drop_index: {name: users_score_idx}, run_sql: {sql: x}}\n",
        5,
        "exactly one key",
    ),
    (
        "missing_table",
        "  - add_column: {table: nope, name: a, type: text}\n",
        5,
        "table nope does not exist at this point",
    ),
    (
        "missing_column",
        "  - run_sql: {sql: SELECT 1}\n  - drop_column: {table: users, name: x}\n",
        6,
        "column users.x does not exist at this point",
    ),
    (
        "does_not_fit",
        "  - add_column: {table: users, name: email, type: text}\n",
        5,
        "add column users.email: column users.email already exists",
    ),
    (
        "bad_action",
        "  - add_foreign_key: {table: users, columns: [id], references: users(id),"
        " on_delete: explode}\n",
        5,
        "on_delete: 'explode' is not one of",
    ),
    (
        "bad_reference",
        "  - add_foreign_key: {table: users, columns: [id], references: users}\n",
        5,
        "must look like 'table(column, ...)'",
    ),
    (
        "bad_function",
        "  - run_python: {function: not a path}\n",
        5,
        "must look like 'package.module:function'",
    ),
    ("not_a_list", "  create_table: {}\n", 5, "operations must be a list"),
    (
        "duplicate_key",
        "  - drop_index: {name: users_score_idx, name: again}\n",
        5,
        "name is given twice",
    ),
    ("empty_alter", "  - alter_column: {table: users, name: score}\n", 5, "changes nothing"),
    (
        "bad_bool",
        "  - create_index: {table: users, columns: [email], unique: sure}\n",
        5,
        "unique must be true or false",
    ),
    (
        "alter_foreign_key_not_a_foreign_key",
        "  - alter_foreign_key: {table: users, name: users_email_key, deferrable: true}\n",
        5,
        "no foreign key users_email_key on users at this point",
    ),
    (
        "long_name",
        f"  - create_index: {{table: users, columns: [email], name: {'x' * 64}}}\n",
        5,
        "longer than 63 bytes",
    ),
]


@pytest.mark.parametrize(
    ("operations", "line", "message"),
    [m[1:] for m in MALFORMED],
    ids=[m[0] for m in MALFORMED],
)
def test_malformed_spec_names_file_line_and_fault(
    tmp_path: Path, operations: str, line: int, message: str
) -> None:
    path = _second(tmp_path, operations)
    with pytest.raises(SpecError) as caught:
        load_specs(tmp_path)
    error = caught.value
    assert (error.path, error.line) == (str(path), line), str(error)
    assert message in error.message
    assert str(error).startswith(f"{path}:{line}: ")
    assert exit_code(error) == 2


HEADERS: list[tuple[str, str, str, int | None, str]] = [
    (
        "id_mismatch",
        'id: "0002_other"\nname: N\ndependencies: []\n',
        "0002_next.yaml",
        1,
        "does not match the file name",
    ),
    (
        "missing_name",
        'id: "0002_next"\ndependencies: []\n',
        "0002_next.yaml",
        1,
        "spec: missing field name",
    ),
    (
        "unknown_header",
        'id: "0002_next"\nname: N\nauthor: me\ndependencies: []\n',
        "0002_next.yaml",
        3,
        "unknown field author",
    ),
    (
        "bad_yaml",
        'id: "0002_next"\nname: [unclosed\ndependencies: []\n',
        "0002_next.yaml",
        3,
        "not valid YAML",
    ),
]


@pytest.mark.parametrize(
    ("header", "file", "line", "message"), [h[1:] for h in HEADERS], ids=[h[0] for h in HEADERS]
)
def test_malformed_header(
    tmp_path: Path, header: str, file: str, line: int | None, message: str
) -> None:
    _second(tmp_path, "  - run_sql: {sql: SELECT 1}\n", header=header)
    with pytest.raises(SpecError) as caught:
        load_specs(tmp_path)
    assert caught.value.path == str(tmp_path / file)
    assert caught.value.line == line and message in caught.value.message
    assert exit_code(caught.value) == 2


def test_duplicate_id(tmp_path: Path) -> None:
    _write(tmp_path, "0001_base.yaml", BASE)
    _write(tmp_path, "0001_base.yml", BASE)
    with pytest.raises(SpecError, match="duplicate id 0001_base") as caught:
        load_specs(tmp_path)
    assert exit_code(caught.value) == 2


def test_unknown_dependency_names_file_and_line(tmp_path: Path) -> None:
    header = 'id: "0002_next"\nname: N\ndependencies:\n  - 0001_base\n  - 0009_gone\n'
    path = _second(tmp_path, "  - run_sql: {sql: SELECT 1}\n", header=header)
    with pytest.raises(GraphError) as caught:
        load_specs(tmp_path)
    assert str(caught.value) == f"{path}:5: 0002_next depends on 0009_gone, which does not exist"
    assert exit_code(caught.value) == 2


def test_cyclic_dependencies(tmp_path: Path) -> None:
    _write(
        tmp_path, "0001_a.yaml", 'id: "0001_a"\nname: A\ndependencies: [0002_b]\noperations: []\n'
    )
    _write(
        tmp_path, "0002_b.yaml", 'id: "0002_b"\nname: B\ndependencies: [0001_a]\noperations: []\n'
    )
    with pytest.raises(GraphError, match=r"dependency cycle: .*0001_a.*0002_b") as caught:
        load_specs(tmp_path)
    assert isinstance(caught.value, DualormError) and exit_code(caught.value) == 2


def test_empty_directory(tmp_path: Path) -> None:
    assert load_specs(tmp_path) == []
    assert load_specs(tmp_path / "missing") == []


def test_line_endings_and_layout_do_not_change_the_checksum(tmp_path: Path) -> None:
    """The screened loader hashes the same document whatever the file's line endings."""
    lf = tmp_path / "lf"
    crlf = tmp_path / "crlf"
    lf.mkdir()
    crlf.mkdir()
    _write(lf, "0001_base.yaml", BASE)
    (crlf / "0001_base.yaml").write_bytes(textwrap.dedent(BASE).replace("\n", "\r\n").encode())
    (from_lf,) = load_specs(lf)
    (from_crlf,) = load_specs(crlf)
    assert from_lf.checksum == from_crlf.checksum
    assert from_lf.operations == from_crlf.operations


@pytest.mark.parametrize("size", [0, 1, 9, 10, 11, 64])
@pytest.mark.parametrize("limit", [1, 10, 11])
def test_a_spec_is_read_up_to_the_limit_as_one_read_would(
    tmp_path: Path, size: int, limit: int
) -> None:
    """The spec reader asks for what the file holds, never for less than ``read(limit)``."""
    path = tmp_path / "spec.yaml"
    path.write_bytes(bytes(range(size)))
    with path.open("rb") as handle, path.open("rb") as again:
        assert _read_at_most(handle, limit) == again.read(limit)


def test_a_file_holding_more_than_its_size_says_is_read_on(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()  # a pipe's size is 0 whatever it holds
    os.write(write_end, b"0123456789")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as handle:
        assert _read_at_most(handle, 8) == b"01234567"
