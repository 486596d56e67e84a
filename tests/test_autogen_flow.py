"""A change written once, as a new user makes it: edit one model set, autogenerate the spec,
emit the migrations, render the other model set, apply; every check then agrees.

The project is a copy of the reference one in a temporary directory, driven through the
console commands in fresh processes (``dualorm``, ``alembic``, ``manage.py``), against a
fresh database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.project_files import ROOT, copy_reference
from tests.reference import REFERENCE_PYPROJECT


class Project:
    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "PYTHONPATH": os.pathsep.join([str(root), str(ROOT)]),
        }

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            cwd=cwd or self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def ok(self, *args: str, cwd: Path | None = None) -> str:
        done = self.run(*args, cwd=cwd)
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def dualorm(self, *args: str) -> str:
        return self.ok(sys.executable, "-m", "dualorm", *args)

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def all_clean(self) -> None:
        """validate three ways, alembic check, makemigrations --check and migrate check."""
        assert "valid: 0 error(s)" in self.dualorm("validate")
        self.ok(sys.executable, "-m", "alembic", "check", cwd=self.root / "migrations")
        self.ok(sys.executable, "manage.py", "makemigrations", "--check", "--dry-run")
        assert "agree" in self.dualorm("migrate", "check")


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> Project:
    copy_reference(tmp_path, "django_app", "sa_models", "migrations", "manage.py")
    (tmp_path / "pyproject.toml").write_text(REFERENCE_PYPROJECT, encoding="utf-8")
    made = Project(tmp_path, database_url)
    made.dualorm("migrate", "up")
    return made


def test_a_change_written_once_from_django_then_from_sqlalchemy(project: Project) -> None:
    # From the Django side: a field, an index, a renamed field.
    project.edit(
        "django_app/models.py",
        "    image = models.TextField(null=True, blank=True)\n",
        "    image = models.TextField(null=True, blank=True)\n"
        "    nickname = models.CharField(max_length=40, null=True, blank=True)\n",
    )
    project.edit(
        "django_app/models.py",
        '            models.Index(fields=["created_at"], name="users_created_at_idx"),\n',
        '            models.Index(fields=["created_at"], name="users_created_at_idx"),\n'
        '            models.Index(fields=["nickname"], name="users_nickname_idx"),\n',
    )
    project.edit(
        "django_app/models.py",
        "    user_agent = models.TextField(null=True, blank=True)",
        "    client_agent = models.TextField(null=True, blank=True)",
    )
    # A foreign key, which Django creates DEFERRABLE INITIALLY DEFERRED.
    project.edit(
        "django_app/models.py",
        "    ip_address = models.GenericIPAddressField(null=True, blank=True)\n",
        "    ip_address = models.GenericIPAddressField(null=True, blank=True)\n"
        "    granted_by = models.ForeignKey(\n"
        "        User, null=True, blank=True, on_delete=models.CASCADE, db_index=False,\n"
        '        related_name="+",\n'
        "    )\n",
    )
    assert project.run(sys.executable, "-m", "dualorm", "migrate", "check").returncode == 1
    out = project.dualorm(
        "migrate", "new", "add_x", "--autogenerate", "--from", "django",
        "--rename", "sessions.user_agent=client_agent",
    )  # fmt: skip
    assert "created migrations/0007_add_x.yaml (5 operation(s))" in out
    spec = (project.root / "migrations" / "0007_add_x.yaml").read_text()
    added = next(line for line in spec.splitlines() if "add_foreign_key" in line)
    assert "columns: [granted_by_id]" in added
    assert "deferrable: true, initially_deferred: true" in added
    assert "rename_column: {table: sessions, name: user_agent, new_name: client_agent}" in spec
    project.dualorm("migrate", "make")
    project.dualorm("models", "render", "--orm", "sqlalchemy", "--output", "sa_models/models.py")
    project.dualorm("migrate", "up")
    project.all_clean()

    # From the SQLAlchemy side, now that its models are generated and edited by hand this
    # once: Django's models become the generated ones. Their first rendering changes how
    # the existing models are written, so dualorm's Django migrations are emitted again
    # from them (docs/generated_models.md).
    project.edit(
        "sa_models/models.py",
        '    __tablename__ = "roles"\n',
        '    __tablename__ = "roles"\n'
        '    __table_args__ = (Index("roles_priority_idx", "priority"),)\n',
    )
    project.edit(
        "sa_models/models.py",
        "    description: Mapped[str | None] = mapped_column(Text)\n    is_system",
        "    summary: Mapped[str | None] = mapped_column(Text)\n"
        '    priority: Mapped[int] = mapped_column(Integer, server_default=text("0"))\n'
        "    is_system",
    )
    out = project.dualorm(
        "migrate", "new", "rank_roles", "--autogenerate", "--from", "sqlalchemy",
        "--rename", "roles.description=summary",
    )  # fmt: skip
    assert "(3 operation(s))" in out
    project.dualorm("models", "render", "--orm", "django", "--output", "django_app/models.py")
    for emitted in (project.root / "django_app" / "migrations").glob("000*.py"):
        emitted.unlink()
    project.dualorm("migrate", "make")
    project.dualorm("migrate", "up")
    project.all_clean()
    # The generated models are current: --check passes in CI; the edited ones are not.
    render = ("models", "render", "--output")
    project.dualorm(*render, "django_app/models.py", "--orm", "django", "--check")
    check = [sys.executable, "-m", "dualorm", *render, "sa_models/models.py", "--check"]
    assert project.run(*check).returncode == 1
