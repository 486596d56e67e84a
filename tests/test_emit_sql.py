"""The SQL emitter: renderer coverage, goldens, migration steps, and real-database round trips.

Each round trip (Django's ``test_add_field`` template): assert the catalog is the starting
schema, run the operation's SQL, assert the catalog equals ``op.apply(before)``, run the
reverse's SQL, assert the catalog is back to ``before``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from reference import REFERENCE_MIGRATIONS
from test_ops import (
    AUTHORS,
    BOOK_FK,
    BOOKS,
    EMAIL,
    ISSUES,
    NOTES,
    SCORE,
    SPARE,
    STATE,
    STATUS,
    TAGS,
)

from dualorm.db import connection, sqlalchemy_url
from dualorm.emit.sql import (
    migration_steps,
    quote_ident,
    render,
    render_migration_sql,
    sql_renderer,
    statements,
)
from dualorm.errors import DualormError, IrreversibleError
from dualorm.schema import (
    CheckConstraint,
    Column,
    EnumType,
    FkAction,
    ForeignKey,
    Index,
    PrimaryKey,
    Schema,
    Table,
    UniqueConstraint,
)
from dualorm.sources import postgres
from dualorm.spec.load import load_specs
from dualorm.spec.model import Migration
from dualorm.spec.ops import (
    OPERATIONS,
    AddCheck,
    AddColumn,
    AddEnumValue,
    AddForeignKey,
    AddPrimaryKey,
    AddUnique,
    AlterColumn,
    AlterForeignKey,
    ChangeKind,
    CreateEnum,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropConstraint,
    DropEnum,
    DropEnumValue,
    DropIndex,
    DropTable,
    Operation,
    RenameColumn,
    RenameEnumValue,
    RenameTable,
    RunPython,
    RunSQL,
    SetComment,
    ValidateConstraint,
)

ROOT = Path(__file__).resolve().parent.parent


def test_a_miss_raises_naming_the_class() -> None:
    with pytest.raises(DualormError, match="no renderer for int"):
        sql_renderer(3)


def test_quote_ident_always_quotes_and_doubles_quotes() -> None:
    assert quote_ident("users") == '"users"'
    assert quote_ident('we"ird') == '"we""ird"'


GOLDENS: list[tuple[str, Operation, str]] = [
    (
        "add_column",
        AddColumn("users", Column("image", "text")),
        'ALTER TABLE "users" ADD COLUMN "image" text;',
    ),
    (
        "add_column_default",
        AddColumn("auth.users", Column("n", "integer", nullable=False, default="0")),
        'ALTER TABLE "auth"."users" ADD COLUMN "n" integer DEFAULT 0 NOT NULL;',
    ),
    (
        "partial_unique_concurrent_index",
        CreateIndex(
            "api_keys",
            Index("k_idx", ("user_id", "lower(name)"), unique=True, where="revoked_at IS NULL"),
            concurrently=True,
        ),
        'CREATE UNIQUE INDEX CONCURRENTLY "k_idx" ON "api_keys" ("user_id", (lower(name)))'
        " WHERE revoked_at IS NULL;",
    ),
    (
        "gin_index",
        CreateIndex("t", Index("t_doc_idx", ("doc",), method="gin")),
        'CREATE INDEX "t_doc_idx" ON "t" USING gin ("doc");',
    ),
    (
        "foreign_key_not_valid",
        AddForeignKey(
            "a",
            ForeignKey(
                "a_b_fkey",
                ("b_id",),
                "b",
                ("id",),
                on_delete=FkAction.SET_NULL,
                on_update=FkAction.CASCADE,
                validated=False,
            ),
        ),
        'ALTER TABLE "a" ADD CONSTRAINT "a_b_fkey" FOREIGN KEY ("b_id") REFERENCES "b" ("id")'
        " ON DELETE SET NULL ON UPDATE CASCADE NOT VALID;",
    ),
    (
        "alter_type_using_with_default",
        AlterColumn(
            "t",
            Column("n", "text", default="'0'::text"),
            Column("n", "integer", default="0"),
            ChangeKind.TYPE | ChangeKind.DEFAULT,
            using="n::integer",
        ),
        'ALTER TABLE "t" ALTER COLUMN "n" DROP DEFAULT, ALTER COLUMN "n" TYPE integer'
        ' USING n::integer, ALTER COLUMN "n" SET DEFAULT 0;',
    ),
    (
        "alter_null_and_comment",
        AlterColumn(
            "t",
            Column("n", "text"),
            Column("n", "text", nullable=False, comment="it's"),
            ChangeKind.NULL | ChangeKind.COMMENT,
        ),
        'ALTER TABLE "t" ALTER COLUMN "n" SET NOT NULL;\nCOMMENT ON COLUMN "t"."n" IS \'it\'\'s\';',
    ),
    ("drop_index", DropIndex("s.t", Index("i", ("a",))), 'DROP INDEX "s"."i";'),
    ("run_sql", RunSQL("UPDATE t SET a = 1;", None), "UPDATE t SET a = 1;"),
]


@pytest.mark.parametrize(("op", "sql"), [g[1:] for g in GOLDENS], ids=[g[0] for g in GOLDENS])
def test_renders(op: Operation, sql: str) -> None:
    assert render(op) == (sql, frozenset())


def _migration(*ops: Operation) -> Migration:
    return Migration("0009_x", "x", "", "", (), tuple(ops), "0" * 64)


def test_steps_mark_concurrent_index_statements_non_transactional() -> None:
    index = Index("i", ("a",))
    steps = migration_steps(
        _migration(AddColumn("t", Column("a", "text")), CreateIndex("t", index, True))
    )
    assert [s.transactional for s in steps] == [True, False]
    down = migration_steps(
        _migration(AddColumn("t", Column("a", "text")), CreateIndex("t", index, True)), "down"
    )
    assert [s.sql for s in down] == [
        'DROP INDEX CONCURRENTLY "i"',
        'ALTER TABLE "t" DROP COLUMN "a"',
    ]
    assert [s.transactional for s in down] == [False, True]


def test_run_python_becomes_a_python_step_and_reverses() -> None:
    m = _migration(RunPython("seeds.fix:up", "seeds.fix:down"))
    assert [s.python for s in migration_steps(m)] == ["seeds.fix:up"]
    assert [s.python for s in migration_steps(m, "down")] == ["seeds.fix:down"]


def test_going_down_through_an_irreversible_operation_names_it() -> None:
    m = _migration(AddColumn("t", Column("a", "text")), RunSQL("DELETE FROM t"))
    with pytest.raises(IrreversibleError, match=r"0009_x cannot be rolled back: run SQL: DELETE"):
        migration_steps(m, "down")


def test_script_wraps_transactional_runs() -> None:
    m = _migration(AddColumn("t", Column("a", "text")), CreateIndex("t", Index("i", ("a",)), True))
    script = render_migration_sql(m)
    assert script.splitlines()[2:] == [
        "BEGIN;",
        'ALTER TABLE "t" ADD COLUMN "a" text;',
        "COMMIT;",
        'CREATE INDEX CONCURRENTLY "i" ON "t" ("a");',
    ]


# -- real-database round trips ---------------------------------------------------------------

VALIDATED_LATER = CheckConstraint("notes_body_check", "(length(body) > 0)", validated=False)
BASE_OPS: list[Operation] = [
    CreateEnum(STATUS),
    CreateEnum(SPARE),
    CreateTable(ISSUES),
    CreateTable(AUTHORS),
    CreateTable(BOOKS),
    CreateTable(NOTES),
    AddCheck("notes", VALIDATED_LATER),
]

ISSUE_USERS = (("issues", STATE),)

ROUND_TRIPS: list[tuple[str, Operation]] = [
    ("create_table", CreateTable(TAGS)),
    ("drop_table", DropTable(BOOKS)),
    ("rename_table", RenameTable("authors", "writers")),
    ("add_column", AddColumn("authors", Column("bio", "text", comment="about"))),
    (
        "add_identity_column",
        AddColumn(
            "notes", Column("seq", "bigint", nullable=False, identity=AUTHORS.columns[0].identity)
        ),
    ),
    ("drop_column", DropColumn("books", Column("title", "text", nullable=False))),
    (
        "alter_type",
        AlterColumn(
            "authors",
            AUTHORS.columns[1],
            replace(AUTHORS.columns[1], type="text"),
            ChangeKind.TYPE,
            reverse_using="name::character varying(100)",
        ),
    ),
    (
        "alter_type_using_and_default",
        AlterColumn(
            "authors",
            SCORE,
            replace(SCORE, type="bigint", default="1"),
            ChangeKind.TYPE | ChangeKind.DEFAULT,
            using="score::bigint",
        ),
    ),
    ("alter_null", AlterColumn("authors", EMAIL, replace(EMAIL, nullable=False), ChangeKind.NULL)),
    (
        "alter_drop_default",
        AlterColumn("authors", SCORE, replace(SCORE, default=None), ChangeKind.DEFAULT),
    ),
    (
        "alter_comment",
        AlterColumn("authors", EMAIL, replace(EMAIL, comment="contact"), ChangeKind.COMMENT),
    ),
    ("rename_column", RenameColumn("authors", "score", "points")),
    (
        "create_index",
        CreateIndex(
            "authors",
            Index("authors_name_email_idx", ("name", "email"), unique=True, where="(id > 0)"),
        ),
    ),
    (
        "create_index_concurrently",
        CreateIndex("books", Index("books_title_idx", ("title",)), concurrently=True),
    ),
    ("drop_index", DropIndex("books", Index("books_author_id_idx", ("author_id",)))),
    ("add_primary_key", AddPrimaryKey("notes", PrimaryKey("notes_pkey", ("id",)))),
    (
        "add_foreign_key_not_valid",
        AddForeignKey(
            "books",
            ForeignKey(
                "books_title_fkey",
                ("author_id",),
                "authors",
                ("id",),
                on_delete=FkAction.SET_NULL,
                validated=False,
            ),
        ),
    ),
    ("add_unique", AddUnique("notes", UniqueConstraint("notes_body_key", ("body",)))),
    ("add_check", AddCheck("notes", CheckConstraint("notes_id_check", "(id > 0)"))),
    (
        "add_check_not_valid",
        AddCheck("notes", CheckConstraint("notes_id_check", "(id > 0)", False)),
    ),
    ("validate_constraint", ValidateConstraint("notes", "notes_body_check")),
    ("drop_check", DropConstraint("authors", AUTHORS.checks[0])),
    ("drop_unique", DropConstraint("authors", AUTHORS.uniques[0])),
    ("drop_foreign_key", DropConstraint("books", BOOK_FK)),
    ("alter_foreign_key", AlterForeignKey("books", BOOK_FK, True, True)),
    ("drop_primary_key", DropConstraint("books", BOOKS.primary_key)),  # type: ignore[arg-type]
    (
        "run_sql",
        RunSQL("INSERT INTO notes (id, body) VALUES (1, 'x')", "DELETE FROM notes WHERE id = 1"),
    ),
    ("create_enum", CreateEnum(EnumType("Mood's", "public", ("sad", "it's ok", "happy")))),
    ("drop_enum", DropEnum(SPARE)),
    ("add_enum_value", AddEnumValue(STATUS, "review", before="published", users=ISSUE_USERS)),
    ("drop_enum_value", DropEnumValue(STATUS, "published", users=ISSUE_USERS)),
    ("rename_enum_value", RenameEnumValue("status", "draft", "wip")),
    ("set_table_comment", SetComment("authors", to="who 'wrote'")),
    ("set_column_comment", SetComment("authors", "email", None, "contact")),
    ("add_collated_column", AddColumn("notes", Column("code", "text", collation="C"))),
    (
        "alter_collation",
        AlterColumn("authors", EMAIL, replace(EMAIL, collation="POSIX"), ChangeKind.COLLATION),
    ),
    (
        "alter_type_and_collation",
        AlterColumn(
            "authors",
            EMAIL,
            replace(EMAIL, type="character varying(200)", collation="C"),
            ChangeKind.TYPE | ChangeKind.COLLATION,
            reverse_using="email::text",
        ),
    ),
]


def _execute(url: str, op: Operation) -> None:
    with connection(url, autocommit=True) as conn:
        for sql in statements(op):
            conn.execute(sql.encode())


def _catalog(url: str) -> Schema:
    with connection(url) as conn:
        return postgres.load(conn)


@pytest.fixture
def base_url(database_url: str) -> Iterator[str]:
    for op in BASE_OPS:
        _execute(database_url, op)
    yield database_url


def _replayed(ops: list[Operation]) -> Schema:
    state = Schema()
    for op in ops:
        state = op.apply(state)
    return state


@pytest.mark.parametrize("op", [r[1] for r in ROUND_TRIPS], ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip(base_url: str, op: Operation) -> None:
    before = _catalog(base_url)
    assert before == _replayed(BASE_OPS)
    _execute(base_url, op)
    after = _catalog(base_url)
    assert after == op.apply(before)
    assert after != before or isinstance(op, RunSQL)
    _execute(base_url, op.reverse())
    # PostgreSQL cannot un-validate a constraint; its reverse leaves the catalog as it is.
    assert _catalog(base_url) == (after if isinstance(op, ValidateConstraint) else before)


def test_round_trips_cover_every_structural_operation() -> None:
    covered = {type(op) for _, op in ROUND_TRIPS}
    missing = sorted(cls.__name__ for cls in set(OPERATIONS) - {RunPython} - covered)
    assert missing == [], "give these operations a round trip in tests/test_emit_sql.py"
    assert covered == set(OPERATIONS) - {RunPython}


# -- the reference schema's specs --------------------------------------------------------------


def _by_column_name(s: Schema) -> Schema:
    # ADD COLUMN appends, so users.image (added by 0002) ends up last where the model has it
    # in the middle; column order is not part of the agreement dualorm keeps.
    return Schema(
        tuple(replace(t, columns=tuple(sorted(t.columns, key=lambda c: c.name))) for t in s)
    )


def _apply_specs(url: str, migrations: list[Migration], direction: str = "up") -> None:
    ordered = migrations if direction == "up" else list(reversed(migrations))
    with connection(url, autocommit=True) as conn:
        for m in ordered:
            for step in migration_steps(m, direction):  # type: ignore[arg-type]
                assert step.sql is not None
                conn.execute(step.sql.encode())


def test_reference_specs_build_the_models_schema(database_url: str, admin_url: str) -> None:
    import sqlalchemy as sa

    from dualorm.testing import scratch_database
    from sa_models import Base

    migrations = load_specs(ROOT / "migrations")
    assert tuple(m.id for m in migrations) == REFERENCE_MIGRATIONS
    _apply_specs(database_url, migrations)
    with scratch_database(admin_url) as model_url:
        engine = sa.create_engine(sqlalchemy_url(model_url))
        try:
            Base.metadata.create_all(engine)
        finally:
            engine.dispose()
        expected = _catalog(model_url)
    actual = _catalog(database_url)
    assert _by_column_name(actual) == _by_column_name(expected)
    assert actual.get("users").columns[-1].name == "image"  # type: ignore[union-attr]


def test_replayed_specs_equal_the_catalog_they_build(database_url: str) -> None:
    from dualorm.normalize import normalize
    from dualorm.spec.replay import replay

    migrations = load_specs(ROOT / "migrations")
    _apply_specs(database_url, migrations)
    with connection(database_url) as conn:
        replayed = normalize(replay(migrations), conn)
    assert replayed == _catalog(database_url)


def test_reference_specs_roll_back_to_nothing(database_url: str) -> None:
    migrations = load_specs(ROOT / "migrations")
    _apply_specs(database_url, migrations)
    _apply_specs(database_url, migrations, "down")
    assert _catalog(database_url) == Schema()


def test_initial_spec_leaves_out_what_later_specs_add() -> None:
    initial = load_specs(ROOT / "migrations")[0]
    users = next(
        op.definition
        for op in initial.operations
        if isinstance(op, CreateTable) and op.definition.name == "users"
    )
    assert isinstance(users, Table) and users.column("image") is None
    created = {op.definition.name for op in initial.operations if isinstance(op, CreateTable)}
    assert "user_preferences" not in created and len(created) == 10
    api_keys = next(
        op.definition
        for op in initial.operations
        if isinstance(op, CreateTable) and op.definition.name == "api_keys"
    )
    assert api_keys.indexes == ()


def test_psycopg_refuses_concurrent_index_in_a_transaction(base_url: str) -> None:
    # The reason CREATE INDEX CONCURRENTLY steps are non-transactional.
    op = CreateIndex("books", Index("books_title_idx", ("title",)), concurrently=True)
    with connection(base_url) as conn, pytest.raises(psycopg.errors.ActiveSqlTransaction):
        conn.execute(statements(op)[0].encode())


def test_a_type_change_keeps_the_column_collation() -> None:
    collated = replace(EMAIL, collation="C")
    op = AlterColumn(
        "authors", collated, replace(collated, type="character varying(9)"), ChangeKind.TYPE
    )
    assert statements(op) == (
        'ALTER TABLE "authors" ALTER COLUMN "email" TYPE character varying(9) COLLATE "C"',
    )
    back = AlterColumn("authors", collated, replace(EMAIL), ChangeKind.COLLATION)
    assert statements(back) == (
        'ALTER TABLE "authors" ALTER COLUMN "email" TYPE text COLLATE "default"',
    )


def test_enum_labels_are_quoted_literals() -> None:
    op = AddEnumValue(EnumType("Mood", "app", ("a",)), "it's", after="a")
    assert statements(op) == ("ALTER TYPE \"app\".\"Mood\" ADD VALUE 'it''s' AFTER 'a'",)
