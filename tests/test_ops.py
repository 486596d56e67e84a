"""Operations on hand-built schemas: apply, reverse, refusal, references. No database."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dualorm.errors import IrreversibleError, SpecError
from dualorm.schema import (
    CheckConstraint,
    Column,
    EnumType,
    FkAction,
    ForeignKey,
    Identity,
    Index,
    PrimaryKey,
    Schema,
    UniqueConstraint,
    schema,
    table,
)
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
    Category,
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

AUTHOR_ID = Column("id", "bigint", nullable=False, identity=Identity.BY_DEFAULT)
SCORE = Column("score", "integer", nullable=False, default="0")
EMAIL = Column("email", "text")
AUTHORS = table(
    "authors",
    [AUTHOR_ID, Column("name", "character varying(100)", nullable=False), EMAIL, SCORE],
    primary_key=PrimaryKey("authors_pkey", ("id",)),
    uniques=[UniqueConstraint("authors_name_key", ("name",))],
    checks=[CheckConstraint("authors_score_check", "(score >= 0)")],
    indexes=[Index("authors_email_idx", ("email",), where="(email IS NOT NULL)")],
)
BOOK_FK = ForeignKey(
    "books_author_id_fkey", ("author_id",), "authors", ("id",), on_delete=FkAction.CASCADE
)
BOOKS = table(
    "books",
    [
        Column("id", "uuid", nullable=False, default="gen_random_uuid()"),
        Column("author_id", "bigint"),
        Column("title", "text", nullable=False),
    ],
    primary_key=PrimaryKey("books_pkey", ("id",)),
    foreign_keys=[BOOK_FK],
    indexes=[Index("books_author_id_idx", ("author_id",))],
)
NOTES = table("notes", [Column("id", "integer", nullable=False), Column("body", "text")])
STATUS = EnumType("status", labels=("draft", "published"))
SPARE = EnumType("spare", labels=("x",))
STATE = Column("state", "status", nullable=False, default="'draft'::status")
ISSUES = table("issues", [Column("id", "bigint", nullable=False), STATE])
BASE = schema([AUTHORS, BOOKS, NOTES, ISSUES], [STATUS, SPARE])

TAGS = table(
    "tags",
    [Column("id", "bigint", nullable=False), Column("author_id", "bigint")],
    primary_key=PrimaryKey("tags_pkey", ("id",)),
    foreign_keys=[ForeignKey("tags_author_id_fkey", ("author_id",), "authors", ("id",))],
)

CASES: list[tuple[str, Operation]] = [
    ("create_table", CreateTable(TAGS)),
    ("drop_table", DropTable(BOOKS)),
    ("rename_table", RenameTable("authors", "writers")),
    ("add_column", AddColumn("authors", Column("bio", "text"))),
    ("drop_column", DropColumn("books", Column("title", "text", nullable=False))),
    (
        "alter_type",
        AlterColumn(
            "authors",
            AUTHORS.columns[1],
            replace(AUTHORS.columns[1], type="text"),
            ChangeKind.TYPE,
        ),
    ),
    ("alter_null", AlterColumn("authors", EMAIL, replace(EMAIL, nullable=False), ChangeKind.NULL)),
    (
        "alter_default",
        AlterColumn("authors", SCORE, replace(SCORE, default="5"), ChangeKind.DEFAULT),
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
    ("drop_index", DropIndex("books", Index("books_author_id_idx", ("author_id",)))),
    ("add_primary_key", AddPrimaryKey("notes", PrimaryKey("notes_pkey", ("id",)))),
    (
        "add_foreign_key",
        AddForeignKey(
            "notes",
            ForeignKey("notes_id_fkey", ("id",), "authors", ("id",), validated=False),
        ),
    ),
    ("add_unique", AddUnique("notes", UniqueConstraint("notes_body_key", ("body",)))),
    ("add_check", AddCheck("notes", CheckConstraint("notes_id_check", "(id > 0)", False))),
    ("drop_check", DropConstraint("authors", AUTHORS.checks[0])),
    ("drop_foreign_key", DropConstraint("books", BOOK_FK)),
    ("alter_foreign_key", AlterForeignKey("books", BOOK_FK, True, True)),
    ("drop_primary_key", DropConstraint("books", BOOKS.primary_key)),  # type: ignore[arg-type]
    ("run_sql", RunSQL("UPDATE authors SET score = 1", "UPDATE authors SET score = 0")),
    ("run_python", RunPython("seeds.fix:forwards", "seeds.fix:backwards")),
    ("create_enum", CreateEnum(EnumType("mood", "public", ("sad", "happy")))),
    ("drop_enum", DropEnum(SPARE)),
    (
        "add_enum_value",
        AddEnumValue(STATUS, "review", after="draft", users=(("issues", STATE),)),
    ),
    ("drop_enum_value", DropEnumValue(STATUS, "published", users=(("issues", STATE),))),
    ("rename_enum_value", RenameEnumValue("status", "draft", "new")),
    ("set_table_comment", SetComment("authors", to="who wrote")),
    ("set_column_comment", SetComment("authors", "email", None, "contact")),
    (
        "alter_collation",
        AlterColumn("authors", EMAIL, replace(EMAIL, collation="C"), ChangeKind.COLLATION),
    ),
]


@pytest.mark.parametrize("op", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_reverse_undoes_apply(op: Operation) -> None:
    after = op.apply(BASE)
    assert op.reverse().apply(after) == BASE


@pytest.mark.parametrize("op", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_apply_is_pure_and_describable(op: Operation) -> None:
    before = repr(BASE)
    op.apply(BASE)
    assert repr(BASE) == before
    assert op.describe() and "\n" not in op.describe()


def test_every_operation_class_is_listed_and_exercised() -> None:
    assert set(Operation.__subclasses__()) == set(OPERATIONS)
    exercised = {type(op) for _, op in CASES} | {ValidateConstraint}
    missing = sorted(cls.__name__ for cls in set(OPERATIONS) - exercised)
    assert missing == [], "give these operations a case in tests/test_ops.py CASES"
    assert exercised == set(OPERATIONS)


def test_add_column_appends() -> None:
    after = AddColumn("authors", Column("bio", "text")).apply(BASE)
    assert [c.name for c in after.get("authors").columns] == [  # type: ignore[union-attr]
        "id",
        "name",
        "email",
        "score",
        "bio",
    ]


def test_rename_table_moves_referencing_foreign_keys() -> None:
    after = RenameTable("authors", "writers").apply(BASE)
    assert "authors" not in after and "writers" in after
    assert after.get("books").foreign_keys[0].ref_table == "writers"  # type: ignore[union-attr]


def test_rename_column_follows_into_constraints_indexes_and_expressions() -> None:
    after = RenameColumn("authors", "email", "mail").apply(BASE).get("authors")
    assert after is not None
    assert after.indexes[0] == Index("authors_email_idx", ("mail",), where="(mail IS NOT NULL)")
    renamed = RenameColumn("authors", "id", "author_id").apply(BASE)
    assert renamed.get("books").foreign_keys[0].ref_columns == ("author_id",)  # type: ignore[union-attr]


def test_include_columns_follow_a_rename_and_keep_their_column_from_a_drop() -> None:
    covering = Index("notes_id_body_idx", ("id",), include=("body",))
    with_index = CreateIndex("notes", covering).apply(BASE)
    after = RenameColumn("notes", "body", "text").apply(with_index).get("notes")
    assert after is not None and after.indexes[0].include == ("text",)
    with pytest.raises(SpecError, match="used by notes_id_body_idx"):
        DropColumn("notes", Column("body", "text")).apply(with_index)
    with pytest.raises(SpecError, match=r"notes\.nope does not exist"):
        CreateIndex("notes", Index("n_idx", ("id",), include=("nope",))).apply(BASE)


def test_rename_column_keeps_string_literals_and_function_names() -> None:
    t = table(
        "t", [Column("lower", "text")], checks=[CheckConstraint("c", "(lower(lower) <> 'lower')")]
    )
    after = RenameColumn("t", "lower", "name").apply(schema([t])).get("t")
    assert after is not None and after.checks[0].expression == "(lower(name) <> 'lower')"


def test_alter_column_applies_only_what_changes_says() -> None:
    # ``to`` also differs in nullability, but only the default is declared to move.
    op = AlterColumn(
        "authors", SCORE, replace(SCORE, default="5", nullable=True), ChangeKind.DEFAULT
    )
    after = op.apply(BASE).get("authors")
    assert after is not None and after.column("score") == replace(SCORE, default="5")


def test_add_primary_key_marks_columns_not_null() -> None:
    t = table("n", [Column("id", "integer")])
    after = AddPrimaryKey("n", PrimaryKey("n_pkey", ("id",))).apply(schema([t])).get("n")
    assert after is not None and after.columns[0].nullable is False


def test_validate_constraint_marks_it_validated() -> None:
    added = AddCheck("notes", CheckConstraint("notes_id_check", "(id > 0)", False)).apply(BASE)
    validated = ValidateConstraint("notes", "notes_id_check").apply(added)
    assert validated.get("notes").checks[0].validated is True  # type: ignore[union-attr]
    # PostgreSQL cannot un-validate: the way down leaves the constraint as it is.
    assert ValidateConstraint("notes", "x").reverse().apply(validated) == validated


REFUSALS: list[tuple[str, Operation, str]] = [
    ("create_existing", CreateTable(AUTHORS), "table authors already exists"),
    ("create_dangling_fk", CreateTable(TAGS), "references table authors, which does not exist"),
    ("drop_missing", DropTable(TAGS), "table tags does not exist"),
    ("drop_referenced", DropTable(AUTHORS), "books.books_author_id_fkey still references"),
    ("add_existing_column", AddColumn("authors", EMAIL), "authors.email already exists"),
    ("add_to_missing", AddColumn("nope", EMAIL), "table nope does not exist"),
    ("drop_missing_column", DropColumn("authors", Column("x", "text")), "authors.x does not exist"),
    ("drop_indexed_column", DropColumn("authors", EMAIL), "used by authors_email_idx"),
    ("drop_checked_column", DropColumn("authors", SCORE), "used by authors_score_check"),
    ("drop_missing_index", DropIndex("authors", Index("zz", ("id",))), "index zz does not exist"),
    (
        "index_name_taken",
        CreateIndex("notes", Index("authors_pkey", ("id",))),
        "relation authors_pkey already exists",
    ),
    (
        "fk_to_missing_column",
        AddForeignKey("notes", ForeignKey("n_fk", ("id",), "authors", ("nope",))),
        "authors.nope, which does not exist",
    ),
    (
        "drop_referenced_pk",
        DropConstraint("authors", PrimaryKey("authors_pkey", ("id",))),
        "books.books_author_id_fkey depends on authors_pkey",
    ),
    ("validate_missing", ValidateConstraint("authors", "nope"), "no foreign key or check nope"),
    (
        "rename_onto_existing",
        RenameColumn("authors", "email", "name"),
        "authors.name already exists",
    ),
    (
        "primary_key_made_nullable",
        AlterColumn(
            "books",
            BOOKS.columns[0],
            replace(BOOKS.columns[0], nullable=True),
            ChangeKind.NULL,
        ),
        "books.id is in primary key books_pkey and cannot be made nullable",
    ),
]


@pytest.mark.parametrize(
    ("op", "message"), [(c[1], c[2]) for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_apply_refuses_what_does_not_fit(op: Operation, message: str) -> None:
    start = Schema() if op == CreateTable(TAGS) else BASE
    with pytest.raises(SpecError) as caught:
        op.apply(start)
    assert message in str(caught.value)
    assert op.describe() in str(caught.value)


def test_identity_column_cannot_be_made_nullable() -> None:
    counter = Column("n", "bigint", nullable=False, identity=Identity.ALWAYS)
    start = AddColumn("notes", counter).apply(BASE)
    op = AlterColumn("notes", counter, replace(counter, nullable=True), ChangeKind.NULL)
    with pytest.raises(SpecError, match="notes.n is an identity column"):
        op.apply(start)


@pytest.mark.parametrize(
    "op", [RunSQL("DELETE FROM notes"), RunPython("seeds.fix:forwards")], ids=["sql", "python"]
)
def test_irreversible_escape_hatches_say_so(op: Operation) -> None:
    assert op.reversible is False
    with pytest.raises(IrreversibleError, match="cannot be reversed"):
        op.reverse()


def test_class_attributes() -> None:
    assert DropTable.destructive and DropColumn.destructive and not AddColumn.destructive
    assert CreateTable.category is Category.ADDITION
    assert DropIndex.category is Category.REMOVAL
    assert AlterColumn.category is Category.ALTERATION
    assert RunSQL("x", "y").reversible and CreateIndex.reversible


def test_references() -> None:
    assert CreateTable(TAGS).references("authors")
    assert not AddColumn("notes", EMAIL).references("authors")
    assert AddForeignKey("notes", BOOK_FK).references(("public", "authors"))
    assert RunSQL("SELECT 1").references("anything")


def test_annotations_take_no_part_in_equality() -> None:
    assert AddColumn("notes", EMAIL, line=3) == AddColumn("notes", EMAIL, line=9)


def test_alter_foreign_key_changes_only_when_it_is_checked_and_reverses() -> None:
    op = AlterForeignKey("books", BOOK_FK, deferrable=True, initially_deferred=True)
    after = op.apply(BASE)
    fk = after.get("books").foreign_keys[0]  # type: ignore[union-attr]
    assert (fk.deferrable, fk.initially_deferred) == (True, True)
    assert replace(fk, deferrable=False, initially_deferred=False) == BOOK_FK
    assert op.reverse().apply(after) == BASE


def test_alter_foreign_key_refuses_deferred_without_deferrable() -> None:
    with pytest.raises(SpecError, match="initially_deferred needs deferrable"):
        AlterForeignKey("books", BOOK_FK, deferrable=False, initially_deferred=True)


def test_enum_labels_move_as_postgresql_moves_them() -> None:
    users = (("issues", STATE),)
    first = AddEnumValue(STATUS, "idea", before="draft", users=users).apply(BASE)
    assert first.enum("status").labels == ("idea", "draft", "published")  # type: ignore[union-attr]
    renamed = RenameEnumValue("status", "draft", "wip").apply(BASE)
    assert renamed.enum("status").labels == ("wip", "published")  # type: ignore[union-attr]
    # The default names the label by its oid on the server: its text follows the rename.
    assert renamed.get("issues").column("state").default == "'wip'::status"  # type: ignore[union-attr]
    reverse = DropEnumValue(STATUS, "draft", users).reverse()
    assert reverse == AddEnumValue(
        EnumType("status", labels=("published",)), "draft", "published", None, users
    )


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (DropEnum(STATUS), "enum type status is used by issues.state"),
        (CreateEnum(STATUS), "enum type status already exists"),
        (AddEnumValue(STATUS, "draft"), "already has label 'draft'"),
        (AddEnumValue(STATUS, "x", before="nope"), "has no label 'nope'"),
        (DropEnumValue(STATUS, "draft"), "the columns of enum type status have changed"),
        (RenameEnumValue("status", "draft", "published"), "already has label 'published'"),
        (SetComment("authors", "nope", None, "x"), "column authors.nope does not exist"),
        (CreateTable(table("status", [])), "type status already exists"),
    ],
    ids=[
        "in-use",
        "exists",
        "label-exists",
        "no-neighbour",
        "stale-users",
        "clash",
        "column",
        "table-named-like-an-enum",
    ],
)
def test_enum_and_comment_operations_refuse_what_postgresql_refuses(
    op: Operation, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        op.apply(BASE)
