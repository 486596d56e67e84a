"""``dualorm init``: scaffold dualorm into the project in the working directory.

The decisions are :mod:`dualorm.scaffold`'s (what the project suggests,
:mod:`dualorm.scaffold_discovery`'s); this face asks on a terminal when a value has
several candidates (or one, unless ``--yes``), and prints what was written and what to do next.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from dualorm.scaffold import InitResult
    from dualorm.scaffold_discovery import Candidate


def init(
    sa_metadata: Annotated[
        str | None,
        typer.Option(
            "--sa-metadata", help="The SQLAlchemy MetaData, 'module:attr' (module:Base.metadata)."
        ),
    ] = None,
    django_settings: Annotated[
        str | None, typer.Option("--django-settings", help="The Django settings module.")
    ] = None,
    migrations_dir: Annotated[
        str, typer.Option("--migrations-dir", help="Where the change specs live.")
    ] = "migrations",
    default_app: Annotated[
        str | None,
        typer.Option("--default-app", help="The Django app label the tables specs create go to."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Take what is found without asking.")
    ] = False,
) -> None:
    """Scaffold dualorm here: its pyproject table, the specs directory, an Alembic setup."""
    from dualorm import scaffold, scaffold_discovery

    root = Path.cwd()
    flags = (
        ("sa_metadata", sa_metadata),
        ("django_settings", django_settings),
        ("default_app", default_app),
    )
    for key, given in flags:
        if given is not None:
            scaffold.check_value(key, given)
    scaffold.check(root, migrations_dir)
    found = scaffold_discovery.discover(root)
    ask = None if yes or not sys.stdin.isatty() else _ask
    choices = scaffold.Choices(
        sa_metadata=scaffold.choose("sa_metadata", sa_metadata, found.sa_metadata, ask),
        django_settings=scaffold.choose(
            "django_settings", django_settings, found.django_settings, ask
        ),
        migrations_dir=scaffold.check_value("migrations_dir", migrations_dir),
    )
    app, note = scaffold.choose_optional("default_app", default_app, found.default_app, ask)
    choices = replace(choices, default_app=app)
    _show(scaffold.init_project(root, choices, found), () if note is None else (note,))


def _ask(key: str, candidates: Sequence[Candidate]) -> str:
    import click

    from dualorm.errors import UsageError
    from dualorm.scaffold import LABELS, check_value

    if not candidates:
        typer.echo(f"no {LABELS[key]} found")
    for number, candidate in enumerate(candidates, 1):
        typer.echo(f"  {number}. {candidate.value}  ({candidate.origin})")
        if candidate.note:
            typer.echo(f"     {candidate.note}")

    def answer(text: str) -> str:
        text = text.strip()
        if text.isdigit() and 1 <= int(text) <= len(candidates):
            return candidates[int(text) - 1].value
        try:
            return check_value(key, text)
        except UsageError as exc:
            raise click.BadParameter(str(exc)) from None

    label = LABELS[key] + (" (a number above, or a value)" if len(candidates) > 1 else "")
    default = candidates[0].value if len(candidates) == 1 else None
    value: str = typer.prompt(label, default=default, value_proc=answer)
    return value


def _show(result: InitResult, notes: Sequence[str] = ()) -> None:
    from dualorm.scaffold import INSTALLED_APP

    for path in result.appended:
        typer.echo(f"appended [tool.dualorm] to {path.as_posix()}")
    for path in result.written:
        typer.echo(f"wrote {path.as_posix()}")
    if result.alembic_kept is not None:
        typer.echo(f"kept the Alembic environment of {result.alembic_kept.as_posix()}")
    for note in (*result.notes, *notes):
        typer.echo(f"note: {note}")
    where = result.settings_file.as_posix() if result.settings_file else "your settings"
    migrations = result.choices.migrations_dir
    typer.echo("next steps:")
    typer.echo(f'  1. add "{INSTALLED_APP}", to INSTALLED_APPS in {where}')
    typer.echo("  2. dualorm validate  (the Django models, the SQLAlchemy models, the database)")
    typer.echo(
        f"  3. dualorm migrate new NAME  (a change spec in {migrations}/), "
        "then dualorm migrate make and dualorm migrate up"
    )
