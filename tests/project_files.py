"""Projects on disk for the tests: the shared spec texts, the ``[tool.dualorm]`` tables, and the
helpers that write a project into a temporary folder and point dualorm at it.

A test builds its project from four pieces, each optional:

- change specs (:func:`write_specs`): shared texts from here (``ACCOUNTS_SPEC``,
  ``NOTES_SPEC``, :func:`change_spec`) or a text of its own when the text is what it tests;
- the ``[tool.dualorm]`` table (:func:`pyproject`, from the settings dicts below or
  ``reference.REFERENCE_APP``);
- further files, such as seeds or a SQLAlchemy models module (``files={"seeds/x.py": ...}``);
- the environment a command runs in: :func:`use_project` for the CLI in this process,
  :func:`subprocess_env` for a child process.

:func:`write_project` writes the first three at once. :func:`project` and :func:`spec_project`
return a :class:`~dualorm.config.Config` for the library API instead of a pyproject the CLI
reads; :func:`copy_shop` and :func:`copy_reference` start from a project that already exists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dualorm.config import Config, Environment

ROOT = Path(__file__).resolve().parent.parent
"""The repository: its reference project (``sa_models``, ``django_app``, ``migrations``)."""

SHOP = ROOT / "tests" / "projects" / "shop"
"""A Django project of several apps (``shop``, ``catalog``, ``orders``) with its own pyproject."""

SPECS_DIR = "migrations"

# -- shared spec texts -------------------------------------------------------------------------

ACCOUNTS_SPEC = """\
id: "0001_base"
name: base
dependencies: []
operations:
  - create_table:
      name: accounts
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: balance, type: integer}
"""
"""``0001_base``: table ``accounts (id bigint primary key, balance integer)``."""

NOTES_SPEC = """\
id: "0001_notes"
name: notes
dependencies: []
operations:
  - create_table:
      name: notes
      columns:
        - {name: id, type: bigint, primary_key: true}
        - {name: body, type: text}
"""
"""``0001_notes``: table ``notes (id bigint primary key, body text)``."""


def change_spec(
    operations: str, spec_id: str = "0002_change", depends_on: str = "0001_base"
) -> str:
    """A spec ``spec_id`` after ``depends_on`` holding ``operations`` (a YAML list, any indent).

    Its name is the part of the id after the number (``change``), and the first operation
    stands on line 5, where lint findings point.
    """
    body = textwrap.indent(textwrap.dedent(operations).strip(), "  ")
    name = spec_id.partition("_")[2]
    return f'id: "{spec_id}"\nname: {name}\ndependencies: ["{depends_on}"]\noperations:\n{body}\n'


# -- [tool.dualorm] tables ---------------------------------------------------------------------

SPECS_ONLY: dict[str, str] = {"migrations_dir": SPECS_DIR, "django_app_label": "django_app"}
"""Specs in ``migrations/`` and no model set at all."""

WITH_SEEDS: dict[str, str] = {
    "seeds_dir": "seeds",
    "django_settings": "django_app.settings",
    "django_app_label": "django_app",
}
"""Seeds in ``seeds/``, the reference Django app beside them, and no SQLAlchemy models."""

NO_MODELS: dict[str, str] = {
    "sa_metadata": "missing_models:Base.metadata",
    "django_app_label": "django_app",
}
"""A model set that is not importable, so the "still used by code" rules stay quiet."""


def pyproject(settings: Mapping[str, str], extra: str = "") -> str:
    """The ``[tool.dualorm]`` table holding ``settings`` (in order), then ``extra`` verbatim."""
    lines = [f"{key} = {json.dumps(value)}\n" for key, value in settings.items()]
    return "[tool.dualorm]\n" + "".join(lines) + extra


# -- writing a project -------------------------------------------------------------------------

Spec = str | tuple[str, str]
"""A spec text, written as ``<its id>.yaml``, or a ``(file stem, text)`` pair."""


def spec_stem(text: str) -> str:
    """The id a spec text declares on its ``id:`` line, which names its file."""
    found = re.search(r'^id:\s*"?([^"\n]+?)"?\s*$', text, re.MULTILINE)
    assert found, f"no id line in spec:\n{text}"
    return found.group(1)


def write_specs(root: Path, *specs: Spec) -> Path:
    """Write each spec into ``root/migrations`` (created if need be) and return that folder."""
    folder = root / SPECS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        stem, text = spec if isinstance(spec, tuple) else (spec_stem(spec), spec)
        (folder / f"{stem}.yaml").write_text(text, encoding="utf-8")
    return folder


def write_project(
    root: Path,
    *specs: Spec,
    settings: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
) -> Path:
    """Write a project into ``root`` and return ``root``.

    ``specs`` go to ``migrations/`` (not created without one), ``settings`` become the
    pyproject's ``[tool.dualorm]`` table (none is written without them), and ``files`` maps
    paths relative to ``root`` to their text (seeds, a models module, a settings module).
    """
    root.mkdir(parents=True, exist_ok=True)
    if settings is not None:
        (root / "pyproject.toml").write_text(pyproject(settings), encoding="utf-8")
    if specs:
        write_specs(root, *specs)
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def copy_shop(parent: Path) -> Path:
    """A copy of the shop project as ``parent/shop``, which is returned."""
    project = parent / "shop"
    shutil.copytree(SHOP, project, ignore=shutil.ignore_patterns("__pycache__"))
    return project


def copy_reference(root: Path, *names: str, skip: tuple[str, ...] = ()) -> Path:
    """Copy the reference project's ``names`` (files or folders) into ``root``; return it.

    ``skip`` names further file or folder patterns left out (``versions``: no Alembic files).
    """
    ignore = shutil.ignore_patterns("__pycache__", *skip)
    for name in names:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, root / name, ignore=ignore)
        else:
            shutil.copy(ROOT / name, root / name)
    return root


# -- a Config instead of a pyproject -----------------------------------------------------------


def project(root: Path, url: str, env: str = "development") -> Config:
    """Write a pyproject naming ``migrations/`` (:data:`SPECS_ONLY`), return the Config."""
    write_project(root, settings=SPECS_ONLY)
    write_specs(root)
    return Config(
        root=root,
        migrations_dir=SPECS_DIR,
        django_app_label="django_app",
        database_url=url,
        environment=Environment(env),
    )


def spec_project(root: Path, url: str, *specs: Spec, **fields: Any) -> Config:
    """Write ``specs`` into ``root/migrations`` and return a Config for ``url``.

    No model set is importable (:data:`NO_MODELS`), so the "still used by code" rules stay
    quiet; ``fields`` are further Config fields (the environment, a webhook secret).
    """
    write_specs(root, *specs)
    return Config(
        root=root,
        database_url=url,
        sa_metadata=NO_MODELS["sa_metadata"],
        django_app_label=NO_MODELS["django_app_label"],
        **fields,
    )


# -- where commands run ------------------------------------------------------------------------

INHERITED = ("DUALORM_ENV", "DATABASE_REPLICA_URLS", "DUALORM_WEBHOOK_URL", "DUALORM_BACKUP_KEY")
"""Variables a developer's shell may hold that would change what a command does."""


def use_project(
    monkeypatch: pytest.MonkeyPatch, root: Path, url: str, env: str | None = None
) -> Path:
    """Run CLI commands in ``root`` against ``url``: cwd, ``DATABASE_URL``, ``DUALORM_ENV``.

    ``DUALORM_ENV`` is ``env`` or unset; the other :data:`INHERITED` variables are unset.
    """
    monkeypatch.chdir(root)
    monkeypatch.setenv("DATABASE_URL", url)
    for name in INHERITED:
        monkeypatch.delenv(name, raising=False)
    if env is not None:
        monkeypatch.setenv("DUALORM_ENV", env)
    return root


def subprocess_env(project: Path, url: str, *, own_cache: bool = True) -> dict[str, str]:
    """The environment of a child process run in ``project`` against ``url``.

    The project and the repository are importable, Django's settings come from the project's
    pyproject (not from the test process), and with ``own_cache`` the model cache lives in the
    project (``XDG_CACHE_HOME``), so parallel tests do not share one.
    """
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(project)])
    env["DATABASE_URL"] = url
    if own_cache:
        env["XDG_CACHE_HOME"] = str(project / ".xdg")
    return env


def run_python(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` in ``project`` against ``url`` (:func:`subprocess_env`), its output
    captured; a failure is the caller's to assert on."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=subprocess_env(project, url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
