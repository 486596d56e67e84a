"""The documentation stays true: every operation is documented with its fields, the
example spec in docs/specs.md loads, and docs/architecture.md names only what exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from dualorm.spec.builders import BUILDERS
from dualorm.spec.load import load_specs

DOCS = Path(__file__).resolve().parent.parent / "docs"

OPERATION_CASES = (
    "dualorm/autogen/write.py",
    "tests/test_ops.py",
    "tests/test_emit_sql.py",
    "tests/test_autogen.py",
)
"""What else a new operation kind needs, besides :data:`tests.test_operation_registry.PIECES`:
its spec writer and its case in each test that iterates every kind."""


def documented_operations() -> dict[str, tuple[set[str], set[str]]]:
    table = {}
    for line in (DOCS / "specs.md").read_text().splitlines():
        match = re.match(r"\| `(\w+)` \|(.*?)\|(.*?)\|$", line)
        if match:
            required, optional = (set(re.findall(r"`(\w+)`", cell)) for cell in match.groups()[1:])
            table[match.group(1)] = (required, optional)
    return table


def test_every_operation_and_field_is_documented() -> None:
    documented = documented_operations()
    missing = sorted(set(BUILDERS) - set(documented))
    assert missing == [], "add these operations to the operation table of docs/specs.md"
    unknown = sorted(set(documented) - set(BUILDERS))
    assert unknown == [], "docs/specs.md documents operations that do not exist"
    for name, (_, required, optional) in BUILDERS.items():
        assert documented[name] == (set(required), set(optional)), name


def test_the_example_spec_loads(tmp_path: Path) -> None:
    text = (DOCS / "specs.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert example is not None
    root = Path(__file__).resolve().parent.parent / "migrations"
    (tmp_path / "0001_initial.yaml").write_text((root / "0001_initial.yaml").read_text())
    (tmp_path / "0003_add_user_preferences.yaml").write_text(example.group(1))
    loaded = load_specs(tmp_path)
    assert [m.id for m in loaded] == ["0001_initial", "0003_add_user_preferences"]


def test_every_safety_guarantee_names_a_test_that_exists() -> None:
    text = (DOCS / "safety.md").read_text()
    bullets = [b for b in re.split(r"\n(?=- )", text) if b.startswith("- ")]
    assert len(bullets) >= 20
    for bullet in bullets:
        assert re.search(r"`tests/\w+\.py::test_\w+`", bullet), bullet[:80]
    tests_dir = DOCS.parent / "tests"
    for path, name in re.findall(r"`tests/(\w+\.py)::(test_\w+)`", text):
        tree = ast.parse((tests_dir / path).read_text())
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in defined, f"docs/safety.md names tests/{path}::{name}, which does not exist"


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _module_file(dotted: str) -> Path | None:
    base = DOCS.parent.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def cited_problem(name: str) -> str | None:
    """Why the doc's ``name`` (a path under dualorm/ or a dotted name) does not exist, or None.

    A dotted name is its longest module prefix, then a name that module defines (not one it
    imports: the doc says where a thing lives), then attributes of that class or module.
    """
    if "/" in name:
        return None if (DOCS.parent / name).exists() else f"{name}: no such file"
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        path = _module_file(".".join(parts[:split]))
        if path is None:
            continue
        rest = parts[split:]
        if not rest:
            return None
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if rest[0] not in _defined_names(tree):
            return f"{name}: {'.'.join(parts[:split])} defines no {rest[0]}"
        if len(rest) > 1:
            klass = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == rest[0])
            members = {n.name for n in klass.body if isinstance(n, ast.FunctionDef)}
            members |= {
                n.target.id
                for n in klass.body
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
            }
            if rest[1] not in members:
                return f"{name}: {rest[0]} has no {rest[1]}"
        return None
    return f"{name}: no such module"


def cited_names(text: str) -> set[str]:
    """The dualorm paths and dotted names ``text`` cites: in backquotes, and the ``*.py``
    paths of its diagrams (relative to dualorm/; not of its Python examples)."""
    cited = set(re.findall(r"`(dualorm[./][\w./]*?)/?`", text))
    # Fences pair up in order; a diagram is a fence with no language (examples are Python).
    fences = re.findall(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```[ \t]*$", text, re.S | re.M)
    for block in (body for language, body in fences if not language):
        cited |= {
            f"dualorm/{p}" for p in re.findall(r"(?<![\w/*.])((?:[a-z_]+/)+[a-z_]+\.py)\b", block)
        }
    return cited


def ledger_objects() -> set[str]:
    """The database objects in the PostgreSQL schema ``dualorm`` (``dualorm.migrations``...),
    as the ledger module's docstring lists them: the doc may cite those too."""
    ledger = ast.parse((DOCS.parent / "dualorm" / "runner" / "ledger.py").read_text())
    return set(re.findall(r"^\s+(dualorm\.\w+)", ast.get_docstring(ledger) or "", re.M))


def test_the_architecture_names_only_modules_and_names_that_exist() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    cited = cited_names(text) - ledger_objects()
    assert len(cited) > 40
    assert [p for p in map(cited_problem, sorted(cited)) if p] == []


def test_a_name_the_architecture_cites_wrongly_is_reported() -> None:
    assert cited_problem("dualorm/emit/nowhere.py") == "dualorm/emit/nowhere.py: no such file"
    assert cited_problem("dualorm.emit.sql.no_renderer") == (
        "dualorm.emit.sql.no_renderer: dualorm.emit.sql defines no no_renderer"
    )
    assert cited_problem("dualorm.emit.sql.Script") is not None  # imported there, not defined
    assert cited_problem("dualorm.emit.registry.Registry.lookup") is None
    assert cited_problem("dualorm.emit.registry.Registry.unsupported") is not None


def test_the_architecture_says_where_every_piece_of_an_operation_goes() -> None:
    from tests.test_operation_registry import PIECES

    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    section = text[text.index("**To add an operation**") : text.index("**To add a lint rule**")]
    for piece in PIECES:
        module = piece.rpartition(" in ")[2]
        assert f"`{module.replace('.', '/')}.py`" in section, piece
    # The tests that fail, naming the class, until the new kind has its case in each.
    for path in OPERATION_CASES:
        assert f"`{path}`" in section, path


def test_the_cli_contract_names_every_verb() -> None:
    from dualorm.cli.commands import MODELS_VERBS, VERBS
    from dualorm.cli.fleet import FLEET_VERBS

    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    contract = text[text.index("## CLI contract") :]
    contract = contract[: contract.index("```", contract.index("```") + 3)]
    groups = {"migrate": VERBS, "models": MODELS_VERBS, "fleet": FLEET_VERBS}
    lines = contract.splitlines()
    missing = [
        f"{group} {verb.name}"
        for group, verbs in groups.items()
        for verb in verbs
        if not any(
            re.search(rf"dualorm {group} (?:[\w|/ ]*?[ |/])?{verb.name}\b", line) for line in lines
        )
    ]
    assert missing == [], "docs/architecture.md's CLI contract lacks these verbs"
