"""Fixtures: a real PostgreSQL server for the run, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dualorm.testing import scratch_database, server_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def admin_url() -> str:
    return server_url()


@pytest.fixture
def database_url(admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the real server, dropped after the test."""
    with scratch_database(admin_url) as url:
        yield url


@pytest.fixture(scope="module")
def module_database_url(admin_url: str) -> Iterator[str]:
    """A fresh database shared by the tests of one module."""
    with scratch_database(admin_url) as url:
        yield url
