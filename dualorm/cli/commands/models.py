"""The verbs of ``dualorm models``: ``models render``, declared beside its handler.

The renderers (and with them SQLAlchemy or Django) are imported when the handler runs.
"""

from __future__ import annotations

from pathlib import Path

from dualorm.cli.verbs import Invocation, Option, Verb, shown

__all__ = ["RENDER"]


def _render(run: Invocation) -> int:
    # Imported when the verb runs: the CLI starts without the library.
    from dualorm.collector import skip_final_collection
    from dualorm.models_render import render_models

    skip_final_collection()

    config = run.config()
    output = None if run["output"] is None else (Path.cwd() / run["output"]).resolve()
    result = render_models(
        config,
        run["orm"],
        tables=run["tables"],
        app=run["app"],
        output=output,
        check=run["check"],
    )
    if result.path is None:
        run.out(result.text.rstrip("\n"))
        return 0
    where = shown(config, result.path)
    if run["check"]:
        if result.stale:
            run.err(f"{where} is out of date; run `dualorm models render --orm {run['orm']}`")
            return 1
        run.out(f"{where} is up to date")
        return 0
    run.out(f"{'wrote' if result.stale else 'unchanged'}: {where} ({result.tables} table(s))")
    return 0


RENDER = Verb(
    "render",
    "Write the tables of the specs at head as SQLAlchemy or Django models (generated).",
    _render,
    (
        Option("--orm", "orm", "sqlalchemy or django.", str, "sqlalchemy"),
        Option("--tables", "tables", "Only these tables: comma-separated globs."),
        Option("--app", "app", "Django: the app_label the models declare."),
        Option("--output", "output", "The module to write (default: standard output)."),
        Option("--check", "check", "Write nothing; exit 1 if --output is stale.", bool, False),
    ),
)
