"""The public API: a sorted ``__all__`` whose every name resolves, loaded lazily."""

from __future__ import annotations

import subprocess
import sys

import dualorm


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert dualorm.__all__ == sorted(dualorm.__all__)
    for name in dualorm.__all__:
        value = getattr(dualorm, name)
        assert getattr(value, "__name__", name) == name or not callable(value)


def test_import_dualorm_loads_neither_orm() -> None:
    code = (
        "import sys, dualorm, dualorm.cli; "
        "print(sorted(m for m in ('sqlalchemy', 'django', 'psycopg') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
