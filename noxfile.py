"""nox sessions: tests (on both servers), lint, typecheck, slow property tests, the real-schema
corpus (real, never a default session), benchmarks."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@nox.session
@nox.parametrize("server", ["embedded", "local"])
def tests(session: nox.Session, server: str) -> None:
    """The whole suite, on the embedded server (PG 16) or TEST_DATABASE_URL / local PG."""
    session.install("-e", ".[dev]")
    env = {}
    if server == "local":
        env["TEST_DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", LOCAL_SERVER)
    else:
        env["TEST_DATABASE_URL"] = ""
    session.run("pytest", "-n", "2", "-m", "not slow", *session.posargs, env=env)


@nox.session
def slow(session: nox.Session) -> None:
    """Hypothesis property tests, crash loops, and every benchmark run once at tiny sizes."""
    session.install("-e", ".[dev]")
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session
def real(session: nox.Session) -> None:
    """The corpus of real model sets from PyPI (tests/real), on TEST_DATABASE_URL / local PG."""
    session.install(".[dev,real]")
    env = {"TEST_DATABASE_URL": os.environ.get("TEST_DATABASE_URL", LOCAL_SERVER)}
    session.run("pytest", "-m", "real", "tests/real", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against Alembic, Django, COPY and pg_dump; figures go to bench/RESULTS.md."""
    session.install("-e", ".[dev,real]")  # bench_real.py reads the real corpus
    for script in sorted(os.listdir("bench")):
        if script.startswith("bench_") and script.endswith(".py"):
            session.run("python", f"bench/{script}", *session.posargs)
