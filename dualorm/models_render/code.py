"""What both model renderers share: Python literals, names, calls laid out as ruff lays them.

:func:`call` writes ``name(arg, ...)`` on one line when it fits in :data:`LINE` columns and
one argument a line with a trailing comma otherwise (ruff's and black's layout), so the
rendered module is formatted already; :func:`formatted` passes it through ``ruff format``
when ruff is installed. :class:`Imports` collects ``from module import name`` lines and
writes them sorted as isort and ruff's ``I`` rule sort them.
"""

from __future__ import annotations

import keyword
import re
import shutil
import subprocess
from collections.abc import Iterable

__all__ = [
    "LINE",
    "Imports",
    "Names",
    "attribute",
    "call",
    "class_name",
    "formatted",
    "literal",
]

Names = dict[str, tuple[str, dict[str, str]]]
"""``{table: (class name, {column: attribute})}`` the models already use, kept on render."""

LINE = 88
"""ruff's and black's default line length."""

_RESERVED = frozenset({"metadata", "registry", "objects", "pk", "Meta", "DoesNotExist"})


def literal(value: object) -> str:
    """Return ``value`` as Python source (strings in double quotes, as ruff writes them)."""
    if isinstance(value, str):
        text = repr(str(value))
        if text.startswith("'") and '"' not in value:
            text = '"' + text[1:-1].replace("\\'", "'") + '"'
        return text
    if isinstance(value, list | tuple):
        inner = ", ".join(literal(v) for v in value)
        return (
            f"[{inner}]"
            if isinstance(value, list)
            else f"({inner}{',' if len(value) == 1 else ''})"
        )
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def call(
    name: str, args: Iterable[str], indent: int = 0, prefix: str = "", suffix: str = ""
) -> str:
    """Return ``prefix + name(args) + suffix`` laid out for ``indent`` spaces of indentation."""
    items = list(args)
    one = f"{' ' * indent}{prefix}{name}({', '.join(items)}){suffix}"
    if len(one) <= LINE and "\n" not in one:
        return one
    pad = " " * (indent + 4)
    body = "".join(f"{pad}{item},\n" for item in items)
    return f"{' ' * indent}{prefix}{name}(\n{body}{' ' * indent}){suffix}"


def attribute(name: str, taken: set[str], wanted: str | None = None) -> str:
    """Return a Python attribute name for column or relation ``name`` not in ``taken``
    (``wanted``, the name the models use now, when it is free)."""
    if wanted is not None and wanted.isidentifier() and wanted not in taken:
        taken.add(wanted)
        return wanted
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit():
        text = f"c_{text}"
    if keyword.iskeyword(text) or text in _RESERVED or text.startswith("__"):
        text = f"{text}_"
    while text in taken:
        text = f"{text}_"
    taken.add(text)
    return text


def class_name(table: str, taken: set[str], names: Names | None = None) -> str:
    """Return a class name for ``table`` (``user_roles`` -> ``UserRoles``, or the one the
    models use now) not in ``taken``."""
    current = (names or {}).get(table)
    if current is not None and current[0].isidentifier() and current[0] not in taken:
        taken.add(current[0])
        return current[0]
    words = [w for w in re.split(r"[^0-9A-Za-z]+", table) if w]
    text = "".join(w[:1].upper() + w[1:] for w in words) or "Table"
    if text[0].isdigit():
        text = f"T{text}"
    base, n = text, 2
    while text in taken or keyword.iskeyword(text):
        text, n = f"{base}{n}", n + 1
    taken.add(text)
    return text


class Imports:
    """``from module import name`` lines, collected and written sorted (``import x`` too)."""

    def __init__(self) -> None:
        self._from: dict[str, set[str]] = {}
        self._plain: set[str] = set()

    def add(self, module: str, *names: str) -> None:
        if not names:
            self._plain.add(module)
        else:
            self._from.setdefault(module, set()).update(names)

    def render(self, first_party: Iterable[str] = ()) -> str:
        """Return the import block: ``__future__``, the standard library, third party."""
        own = set(first_party)
        groups: dict[int, list[str]] = {}

        def group(module: str) -> int:
            top = module.split(".")[0]
            if module == "__future__":
                return 0
            if top in own:
                return 3
            return 1 if top in _STDLIB else 2

        for module in self._plain:
            groups.setdefault(group(module), []).append(f"import {module}")
        for module, names in self._from.items():
            ordered = sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
            line = f"from {module} import {', '.join(ordered)}"
            if len(line) > LINE:
                body = "".join(f"    {n},\n" for n in ordered)
                line = f"from {module} import (\n{body})"
            groups.setdefault(group(module), []).append(line)
        blocks = []
        for key in sorted(groups):
            blocks.append("\n".join(sorted(groups[key], key=_import_key)))
        return "\n\n".join(blocks)


def _import_key(line: str) -> tuple[int, str]:
    # isort's force-sort-within-sections is off: ``import x`` lines come before ``from`` ones.
    return (0 if line.startswith("import ") else 1, line.split()[1].lower())


_STDLIB = frozenset({"datetime", "decimal", "typing", "uuid", "__future__"})


def formatted(source: str) -> str:
    """Return ``source`` through ``ruff format`` when ruff is installed, else as it is."""
    ruff = shutil.which("ruff")
    if ruff is None:
        return source
    done = subprocess.run(
        [ruff, "format", "--isolated", "--line-length", str(LINE), "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 else source
