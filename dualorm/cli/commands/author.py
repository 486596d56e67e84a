"""The verbs that write specs and the migrations generated from them: ``migrate new``,
``check``, ``make``, ``squash`` and ``init``, each declared beside its handler.

The library is imported when a handler runs, so the CLI starts without it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from dualorm.cli.verbs import JSON, Invocation, Option, Verb, shown
from dualorm.errors import UsageError

if TYPE_CHECKING:
    from dualorm.config import Config

__all__ = ["CHECK", "INIT", "MAKE", "NEW", "SQUASH", "terminal_question"]

NO_CACHE = Option(
    "--no-cache",
    "no_cache",
    "Read the model sets in full, not from the model-schema cache (.dualorm/cache).",
    bool,
    False,
)


def _new(run: Invocation) -> int:
    config = run.config()
    if run["autogenerate"]:
        return _autogenerate(run, config)
    # Imported when the verb runs: the CLI starts without the library (and autogenerate
    # without what `migrate make` needs).
    from dualorm.spec.make import new_spec

    flags = [("--from", "source"), ("--rename", "rename"), ("--rename-table", "rename_table")]
    flags += [("--rename-value", "rename_value"), ("--no-cache", "no_cache")]
    given = [f for f, d in flags if run[d]]
    if given:
        raise UsageError(f"{', '.join(given)} apply only with --autogenerate")
    path = new_spec(config, run["name"])
    run.out(f"created {shown(config, path)}")
    return 0


def _autogenerate(run: Invocation, config: Config) -> int:
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.autogen.generate import autogenerate
    from dualorm.autogen.renames import parse_answers
    from dualorm.collector import skip_final_collection

    skip_final_collection()
    answers = parse_answers(run["rename"], run["rename_table"], run["rename_value"])
    result = autogenerate(
        config,
        run["name"],
        source=run["source"],
        answers=answers,
        ask=terminal_question(),
        cache=not run["no_cache"],
    )
    if run["json"]:
        run.out(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return 0
    if result.path is None:
        run.out(f"no changes: the {result.change.source} models agree with the specs")
        return 0
    for candidate in result.change.unconfirmed:
        run.err(
            f"warning: {candidate.describe()} may be a rename; written as drop + add (data "
            f"loss, reported by `migrate lint`); if it is one, delete the spec and pass "
            f"{candidate.flag}"
        )
    count = len(result.change.operations)
    if result.snapshot is not None:
        run.out(
            f"wrote {shown(config, result.snapshot)} (the tables other owners create that "
            "the spec references)"
        )
    if len(result.paths) > 1:
        paths = ", ".join(str(shown(config, p)) for p in result.paths)
        run.out(f"created {paths} ({count} operation(s), one spec after another)")
        return 0
    run.out(f"created {shown(config, result.path)} ({count} operation(s))")
    return 0


def terminal_question() -> Callable[[str], bool] | None:
    """Ask a yes/no question on the terminal (Django's questioner); ``None`` without one."""
    if not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        sys.stderr.write(f"{question} [y/N] ")
        sys.stderr.flush()
        return sys.stdin.readline().strip().lower() in ("y", "yes")

    return ask


NEW = Verb(
    "new",
    "Write a change spec with the next id, depending on the current heads: a template, "
    "or with --autogenerate the change of the models since the specs.",
    _new,
    (
        Option("NAME", "name", "What the migration does, in a few words.", positional=True),
        Option(
            "--autogenerate",
            "autogenerate",
            "Write the operations that bring the specs to the models (no database).",
            bool,
            False,
        ),
        Option(
            "--from",
            "source",
            "The model set that wins: sqlalchemy or django (default: both must agree).",
        ),
        Option("--rename", "rename", "Renamed columns: table.old=new, comma-separated."),
        Option("--rename-table", "rename_table", "Renamed tables: old=new, comma-separated."),
        Option(
            "--rename-value",
            "rename_value",
            "Renamed enum labels: enum.old=new, comma-separated.",
        ),
        NO_CACHE,
        JSON,
    ),
    fast=True,
)


def _check(run: Invocation) -> int:
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.autogen.generate import check
    from dualorm.collector import skip_final_collection

    skip_final_collection()
    config = run.config()
    result = check(config, cache=not run["no_cache"])
    if run["json"]:
        run.out(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return 0 if result.ok else 1
    for name, found in result.changes.items():
        for d in found:
            run.out(f"{name}: {d.kind.value} {d.object}: {d.detail}")
    for a in result.stale:
        run.out(f"stale: {shown(config, a.path)} ({a.tool}, {a.migration_id}: {a.reason})")
    if result.ok:
        run.out("the models, the specs and the generated migrations agree")
        return 0
    hints = []
    if any(result.changes.values()):
        hints.append("`dualorm migrate new NAME --autogenerate`")
    if result.stale:
        hints.append("`dualorm migrate make`")
    run.err(f"models or generated migrations are out of date; run {' and '.join(hints)}")
    return 1


CHECK = Verb(
    "check",
    "Exit 1 when a model set differs from the specs or a generated migration is stale.",
    _check,
    (NO_CACHE, JSON),
    fast=True,
)


def _make(run: Invocation) -> int:
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.spec.artefact import NO_LONGER_EMITTED

    config = run.config()
    check = run["check"]
    if check:
        # Its own entry point: an unchanged project is answered from the cache, and neither
        # the emitters nor Django are loaded.
        from dualorm.autogen.generate import make_check

        artefacts = make_check(config)
    else:
        from dualorm.spec.make import make

        artefacts = make(config)
    for a in artefacts:
        verb = "stale" if check else "removed" if a.reason == NO_LONGER_EMITTED else "wrote"
        run.out(f"{verb}: {shown(config, a.path)} ({a.tool}, {a.migration_id}: {a.reason})")
    if check and artefacts:
        run.err(f"{len(artefacts)} generated file(s) out of date; run `dualorm migrate make`")
        return 1
    if not artefacts:
        run.out("generated migrations are up to date")
    return 0


MAKE = Verb(
    "make",
    "Emit the Alembic revision and Django migration of every new or changed spec.",
    _make,
    (Option("--check", "check", "Only list stale files; exit 1 if there are any.", bool, False),),
    fast=True,
)


def _squash(run: Invocation) -> int:
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.spec.squash import squash

    if not run["to"]:
        raise UsageError("`migrate squash` needs --to ID: the last spec the squash replaces")
    config = run.config()
    result = squash(config, run["to"])

    run.out(f"wrote {shown(config, result.path)} (replaces {', '.join(result.replaces)})")
    for path in result.written:
        run.out(f"wrote: {shown(config, path)}")
    for old, new in result.moved:
        run.out(f"moved: {shown(config, old)} -> {shown(config, new)}")
    run.out("keep the replaced specs until every database has run `dualorm migrate up`")
    return 0


SQUASH = Verb(
    "squash",
    "Write one spec replacing the history up to --to, and its Alembic and Django files.",
    _squash,
    (Option("--to", "to", "The last spec the squash replaces."),),
)


def _init(run: Invocation) -> int:
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.spec.from_database import init_from_database

    if not run["from_database"]:
        raise UsageError(
            "`migrate init` writes the first spec of an existing database: pass --from-database"
        )
    config = run.config()

    def globs(text: str | None) -> list[str]:
        return [g.strip() for g in (text or "").split(",") if g.strip()]

    result = init_from_database(
        config,
        spec_id=run["migration_id"],
        tables=globs(run["tables"]),
        exclude=globs(run["exclude"]),
    )
    for warning in result.warnings:
        run.err(f"warning: {warning}")
    if run["json"]:
        run.out(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return 0
    run.out(f"wrote {shown(config, result.path)} ({len(result.tables)} table(s))")
    run.out(f"record it applied here with `dualorm migrate baseline --to {result.migration_id}`")
    return 0


INIT = Verb(
    "init",
    "Write the initial spec of the tables of an existing database, from its catalog.",
    _init,
    (
        Option(
            "--from-database",
            "from_database",
            "Read the live catalog (the one source there is).",
            bool,
            False,
        ),
        Option("--id", "migration_id", "The new spec's id (default: 0001_initial)."),
        Option("--table", "tables", "Only these tables: comma-separated globs."),
        Option("--exclude", "exclude", "Leave these tables out: comma-separated globs."),
        JSON,
    ),
)
