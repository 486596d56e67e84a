"""``dualorm validate`` on model sets nobody here wrote: exactly the adjudicated drift.

For each package of :mod:`tests.real.packages` and each way its database is built, the CLI
must report exactly the expected findings (no false positive, no false negative), never abort,
and exit 0 when no finding is an error, 1 otherwise. Each injected drift must then be reported
with its kind and object on a copy of the built database, and nothing else may move.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dualorm.testing import create_database, drop_database
from tests.real.corpus import (
    Drift,
    Outcome,
    copy_database,
    execute,
    expected_code,
    validate,
    write_project,
)
from tests.real.packages import CORPUS, Corpus

BUILDS = [(c, build) for c in CORPUS for build in c.builds]
DRIFTS = [(c, d) for c in CORPUS for d in c.drifts]


class Built:
    """The corpus databases, each built once per run and dropped at its end."""

    def __init__(self, admin_url: str, folder: Path) -> None:
        self.admin_url = admin_url
        self.folder = folder
        self.urls: dict[tuple[str, str], str] = {}
        self.reports: dict[tuple[str, str], Outcome] = {}

    def url(self, corpus: Corpus, build: str) -> str:
        key = (corpus.name, build)
        if key not in self.urls:
            url = create_database(self.admin_url, "real")
            self.urls[key] = url
            corpus.builds[build](url)
        return self.urls[key]

    def project(self, corpus: Corpus) -> Path:
        return write_project(self.folder / corpus.name, **corpus.project)

    def report(self, corpus: Corpus, build: str) -> Outcome:
        key = (corpus.name, build)
        if key not in self.reports:
            self.reports[key] = validate(
                self.project(corpus), self.url(corpus, build), corpus.sources
            )
        return self.reports[key]


@pytest.fixture(scope="session")
def built(admin_url: str, corpus_dir: Path) -> Iterator[Built]:
    databases = Built(admin_url, corpus_dir)
    yield databases
    for url in databases.urls.values():
        drop_database(admin_url, url)


@pytest.mark.parametrize(("corpus", "build"), BUILDS, ids=[f"{c.name}-{b}" for c, b in BUILDS])
def test_validate_reports_exactly_the_adjudicated_drift(
    built: Built, corpus: Corpus, build: str
) -> None:
    outcome = built.report(corpus, build)
    expected = corpus.expected[build]
    assert outcome.code in (0, 1), outcome.explain()
    assert sorted(outcome.findings - expected) == [], "false positives\n" + outcome.explain()
    assert sorted(expected - outcome.findings) == [], "false negatives\n" + outcome.explain()
    assert outcome.code == expected_code(expected), outcome.explain()


@pytest.mark.parametrize(("corpus", "change"), DRIFTS, ids=[f"{c.name}-{d.id}" for c, d in DRIFTS])
def test_injected_drift_is_reported_with_its_kind_and_object(
    built: Built, admin_url: str, corpus: Corpus, change: Drift
) -> None:
    before = built.report(corpus, corpus.drift_build)
    assert before.code in (0, 1), "the untouched database aborts\n" + before.explain()
    with copy_database(admin_url, built.url(corpus, corpus.drift_build)) as url:
        execute(url, change.sql)
        after = validate(built.project(corpus), url, corpus.sources)
    assert after.code in (0, 1), after.explain()
    assert sorted(after.findings - before.findings) == sorted(change.added), after.explain()
    assert sorted(before.findings - after.findings) == sorted(change.removed), after.explain()
    assert after.code == expected_code(after.findings), after.explain()


@pytest.mark.parametrize(
    ("keys", "sources", "named"),
    [
        (
            {"sa_metadata": "optuna.storages._rdb.models:NoSuchBase.metadata"},
            "sqlalchemy,database",
            "NoSuchBase",
        ),
        ({"django_settings": "tests.real.no_such_settings"}, "django,database", "no_such_settings"),
    ],
    ids=["unknown-metadata-attribute", "unknown-settings-module"],
)
def test_a_misnamed_project_exits_2_naming_what(
    built: Built, corpus_dir: Path, keys: dict[str, str], sources: str, named: str
) -> None:
    """Bad input, not drift: exit 2 and one line naming what could not be read."""
    project = write_project(corpus_dir / f"bad-{named}", **keys)
    outcome = validate(project, built.url(CORPUS[0], "create_all"), sources)
    assert outcome.code == 2, outcome.explain()
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], outcome.explain()
