"""The real-schema corpus runs only when asked for: ``nox -s real`` or ``pytest -m real``.

Every test under tests/real is marked ``real``. Its packages come from the ``real`` extra,
which the default sessions do not install, so a run whose ``-m`` expression does not name
``real`` (``-m "not slow"``, or none at all) deselects the corpus, as ``-m "not slow"``
deselects the slow tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in Path(str(item.fspath)).resolve().parents]
    for item in ours:
        item.add_marker(pytest.mark.real)
    if "real" in (config.getoption("markexpr") or ""):
        return
    if ours:
        chosen = set(map(id, ours))
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if id(item) not in chosen]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder for the corpus's project directories."""
    yield tmp_path_factory.mktemp("real")
