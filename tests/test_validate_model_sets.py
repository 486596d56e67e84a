"""``dualorm validate`` on small model sets written the way real applications write them.

Each test writes a SQLAlchemy models module into a temporary directory, builds the database
with ``create_all`` (and, for drift, raw SQL), then runs ``dualorm validate`` through the CLI
and asserts the exact set of findings and the exit code: no false alarm on what the models
create, the drift named by kind and object, and no abort.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from dualorm.cli import main
from dualorm.db import connection, sqlalchemy_url

HEADER = """\
from sqlalchemy import *
from sqlalchemy.dialects import postgresql

metadata = MetaData()
"""

Validate = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def validate(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> Validate:
    """Return ``run(models, sql="")``: create the models, run ``sql``, validate as JSON."""
    module = f"models_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)

    def run(models: str, sql: str = "", *, create: bool = True) -> tuple[int, dict[str, Any]]:
        (tmp_path / f"{module}.py").write_text(HEADER + textwrap.dedent(models))
        # A test may validate a second version of its models.
        sys.modules.pop(module, None)
        importlib.invalidate_caches()
        imported = importlib.import_module(module)
        if create:
            engine = create_engine(sqlalchemy_url(database_url))
            imported.metadata.create_all(engine)
            engine.dispose()
        if sql:
            with connection(database_url, autocommit=True) as conn:
                conn.execute(sql)  # type: ignore[arg-type]
        capsys.readouterr()
        code = main(
            [
                "validate",
                "--json",
                "--detailed",
                "--sources",
                "sqlalchemy,database",
                "--sa-metadata",
                f"{module}:metadata",
            ]
        )
        captured = capsys.readouterr()
        assert captured.err == "", captured.err
        return code, json.loads(captured.out)

    return run


def findings(report: dict[str, Any], severity: str = "errors") -> set[tuple[str, str]]:
    return {(f["kind"], f["object"]) for f in report[severity]}


FLOATS = """\
Table(
    "readings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("single", Float(precision=24), server_default=text("0")),
    Column("smallest", Float(precision=1)),
    Column("double", Float(precision=25), server_default=text("0")),
    Column("widest", Float(precision=53), nullable=False, server_default=text("1.5")),
    Column("plain", Float()),
)
"""


def test_float_precision_is_real_or_double_precision(validate: Validate) -> None:
    code, report = validate(FLOATS)
    assert report["errors"] == [] and report["warnings"] == []
    assert code == 0


def test_a_changed_float_precision_is_a_type_mismatch(validate: Validate) -> None:
    code, report = validate(FLOATS, "ALTER TABLE readings ALTER COLUMN widest TYPE real")
    assert findings(report) == {("type_mismatch", "readings.widest")}
    assert code == 1


def test_create_constraint_checks_follow_the_dialects_create_rule(validate: Validate) -> None:
    # PostgreSQL has native booleans and enums: SQLAlchemy skips both CHECKs there; the
    # non-native Enum keeps its CHECK.
    code, report = validate(
        """\
        Table(
            "flags",
            metadata,
            Column("id", Integer, primary_key=True),
            Column(
                "active",
                Boolean(create_constraint=True),
                nullable=False,
                server_default=text("false"),
            ),
            Column("mood", Enum("happy", "sad", name="mood", create_constraint=True)),
            Column(
                "size",
                Enum("s", "m", "l", name="size", native_enum=False, create_constraint=True),
            ),
        )
        """
    )
    assert report["errors"] == [] and report["warnings"] == []
    assert code == 0


def test_a_dropped_non_native_enum_check_is_reported(validate: Validate) -> None:
    code, report = validate(
        """\
        Table(
            "sizes",
            metadata,
            Column("id", Integer, primary_key=True),
            Column("size", Enum("s", "m", name="size", native_enum=False, create_constraint=True)),
        )
        """,
        "ALTER TABLE sizes DROP CONSTRAINT size",
    )
    assert findings(report) == {("missing_constraint", "sizes.size")}
    assert code == 1


INDEXED = """\
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("note", Text),
    Index("events_recent_idx", text("created_at DESC")),
    Index("events_kind_recent_idx", "kind", text("created_at DESC NULLS LAST")),
    Index("events_note_lower_idx", text("lower(note)")),
    Index("events_kind_pattern_idx", text("kind varchar_pattern_ops")),
)
Index("events_sorted_idx", desc(events.c.kind), events.c.created_at.asc().nulls_first())
Index("events_sum_idx", events.c.id + 1, func.lower(events.c.kind))
"""


def test_text_index_keys_read_as_sqlalchemy_compiles_them(validate: Validate) -> None:
    code, report = validate(INDEXED)
    assert report["errors"] == [] and report["warnings"] == []
    assert code == 0


def test_a_text_index_key_with_another_ordering_is_reported(validate: Validate) -> None:
    code, report = validate(
        INDEXED,
        "DROP INDEX events_recent_idx; CREATE INDEX events_recent_idx ON events (created_at)",
    )
    assert findings(report) == {("index_mismatch", "events.events_recent_idx")}
    assert code == 1


def test_unnamed_checks_and_foreign_keys_are_named_as_postgresql_names_them(
    validate: Validate,
) -> None:
    code, report = validate(
        """\
        Table("parents", metadata, Column("id", Integer, primary_key=True))
        Table(
            "limits",
            metadata,
            Column("id", Integer, primary_key=True),
            Column("low", Integer, CheckConstraint("low >= 0")),
            Column("high", Integer),
            Column("parent_id", Integer),
            CheckConstraint("low < 100"),
            CheckConstraint(text("low < high")),
            CheckConstraint("high > 0"),
            CheckConstraint(column("high") < 1000),
            ForeignKeyConstraint(["parent_id"], ["parents.id"]),
            ForeignKeyConstraint(["parent_id"], ["parents.id"], ondelete="CASCADE"),
        )
        """
    )
    assert report["errors"] == [] and report["warnings"] == []
    assert code == 0


def test_a_dropped_numbered_check_is_the_one_reported(validate: Validate) -> None:
    code, report = validate(
        """\
        Table(
            "limits",
            metadata,
            Column("id", Integer, primary_key=True),
            Column("low", Integer),
            CheckConstraint("low >= 0"),
            CheckConstraint("low < 100"),
        )
        """,
        "ALTER TABLE limits DROP CONSTRAINT limits_low_check1",
    )
    assert findings(report) == {("missing_constraint", "limits.limits_low_check1")}
    assert code == 1


# SQLAlchemy refuses names over 63 characters; these are shorter, but longer than 63 bytes.
LONG = "größenübersicht_" + "ü" * 30  # 46 characters, 80 bytes
WIDE = "überlänge_" * 5  # 50 characters, 60 bytes: 63 bytes and more with a suffix


def test_names_over_63_bytes_are_cut_as_postgresql_cuts_them(validate: Validate) -> None:
    code, report = validate(
        f"""\
        Table(
            "{LONG}",
            metadata,
            Column("id", Integer, primary_key=True),
            Column("{LONG}_column", Integer, unique=True),
            Column("size", Integer),
            UniqueConstraint("size", name="{WIDE}"),
            CheckConstraint("size > 0", name="{WIDE}_ck"),
            Index("{WIDE}_idx", "size"),
        )
        Table(
            "children",
            metadata,
            Column("id", Integer, primary_key=True),
            Column("parent_id", ForeignKey("{LONG}.id", name="{WIDE}_fk")),
        )
        """
    )
    assert report["errors"] == [] and report["warnings"] == []
    assert code == 0


def test_an_explicit_name_sqlalchemy_refuses_is_compared_cut(validate: Validate) -> None:
    # create_all refuses an index name over 63 characters; DDL of another tool made it.
    index = "ix_" + "very_long_index_name_" * 4
    code, report = validate(
        f"""\
        Table(
            "items",
            metadata,
            Column("id", Integer, primary_key=True),
            Column("size", Integer),
            Index("{index}", "size"),
        )
        """,
        f'CREATE TABLE items (id serial PRIMARY KEY, size integer); CREATE INDEX "{index}" ON '
        "items (size)",
        create=False,
    )
    assert report["errors"] == [] and report["warnings"] == []
    assert code == 0


SERIALS = """\
Table("accounts", metadata, Column("id", Integer, primary_key=True), Column("name", Text))
Table("audit", metadata, Column("id", BigInteger, primary_key=True), Column("note", Text))
"""


def test_a_missing_table_with_a_serial_key_is_missing_table(validate: Validate) -> None:
    code, report = validate(SERIALS, "DROP TABLE audit")
    assert findings(report) == {("missing_table", "audit")}
    assert code == 1


def test_a_sequence_left_under_an_old_name_is_a_default_difference(validate: Validate) -> None:
    code, report = validate(SERIALS, "ALTER SEQUENCE accounts_id_seq RENAME TO members_id_seq")
    assert findings(report) == {("default_mismatch", "accounts.id")}
    [found] = report["errors"]
    assert (found["from"], found["to"]) == (
        "nextval('accounts_id_seq'::regclass)",
        "nextval('members_id_seq'::regclass)",
    )
    assert 'relation "accounts_id_seq" does not exist' in found["detail"]
    assert code == 1


def test_what_the_server_refuses_is_said_with_the_difference_of_its_object(
    validate: Validate,
) -> None:
    code, report = validate(
        """\
        Table(
            "orders",
            metadata,
            Column("id", Integer, primary_key=True),
            Column("total", Integer, server_default=text("0")),
        )
        """
    )
    assert code == 0
    code, report = validate(
        """\
        Table(
            "orders",
            metadata,
            Column("id", Integer, primary_key=True),
            Column("total", Integer, server_default=text("'none'")),
            CheckConstraint("no_such_column > 0", name="orders_total_check"),
        )
        """,
        create=False,
    )
    assert findings(report) == {
        ("default_mismatch", "orders.total"),
        ("missing_constraint", "orders.orders_total_check"),
    }
    details = " ".join(f["detail"] for f in report["errors"])
    assert 'column "no_such_column" does not exist' in details
    assert "invalid input syntax for type integer" in details
    assert code == 1


UNIQUE = """\
Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", Text, nullable=False),
    UniqueConstraint("email", name="people_email_key"),
)
"""


def test_a_unique_constraint_replaced_by_a_same_named_index_is_one_finding(
    validate: Validate,
) -> None:
    code, report = validate(
        UNIQUE,
        "ALTER TABLE people DROP CONSTRAINT people_email_key;"
        " CREATE UNIQUE INDEX people_email_key ON people (email)",
    )
    assert findings(report) == {("constraint_mismatch", "people.people_email_key")}
    assert report["warnings"] == []
    [found] = report["errors"]
    assert "the same rows are refused" in found["detail"]
    assert "naming the constraint" in found["detail"]
    assert code == 1


SEQUENCES = """\
order_no = Sequence("order_no", metadata=metadata, start=100, increment=5)
Table(
    "widgets",
    metadata,
    # SQLAlchemy calls nextval('widgets_id_seq') in each INSERT: no server default.
    Column("id", Integer, Sequence("widgets_id_seq"), primary_key=True),
    Column("number", BigInteger, server_default=order_no.next_value()),
)
Table("serials", metadata, Column("id", Integer, primary_key=True))
Table("identities", metadata, Column("id", BigInteger, Identity(), primary_key=True))
# optional: PostgreSQL makes the key a serial, whose sequence is the column's own.
Table(
    "optionals",
    metadata,
    Column("id", Integer, Sequence("opt_seq", optional=True), primary_key=True),
)
"""


def test_standalone_sequences_of_the_models_read_clean(validate: Validate) -> None:
    code, report = validate(SEQUENCES)
    assert (report["errors"], report["warnings"]) == ([], [])
    assert code == 0


def test_a_renamed_model_sequence_is_missing_and_its_new_name_extra(validate: Validate) -> None:
    code, report = validate(SEQUENCES, "ALTER SEQUENCE widgets_id_seq RENAME TO gadgets_id_seq")
    assert findings(report) == {("missing_sequence", "widgets_id_seq")}
    assert findings(report, "warnings") == {("extra_sequence", "gadgets_id_seq")}
    [missing] = report["errors"]
    assert missing["from"] == "AS bigint INCREMENT BY 1 START WITH 1"
    assert "nextval('widgets_id_seq') fails" in missing["detail"]
    [extra] = report["warnings"]
    assert extra["to"] == "AS bigint INCREMENT BY 1 START WITH 1"
    assert code == 1


def test_a_dropped_sequence_is_missing_with_what_creates_it_again(validate: Validate) -> None:
    code, report = validate(
        SEQUENCES, "ALTER TABLE widgets ALTER COLUMN number DROP DEFAULT; DROP SEQUENCE order_no"
    )
    assert findings(report) == {
        ("missing_sequence", "order_no"),
        ("default_mismatch", "widgets.number"),
    }
    [missing] = [f for f in report["errors"] if f["kind"] == "missing_sequence"]
    assert missing["from"] == "AS bigint INCREMENT BY 5 START WITH 100"
    assert code == 1


def test_a_sequence_only_the_database_holds_is_a_warning(validate: Validate) -> None:
    code, report = validate(SEQUENCES, "CREATE SEQUENCE invoice_no AS integer START 7")
    assert report["errors"] == []
    assert findings(report, "warnings") == {("extra_sequence", "invoice_no")}
    assert report["warnings"][0]["to"] == "AS integer INCREMENT BY 1 START WITH 7"
    assert code == 0


def test_sequences_of_what_the_models_do_not_own_are_not_extra(
    validate: Validate, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.dualorm.ownership]\n"legacy*" = "external"\n')
    code, report = validate(
        SEQUENCES,
        "CREATE SEQUENCE ticket_no;"
        " CREATE TABLE legacy_tickets (id bigint DEFAULT nextval('ticket_no'));"
        " CREATE SEQUENCE legacy_counter",
    )
    assert (report["errors"], report["warnings"]) == ([], [])
    assert code == 0


def test_a_side_that_declares_no_sequences_is_not_compared_on_them(database_url: str) -> None:
    from dualorm.diff import compare
    from dualorm.schema import schema
    from dualorm.sources import postgres

    with connection(database_url, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE invoice_no")
    catalog = postgres.load(database_url)
    assert [q.name for q in catalog.sequences] == ["invoice_no"]
    # Django models and replayed specs state no sequences: nothing to say either way.
    assert compare(schema(), catalog, source="django") == []
    assert compare(catalog, schema(), source="database", target="spec") == []
