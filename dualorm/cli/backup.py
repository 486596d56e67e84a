"""``dualorm backup create|list|verify|restore|prune``: encrypted, verified, restorable backups."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from dualorm.backup.api import BackupProgress, ProgressCallback
from dualorm.cli.output import print_json
from dualorm.errors import ConfirmationRequired

app = typer.Typer(help="Create, list, verify, restore and prune backups.", no_args_is_help=True)

DirOption = Annotated[
    Path | None, typer.Option("--dir", help="Backup directory (default DUALORM_BACKUP_DIR).")
]


@contextlib.contextmanager
def _progress_bar(description: str) -> Iterator[ProgressCallback]:
    """Render progress events as a rich bar on stderr (stdout stays clean for --json)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(event: BackupProgress) -> None:
            bar.update(task, description=event.phase, completed=event.done, total=event.total)

        yield update


@app.command()
def create(
    name: Annotated[str | None, typer.Option(help="Backup name (default: db-timestamp).")] = None,
    directory: DirOption = None,
    unencrypted: Annotated[
        bool,
        typer.Option(
            "--unencrypted",
            "--no-encrypt",
            help="Write the backup in the clear (refused in production).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Dump the database into a compressed, encrypted backup with a manifest.

    Without DUALORM_BACKUP_KEY it is refused (exit 3) unless --unencrypted is given.
    """
    from dualorm.backup.api import create_backup

    with _progress_bar("dump") as progress:
        backup = create_backup(
            name, directory=directory, encrypt=False if unencrypted else None, progress=progress
        )
    if as_json:
        print_json(backup.to_json())
        return
    state = "encrypted" if backup.manifest.encrypted else "NOT encrypted"
    typer.echo(f"{backup.path} ({backup.manifest.size} bytes, {state})")


@app.command("list")
def list_(
    directory: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List backups, newest first."""
    from dualorm.backup.api import list_backups

    backups = list_backups(directory)
    if as_json:
        print_json([{**b.to_json(), **b.manifest.to_dict()} for b in backups])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "created", "size", "encrypted", "database", "migration head")
    for b in backups:
        m = b.manifest
        table.add_row(
            m.name, m.created_at, str(m.size), "yes" if m.encrypted else "no", m.database,
            m.migration_head or "-",
        )  # fmt: skip
    Console().print(table)


@app.command()
def verify(path: Annotated[Path, typer.Argument(help="Backup file or its manifest.")]) -> None:
    """Check checksum, authenticate every chunk and read the archive's table of contents."""
    from dualorm.backup.api import verify_backup

    with _progress_bar("verify") as progress:
        result = verify_backup(path, progress=progress)
    typer.echo(f"{result.backup.path}: OK ({result.entries} archive entries)")


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="Backup file or its manifest.")],
    confirm: Annotated[bool, typer.Option("--confirm", help="Really replace the data.")] = False,
    target_url: Annotated[
        str | None, typer.Option("--target-url", help="Database to restore into.")
    ] = None,
    allow_environment_change: Annotated[
        bool,
        typer.Option(
            "--allow-environment-change",
            help="Restore a backup of another environment into a production database.",
        ),
    ] = False,
) -> None:
    """Verify, then restore a backup in one transaction (needs --confirm).

    The target keeps its environment label; an unlabelled target is refused (exit 3).
    """
    from dualorm.backup.restore import restore_backup

    if not confirm:
        raise ConfirmationRequired("restore replaces the database's objects: pass --confirm")
    with _progress_bar("restore") as progress:
        result = restore_backup(
            path,
            target_url,
            confirm=True,
            allow_environment_change=allow_environment_change,
            progress=progress,
        )
    typer.echo(f"restored {result.backup.path} into {result.target}")


@app.command()
def prune(
    keep: Annotated[int, typer.Option("--keep", help="How many newest backups to keep.")],
    directory: DirOption = None,
) -> None:
    """Delete all but the N newest backups."""
    from dualorm.backup.api import prune_backups

    removed = prune_backups(keep, directory)
    for backup in removed:
        typer.echo(f"removed {backup.path}")
    typer.echo(f"{len(removed)} backup(s) removed, {keep} kept at most")
