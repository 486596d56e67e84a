"""The names a declarative SQLAlchemy module gives its tables and columns, read with ``ast``.

A rendered module keeps the class of each table and the attribute of each column that the
module it replaces gave them. The module is parsed, not imported: importing a 1,000-class
declarative module costs seconds, and a module half edited may not import at all.
"""

from __future__ import annotations

import ast
from pathlib import Path

from dualorm.models_render.code import Names

__all__ = ["declarative_names"]


def declarative_names(path: Path) -> Names:
    """Return ``{table: (class, {column: attribute})}`` of the classes in ``path`` that set
    ``__tablename__`` (none when the file is missing or does not parse)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return {}
    found: Names = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            table = _table_name(node)
            if table is not None:
                found[table] = (node.name, _columns(node))
    return found


def _table_name(node: ast.ClassDef) -> str | None:
    for item in node.body:
        if isinstance(item, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__tablename__" for t in item.targets
        ):
            value = item.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    return None


def _columns(node: ast.ClassDef) -> dict[str, str]:
    """``{column: attribute}`` of ``attr: Mapped[...] = mapped_column(...)`` and
    ``attr = Column(...)``; the column is the first string argument, else the attribute."""
    out: dict[str, str] = {}
    for item in node.body:
        target, value = None, None
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            target, value = item.target.id, item.value
        elif isinstance(item, ast.Assign) and len(item.targets) == 1:
            first = item.targets[0]
            target, value = (first.id if isinstance(first, ast.Name) else None), item.value
        if target is None or not isinstance(value, ast.Call):
            continue
        func = value.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if called not in ("mapped_column", "Column"):
            continue
        named = next(
            (
                a.value
                for a in value.args[:1]
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ),
            None,
        )
        out[named or target] = target
    return out
