"""``migrate new --autogenerate`` and ``migrate check``: a model change becomes a spec whose
replay is the model set, renames are asked or flagged, casts are derived or left to a person,
and the offline gate fails until the specs catch up."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from dualorm.autogen.convert import CONVERTERS, relabel
from dualorm.autogen.write import WRITERS
from dualorm.cli import main
from dualorm.config import Config
from dualorm.diff import DiffKind, compare
from dualorm.runner.lint import lint
from dualorm.schema import Column, EnumType, Schema, Table
from dualorm.sources import sqlalchemy as sa_source
from dualorm.spec.load import load_specs, replay_directory
from tests.project_files import ROOT, SPECS_DIR, pyproject, write_project
from tests.reference import REFERENCE_PYPROJECT

HEAD = "from sqlalchemy import *\nmetadata = MetaData()\n"

V1 = """\
users = Table(
    "users", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("email", String(255), nullable=False, unique=True),
    Column("full_name", String(100)),
    Column("age", Text),
    Column("token", Uuid),
)
posts = Table(
    "posts", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("title", Text, nullable=False, server_default=text("'untitled'")),
    Index("posts_user_id_idx", "user_id"),
)
"""


class Project:
    """A SQLAlchemy-only project in a temporary directory whose models can be rewritten."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = 0

    def models(self, body: str) -> None:
        self.version += 1
        module = f"models_{self.root.name}_{self.version}"
        (self.root / f"{module}.py").write_text(HEAD + textwrap.dedent(body), encoding="utf-8")
        settings = {"sa_metadata": f"{module}:metadata", "migrations_dir": SPECS_DIR}
        (self.root / "pyproject.toml").write_text(pyproject(settings), encoding="utf-8")

    def schema(self):  # type: ignore[no-untyped-def]
        config = Config.load(self.root)
        return sa_source.load(sa_source.resolve_metadata(config.sa_metadata))

    def specs(self) -> list[Path]:
        return sorted((self.root / "migrations").glob("*.yaml"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    made = Project(tmp_path)
    made.models(V1)
    return made


def _replays_to_models(project: Project) -> None:
    replayed = replay_directory(project.root / "migrations")
    assert compare(project.schema(), replayed, source="sqlalchemy", target="specs") == []


def test_every_difference_kind_has_a_converter() -> None:
    assert set(DiffKind) - set(CONVERTERS) == set()


def test_every_operation_a_converter_emits_has_a_spec_form() -> None:
    from dualorm.spec.ops import OPERATIONS, RunPython, RunSQL, ValidateConstraint

    emitted = set(OPERATIONS) - {RunSQL, RunPython, ValidateConstraint}
    assert emitted - set(WRITERS) == set()


def test_an_empty_history_gets_the_initial_spec_of_the_whole_model_set(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    assert "created migrations/0001_initial.yaml" in capsys.readouterr().out
    text = project.specs()[0].read_text()
    # Names exactly as SQLAlchemy has the server create them, one line per column.
    assert "users_email_key" in text and "posts_user_id_fkey" in text
    assert "- {name: email, type: character varying(255), nullable: false}" in text
    assert text.index("name: users") < text.index("name: posts")
    _replays_to_models(project)
    assert main(["migrate", "new", "again", "--autogenerate"]) == 0
    assert "no changes" in capsys.readouterr().out
    assert len(project.specs()) == 1


def test_a_change_of_columns_and_indexes_replays_to_the_models(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    project.models(
        V1.replace('Column("age", Text)', 'Column("age", Integer)')
        .replace("String(100)),", 'String(100)), Column("bio", Text, server_default=""),')
        .replace('Index("posts_user_id_idx", "user_id"),', 'Index("posts_title_idx", "title"),')
        .replace("Text, nullable=False, server_default=text(\"'untitled'\")", "Text")
    )
    assert main(["migrate", "new", "profile", "--autogenerate"]) == 0
    spec = yaml.safe_load(project.specs()[1].read_text())
    assert spec["dependencies"] == ["0001_initial"]
    kinds = [next(iter(op)) for op in spec["operations"]]
    assert kinds.index("drop_index") < kinds.index("create_index")
    alter = next(op["alter_column"] for op in spec["operations"] if "alter_column" in op)
    assert alter["name"] in ("age", "title")
    ages = [op["alter_column"] for op in spec["operations"] if "alter_column" in op]
    assert {"table": "users", "name": "age", "type": "integer", "using": '"age"::integer'} in ages
    _replays_to_models(project)


def test_a_rename_given_on_the_command_line_is_a_rename(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    project.models(V1.replace('"full_name"', '"display_name"').replace('"posts"', '"articles"'))
    args = ["migrate", "new", "renames", "--autogenerate"]
    assert main([*args, "--rename", "users.full_name=display_name", "--rename-table",
                 "posts=articles"]) == 0  # fmt: skip
    spec = yaml.safe_load(project.specs()[1].read_text())
    ops = spec["operations"]
    assert {"rename_table": {"name": "posts", "new_name": "articles"}} in ops
    assert {
        "rename_column": {"table": "users", "name": "full_name", "new_name": "display_name"}
    } in ops
    assert not any("drop_column" in op or "drop_table" in op for op in ops)
    _replays_to_models(project)


def test_an_unanswered_rename_is_drop_and_add_with_a_lint_finding(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    project.models(V1.replace('"full_name"', '"display_name"'))
    assert main(["migrate", "new", "display", "--autogenerate"]) == 0
    err = capsys.readouterr().err
    assert "--rename users.full_name=display_name" in err
    text = project.specs()[1].read_text()
    assert "# Possible renames" in text and "--rename users.full_name=display_name" in text
    findings = lint(load_specs(project.root / "migrations"))
    destructive = [f for f in findings if f.rule == "destructive" and f.blocking]
    assert destructive and "drop column users.full_name" in destructive[0].message
    _replays_to_models(project)


def test_a_rename_flag_that_names_no_candidate_is_refused(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    project.models(V1.replace('"full_name"', '"display_name"'))
    code = main(["migrate", "new", "x", "--autogenerate", "--rename", "users.nope=display_name"])
    assert code == 2
    assert "--rename users.nope=display_name" in capsys.readouterr().err
    assert len(project.specs()) == 1


def test_a_type_change_without_a_cast_is_a_placeholder_the_loader_refuses(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    project.models(V1.replace('Column("token", Uuid)', 'Column("token", Integer)'))
    assert main(["migrate", "new", "token", "--autogenerate"]) == 0
    path = project.specs()[1]
    text = path.read_text()
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if "FILL IN:" in ln)
    capsys.readouterr()
    assert main(["migrate", "check"]) == 2
    err = capsys.readouterr().err
    assert f"{path.name}:{line}" in err and "placeholder" in err
    # A person writes the conversions (both ways); then the spec loads.
    filled = re.sub(r"'FILL IN: [^']*'", "NULL", text)
    assert filled.count("NULL") == 2
    path.write_text(filled)
    assert main(["migrate", "check"]) == 0
    _replays_to_models(project)


def test_check_fails_until_the_specs_catch_up(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "check"]) == 1
    assert "missing_table users" in capsys.readouterr().out
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    assert main(["migrate", "check"]) == 0
    project.models(V1 + 'Index("users_age_idx", users.c.age)\n')
    assert main(["migrate", "check", "--json"]) == 1
    assert '"users.users_age_idx"' in capsys.readouterr().out


def test_template_options_need_autogenerate(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "x", "--from", "django"]) == 2
    assert "--from" in capsys.readouterr().err
    assert main(["migrate", "new", "x", "--autogenerate", "--from", "django"]) == 2
    assert "no django models" in capsys.readouterr().err


@pytest.fixture
def reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The reference project's models with a copy of its specs (files of its own)."""
    specs = [(spec.stem, spec.read_text("utf-8")) for spec in (ROOT / SPECS_DIR).glob("*.yaml")]
    (tmp_path / "pyproject.toml").write_text(REFERENCE_PYPROJECT, encoding="utf-8")
    write_project(tmp_path, *specs)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_reference_models_agree_with_their_specs(
    reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "nothing", "--autogenerate"]) == 0
    assert "no changes" in capsys.readouterr().out
    assert not (reference / "migrations" / "0006_nothing.yaml").exists()


def test_both_model_sets_making_the_same_change_write_it(reference: Path) -> None:
    migrations = reference / "migrations"
    (migrations / "0005_audit_log_recent_by_type_index.yaml").unlink()
    later = migrations / "0006_deferrable_foreign_keys.yaml"
    text = later.read_text().replace(
        "0005_audit_log_recent_by_type_index", "0004_session_expiry_covering_index"
    )
    later.write_text(text)
    assert main(["migrate", "new", "audit index", "--autogenerate"]) == 0
    spec = yaml.safe_load((migrations / "0007_audit_index.yaml").read_text())
    assert [next(iter(op)) for op in spec["operations"]] == ["create_index"]


def test_model_sets_that_disagree_are_refused_unless_one_wins(
    reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for spec in sorted((reference / "migrations").glob("000[3456]_*.yaml")):
        spec.unlink()
    assert main(["migrate", "new", "prefs", "--autogenerate"]) == 1
    err = capsys.readouterr().err
    assert "the model sets disagree" in err and "--from" in err
    assert "create table user_preferences" in err
    assert sorted(p.name for p in (reference / "migrations").glob("0003*")) == []
    assert main(["migrate", "new", "prefs", "--autogenerate", "--from", "django"]) == 0
    text = next((reference / "migrations").glob("*_prefs.yaml")).read_text()
    # Django's names: its hashed foreign key, its _like index, deferred as Django declares.
    assert "user_preferences_user_id_7d5d22f7_fk_users_id" in text
    assert "initially_deferred: true" in text


def test_a_large_initial_model_set_is_written_as_specs_run_one_after_another(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.models(
        "for i in range(500):\n"
        "    Table(f't{i:03d}', metadata, Column('id', BigInteger, primary_key=True),\n"
        "          *(Column(f'c{j}', Text, server_default='x') for j in range(12)))\n"
    )
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    assert "one spec after another" in capsys.readouterr().out
    specs = project.specs()
    assert [p.name for p in specs][:2] == ["0001_initial.yaml", "0002_initial_2.yaml"]
    assert yaml.safe_load(specs[1].read_text())["dependencies"] == ["0001_initial"]
    _replays_to_models(project)


# -- enum types, comments, collations, foreign key timing -------------------------------------

MOODS = """\
moods = Table(
    "moods", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("mood", Enum({labels}, name="mood")),
)
"""


def _labels(*labels: str) -> str:
    return ", ".join(repr(label) for label in labels)


def _operations(project: Project, index: int = 1) -> list[dict[str, object]]:
    ops: list[dict[str, object]] = yaml.safe_load(project.specs()[index].read_text())["operations"]
    return ops


def test_a_new_enum_type_is_created_before_its_table_and_dropped_after_it(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    project.models(V1 + MOODS.format(labels=_labels("sad", "happy")))
    assert main(["migrate", "new", "moods", "--autogenerate"]) == 0
    ops = _operations(project)
    assert ops[0] == {"create_enum": {"name": "mood", "labels": ["sad", "happy"]}}
    assert next(iter(ops[1])) == "create_table"
    _replays_to_models(project)
    project.models(V1)
    assert main(["migrate", "new", "no moods", "--autogenerate"]) == 0
    assert _operations(project, 2) == [
        {"drop_table": {"name": "moods"}},
        {"drop_enum": {"name": "mood"}},
    ]
    _replays_to_models(project)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (
            ("sad", "happy"),
            ("calm", "sad", "ok", "happy", "glad"),
            [
                {"add_enum_value": {"enum": "mood", "label": "calm", "before": "sad"}},
                {"add_enum_value": {"enum": "mood", "label": "ok", "after": "sad"}},
                {"add_enum_value": {"enum": "mood", "label": "glad", "after": "happy"}},
            ],
        ),
        (
            ("sad", "ok", "happy"),
            ("sad", "happy"),
            [{"drop_enum_value": {"enum": "mood", "label": "ok"}}],
        ),
        (
            ("a", "b", "c", "d"),
            ("b", "c", "d", "a"),
            [
                {"drop_enum_value": {"enum": "mood", "label": "a"}},
                {"add_enum_value": {"enum": "mood", "label": "a", "after": "d"}},
            ],
        ),
    ],
)
def test_changed_enum_labels_are_added_dropped_and_moved_into_the_models_order(
    project: Project,
    capsys: pytest.CaptureFixture[str],
    before: tuple[str, ...],
    after: tuple[str, ...],
    expected: list[dict[str, object]],
) -> None:
    project.models(V1 + MOODS.format(labels=_labels(*before)))
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    project.models(V1 + MOODS.format(labels=_labels(*after)))
    assert main(["migrate", "new", "labels", "--autogenerate"]) == 0
    assert _operations(project) == expected
    _replays_to_models(project)
    assert main(["migrate", "new", "again", "--autogenerate"]) == 0
    assert "no changes" in capsys.readouterr().out


def test_a_renamed_enum_label_is_a_rename_when_answered_else_drop_and_add(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.models(V1 + MOODS.format(labels=_labels("sad", "ok", "happy")))
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    project.models(V1 + MOODS.format(labels=_labels("sad", "fine", "happy")))
    # Unanswered: the label's rows would be lost, so the spec names the candidate.
    assert main(["migrate", "new", "labels", "--autogenerate"]) == 0
    assert "--rename-value mood.ok=fine" in capsys.readouterr().err
    assert [next(iter(op)) for op in _operations(project)] == [
        "drop_enum_value",
        "add_enum_value",
    ]
    assert "--rename-value mood.ok=fine" in project.specs()[1].read_text()
    project.specs()[1].unlink()
    args = ["migrate", "new", "labels", "--autogenerate", "--rename-value", "mood.ok=fine"]
    assert main(args) == 0
    assert _operations(project) == [
        {"rename_enum_value": {"enum": "mood", "label": "ok", "new_label": "fine"}}
    ]
    _replays_to_models(project)
    project.specs()[1].unlink()
    assert main([*args[:-1], "mood.nope=fine"]) == 2
    assert "--rename-value mood.nope=fine" in capsys.readouterr().err


def test_comments_of_tables_and_columns_are_set_and_cleared(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    commented = V1.replace(
        'Column("token", Uuid),\n', 'Column("token", Uuid),\n    comment="people",\n'
    )
    project.models(commented.replace('Column("age", Text)', 'Column("age", Text, comment="yrs")'))
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    project.models(V1.replace('"user_id"),\n', '"user_id"),\n    comment="what people write",\n'))
    assert main(["migrate", "new", "comments", "--autogenerate"]) == 0
    ops = _operations(project)
    assert sorted(ops, key=str) == sorted(
        [
            {"set_comment": {"table": "users", "comment": None}},
            {"set_comment": {"table": "users", "column": "age", "comment": None}},
            {"set_comment": {"table": "posts", "comment": "what people write"}},
        ],
        key=str,
    )
    _replays_to_models(project)


def test_a_collation_change_is_an_alter_column(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    project.models(V1.replace('Column("age", Text)', 'Column("age", Text(collation="C"))'))
    assert main(["migrate", "new", "collate", "--autogenerate"]) == 0
    assert _operations(project) == [
        {"alter_column": {"table": "users", "name": "age", "collation": "C"}}
    ]
    _replays_to_models(project)
    project.models(V1)
    assert main(["migrate", "new", "default collation", "--autogenerate"]) == 0
    assert _operations(project, 2) == [
        {"alter_column": {"table": "users", "name": "age", "collation": None}}
    ]
    _replays_to_models(project)


def test_a_foreign_key_whose_timing_alone_changes_is_altered_in_place(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "new", "initial", "--autogenerate"]) == 0
    deferred = 'ondelete="CASCADE", deferrable=True, initially="DEFERRED"'
    project.models(V1.replace('ondelete="CASCADE"', deferred))
    assert main(["migrate", "new", "deferred", "--autogenerate"]) == 0
    assert _operations(project) == [
        {
            "alter_foreign_key": {
                "table": "posts",
                "name": "posts_user_id_fkey",
                "deferrable": True,
                "initially_deferred": True,
            }
        }
    ]
    _replays_to_models(project)
    project.models(V1)
    assert main(["migrate", "new", "immediate", "--autogenerate"]) == 0
    assert _operations(project, 2) == [
        {
            "alter_foreign_key": {
                "table": "posts",
                "name": "posts_user_id_fkey",
                "deferrable": False,
                "initially_deferred": False,
            }
        }
    ]
    _replays_to_models(project)


def test_an_expression_postgresql_refuses_is_reported_not_written() -> None:
    from dualorm.autogen.convert import Context, operations
    from dualorm.diff import Difference, Severity
    from dualorm.errors import UsageError
    from dualorm.schema import Schema

    refused = Difference(
        kind=DiffKind.REJECTED_EXPRESSION,
        object="users.age",
        source="sqlalchemy",
        target="database",
        severity=Severity.ERROR,
        detail="users.age: PostgreSQL rejects sqlalchemy's default 'nope()': no such function",
        from_value="nope()",
    )
    with pytest.raises(UsageError) as caught:
        operations([refused], Context(Schema(()), Schema(()), "sqlalchemy"))
    message = str(caught.value)
    assert "users.age" in message and "nope()" in message and "sqlalchemy models" in message
    assert caught.value.exit_code == 2


def test_relabelling_an_enum_read_by_a_generated_column_applies_in_order() -> None:
    """Two labels dropped from a type a stored generated column reads: each rebuild restores
    the generated column as the rebuild before it left it, so the operations apply."""
    mood = EnumType("mood", labels=("new", "old", "gone", "late"))
    table = Table(
        "moods",
        columns=(
            Column("id", "bigint", nullable=False),
            Column("v", "mood"),
            Column("g", "boolean", generated="(v IS NOT NULL)"),
            Column("note", "text"),
        ),
    )
    have = Schema(tables=(table,), enums=(mood,), declares_enums=True)
    ops = relabel(mood, ("late", "new", "old"), have)
    state = have
    for op in ops:
        state = op.apply(state)
    (enum,) = state.enums
    assert enum.labels == ("late", "new", "old")
    assert [c.name for c in state.tables[0].columns] == ["id", "v", "note", "g"]
