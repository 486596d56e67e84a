"""The names a declarative SQLAlchemy module gives its tables and columns, read with ``ast``.

A rendered module keeps the class of each table and the attribute of each column that the
module it replaces gave them. The module is parsed, not imported: importing a 1,000-class
declarative module costs seconds, and a module half edited may not import at all. Parsing a
1 MB module still takes half a second, most of ``models render``, so what a module's bytes
parse to is kept in a signed cache file keyed by their SHA-256 (:mod:`dualorm.cachefile`):
the same bytes give the same names, and any other file, or a tampered entry, is parsed.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import Any

from dualorm import __version__
from dualorm.cachefile import read_signed, signing_key, write_signed
from dualorm.models_render.code import Names

__all__ = ["declarative_names"]

_MAGIC = b"dualorm-declarative-names"
_FORMAT = 1


def declarative_names(path: Path, cache_dir: Path | None = None) -> Names:
    """Return ``{table: (class, {column: attribute})}`` of the classes in ``path`` that set
    ``__tablename__`` (none when the file is missing or does not parse); ``cache_dir`` keeps
    the answer for the same bytes."""
    try:
        source = path.read_bytes()
    except OSError:
        return {}
    signing = signing_key() if cache_dir is not None else None
    if cache_dir is None or signing is None:
        return _parsed(source)
    key = hashlib.sha256(__version__.encode() + b"\0" + source).hexdigest()
    entry = cache_dir / "declarative-names.json"
    document = read_signed(entry, _MAGIC, _FORMAT, key, signing)
    kept = None if document is None else _decoded(document.get("names"))
    if kept is not None:
        return kept
    found = _parsed(source)
    write_signed(entry, _MAGIC, _FORMAT, key, signing, {"names": found})
    return found


def _decoded(data: Any) -> Names | None:
    """The names a cache entry holds, or ``None`` where it does not hold names."""
    if not isinstance(data, dict):
        return None
    names: Names = {}
    for table, value in data.items():
        if not (isinstance(value, list) and len(value) == 2):
            return None
        cls, columns = value
        if not (isinstance(cls, str) and isinstance(columns, dict)):
            return None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items()):
            return None
        names[str(table)] = (cls, dict(columns))
    return names


def _parsed(source: bytes) -> Names:
    try:
        tree = ast.parse(source.decode("utf-8"))
    except (UnicodeDecodeError, SyntaxError, ValueError):
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
