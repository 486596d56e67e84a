"""Property: a spec text composed first and its tree checked gives what the event screen gives.

:func:`dualorm.spec.reader.compose` composes a short plain text at once and checks the tree,
and falls back to the screen (:func:`~dualorm.spec.reader._compose_screened`) whenever that
check or YAML finds anything. On generated texts full of what the screen refuses (anchors,
aliases, tags, merge keys, keys that are not text or are given twice, NUL escapes, deep
nesting, second documents, ``*`` and ``!`` inside quoted strings), both give the same tree
(node for node, with lines and columns) or the same error (message and line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dualorm.errors import SpecError
from dualorm.spec import reader
from dualorm.spec.reader import MAX_DEPTH, compose

pytestmark = pytest.mark.skipif(
    not reader._PLAIN_FIRST, reason="the tree check needs libyaml's composer"
)

PATH = Path("migrations/0001_x.yaml")

WORDS = [
    "a", "b", "name", "x y", "1", "2.5", "null", "~", "true", "yes", "2024-13-45", "<<",
    "0x1F", "''", '""', '"a"', "'b'", '"*not an alias"', "'!not a tag'", '"R&D"', '"<<"',
    '"nul\\0"', '"\\x00"', "'it''s'", '"1"', "'null'", "-", "x: y", "count(*)", "a,b",
]  # fmt: skip
PREFIXES = ["", "", "", "", "&a ", "&b ", "!!str ", "!!int ", "! ", "!x ", "!!map ", "!!seq "]
KEYS = [
    "a", "b", "a", "name", '"a"', "'b'", "1", "null", "~", "true", "<<", '"<<"', "[a]",
    "{a: 1}", "? c", '"na\\0me"', "*a", "&k a", "!!str 1", "x y",
]  # fmt: skip


def _plain(words: list[str]) -> list[str]:
    """The ``words`` with no character that sends a text straight to the screen."""
    return [w for w in words if not any(c in w for c in ("&", "*", "!", "<<"))]


def trees(plain: bool) -> st.SearchStrategy[Any]:
    """Trees of scalars, lists and mappings, block or flow, and runs of nested lists; a
    ``plain`` tree uses no anchor, alias, tag or merge key (so it is composed first)."""
    pick = _plain if plain else list
    scalar = st.tuples(st.just("scalar"), st.sampled_from(pick(WORDS)))
    if not plain:
        scalar = scalar | st.tuples(st.just("scalar"), st.sampled_from(["*a", "*b", "*zz"]))
    prefix = st.sampled_from(pick(PREFIXES))
    key = st.sampled_from(pick(KEYS))

    def collections(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        flow = st.booleans()
        return st.one_of(
            st.tuples(st.just("seq"), st.lists(children, max_size=4), flow, prefix),
            st.tuples(st.just("map"), st.lists(st.tuples(key, children), max_size=4), flow, prefix),
            st.tuples(st.just("deep"), children, st.integers(MAX_DEPTH - 3, MAX_DEPTH + 2)),
        )

    return st.recursive(
        scalar | st.tuples(prefix, scalar).map(_prefixed), collections, max_leaves=16
    )


def _prefixed(pair: tuple[str, tuple[str, str]]) -> tuple[str, str]:
    return ("scalar", pair[0] + pair[1][1])


def _flow(tree: Any) -> str:
    kind = tree[0]
    if kind == "scalar":
        return tree[1]
    if kind == "deep":
        return "[" * tree[2] + _flow(tree[1]) + "]" * tree[2]
    if kind == "seq":
        return tree[3] + "[" + ", ".join(_flow(item) for item in tree[1]) + "]"
    return tree[3] + "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in tree[1]) + "}"


def _block(tree: Any, indent: int) -> str:
    """The tree as block lines at ``indent`` (a scalar, a flow part or an empty one inline)."""
    pad = " " * indent
    kind = tree[0]
    if kind == "deep":
        return pad + "- " * tree[2] + _flow(tree[1]) + "\n"
    if kind == "scalar" or tree[2] or not tree[1]:
        return pad + _flow(tree) + "\n"
    lines = []
    for entry in tree[1]:
        head, child = (f"{entry[0]}:", entry[1]) if kind == "map" else ("-", entry)
        if child[0] in ("seq", "map") and not child[2] and child[1]:
            lines.append(f"{pad}{head}\n" + _block(child, indent + 2))
        else:
            lines.append(f"{pad}{head} " + _block(child, 0))
    return "".join(lines)


@st.composite
def texts(draw: st.DrawFn) -> str:
    text = _block(draw(trees(draw(st.booleans()))), 0)
    if draw(st.booleans()):
        text = "%YAML 1.1\n---\n" + text
    ending = draw(st.sampled_from(["", "", "...\n", "---\n", "---\nb: 2\n", "--- x\n"]))
    return text + ending


def _shape(node: yaml.Node | None) -> Any:
    if node is None:
        return None
    marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style, marks)
    if isinstance(node, yaml.SequenceNode):
        items = [_shape(item) for item in node.value]
        return ("seq", node.tag, node.flow_style, marks, items)
    pairs = [(_shape(k), _shape(v)) for k, v in node.value]
    return ("map", node.tag, node.flow_style, marks, pairs)


def _outcome(composer: Any, text: str) -> Any:
    try:
        return ("tree", _shape(composer(PATH, text)))
    except SpecError as exc:
        return ("error", exc.path, exc.line, exc.message)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts())
def test_composing_first_agrees_with_the_screen(text: str) -> None:
    screened = _outcome(reader._compose_screened, text)
    if reader._may_compose_first(text):
        first = reader._compose_plain(text)
        event("composed first" if first is not reader._SCREEN else "tree check declined")
        # Exact both ways: what the tree passes the screen passes, what it declines the
        # screen refuses.
        if first is not reader._SCREEN:
            assert screened == ("tree", _shape(first)), text
        else:
            assert screened[0] == "error", text
    else:
        event("screened")
    assert _outcome(compose, text) == screened, text


@pytest.mark.parametrize(
    "text",
    [
        'id: "0001"\nname: x\ndependencies: []\noperations:\n  - create_table: {name: t}\n',
        "a: [b: c]\n'q': \"text with R D, a comma\"\n",
        "",
        "# only a comment\n",
        "[" * MAX_DEPTH + "]" * MAX_DEPTH,
    ],
)
def test_plain_specs_are_composed_once(text: str) -> None:
    """A plain spec takes the single parse (else the property above proves nothing)."""
    assert reader._may_compose_first(text)
    first = reader._compose_plain(text)
    assert first is not reader._SCREEN
    assert _shape(first) == _shape(yaml.compose(text, Loader=reader._LOADER))


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2\n",
        '{a: 1, "a": 2}\n',
        "1: x\n",
        "null: x\n",
        "? [a]\n: b\n",
        'a: "x\\0y"\n',
        "a: 1\n---\nb: 2\n",
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "a: [b\n",
    ],
)
def test_what_the_tree_shows_goes_to_the_screen(text: str) -> None:
    assert reader._may_compose_first(text)
    assert reader._compose_plain(text) is reader._SCREEN


def test_texts_the_composer_could_choke_on_are_never_composed_first() -> None:
    assert not reader._may_compose_first("[" * (reader.MAX_FIRST_COLLECTIONS + 1))
    assert not reader._may_compose_first("- " * (reader.MAX_FIRST_COLLECTIONS + 1) + "x")
    assert not reader._may_compose_first("[" + "x," * reader.MAX_FIRST_CHARS + "]")
    for text in ["a: &x 1", "a: *x", "a: !!str 1", "<<: {a: 1}", "a: b\0"]:
        assert not reader._may_compose_first(text)
