"""``dualorm validate``: compare SQLAlchemy, Django and the live catalog; optionally the data.

Exit 0 when no errors were found; 1 when any was, including an expression of a model that
the server refuses while normalising (a difference of its object); 2 on bad input only (an
unknown source name, fewer than two sources, an unreadable configuration, a module that does
not import, an unreachable database); 4 on an internal error (a bug of dualorm: one line,
``DUALORM_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from dualorm.cli.output import fail, print_json
from dualorm.collector import skip_final_collection

if TYPE_CHECKING:
    from rich.console import Console

    from dualorm.config import Config
    from dualorm.validate import Finding, ValidationResult


def validate(
    detailed: Annotated[
        bool, typer.Option("--detailed", help="Also show warnings (name-only differences, ...).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"valid", "errors", "warnings"} as JSON.')
    ] = False,
    data: Annotated[
        bool, typer.Option("--data", help="Also check rows against what the models declare.")
    ] = False,
    sources: Annotated[
        str,
        typer.Option("--sources", help="Two or three of sqlalchemy,django,database."),
    ] = "sqlalchemy,django,database",
    sa_metadata: Annotated[
        str | None,
        typer.Option("--sa-metadata", metavar="MOD:ATTR", help="SQLAlchemy MetaData to read."),
    ] = None,
    django_settings: Annotated[
        str | None,
        typer.Option("--django-settings", metavar="MOD", help="Django settings module."),
    ] = None,
    replicas: Annotated[
        bool,
        typer.Option(
            "--replicas", help="Instead: compare each replica's catalog with the primary's."
        ),
    ] = False,
) -> None:
    """Report every disagreement between the SQLAlchemy models, the Django models and the DB."""
    from dualorm.config import Config
    from dualorm.errors import ConfigError
    from dualorm.validate import SchemaValidator, parse_sources

    if replicas:
        validate_replicas(Config.load(), as_json=as_json)
        return
    skip_final_collection()
    chosen = parse_sources(sources)
    config = Config.load()
    if sa_metadata is not None:
        config = config.with_(sa_metadata=sa_metadata)
    if django_settings is not None:
        config = config.with_(django_settings=django_settings)
    try:
        result = SchemaValidator(config, sources=chosen, data=data).validate_schema()
    except ImportError as exc:
        raise ConfigError(f"cannot import {exc.name or exc}: {exc}") from None
    if as_json:
        print_json(result.to_dict())
    else:
        _render(result, detailed=detailed)
    if not result.valid:
        raise fail(1)


def _render(result: ValidationResult, *, detailed: bool) -> None:
    from rich.console import Console

    from dualorm.datacheck import DataIssue

    # Piped or captured output gets a wide table rather than rich's 80-column fallback.
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    shown = [*result.errors, *(result.warnings if detailed else [])]
    rows = [f for f in shown if not isinstance(f, DataIssue)]
    for source, target in result.pairs:
        pair = [f for f in rows if (f.source, f.target) == (source, target)]
        _table(console, f"{source} vs {target}", pair)
    for source in ("sqlalchemy", "django"):
        issues = [f for f in shown if isinstance(f, DataIssue) and f.source == source]
        if issues:
            _table(console, f"data: {source} vs database", issues)
    errors, warnings = len(result.errors), len(result.warnings)
    summary = f"{errors} error(s), {warnings} warning(s) across {', '.join(result.sources)}"
    if warnings and not detailed:
        summary += " (--detailed shows the warnings)"
    console.print(("[green]valid[/]: " if result.valid else "[red]invalid[/]: ") + summary)


def _table(console: Console, title: str, findings: Sequence[Finding]) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not findings:
        console.print(f"[bold]{escape(title)}[/]: no differences")
        return
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    for name in ("severity", "kind", "object", "detail"):
        table.add_column(name, overflow="fold")
    for f in findings:
        style = "red" if f.severity == "error" else "yellow"
        detail = f.detail
        samples = getattr(f, "samples", ())
        if samples:
            detail += f"; e.g. keys {', '.join(samples)}"
        table.add_row(f"[{style}]{f.severity}[/]", str(f.kind), escape(f.object), escape(detail))
    console.print(table)


def validate_replicas(config: Config, *, as_json: bool) -> None:
    """``dualorm validate --replicas``: every replica's catalog fingerprint against the primary's.

    Exit 1 when a replica is unreachable or its catalog differs, 2 when none is configured.
    """
    from dualorm.db import resolve_url
    from dualorm.errors import ConfigError
    from dualorm.replicas import compare_replicas

    if not config.replica_urls:
        raise ConfigError("--replicas needs DATABASE_REPLICA_URLS (comma-separated)")
    statuses = compare_replicas(resolve_url(config), config.replica_urls)
    valid = all(s.reachable and s.caught_up for s in statuses)
    if as_json:
        print_json({"valid": valid, "replicas": [s.to_dict() for s in statuses]})
    else:
        from dualorm.cli.plan_view import console as make_console

        console = make_console()
        for s in statuses:
            if not s.reachable:
                state = f"[red]unreachable[/]: {s.error}"
            elif s.caught_up:
                state = "[green]matches the primary[/]"
            else:
                state = f"[red]catalog differs[/] (replay lag {s.lag_bytes} bytes)"
            console.print(f"replica {s.url}: {state}")
    if not valid:
        raise fail(1)
