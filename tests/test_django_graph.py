"""Django's migration graph read from the files agrees with Django's own loader.

A throwaway Django project with three apps of its own beside ``auth`` and ``contenttypes``:
a squash that replaces two migrations (and one that depends on a replaced one), dependencies
across apps, ``__first__`` and ``__latest__``, ``swappable_dependency(settings.AUTH_USER_MODEL)``,
``run_before``, a file with dualorm's header and files only running them tells about
(dependencies computed at import, another base class). Each check runs in its own process,
where the project's settings are the only ones Django is set up with.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SETTINGS = """\
SECRET_KEY = "x"
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "alpha", "beta", "gamma", "empty",
]
DATABASES = {}
USE_TZ = True
"""

PLAIN = """\
from django.db import migrations


class Migration(migrations.Migration):
{body}
    operations = [
        migrations.RunSQL("SELECT 'dependencies, replaces'"),
    ]
"""

FILES = {
    "alpha/0001_initial.py": PLAIN.format(body="    initial = True\n"),
    "alpha/0002_more.py": PLAIN.format(body="    dependencies = [('alpha', '0001_initial')]\n"),
    "alpha/0001_squashed_0002_more.py": PLAIN.format(
        body="    replaces = [('alpha', '0001_initial'), ('alpha', '0002_more')]\n"
    ),
    "alpha/0003_after.py": PLAIN.format(body="    dependencies = [('alpha', '0002_more')]\n"),
    "beta/0001_initial.py": textwrap.dedent(
        """\
        from django.conf import settings
        from django.db import migrations


        class Migration(migrations.Migration):
            dependencies = [
                migrations.swappable_dependency(settings.AUTH_USER_MODEL),
                ("alpha", "0002_more"),
                ("contenttypes", "__latest__"),
            ]
            run_before = [("gamma", "0001_initial")]
            operations = []
        """
    ),
    "beta/0002_ours.py": (
        '"""step\n\nSpec: 0002_ours\nRuns after: 0001_initial\nChecksum: abc\n"""\n\n'
        + PLAIN.format(
            body="    dependencies = [('beta', '0001_initial'), ('alpha', '__first__')]\n"
        )
    ),
    "beta/0003_theirs.py": PLAIN.format(body="    dependencies = [('beta', '0002_ours')]\n"),
    "gamma/0001_initial.py": textwrap.dedent(
        """\
        from django.db import migrations

        PARENTS = [("alpha", "0003_after")]


        class Migration(migrations.Migration):
            dependencies = PARENTS
            operations = []
        """
    ),
    "gamma/0002_subclass.py": textwrap.dedent(
        """\
        from django.db import migrations


        class Base(migrations.Migration):
            dependencies = [("gamma", "0001_initial")]


        class Migration(Base):
            operations = []
        """
    ),
}

CHECK = """\
import json, django
django.setup()
from django.db.migrations.loader import MigrationLoader
from dualorm.spec.django_files import Headers
from dualorm.spec.django_graph import FileLoader, app_leaves

def shape(graph):
    return {
        f"{a}.{n}": sorted(f"{p.key[0]}.{p.key[1]}" for p in graph.node_map[(a, n)].parents)
        for a, n in graph.nodes
    }

ours, django_ = FileLoader(), MigrationLoader(None, ignore_no_migrations=True)
print(json.dumps({
    "file": shape(ours.graph),
    "django": shape(django_.graph),
    "leaves_file": {a: ours.graph.leaf_nodes(a) for a in ("alpha", "beta", "gamma")},
    "leaves_django": {a: django_.graph.leaf_nodes(a) for a in ("alpha", "beta", "gamma")},
    "read": sorted(f"{a}.{n}" for a, n in ours.paths),
    "unmigrated": [sorted(ours.unmigrated_apps), sorted(django_.unmigrated_apps)],
    "dualorm_leaves": app_leaves(["alpha", "beta", "gamma"], Headers()),
}))
"""


def project(root: Path) -> None:
    (root / "site_settings.py").write_text(SETTINGS, encoding="utf-8")
    for app in ("alpha", "beta", "gamma", "empty"):
        (root / app).mkdir()
        (root / app / "__init__.py").write_text("", encoding="utf-8")
        if app != "empty":
            (root / app / "migrations").mkdir()
            (root / app / "migrations" / "__init__.py").write_text("", encoding="utf-8")
    for name, text in FILES.items():
        app, file = name.split("/")
        (root / app / "migrations" / file).write_text(text, encoding="utf-8")


def read(root: Path) -> dict[str, object]:
    env = {
        "PYTHONPATH": f"{root}:{ROOT}",
        "DJANGO_SETTINGS_MODULE": "site_settings",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_graph_read_from_files_is_djangos(tmp_path: Path) -> None:
    project(tmp_path)
    found = read(tmp_path)
    assert found["file"] == found["django"]
    assert found["leaves_file"] == found["leaves_django"]
    assert found["unmigrated"][0] == found["unmigrated"][1]  # type: ignore[index]
    graph = found["file"]
    assert isinstance(graph, dict)
    # The squash stands for what it replaces, also for the migrations that depended on them.
    assert "alpha.0001_initial" not in graph and "alpha.0002_more" not in graph
    assert graph["alpha.0003_after"] == ["alpha.0001_squashed_0002_more"]
    assert "auth.0001_initial" in graph["beta.0001_initial"]
    assert "beta.0001_initial" in graph["gamma.0001_initial"]  # its run_before
    # What only running a file tells (computed dependencies, a subclass) was imported.
    read_files = found["read"]
    assert isinstance(read_files, list)
    assert "gamma.0001_initial" not in read_files and "gamma.0002_subclass" not in read_files
    assert {"alpha.0003_after", "beta.0001_initial", "beta.0002_ours"} <= set(read_files)
    assert any(name.startswith("auth.") for name in read_files)


def test_the_leaves_before_dualorms_first_file_per_app(tmp_path: Path) -> None:
    project(tmp_path)
    leaves = read(tmp_path)["dualorm_leaves"]
    # beta.0003_theirs runs after dualorm's 0002_ours, so only 0001_initial is before it.
    assert leaves == {
        "alpha": ["0003_after"],
        "beta": ["0001_initial"],
        "gamma": ["0002_subclass"],
    }
