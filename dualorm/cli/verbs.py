"""How a verb is declared (:class:`Verb`, its :class:`Option` values, the options verbs share)
and the faces built from a declaration, so they cannot drift apart:

* the typer commands of ``dualorm migrate`` and ``dualorm fleet`` (:func:`typer_command`),
* the subcommands of ``python manage.py dualmigrate`` (:func:`add_argparse_verbs`),
* the console script's fast start-up path (:func:`parse_fast`, for verbs marked ``fast``).

The verbs themselves are declared beside their handlers in :mod:`dualorm.cli.commands`. Each
handler takes an :class:`Invocation` (the parsed options, how to write, how to build the
project's :class:`~dualorm.config.Config`) and returns the exit code. Handlers call the library
and render what it returns; every rule (production's policy included) is the library's. Typer
is imported only by :func:`typer_command` and rich not at all, so the fast path stays fast.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from dualorm.cli.render import Write, configure
from dualorm.config import Environment

if TYPE_CHECKING:
    from dualorm.config import Config

__all__ = [
    "Invocation",
    "Option",
    "Verb",
    "add_argparse_verbs",
    "logged",
    "parse_fast",
    "shown",
    "typer_command",
    "write_to",
]


@dataclass(frozen=True)
class Option:
    """One option (or positional argument) of a verb."""

    flag: str
    """``--to``; for a positional argument, its metavar (``NAME``)."""
    dest: str
    help: str
    type: type = str
    default: Any = None
    short: str | None = None
    negative: str | None = None
    """For a flag that defaults to on: the flag that turns it off (``--no-backup``)."""
    positional: bool = False


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    handler: Callable[[Invocation], int]
    options: tuple[Option, ...] = ()
    fast: bool = False
    """Runs on the console script's fast path (no typer): deploys run it on every release."""


@dataclass
class Invocation:
    """One run of a verb: its options by ``dest``, the writers, and the project's config."""

    options: dict[str, Any]
    out: Write
    err: Write
    load_config: Callable[[], Config]
    stdout: Any = None
    """The stream rich tables go to (``plan``, ``lint``); ``None`` is ``sys.stdout``."""
    _config: Config | None = field(default=None, init=False)

    def config(self) -> Config:
        """The project's config, with ``--env`` applied when the verb has it."""
        if self._config is None:
            config = self.load_config()
            env = self.options.get("env")
            if env is not None:
                config = config.with_(environment=Environment.parse(env, origin="--env"))
            self._config = config
        return self._config

    def __getitem__(self, dest: str) -> Any:
        return self.options[dest]


# -- the options verbs share ---------------------------------------------------------------

JSON = Option("--json", "json", "Print the result as JSON.", bool, False)
LOG_FORMAT = Option(
    "--log-format",
    "log_format",
    "Log records on stderr as text or one JSON object a line.",
    str,
    "text",
)
VERBOSE = Option("--verbose", "verbose", "Log every migration and statement.", bool, False, "-v")
NO_WAIT = Option(
    "--no-wait", "no_wait", "Exit 3 at once if another runner holds the lock.", bool, False
)
DRY_RUN = Option(
    "--dry-run", "dry_run", "Change nothing: rehearse and roll back, print the SQL.", bool, False
)
ENV = Option("--env", "env", "The environment (default DUALORM_ENV).")
YES = Option("--yes", "yes", "Production: the plan is reviewed and confirmed.", bool, False)
BUDGET = Option(
    "--max-downtime", "max_downtime", "Production: seconds any writer may be blocked.", float
)
BACKUP = Option(
    "--backup", "backup", "Production: verified backup first.", bool, True, negative="--no-backup"
)
LOGGING = (JSON, LOG_FORMAT, VERBOSE)
POLICY = (ENV, YES, BUDGET, BACKUP)


def logged(run: Invocation) -> None:
    """Route log records to stderr as the verb's ``--log-format``/``--verbose`` ask."""
    configure(run.options.get("log_format", "text"), bool(run.options.get("verbose")))


def write_to(stream: object) -> Write:
    """A writer of whole lines to ``stream``, flushed at once (progress shows as it happens)."""

    def write(text: str) -> None:
        stream.write(text + "\n")  # type: ignore[attr-defined]
        stream.flush()  # type: ignore[attr-defined]

    return write


def shown(config: Config, path: Path) -> Path:
    """``path`` as the user reads it: relative to the project root when inside it."""
    return path.relative_to(config.root) if path.is_relative_to(config.root) else path


# -- typer ---------------------------------------------------------------------------------


def typer_command(spec: Verb, load_config: Callable[[], Config]) -> Callable[..., None]:
    """Return a function typer turns into ``spec``'s command (signature built from options)."""
    # Imported here: the fast path and manage.py dualmigrate build no typer command.
    import typer

    def command(**options: Any) -> None:
        code = spec.handler(
            Invocation(options, write_to(sys.stdout), write_to(sys.stderr), load_config)
        )
        if code:
            raise typer.Exit(code)

    parameters = []
    annotations: dict[str, Any] = {}
    for option in spec.options:
        hint: Any = (
            option.type if option.default is not None or option.positional else (option.type | None)
        )
        if option.positional:
            info: Any = typer.Argument(help=option.help, metavar=option.flag)
        else:
            names = [f"{option.flag}/{option.negative}" if option.negative else option.flag]
            if option.short:
                names.append(option.short)
            info = typer.Option(*names, help=option.help)
        annotated = Annotated[hint, info]
        annotations[option.dest] = annotated
        default = inspect.Parameter.empty if option.positional else option.default
        parameters.append(
            inspect.Parameter(
                option.dest, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotated
            )
        )
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {**annotations, "return": None}
    command.__name__ = spec.name
    command.__doc__ = spec.help
    return command


# -- argparse (manage.py dualmigrate) ------------------------------------------------------


def add_argparse_verbs(subparsers: Any, verbs: Sequence[Verb], **parser_kwargs: Any) -> None:
    """Add every verb of ``verbs`` to ``subparsers`` (an argparse subparsers action)."""
    for spec in verbs:
        sub = subparsers.add_parser(
            spec.name, help=spec.help, description=spec.help, **parser_kwargs
        )
        for option in spec.options:
            _argparse_option(sub, option)


def _argparse_option(parser: argparse.ArgumentParser, option: Option) -> None:
    if option.positional:
        parser.add_argument(option.dest, metavar=option.flag, help=option.help)
        return
    names = [option.flag, *([option.short] if option.short else [])]
    if option.type is bool:
        if option.negative:
            parser.add_argument(
                *names,
                dest=option.dest,
                action=argparse.BooleanOptionalAction,
                default=option.default,
                help=option.help,
            )
        else:
            parser.add_argument(*names, dest=option.dest, action="store_true", help=option.help)
        return
    parser.add_argument(
        *names, dest=option.dest, type=_typed(option), default=option.default, help=option.help
    )


def _typed(option: Option) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return option.type(text)
        except ValueError:
            kind = {int: "a whole number", float: "a number"}.get(option.type, "a value")
            raise argparse.ArgumentTypeError(
                f"{option.flag} must be {kind}, not {text!r}"
            ) from None

    convert.__name__ = option.type.__name__
    return convert


# -- the fast path -------------------------------------------------------------------------


def parse_fast(verbs: Sequence[Verb], name: str, args: Sequence[str]) -> dict[str, Any] | None:
    """Read ``args`` for a ``fast`` verb exactly as typer would, or ``None`` to leave it to typer.

    Anything unusual (``--help``, an unknown or repeated option, a value typer would refuse or
    that looks like an option) returns ``None``, and typer reports it.
    """
    spec = next((v for v in verbs if v.name == name and v.fast), None)
    if spec is None:
        return None
    options = {o.dest: o.default for o in spec.options}
    flags: dict[str, tuple[Option, bool]] = {}
    # Positional arguments are required (typer's Argument without a default), filled in order
    # by the tokens that do not start with "-".
    positional = [o for o in spec.options if o.positional]
    for o in spec.options:
        if o.positional:
            continue
        for n in (o.flag, *([o.short] if o.short else [])):
            flags[n] = (o, True)
        if o.negative:
            flags[o.negative] = (o, False)
    seen: set[str] = set()
    rest = list(args)
    while rest:
        token = rest.pop(0)
        if positional and not token.startswith("-"):
            argument = positional.pop(0)
            options[argument.dest] = token
            continue
        name_, eq, inline = token.partition("=")
        found = flags.get(token) or (flags.get(name_) if eq else None)
        if found is None:
            return None
        option, on = found
        if option.dest in seen:
            return None
        seen.add(option.dest)
        if option.type is bool:
            if eq:
                return None
            options[option.dest] = on
            continue
        value = inline if eq else (rest.pop(0) if rest else None)
        if value is None or value.startswith("-"):
            return None
        try:
            converted = option.type(value)
        except ValueError:
            return None
        if isinstance(converted, float) and not math.isfinite(converted):
            return None  # typer's message for it
        options[option.dest] = converted
    return None if positional else options
