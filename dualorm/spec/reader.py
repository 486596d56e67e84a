"""Reading a change spec's YAML nodes with line numbers: fields, scalars, types, references.

The spec loader works on the node tree ``yaml.compose`` builds with the safe loader (no code
runs on load), so every value keeps the line it was written on. :func:`compose` screens the
text's event stream first (a short plain text: the tree it composes) and refuses what a spec
has no use for and what could make the load itself the attack: anchors and aliases (the
"billion laughs"), explicit tags, merge keys, keys that are not text or are given twice, NUL
characters, a second document, nesting deeper than :data:`MAX_DEPTH` and more than
:data:`MAX_NODES` values. The tree it returns is a plain tree of text keys, so converting it
(and hashing it for the checksum) is linear in the file.
A :class:`Reader` turns those nodes into checked Python values, and every fault becomes a
:class:`~dualorm.errors.SpecError` naming the file, the line and what is wrong. The schema
objects a spec's fields describe (columns, indexes, constraints) are read in
:mod:`dualorm.spec.object_reader`.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from dualorm.errors import SpecError
from dualorm.pgtypes import canonical_type, parse_type
from dualorm.schema import FkAction, as_key
from dualorm.spec.sqlcheck import expression_fault

MAX_NAME = 63
"""PostgreSQL truncates longer identifiers (NAMEDATALEN - 1); a spec may not rely on that."""

# Base types after canonical_type(), without modifiers or array brackets.
KNOWN_TYPES = frozenset(
    {
        "smallint", "integer", "bigint", "numeric", "real", "double precision", "money",
        "boolean", "text", "character varying", "character", "bytea", "uuid", "json", "jsonb",
        "xml", "date", "interval", "timestamp with time zone", "timestamp without time zone",
        "time with time zone", "time without time zone", "inet", "cidr", "macaddr", "macaddr8",
        "bit", "bit varying", "tsvector", "tsquery", "point", "line", "lseg", "box", "path",
        "polygon", "circle", "int4range", "int8range", "numrange", "tsrange", "tstzrange",
        "daterange", "oid", "citext",
    }
)  # fmt: skip

USING_PLACEHOLDER = "FILL IN:"
"""How a ``using:`` that ``migrate new --autogenerate`` could not derive begins; the loader
refuses it until a person writes the conversion."""

# The short spellings people type, offered as suggestions next to the canonical names.
TYPE_ALIASES = (
    "varchar",
    "char",
    "int",
    "int4",
    "int8",
    "int2",
    "bool",
    "timestamptz",
    "timestamp",
    "timetz",
    "time",
    "float8",
    "float4",
    "decimal",
    "varbit",
)

NO_ENUMS: Mapping[str, str] = {}

_SERIALS = {"serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"}

_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_RESOLVER: Any = yaml.resolver.Resolver()
# libyaml's parser and composer when present: same events, nodes and line marks, several
# times faster than the pure-Python ones.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 32
"""Deepest nesting of mappings and lists a spec may use (the deepest real one is about 6)."""

MAX_NODES = 100_000
"""Most values (scalars, mappings, lists) one spec may hold (a large real one holds ~1,000)."""

_STARTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def compose(path: Path, text: str) -> yaml.Node | None:
    """Return the node tree of a spec's ``text`` (``None`` if it holds no document).

    The event stream is screened before any node is built: libyaml's composer expands
    nothing itself, but it recurses per nesting level (a deep enough file crashes the
    process) and it hands aliases back as shared nodes, which every later walk would
    expand. A short text with no character an anchor, alias, tag or merge key needs, and
    too few to nest deep, is composed at once and its tree checked for the rest
    (:func:`_compose_plain`): one parse instead of two. Whatever that check finds, the
    screen runs after all, so every refusal is the screen's. Raises
    :class:`~dualorm.errors.SpecError` naming ``path`` and the line.
    """
    if _PLAIN_FIRST and _may_compose_first(text):
        found = _compose_plain(text)
        if found is not _SCREEN:
            return cast(yaml.Node | None, found)
    return _compose_screened(path, text)


def _compose_screened(path: Path, text: str) -> yaml.Node | None:
    """Screen ``text`` event by event, then compose it: what every refusal's message is."""
    try:
        _screen(path, text)
        return yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(str(path), line, f"not valid YAML: {problem}") from None


# The tree check needs libyaml's composer: the pure-Python one recurses in Python frames.
_PLAIN_FIRST = _LOADER is not yaml.SafeLoader

MAX_FIRST_CHARS = 64 * 1024
"""Longest text composed before the screen (a real spec is a few kilobytes).

Every value takes at least one character of its own, give or take the root, so such a text
holds fewer values than :data:`MAX_NODES`: composing it first builds no more than the
screen would let the composer build."""

MAX_FIRST_COLLECTIONS = 1024
"""Most collection indicators a text composed before the screen may hold.

libyaml's composer takes C stack per nesting level (measured: about 400 bytes; 20,000
levels overflow an 8 MiB stack). Every list or mapping is opened by a character of its own
(``[``, ``{``, a ``-`` entry, a ``:`` or ``?`` key), so a text with at most this many of
those characters nests at most this deep: about 0.5 MiB of stack, safe on the main thread
and on any thread with a 1 MiB stack. A large real spec holds about 600."""

_SCREEN: Any = object()  # what _compose_plain returns when the text needs the screen


def _may_compose_first(text: str) -> bool:
    """Whether ``text`` holds no anchor, alias, tag, merge key or NUL (no ``&``, ``*``,
    ``!``, ``<<`` or NUL character at all), is short and nests too shallow to hurt the
    composer."""
    if len(text) > MAX_FIRST_CHARS:
        return False
    if "&" in text or "*" in text or "!" in text or "<<" in text or "\0" in text:
        return False
    indicators = (
        text.count("[") + text.count("{") + text.count("-") + text.count(":") + text.count("?")
    )
    return indicators <= MAX_FIRST_COLLECTIONS


def _compose_plain(text: str) -> Any:
    """Return the tree of ``text`` if it holds nothing the screen refuses, else ``_SCREEN``.

    Only for a text :func:`_may_compose_first` passed: with no anchor, alias or tag in it,
    what is left for the tree to show is a second document (the composer raises), keys that
    are not text or are given twice, an escaped NUL, the depth and the number of values.
    """
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError:
        return _SCREEN
    return root if root is None or _plain_tree(root) else _SCREEN


def _plain_tree(root: yaml.Node) -> bool:
    """Whether the screen would pass the tree ``root`` (walked without recursion)."""
    nodes = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        kind = type(node)
        if kind is yaml.ScalarNode:
            if "\0" in node.value:
                return False
            continue
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            return False
        if kind is yaml.SequenceNode:
            stack.extend((item, depth + 1) for item in node.value)
            continue
        keys: set[str] = set()
        for key, value in node.value:
            if type(key) is not yaml.ScalarNode or key.tag != _STR_TAG or key.value in keys:
                return False
            keys.add(key.value)
            stack.append((key, depth + 1))
            stack.append((value, depth + 1))
    return nodes <= MAX_NODES


@dataclass
class _Open:
    """A mapping or list the screen is inside: for a mapping, its keys so far."""

    keys: set[str] | None
    expecting_key: bool = True


def _screen(path: Path, text: str) -> None:
    """Refuse what a spec has no use for, event by event, before anything is built."""

    def fault(event: Any, message: str) -> SpecError:
        return SpecError(str(path), event.start_mark.line + 1, message)

    stack: list[_Open] = []
    key_tags: dict[str, str] = {}  # a spec repeats a handful of keys thousands of times
    documents = nodes = 0
    event: Any
    for event in yaml.parse(text, Loader=_LOADER):
        kind = type(event)
        if kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise fault(event, "a spec file holds one YAML document; this is a second one")
            continue
        if kind in _ENDS:
            stack.pop()
            continue
        if kind is yaml.AliasEvent:
            raise fault(
                event,
                f"YAML alias *{event.anchor}: anchors and aliases are not supported in spec "
                "files; write the value out",
            )
        if kind is not yaml.ScalarEvent and kind not in _STARTS:
            continue
        nodes += 1
        if nodes > MAX_NODES:
            raise fault(event, f"the spec holds more than {MAX_NODES} values")
        _screen_node(event, stack, key_tags, fault)
        if kind in _STARTS:
            if len(stack) >= MAX_DEPTH:
                raise fault(event, f"the spec is nested deeper than {MAX_DEPTH} levels")
            stack.append(_Open(set() if kind is yaml.MappingStartEvent else None))


def _screen_node(event: Any, stack: list[_Open], key_tags: dict[str, str], fault: Any) -> None:
    if event.anchor is not None:
        raise fault(
            event,
            f"YAML anchor &{event.anchor}: anchors and aliases are not supported in spec "
            "files; write the value out",
        )
    if event.tag is not None and event.tag != "!":
        shown = event.tag.replace("tag:yaml.org,2002:", "!!")
        raise fault(event, f"YAML tag {shown} is not supported in spec files")
    scalar = type(event) is yaml.ScalarEvent
    if scalar and "\0" in event.value:
        shown = event.value if len(event.value) <= 40 else event.value[:40] + "..."
        raise fault(event, f"{shown!r} contains a NUL character, which PostgreSQL cannot store")
    parent = stack[-1] if stack else None
    if parent is None or parent.keys is None:
        return
    if not parent.expecting_key:
        parent.expecting_key = True
        return
    parent.expecting_key = False
    if not scalar:
        what = "a mapping" if type(event) is yaml.MappingStartEvent else "a list"
        raise fault(event, f"mapping keys must be text, not {what}")
    key = event.value
    if event.implicit[0]:
        tag = key_tags.get(key)
        if tag is None:
            tag = key_tags[key] = _RESOLVER.resolve(yaml.ScalarNode, key, (True, False))
        if tag == _MERGE_TAG:
            raise fault(
                event, "merge keys (<<) are not supported in spec files; write the fields out"
            )
        if tag != _STR_TAG:
            raise fault(
                event,
                f"mapping key {key!r} is read as {_tag_name(tag)}, not text; keys are field names",
            )
    if key in parent.keys:
        raise fault(event, f"{key} is given twice")
    parent.keys.add(key)


class BadValue(ValueError):
    """A scalar YAML reads as a typed value that does not exist (``2020-13-45``)."""

    def __init__(self, node: yaml.Node, problem: str) -> None:
        super().__init__(problem)
        self.node = node
        self.problem = problem


def document(path: Path, root: yaml.Node) -> Any:
    """Return the Python value of a screened spec tree; a value YAML cannot build names
    ``path`` and its line."""
    try:
        return plain(root)
    except BadValue as exc:
        line = exc.node.start_mark.line + 1
        raise SpecError(
            str(path),
            line,
            f"{exc.node.value!r} is not a valid {_tag_name(exc.node.tag)}: {exc.problem}",
        ) from None


def _tag_name(tag: str) -> str:
    return tag.rpartition(":")[2]


class _Unusual(Exception):
    """A node the direct conversion leaves to the constructor (merge key, alias cycle...)."""


def plain(node: yaml.Node) -> Any:
    """Return the Python value of ``node`` (safe constructor: no tags, no code)."""
    # Most of a spec is plain strings in plain mappings and lists, whose values the safe
    # constructor would return unchanged; building those directly skips its per-node
    # bookkeeping. Anything else (other tags, merge keys, unhashable keys, alias cycles)
    # goes through the constructor, so the result is always the constructor's.
    if type(node) is yaml.ScalarNode and node.tag == _STR_TAG:
        return node.value
    try:
        return _direct(node, set())
    except _Unusual:
        return _CONSTRUCTOR.construct_document(node)


def _direct(node: yaml.Node, path: set[int]) -> Any:
    kind = type(node)
    if kind is yaml.ScalarNode:
        if node.tag == _STR_TAG:
            return node.value
        try:
            return _CONSTRUCTOR.construct_document(node)
        except ValueError as exc:
            # An implicit type whose text does not hold a value: ``2020-13-45`` is read
            # as a date and its month is out of range.
            raise BadValue(node, str(exc)) from None
    if id(node) in path:
        raise _Unusual
    path.add(id(node))
    try:
        if kind is yaml.SequenceNode and node.tag == _SEQ_TAG:
            return [_direct(item, path) for item in node.value]
        if kind is yaml.MappingNode and node.tag == _MAP_TAG:
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    raise _Unusual
                key = _direct(key_node, path)
                if isinstance(key, list | dict):
                    raise _Unusual
                result[key] = _direct(value_node, path)
            return result
        raise _Unusual
    finally:
        path.discard(id(node))


@dataclass(frozen=True)
class Fields:
    """A mapping node's entries by key, and the node itself for line numbers."""

    node: yaml.MappingNode
    entries: dict[str, yaml.Node]

    def get(self, key: str) -> yaml.Node | None:
        return self.entries.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self.entries


class Reader:
    """Check and convert the nodes of one spec file; every error names file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, message: str) -> SpecError:
        line = node.start_mark.line + 1 if node is not None else None
        return SpecError(str(self.path), line, message)

    def mapping(self, node: yaml.Node, what: str) -> Fields:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping")
        entries: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = plain(key_node)
            if not isinstance(key, str):
                raise self.error(key_node, f"{what}: keys must be text, not {key!r}")
            if key in entries:
                raise self.error(key_node, f"{what}: {key} is given twice")
            entries[key] = value_node
        return Fields(node, entries)

    def fields(
        self,
        node: yaml.Node,
        what: str,
        required: Collection[str] = (),
        optional: Collection[str] = (),
    ) -> Fields:
        """Return the mapping's entries after checking for missing and unknown keys."""
        found = self.mapping(node, what)
        allowed = set(required) | set(optional)
        previous: tuple[str, yaml.Node] | None = None
        for key, value in found.entries.items():
            if key not in allowed:
                split = _split_at_comma(found.node, previous, key, value)
                hint = difflib.get_close_matches(key, sorted(allowed), n=1)
                suggestion = split or (f" (did you mean {hint[0]}?)" if hint else "")
                known = ", ".join(sorted(allowed))
                raise self.error(
                    _key_node(found.node, key) or value,
                    f"{what}: unknown field {key}{suggestion}; known fields: {known}",
                )
            previous = key, value
        for key in required:
            if key not in found.entries:
                raise self.error(node, f"{what}: missing field {key}")
        return found

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{what} must be a list")
        return list(node.value)

    def string(self, node: yaml.Node, what: str) -> str:
        value = plain(node)
        if not isinstance(value, str) or not value.strip():
            raise self.error(node, f"{what} must be non-empty text, not {value!r}")
        return value

    def optional_string(self, fields: Fields, key: str, what: str) -> str | None:
        node = fields.get(key)
        if node is None or plain(node) is None:
            return None
        return self.string(node, f"{what}.{key}")

    def boolean(self, fields: Fields, key: str, what: str, default: bool = False) -> bool:
        node = fields.get(key)
        if node is None:
            return default
        value = plain(node)
        if not isinstance(value, bool):
            raise self.error(node, f"{what}.{key} must be true or false, not {value!r}")
        return value

    def name(self, node: yaml.Node, what: str) -> str:
        value = self.string(node, what)
        if has_control(value):
            raise self.error(node, f"{what} {value!r} contains a control character")
        if len(value.encode()) > MAX_NAME:
            raise self.error(node, f"{what} {value!r} is longer than {MAX_NAME} bytes")
        return value

    def names(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        items = tuple(self.name(item, what) for item in self.sequence(node, what))
        if not items:
            raise self.error(node, f"{what} must name at least one column")
        return items

    def expression(self, node: yaml.Node, what: str) -> str:
        """Return exactly one SQL expression; YAML numbers and booleans are taken as written.

        The emitters write it inside a larger statement, so anything more than one
        expression (a second statement, a trailing comment) is refused here.
        """
        value = plain(node)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        text = self.string(node, what)
        if text.startswith(USING_PLACEHOLDER):
            raise self.error(
                node,
                f"{what} is still the placeholder `migrate new --autogenerate` wrote "
                f"({text[len(USING_PLACEHOLDER) :].strip()}): write the SQL expression that "
                "converts the existing values",
            )
        fault = expression_fault(text)
        if fault is not None:
            raise self.error(node, f"{what} {fault}: {text!r}")
        return text

    def optional_expression(self, fields: Fields, key: str, what: str) -> str | None:
        node = fields.get(key)
        if node is None or plain(node) is None:
            return None
        return self.expression(node, f"{what}.{key}")

    def type(self, node: yaml.Node, what: str, enums: Mapping[str, str] = NO_ENUMS) -> str:
        """Return a column type's canonical spelling; ``enums`` maps each way a spec may name
        an enum type existing at this point (``mood``, ``auth.mood``) to its reference."""
        spelling = self.string(node, what)
        written = parse_type(spelling)
        if not written.args and written.name in enums:
            return enums[written.name] + "[]" * written.dimensions
        if spelling.strip().lower() in _SERIALS:
            raise self.error(
                node, f"{what}: {spelling} is not a type; use integer/bigint with identity"
            )
        canonical = canonical_type(spelling)
        parsed = parse_type(canonical)
        if not all(arg.isdigit() for arg in parsed.args):
            raise self.error(node, f"{what}: bad type modifier in {spelling!r}")
        if parsed.name not in KNOWN_TYPES:
            spellings = sorted(KNOWN_TYPES | set(TYPE_ALIASES))
            hint = difflib.get_close_matches(parsed.name, spellings, n=1)
            suggestion = f" (did you mean {hint[0]}?)" if hint else ""
            raise self.error(node, f"{what}: unknown type {spelling!r}{suggestion}")
        return canonical

    def table_ref(self, node: yaml.Node, what: str) -> str:
        """Return a table reference, ``name`` or ``schema.name``."""
        value = self.string(node, what)
        if has_control(value):
            raise self.error(node, f"{what} {value!r} contains a control character")
        schema_name, name = as_key(value)
        if not name or len(name.encode()) > MAX_NAME:
            raise self.error(node, f"{what}: bad table name {value!r}")
        return value if schema_name != "public" or "." not in value else name

    def fk_action(self, fields: Fields, key: str, what: str) -> FkAction:
        node = fields.get(key)
        if node is None:
            return FkAction.NO_ACTION
        spelled = self.string(node, f"{what}.{key}").strip().upper().replace("_", " ")
        try:
            return FkAction(" ".join(spelled.split()))
        except ValueError:
            allowed = ", ".join(a.value.lower() for a in FkAction)
            raise self.error(
                node, f"{what}.{key}: {spelled.lower()!r} is not one of {allowed}"
            ) from None

    def function_path(self, node: yaml.Node, what: str) -> str:
        """Return a ``module:function`` path, checked for shape only (nothing is imported)."""
        value = self.string(node, what)
        module, colon, function = value.partition(":")
        parts = module.split(".")
        if not colon or not function.isidentifier() or not all(p.isidentifier() for p in parts):
            raise self.error(
                node, f"{what} must look like 'package.module:function', not {value!r}"
            )
        return value


def has_control(value: str) -> bool:
    """Whether ``value`` holds a control character (refused in names and types)."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in value)


def _key_node(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    return next((k for k, _ in mapping.value if plain(k) == key), None)


def _split_at_comma(
    mapping: yaml.Node, previous: tuple[str, yaml.Node] | None, key: str, value: yaml.Node
) -> str:
    """Explain an unknown key that is the tail of a value a flow mapping split at its comma.

    In ``{type: numeric(12,2)}`` YAML ends the value at the comma, so ``2)`` becomes a key
    with no value; the fix is quoting the value, which the message spells out.
    """
    if previous is None or not getattr(mapping, "flow_style", False):
        return ""
    if not (isinstance(value, yaml.ScalarNode) and value.value == ""):
        return ""
    before = plain(previous[1])
    if not isinstance(before, str) or before.count("(") <= before.count(")"):
        return ""
    return (
        f" (the value {before},{key} was split at its comma; "
        f'quote it: {previous[0]}: "{before},{key}")'
    )
