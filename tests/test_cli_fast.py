"""The console script's fast path for `migrate status` / `migrate up`: same output as typer's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from project_files import project
from runner_specs import applied_ids, chain

from dualorm.cli import build_app, main
from dualorm.cli.fast import fast_main
from dualorm.cli.output import run


@pytest.fixture
def cli_project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    project(tmp_path, database_url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DUALORM_ENV", raising=False)
    return tmp_path


def both(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[tuple[int, str, str], ...]:
    results = []
    for call in (lambda: main(args), lambda: run(build_app(), args)):
        capsys.readouterr()
        code = call()
        captured = capsys.readouterr()
        results.append((code, captured.out, captured.err))
    return tuple(results)


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "status"],
        ["migrate", "status", "--json"],
        ["migrate", "status", "-v", "--log-format=text"],
        ["migrate", "status", "--log-format", "xml"],
    ],
)
def test_status_prints_what_the_typer_command_prints(
    cli_project: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    ids = chain(cli_project, 3)
    assert main(["migrate", "up", "--to", ids[1]]) == 0
    fast, typer_path = both(args, capsys)
    assert fast == typer_path
    assert fast[0] == (2 if "xml" in args else 0)


def test_up_reports_like_the_typer_command(
    cli_project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = chain(cli_project, 2)
    assert fast_main(["migrate", "up", "--no-wait"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("applied 2 migration(s) in ")
    assert [line.split(" (")[0] for line in captured.err.splitlines()] == [
        f"applied {i}" for i in ids
    ]
    assert applied_ids(database_url) == ids
    assert fast_main(["migrate", "up", "--json"]) == 0
    assert '"planned": []' in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "status", "--help"],
        ["migrate", "status", "--bogus"],
        ["migrate", "status", "--json", "--json"],
        ["migrate", "status", "--log-format"],
        ["migrate", "up", "--max-downtime", "nan"],
        ["migrate", "up", "--steps", "1"],
        ["migrate", "up", "--backup=yes"],
        ["migrate", "down"],
        ["migrate", "new"],
        ["migrate", "new", "a", "b"],
        ["migrate", "new", "a", "--from"],
        ["migrate", "new", "--", "a"],
        ["migrate"],
    ],
)
def test_anything_else_is_left_to_typer(cli_project: Path, args: list[str]) -> None:
    assert fast_main(args) is None


def test_new_reads_its_name_and_options_as_typer_does() -> None:
    from dualorm.cli.commands import VERBS
    from dualorm.cli.verbs import parse_fast

    args = ["--from", "django", "add nickname", "--autogenerate", "--no-cache"]
    options = parse_fast(VERBS, "new", args)
    assert options is not None
    assert (options["name"], options["source"], options["autogenerate"]) == (
        "add nickname",
        "django",
        True,
    )
    assert options["no_cache"] and not options["json"] and options["rename"] is None


def test_new_writes_the_template_typer_writes(
    cli_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = chain(cli_project, 1)
    assert fast_main(["migrate", "new", "add nickname"]) == 0
    fast = capsys.readouterr().out
    written = cli_project / "migrations" / f"{int(ids[0][:4]) + 1:04d}_add_nickname.yaml"
    text = written.read_text()
    written.unlink()
    assert run(build_app(), ["migrate", "new", "add nickname"]) == 0
    assert capsys.readouterr().out == fast and written.read_text() == text


def test_production_up_gets_the_same_policy_on_the_fast_path_and_through_typer(
    cli_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dualorm.cli import build_app
    from dualorm.cli.output import run

    chain(cli_project, 1)
    monkeypatch.setenv("DUALORM_ENV", "production")
    # No terminal and no --yes: the library refuses (exit 3) before anything runs, both ways.
    assert fast_main(["migrate", "up"]) == 3
    fast = capsys.readouterr().err
    assert run(build_app(), ["migrate", "up"]) == 3
    assert capsys.readouterr().err == fast and "confirmed" in fast


def test_status_and_up_import_neither_typer_nor_rich_nor_an_orm(cli_project: Path) -> None:
    chain(cli_project, 2)
    code = (
        "import sys; from dualorm.cli import main; "
        "codes = [main(['migrate', 'up']), main(['migrate', 'status'])]; "
        "heavy = {'typer', 'rich', 'pydantic', 'sqlalchemy', 'django'}; "
        "print(codes, sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cli_project, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "[0, 0] []", done.stderr


def test_status_loads_only_what_it_runs(cli_project: Path) -> None:
    # After a run has cached the specs, status reads the ledgers and that cache: it imports
    # neither the SQL parser nor the YAML loader, nor what applies, plans or adopts.
    chain(cli_project, 2)
    assert main(["migrate", "up"]) == 0
    code = (
        "import sys; from dualorm.cli import main; code = main(['migrate', 'status']); "
        "unneeded = {'pglast', 'yaml', 'dualorm.spec.ops', 'dualorm.emit.sql', "
        "'dualorm.runner.schedule', 'dualorm.runner.adopt', 'dualorm.runner.production', "
        "'dualorm.api'}; "
        "print(code, sorted(unneeded & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cli_project, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stderr
