"""Renames are never guessed: a drop plus an add of the same shape is a question.

:func:`table_candidates` and :func:`column_candidates` find, in the differences between the
model set and the replayed specs, a table (column) the specs have and the model set lacks
next to one of the same shape the model set has and the specs lack; :func:`value_candidates`
a label of an enum type the specs have and the model set lacks where the model set has a new
one in its place. Each candidate becomes a rename only when it is answered: by ``--rename
table.old=new`` / ``--rename-table old=new`` / ``--rename-value enum.old=new``
(:func:`parse_answers`), or by a person at a terminal (an ``ask`` callback, as Django's
questioner asks "Was users.full_name renamed to users.display_name?"). Unanswered, the change
is written as a drop and an add, the spec names the candidate in its header, and the lint's
``destructive`` rule reports the drop until it is acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from dualorm.diff import Difference, DiffKind
from dualorm.errors import UsageError
from dualorm.schema import Column, Schema, Table, as_key
from dualorm.spec.ops import Operation, RenameColumn, RenameEnumValue, RenameTable

__all__ = [
    "Answers",
    "Ask",
    "Candidate",
    "column_candidates",
    "decide",
    "parse_answers",
    "table_candidates",
    "value_candidates",
]

Ask = Callable[[str], bool]
"""Ask a person a yes/no question; ``None`` where nobody can answer (no terminal)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A drop and an add that may be one rename: of table ``table`` (``column`` false), of
    column ``table.old``, or (``value``) of label ``old`` of enum type ``table``."""

    table: str
    old: str
    new: str
    column: bool
    value: bool = False

    @property
    def flag(self) -> str:
        if self.value:
            return f"--rename-value {self.table}.{self.old}={self.new}"
        if self.column:
            return f"--rename {self.table}.{self.old}={self.new}"
        return f"--rename-table {self.old}={self.new}"

    @property
    def question(self) -> str:
        if self.value:
            return f"Was value {self.old!r} of enum {self.table} renamed to {self.new!r}?"
        if self.column:
            return f"Was {self.table}.{self.old} renamed to {self.table}.{self.new}?"
        return f"Was table {self.old} renamed to {self.new}?"

    @property
    def operation(self) -> Operation:
        if self.value:
            return RenameEnumValue(self.table, self.old, self.new)
        if self.column:
            return RenameColumn(self.table, self.old, self.new)
        return RenameTable(self.old, as_key(self.new)[1])

    def describe(self) -> str:
        if self.value:
            return f"value {self.table}.{self.old} -> {self.new}"
        where = f"{self.table}.{self.old}" if self.column else f"table {self.old}"
        return f"{where} -> {self.new}"


@dataclass(frozen=True, slots=True)
class Answers:
    """The renames given on the command line: ``(table, old, new)`` columns, ``(old, new)``
    tables, ``(enum, old, new)`` enum labels."""

    columns: tuple[tuple[str, str, str], ...] = ()
    tables: tuple[tuple[str, str], ...] = ()
    values: tuple[tuple[str, str, str], ...] = ()


def _pairs(text: str | None, flag: str) -> list[tuple[str, str]]:
    out = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        old, eq, new = (part.strip() for part in item.partition("="))
        if not eq or not old or not new:
            raise UsageError(f"{flag} {item.strip()!r}: write it as old=new")
        out.append((old, new))
    return out


def parse_answers(
    rename: str | None, rename_table: str | None, rename_value: str | None = None
) -> Answers:
    """Read ``--rename users.a=b,users.c=d``, ``--rename-table old=new,...`` and
    ``--rename-value mood.old=new,...``."""
    columns = []
    for old, new in _pairs(rename, "--rename"):
        table, dot, column = old.rpartition(".")
        if not dot or not table or not column:
            raise UsageError(f"--rename {old}={new}: name the column as table.column=new_name")
        columns.append((table, column, new))
    values = []
    for old, new in _pairs(rename_value, "--rename-value"):
        enum, dot, label = old.rpartition(".")
        if not dot or not enum or not label:
            raise UsageError(f"--rename-value {old}={new}: name the label as enum.label=new")
        values.append((enum, label, new))
    tables = tuple(_pairs(rename_table, "--rename-table"))
    return Answers(tuple(columns), tables, tuple(values))


def _shape(c: Column) -> object:
    return (c.type, c.nullable, c.default, c.identity, c.generated)


def _table_shape(t: Table) -> object:
    return sorted((c.name, _shape(c)) for c in t.columns)


def table_candidates(
    differences: Sequence[Difference], want: Schema, have: Schema
) -> list[Candidate]:
    """Tables the specs have and the model set lacks, paired with a new one of the same shape."""
    gone = [have.get(as_key(d.object)) for d in differences if d.kind is DiffKind.EXTRA_TABLE]
    new = [want.get(as_key(d.object)) for d in differences if d.kind is DiffKind.MISSING_TABLE]
    return [
        Candidate(old.qualified_name, old.qualified_name, added.qualified_name, False)
        for old in gone
        if old is not None
        for added in new
        if added is not None
        and added.schema == old.schema
        and _table_shape(added) == _table_shape(old)
    ]


def column_candidates(
    differences: Sequence[Difference], want: Schema, have: Schema
) -> list[Candidate]:
    """Columns the specs have and the model set lacks, paired with a new one of the same
    shape in the same table."""
    out = []
    for d in differences:
        if d.kind is not DiffKind.EXTRA_COLUMN:
            continue
        head, _, name = d.object.rpartition(".")
        old_table, new_table = have.get(as_key(head)), want.get(as_key(head))
        if old_table is None or new_table is None:
            continue
        column = old_table.column(name)
        assert column is not None
        out += [
            Candidate(new_table.qualified_name, name, c.name, True)
            for c in new_table.columns
            if old_table.column(c.name) is None and _shape(c) == _shape(column)
        ]
    return out


def value_candidates(want: Schema, have: Schema) -> list[Candidate]:
    """Labels of an enum type the specs have and the model set lacks, each paired with the
    new label the model set has in its place (the same position in the sort order)."""
    out = []
    for before in have.enums:
        after = want.enum(before.key)
        if after is None or after.labels == before.labels:
            continue
        added = {x for x in after.labels if x not in before.labels}
        out += [
            Candidate(before.qualified_name, old, after.labels[i], False, True)
            for i, old in enumerate(before.labels)
            if old not in after.labels and i < len(after.labels) and after.labels[i] in added
        ]
    return out


def _given_values(answers: Answers, want: Schema, have: Schema) -> list[Candidate]:
    out = []
    for enum, old, new in answers.values:
        flag = f"--rename-value {enum}.{old}={new}"
        before, after = have.enum(enum), want.enum(enum)
        if before is None or after is None:
            raise UsageError(f"{flag}: enum type {enum} is not in both the specs and the models")
        if old not in before.labels or old in after.labels:
            raise UsageError(f"{flag}: the specs have no label {old!r} the models lack")
        if new not in after.labels or new in before.labels:
            raise UsageError(f"{flag}: the models have no new label {new!r}")
        out.append(Candidate(before.qualified_name, old, new, False, True))
    return out


def _given(
    answers: Answers, want: Schema, have: Schema, column: bool, value: bool = False
) -> list[Candidate]:
    """The answered renames of one kind, each checked against both schemas."""
    if value:
        return _given_values(answers, want, have)
    out = []
    if column:
        for table, old, new in answers.columns:
            flag = f"--rename {table}.{old}={new}"
            before, after = have.get(as_key(table)), want.get(as_key(table))
            if before is None or after is None:
                raise UsageError(f"{flag}: table {table} is not in both the specs and the models")
            if before.column(old) is None or after.column(old) is not None:
                raise UsageError(f"{flag}: the specs have no column {table}.{old} the models lack")
            if after.column(new) is None or before.column(new) is not None:
                raise UsageError(f"{flag}: the models have no new column {table}.{new}")
            out.append(Candidate(after.qualified_name, old, new, True))
        return out
    for old, new in answers.tables:
        flag = f"--rename-table {old}={new}"
        if have.get(as_key(old)) is None or want.get(as_key(old)) is not None:
            raise UsageError(f"{flag}: the specs have no table {old} the models lack")
        if want.get(as_key(new)) is None or have.get(as_key(new)) is not None:
            raise UsageError(f"{flag}: the models have no new table {new}")
        if as_key(old)[0] != as_key(new)[0]:
            raise UsageError(f"{flag}: a rename stays within its schema")
        out.append(Candidate(old, old, new, False))
    return out


def decide(
    candidates: Iterable[Candidate],
    answers: Answers,
    want: Schema,
    have: Schema,
    *,
    column: bool,
    ask: Ask | None,
    value: bool = False,
) -> tuple[list[Candidate], list[Candidate]]:
    """Return the confirmed renames and the candidates left unanswered.

    Answers on the command line come first; a candidate whose old or new name they settled is
    not asked about. Each remaining candidate is asked (first yes wins for its names).
    ``column`` or ``value`` says which kind (default: tables).
    """
    scoped = column or value  # a column's or a label's name is unique within its table/enum
    confirmed = _given(answers, want, have, column, value)
    used = {(c.table, c.old) for c in confirmed} | {(c.table, c.new) for c in confirmed}
    if not scoped:
        used = {("", c.old) for c in confirmed} | {("", c.new) for c in confirmed}
    left: list[Candidate] = []
    for candidate in candidates:
        scope = candidate.table if scoped else ""
        if (scope, candidate.old) in used or (scope, candidate.new) in used:
            continue
        if ask is not None and ask(candidate.question):
            confirmed.append(candidate)
            used |= {(scope, candidate.old), (scope, candidate.new)}
        else:
            left.append(candidate)
    return confirmed, left
