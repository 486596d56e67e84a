"""What seeding reports is what happened: exit codes after partial runs, stale seeds, the rows a
rollback really deleted, and what a seed logs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from project_files import SPECS_DIR, WITH_SEEDS, use_project, write_project

from dualorm.cli import main
from dualorm.config import Config, Environment
from dualorm.db import connect
from dualorm.runner import ledger
from dualorm.seeding import SeedManager, seeded_tables

TABLE_SPEC = """\
id: "0001_t"
name: t
version: 1.0.0
dependencies: []
operations:
  - create_table:
      name: t
      columns:
        - {name: id, type: bigint, primary_key: true, identity: by default}
        - {name: label, type: text, nullable: false}
      uniques:
        - {name: t_label_key, columns: [label]}
"""

GOOD_SEED = """
from dualorm.seeding import Seed


class Good(Seed):
    def execute(self, ctx):
        ctx.upsert("t", [{"label": "a"}, {"label": "b"}, {"label": "c"}], key=["label"])
"""

BAD_INPUT_SEED = """
from dualorm.seeding import Seed


class Bad(Seed):
    dependencies = ["0001_good"]

    def execute(self, ctx):
        ctx.upsert("t", [{"label": "d", "no_such_column": 1}], key=["label"])
"""

LOGGING_SEED = """
from dualorm.seeding import Seed


class Talks(Seed):
    def execute(self, ctx):
        ctx.logger.debug("a detail nobody asked for")
        ctx.logger.info("loading %d labels", 3)
        ctx.logger.warning("label [b] is deprecated")
        ctx.logger.info("source postgresql://loader:hunter2@db.internal/src")
        ctx.upsert("t", [{"label": "a"}], key=["label"])
"""


@pytest.fixture
def proj(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A project with table ``t`` (one change spec, applied) on a development database."""
    write_project(tmp_path, TABLE_SPEC, settings={"migrations_dir": SPECS_DIR, **WITH_SEEDS})
    (tmp_path / "seeds").mkdir()
    with connect(database_url) as conn:
        ledger.ensure_ledger(conn)
        ledger.check_environment(conn, Environment.DEVELOPMENT, label=True)
        conn.commit()
    use_project(monkeypatch, tmp_path, database_url, env="development")
    assert main(["migrate", "up"]) == 0
    return tmp_path, database_url


def write_seed(root: Path, seed_id: str, source: str) -> None:
    (root / "seeds" / f"{seed_id}.py").write_text(textwrap.dedent(source), "utf-8")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def labels(url: str) -> list[str]:
    with connect(url) as conn:
        return [str(r[0]) for r in conn.execute("SELECT label FROM t ORDER BY label")]


def states(capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[str, str | None]]:
    import json

    code, out, err = cli(capsys, "seed", "status", "--json")
    assert code == 0, err
    return {s["id"]: (s["state"], s["reason"]) for s in json.loads(out)}


def sql(url: str, statement: str) -> None:
    with connect(url) as conn:
        conn.execute(statement)
        conn.commit()


# -- (a) a failure after earlier seeds committed --------------------------------------------


def test_bad_input_after_a_committed_seed_exits_1_naming_what_was_committed(
    proj: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, url = proj
    write_seed(root, "0001_good", GOOD_SEED)
    write_seed(root, "0002_bad", BAD_INPUT_SEED)
    code, _, err = cli(capsys, "seed", "run")
    assert code == 1, err
    assert "0002_bad" in err and "no_such_column" in err
    assert "0001_good (applied, public.t=3)" in err and "committed" in err
    assert labels(url) == ["a", "b", "c"]
    assert states(capsys) == {"0001_good": ("applied", None), "0002_bad": ("pending", None)}
    # Run again with nothing committed before the failure: that is bad input, nothing changed.
    code, _, err = cli(capsys, "seed", "run")
    assert code == 2, err
    assert "0002_bad" in err and "committed" not in err
    assert labels(url) == ["a", "b", "c"]


# -- (b) stale seeds --------------------------------------------------------------------------


def test_a_seed_whose_table_migrate_down_dropped_is_stale_and_run_applies_it_again(
    proj: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, url = proj
    write_seed(root, "0001_good", GOOD_SEED)
    assert cli(capsys, "seed", "run")[0] == 0
    assert states(capsys) == {"0001_good": ("applied", None)}

    code, _, err = cli(capsys, "migrate", "down", "--steps", "1")
    assert code == 0, err
    # Said before the table goes, naming the seed that wrote into it.
    assert "warning:" in err and "drop table" in err and "0001_good" in err
    assert states(capsys) == {"0001_good": ("stale", "table public.t is gone")}
    code, out, _ = cli(capsys, "seed", "status")
    assert code == 0 and "stale" in out

    assert cli(capsys, "migrate", "up")[0] == 0
    assert states(capsys) == {"0001_good": ("stale", "its rows in public.t are gone")}
    code, out, err = cli(capsys, "seed", "run")
    assert code == 0, err
    assert "reapplied" in out
    assert "seeding 0001_good again (its rows in public.t are gone)" in err
    assert labels(url) == ["a", "b", "c"]
    assert states(capsys) == {"0001_good": ("applied", None)}
    # The ledger forgot the keys of the rows that were gone: counts and rollback are exact.
    status = SeedManager(Config.load(), url).status()
    assert [dict(s.row_counts) for s in status] == [{"public.t": 3}]
    code, out, err = cli(capsys, "seed", "rollback", "--id", "0001_good")
    assert code == 0, err
    assert "public.t=3" in out and labels(url) == []


def test_an_emptied_table_makes_its_seeds_stale_a_partly_edited_one_does_not(
    proj: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, url = proj
    # 0002 writes rows that 0001 already added: it records none as its own.
    write_seed(root, "0001_good", GOOD_SEED)
    write_seed(
        root,
        "0002_again",
        GOOD_SEED.replace("class Good", "class Again").replace(
            "    def execute", '    dependencies = ["0001_good"]\n\n    def execute'
        ),
    )
    assert cli(capsys, "seed", "run")[0] == 0
    sql(url, "DELETE FROM t WHERE label = 'a'")
    assert states(capsys) == {"0001_good": ("applied", None), "0002_again": ("applied", None)}
    code, out, _ = cli(capsys, "seed", "run")
    assert code == 0 and "reapplied" not in out and labels(url) == ["b", "c"]

    sql(url, "TRUNCATE t")
    assert states(capsys) == {
        "0001_good": ("stale", "its rows in public.t are gone"),
        "0002_again": ("stale", "table public.t is empty"),
    }
    results = SeedManager(Config.load(), url).run()
    assert [(r.action, r.reason) for r in results] == [
        ("reapplied", "its rows in public.t are gone"),
        ("reapplied", "table public.t is empty"),
    ]
    assert labels(url) == ["a", "b", "c"]
    assert states(capsys) == {"0001_good": ("applied", None), "0002_again": ("applied", None)}


def test_seeded_tables_names_each_table_and_the_seeds_that_wrote_into_it(
    proj: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, url = proj
    with connect(url) as conn:
        assert seeded_tables(conn) == {}
    write_seed(root, "0001_good", GOOD_SEED)
    write_seed(
        root,
        "0002_other",
        "from dualorm.seeding import Seed\n\n\nclass Other(Seed):\n"
        "    def execute(self, ctx):\n"
        "        ctx.connection.execute('CREATE TABLE public.other (id int PRIMARY KEY)')\n"
        "        ctx.connection.execute('INSERT INTO public.other VALUES (1)')\n"
        "        ctx.record_added('other', [(1,)])\n"
        "        ctx.upsert('t', [{'label': 'a'}], key=['label'])\n",
    )
    assert cli(capsys, "seed", "run")[0] == 0
    with connect(url) as conn:
        conn.execute("SELECT 1")  # inside a transaction, as the migration runner calls it
        assert seeded_tables(conn) == {
            "public.other": ["0002_other"],
            "public.t": ["0001_good", "0002_other"],
        }
        assert conn.execute("SELECT 2").fetchone() == (2,)
    assert cli(capsys, "seed", "rollback", "--id", "0002_other")[0] == 0
    with connect(url) as conn:
        assert seeded_tables(conn) == {"public.t": ["0001_good"]}


# -- (c) rollback reports the rows it deleted -------------------------------------------------


def test_rollback_reports_the_rows_it_deleted_not_the_ledger_counts(
    proj: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, url = proj
    write_seed(root, "0001_good", GOOD_SEED)
    assert cli(capsys, "seed", "run")[0] == 0
    sql(url, "DELETE FROM t WHERE label IN ('a', 'b')")
    code, out, err = cli(capsys, "seed", "rollback", "--id", "0001_good")
    assert code == 0, err
    assert "removed public.t=1" in out and "=3" not in out
    assert labels(url) == []

    assert cli(capsys, "seed", "run")[0] == 0
    sql(url, "DROP TABLE t")
    result = SeedManager(Config.load(), url).rollback("0001_good")
    assert result.removed == {"0001_good": {"public.t": 0}}
    assert states(capsys) == {"0001_good": ("pending", None)}


# -- (d) what a seed logs reaches the operator -----------------------------------------------


def test_a_seeds_logger_reaches_stderr_at_info(
    proj: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = proj
    write_seed(root, "0001_talks", LOGGING_SEED)
    code, out, err = cli(capsys, "seed", "run")
    assert code == 0, err
    assert "0001_talks: loading 3 labels" in err
    assert "0001_talks: warning: label [b] is deprecated" in err
    assert "a detail nobody asked for" not in err + out
    assert "db.internal" in err and "hunter2" not in err + out
