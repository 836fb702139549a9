"""YAML in, a tree of located nodes out — safely, with every problem pointing at file:line:col.

Why not ``yaml.safe_load``: it forgets where things were written, silently keeps the last of two
duplicate keys, and expands aliases without limit (a "billion laughs" file of a few hundred bytes
becomes gigabytes). So we only *compose* with PyYAML's safe machinery (`yaml.SafeLoader`: no
arbitrary Python objects, ever) and convert the composed node graph ourselves into `Node` values:

* every node keeps its `Location` (1-based line and column), every mapping keeps where each key is;
* duplicate keys are reported with both places; merge keys (``<<: *defaults``) work as in YAML;
* alias expansion is bounded by a node budget (`MAX_NODES`), nesting by `MAX_DEPTH`, and the file by
  `MAX_BYTES`, each with a clear error;
* plain scalars are read with YAML 1.2 core-schema rules, as editors (yaml-language-server) and
  the JSON Schema read them — not PyYAML's YAML 1.1 defaults, which turn ``country: NO`` into
  ``false``, ``on``/``yes`` into ``true`` and ``19:30`` into ``1170``. Only ``true``/``false`` (any
  of three capitalisations) are booleans; ``yes``/``no``/``on``/``off`` are strings; ``19:30`` is
  a string (no base-60); ``012`` is twelve (octal is ``0o12``); ``1_000`` is a string;
  timestamps stay strings. `_CoreResolver` and `core_value` implement it;
* mapping keys are always the strings as written; explicit application tags (``!foo``) are
  refused.

Speed: PyYAML's pure-Python scanner and parser made loading a scenario slow (35 ms for the kiosk
example). When PyYAML has libyaml, its C event parser feeds the same Python composer
(`_FastLoader`), ten times faster, with the same nodes; texts where the two parsers are known to
differ, and any problem at all, go through the pure-Python `_Loader`, which makes every diagnostic.

`compose` returns the root `Node` plus diagnostics; it never raises for a problem in the file.
The validator walks `Node`s and calls `Node.plain()` where it wants ordinary Python values.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

try:
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    CParser = None

from ..errors import Diagnostic, Location
from ..printable import excerpt
from .cache import note_path, note_read

MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 100
MAX_NODES = 100_000

_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
_SCALAR_TAGS = {_TAG + t for t in ("str", "null", "bool", "int", "float", "timestamp")}


class _CoreResolver(BaseResolver):
    """Implicit tags of the YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution),
    plus the merge key ``<<`` (which YAML editors support too)."""

    yaml_implicit_resolvers: dict = {}


for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("merge", r"^<<$", "<"),
):
    _CoreResolver.add_implicit_resolver(_TAG + _tag, re.compile(_pattern), list(_first))


def core_value(tag: str, text: str) -> Any:
    """The Python value of a plain scalar resolved to `tag` by `_CoreResolver` (YAML 1.2 core).
    Raises ValueError for a text the tag does not fit (an explicit ``!!int abc``)."""
    kind = tag.rsplit(":", 1)[-1]
    if kind == "null":
        if text not in ("", "~", "null", "Null", "NULL"):
            raise ValueError(text)
        return None
    if kind == "bool":
        if text not in ("true", "True", "TRUE", "false", "False", "FALSE"):
            raise ValueError(text)
        return text.lower() == "true"
    if kind == "int":
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        if not re.fullmatch(r"[-+]?[0-9]+", text):
            raise ValueError(text)
        return int(text)
    # float
    lowered = text.lower()
    if lowered in (".inf", "+.inf"):
        return float("inf")
    if lowered == "-.inf":
        return float("-inf")
    if lowered == ".nan":
        return float("nan")
    if not re.fullmatch(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?", text):
        raise ValueError(text)
    return float(text)


@dataclass(slots=True, eq=False)
class Node:
    """A YAML node with its location.

    `value` is ``dict[str, Node]`` for a mapping, ``list[Node]`` for a sequence, and a plain Python
    scalar (str, int, float, bool, None) otherwise. `keys` holds where each mapping key is written.
    `text` is a scalar's source text (``yes`` for the bool True written as ``yes``).
    """

    kind: Literal["map", "seq", "scalar"]
    value: Any
    loc: Location
    keys: dict[str, Location] = field(default_factory=dict)
    text: str | None = None
    style: str | None = None  # scalar style: None (plain), "'", '"', "|", ">"

    @property
    def is_map(self) -> bool:
        return self.kind == "map"

    @property
    def is_seq(self) -> bool:
        return self.kind == "seq"

    @property
    def is_scalar(self) -> bool:
        return self.kind == "scalar"

    @property
    def is_null(self) -> bool:
        return self.kind == "scalar" and self.value is None

    def get(self, key: str) -> Node | None:
        return self.value.get(key) if self.kind == "map" else None

    def key_loc(self, key: str) -> Location:
        return self.keys.get(key, self.loc)

    def plain(self) -> Any:
        """The node as ordinary Python data (dicts, lists, scalars)."""
        if self.kind == "map":
            return {k: v.plain() for k, v in self.value.items()}
        if self.kind == "seq":
            return [v.plain() for v in self.value]
        return self.value

    def describe(self) -> str:
        """A short name of what this node is, for "expected X, got Y" messages."""
        if self.kind == "map":
            return "a mapping"
        if self.kind == "seq":
            return "a list"
        v = self.value
        if v is None:
            return "nothing (null)"
        if isinstance(v, bool):
            return f"the boolean {self.text}"
        if isinstance(v, int | float):
            return f"the number {self.text}"
        return f"the string '{excerpt(v)}'"


class _Limit(Exception):
    def __init__(self, message: str, mark: Any, code: str):
        super().__init__(message)
        self.message, self.mark, self.code = message, mark, code


class _DepthLimited:
    """A composer that refuses to nest deeper than MAX_DEPTH (before Python's stack does)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise _Limit(f"nesting is deeper than {MAX_DEPTH} levels", mark, "too-deep")
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


class _Loader(_DepthLimited, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader, depth-limited, resolving plain scalars by YAML 1.2 core
    rules: the reference for every diagnostic."""

    yaml_implicit_resolvers = _CoreResolver.yaml_implicit_resolvers


if CParser is not None:

    class _FastLoader(_DepthLimited, Composer, CParser, SafeConstructor, _CoreResolver):  # type: ignore[misc, valid-type]
        """libyaml's parser (C, iterative) feeding PyYAML's own Python composer, depth-limited.

        The pure-Python scanner and parser were most of the time a scenario took to load (35 ms
        for the kiosk example, far more for a large file); libyaml gives the same events ten
        times faster. Its C *composer* (`yaml.CSafeLoader`) is not used: it recurses in C and
        crashes the interpreter on a deeply nested file, where this one stops at MAX_DEPTH.
        Nodes come out the same as `_Loader`'s; anything unusual goes to `_Loader` instead."""

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            _CoreResolver.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader = None  # type: ignore[assignment, misc]

# Where libyaml and PyYAML's Python parser are known to differ, the reference path decides: tabs
# (libyaml accepts some that PyYAML refuses, and the refusal has its own message), line breaks
# other than "\n" (counted differently), a block scalar header run into a comment (`>#`, which
# only libyaml accepts), and empty values (placed at a different mark). Found by the equivalence
# fuzz test in tests/test_fuzz_scenario.py. Also an escape of a UTF-16 surrogate (``"\ud83d"``),
# which PyYAML turns into half a character and only the reference path reports (`_SURROGATE`).
_UNUSUAL = re.compile("[\t\r\x85\u2028\u2029]|[|>][-+0-9]*#" r"|\\(?:u|U0000)[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")

# A plain (unquoted) text inside ``[...]`` or ``{...}`` with a '?' in it, as in
# ``where: {(?P<name: x}``: libyaml (0.2.5 and later) reads the '?' as part of the text, PyYAML's
# Python parser ends the text there and refuses the file ("expected ',' or '}', but got '?'").
# Both fast paths hand such a text to the reference loader, which reports it; nothing in a text
# tells whether a '?' is inside a flow collection, so the check is made on the parsed scalars.
# Found by the equivalence fuzz test (tests/test_fuzz_scenario.py).


def _compose_fast(text: str) -> Any:
    """The root node through `_FastLoader`, or `_FALLBACK` (not available, an unusual text, or any
    problem: the reference loader then reports it exactly)."""
    if _FastLoader is None or _UNUSUAL.search(text):
        return _FALLBACK
    loader = _FastLoader(text)
    try:
        root = loader.get_single_node()
    except Exception:
        return _FALLBACK
    finally:
        loader.dispose()
    return _FALLBACK if _has_empty_value(root) else root


class _Bail(Exception):
    """Something `_Builder` leaves to the composers (anchors, tags, merges, limits, oddities)."""


class _Builder:
    """libyaml's events straight into `Node`s: the fast path for ordinary scenario files.

    PyYAML's composer (Python) built its own node graph, which was walked once for empty values
    and once more to convert it: three passes and two trees, most of the time a large file took
    to load (0.8 s of CPU for 5,000 states). This builds the `Node`s in one pass over the same
    events. It handles what scenario files are made of — mappings with plain-string keys,
    sequences, scalars — and gives up (`_FALLBACK`) on anything else: anchors and aliases, tags,
    merge keys, duplicate keys, empty plain values, more than one document, the size limits. The
    composers then decide, and report, exactly as before. Plain scalars are resolved with the
    same table as `_CoreResolver` and converted by `core_value`, so the nodes are the same
    (`tests/test_fuzz_scenario.py` checks it against the reference path)."""

    def __init__(self, filename: str, text: str, parser: Any, max_nodes: int = MAX_NODES):
        self.filename, self.text, self.get = filename, text, parser.get_event
        self.count = 0
        self.max_nodes = max_nodes  # what the scenario's files before this one left
        self.lines: list[str] | None = None
        self.resolvers = _CoreResolver.yaml_implicit_resolvers

    def document(self) -> Node:
        get = self.get
        if type(get()).__name__ != "StreamStartEvent":
            raise _Bail
        if type(get()).__name__ != "DocumentStartEvent":
            raise _Bail  # an empty stream: the composers say so
        root = self.node(get(), 0)
        if root.is_null:
            raise _Bail  # an empty document: the composers say so
        if type(get()).__name__ != "DocumentEndEvent" or type(get()).__name__ != "StreamEndEvent":
            raise _Bail
        return root

    def loc(self, mark: Any) -> Location:
        return Location(self.filename, mark.line + 1, mark.column + 1)

    def node(self, event: Any, depth: int, flow: bool = False) -> Node:
        self.count += 1
        if depth > MAX_DEPTH or self.count > self.max_nodes or event.anchor is not None:
            raise _Bail
        kind = type(event).__name__
        if kind == "ScalarEvent":
            return self.scalar(event, flow)
        if event.tag is not None:
            raise _Bail
        flow = flow or bool(event.flow_style)  # nothing inside [...] or {...} is block again
        if kind == "SequenceStartEvent":
            items = []
            get = self.get
            while type(child := get()).__name__ != "SequenceEndEvent":
                items.append(self.node(child, depth + 1, flow))
            return Node("seq", items, self.loc(event.start_mark))
        if kind == "MappingStartEvent":
            return self.mapping(event, depth, flow)
        raise _Bail  # an alias

    def mapping(self, event: Any, depth: int, flow: bool) -> Node:
        value: dict[str, Node] = {}
        keys: dict[str, Location] = {}
        get = self.get
        while type(key := get()).__name__ != "MappingEndEvent":
            if type(key).__name__ != "ScalarEvent" or key.anchor is not None or key.tag:
                raise _Bail
            name = key.value
            plain = key.implicit[0]
            if name in value or (plain and (name in ("", "<<") or (flow and "?" in name))):
                raise _Bail
            keys[name] = self.loc(key.start_mark)
            value[name] = self.node(get(), depth + 1, flow)
        return Node("map", value, self.loc(event.start_mark), keys=keys)

    def scalar(self, event: Any, flow: bool) -> Node:
        if event.tag is not None:
            raise _Bail
        text, style = event.value, event.style or None
        loc = self.loc(event.start_mark)
        if style in ("|", ">"):
            loc = self.block_content_loc(event) or loc
        value: Any = text
        if event.implicit[0]:  # plain: YAML 1.2 core resolution
            if text == "" or (flow and "?" in text):
                raise _Bail  # empty, or '?' in a flow text (see above `_compose_fast`)
            for tag, pattern in self.resolvers.get(text[0], ()):
                if pattern.match(text):
                    if tag == _MERGE:
                        raise _Bail
                    value = core_value(tag, text)
                    break
        return Node("scalar", value, loc, text=text, style=style)

    def block_content_loc(self, event: Any) -> Location | None:
        """As `_Converter.block_content_loc`: the first non-blank line after the indicator."""
        if self.lines is None:
            self.lines = self.text.splitlines()
        lines = self.lines
        for i in range(event.start_mark.line + 1, min(event.end_mark.line + 1, len(lines))):
            line = lines[i]
            if line.strip():
                return Location(self.filename, i + 1, len(line) - len(line.lstrip()) + 1)
        return None


def _build_fast(text: str, filename: str, max_nodes: int = MAX_NODES) -> Any:
    """The root `Node` through `_Builder`, or `_FALLBACK` (not available, an unusual text, or
    anything it leaves to the composers)."""
    if CParser is None or _UNUSUAL.search(text):
        return _FALLBACK
    parser = CParser(text)
    try:
        return _Builder(filename, text, parser, max_nodes).document()
    except Exception:  # _Bail, a YAML error, a value core_value refuses: the composers decide
        return _FALLBACK
    finally:
        parser.dispose()


def _has_empty_value(root: Any) -> bool:
    """Whether the composed graph has an empty plain value (libyaml places it at another mark)
    or a plain text inside ``[...]``/``{...}`` with a '?' in it (see above `_compose_fast`)."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            if node.value == "" and not node.style:
                return True
            continue
        flow = node.flow_style  # what libyaml says; a block collection is never inside a flow one
        for child in node.value if isinstance(node, SequenceNode) else _pairs(node.value):
            if flow and isinstance(child, ScalarNode) and not child.style and "?" in child.value:
                return True  # '?' in a flow text (see above `_compose_fast`)
            stack.append(child)
    return False


def _pairs(items: list[tuple[Any, Any]]) -> Any:
    for key, value in items:
        yield key
        yield value


_FALLBACK = object()


def read_source(path: str, *, max_bytes: int = MAX_BYTES) -> tuple[str | None, list[Diagnostic]]:
    """The file's text, or a diagnostic (missing, unreadable, not a regular file, too large, not
    UTF-8). A device, FIFO or socket is refused before it is opened for reading (reading one
    could block forever or never end), and a file's size is checked before its bytes are read."""
    where = Location(str(path), 1, 1)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        note_read(path, None)
        return None, [
            Diagnostic(f"cannot read scenario file: {e.strerror or e}", where, code="io-error")
        ]
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            note_path(path)
            return None, [
                Diagnostic(
                    "not a regular file (a device, FIFO, socket or folder): not read",
                    where,
                    code="io-error",
                )
            ]
        if info.st_size > max_bytes:
            note_path(path)
            return None, [_too_large(where, max_bytes)]
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            note_read(path, None)
            return None, [
                Diagnostic(f"cannot read scenario file: {e.strerror or e}", where, code="io-error")
            ]
    note_read(path, data)
    if len(data) > max_bytes:
        return None, [_too_large(where, max_bytes)]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        msg = f"the file is not UTF-8 text (invalid byte at offset {e.start})"
        return None, [Diagnostic(msg, Location(str(path), line, 1), code="encoding")]


def _too_large(where: Location, max_bytes: int = MAX_BYTES) -> Diagnostic:
    if max_bytes < MAX_BYTES:
        return Diagnostic(
            f"the scenario and its fragments are larger than {MAX_BYTES // (1024 * 1024)} MiB "
            "together (the limit counts every included file)",
            where,
            code="too-large",
        )
    return Diagnostic(
        f"scenario file is larger than {MAX_BYTES // (1024 * 1024)} MiB", where, code="too-large"
    )


def compose(
    text: str, filename: str, *, max_nodes: int = MAX_NODES
) -> tuple[Node | None, list[Diagnostic]]:
    """Parse `text` (shown as `filename`) into a `Node` tree. Problems come back as diagnostics;
    the node is None when nothing usable could be built. `max_nodes` is what is left of the
    scenario's node budget (a fragment gets what the files before it left)."""
    start = Location(filename, 1, 1)
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None, [_too_large(start)]
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as e:  # control characters, checked before parsing
        line = text.count("\n", 0, e.position) + 1
        column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        message = f"character #x{e.character:04x} is not allowed in YAML"
        return None, [Diagnostic(message, Location(filename, line, column), code="yaml-syntax")]
    try:
        built = _build_fast(text, filename, max_nodes)
        if built is not _FALLBACK:
            return built, []
        root = _compose_fast(text)
        if root is _FALLBACK:
            root = loader.get_single_node()
    except _Limit as e:
        return None, [Diagnostic(e.message, _loc(filename, e.mark), code=e.code)]
    except yaml.MarkedYAMLError as e:
        return None, [_syntax_diagnostic(e, filename, text)]
    except ValueError:  # PyYAML's scanner: chr() of an escape past U+10FFFF ("\U00110000")
        mark = loader.get_mark()  # at the escape's hex digits
        where = Location(filename, mark.line + 1, max(mark.column - 1, 1))
        message = "invalid escape in a quoted text: past the last Unicode character (\\U0010FFFF)"
        return None, [Diagnostic(message, where, code="yaml-syntax")]
    except yaml.YAMLError as e:
        return None, [Diagnostic(f"invalid YAML: {e}", start, code="yaml-syntax")]
    finally:
        loader.dispose()
    if root is None or (isinstance(root, ScalarNode) and root.tag == _TAG + "null"):
        return None, [Diagnostic("the scenario file is empty", start, code="empty")]
    converter = _Converter(filename, text, max_nodes)
    try:
        node = converter.convert(root, 0)
    except _Limit as e:
        return None, [
            *converter.diagnostics,
            Diagnostic(e.message, _loc(filename, e.mark), code=e.code),
        ]
    return node, converter.diagnostics


def _key_at(line: str) -> tuple[int, str]:
    """(1-based column, first word) of what a line starts with, after spaces and ``- ``."""
    stripped = line.lstrip(" ")
    column = len(line) - len(stripped) + 1
    while stripped.startswith("- "):
        rest = stripped[2:].lstrip(" ")
        column += len(stripped) - len(rest)
        stripped = rest
    return column, re.split(r"[\s:]", stripped, maxsplit=1)[0]


def _in_plain_words(e: yaml.MarkedYAMLError, lines: list[str]) -> str | None:
    """PyYAML's parser words ("expected <block end>, but found '?'", "mapping values are not
    allowed here") for the mistakes people make, said as what is probably wrong and where; None
    for anything else (the parser's own words are kept)."""
    problem, context = e.problem or "", e.context or ""
    mark = e.problem_mark
    if "while scanning a quoted scalar" in context and e.context_mark is not None:
        return (
            f"a quoted text that starts at line {e.context_mark.line + 1}, column "
            f"{e.context_mark.column + 1} is never closed: add the closing quote"
        )
    if mark is None or mark.line >= len(lines):
        return None
    if problem in ("expected ',' or '}', but got '?'", "expected ',' or ']', but got '?'"):
        brackets = "{...}" if "}" in problem else "[...]"
        return (
            f"a question mark inside an unquoted text in {brackets}: YAML ends the text there "
            f'and reads it as a key marker. Put the whole text in quotes (a regex too: "(?i)yes")'
        )
    line = lines[mark.line]
    column, word = _key_at(line)
    if line.lstrip().startswith("-"):
        column, what = len(line) - len(line.lstrip()) + 1, "the list item"
    else:
        what = f"'{word}:'" if word else f"line {mark.line + 1}"
    if problem.startswith("expected <block end>, but found '-'"):
        return (
            "a list item ('- ...') where a key was expected: a block holds either keys or list "
            "items, not both — put the list under a key of its own, indented"
        )
    if problem.startswith("expected <block end>") or "did not find expected key" in context:
        # the line is indented to a column where no key of the mapping (or list) above it is
        above = sorted(
            {
                _key_at(lines[i])[0]
                for i in range(max(0, mark.line - 8), mark.line)
                if lines[i].strip() and not lines[i].lstrip().startswith("#")
            }
        )
        near = ", ".join(str(c) for c in above if abs(c - column) <= 8) or "other columns"
        return (
            f"bad indentation: {what} at column {column} lines up with no key above it (the keys "
            f"above start at column {near}). Keys of one mapping must start in the same column: "
            f"indent it like the key it belongs with"
        )
    if problem == "mapping values are not allowed here":
        before = line[: mark.column].split()
        key = excerpt(before[-1], 30) if before else ""
        return (
            f"unexpected ':' after '{key}': if '{key}:' is a key, it is indented deeper than "
            f"the keys it belongs with (line it up with them); if it is part of a text, put the "
            f"whole text in quotes"
        )
    return None


def _loc(filename: str, mark: Any) -> Location:
    return Location(filename, mark.line + 1, mark.column + 1)


def _syntax_diagnostic(e: yaml.MarkedYAMLError, filename: str, text: str = "") -> Diagnostic:
    mark = e.problem_mark or e.context_mark
    loc = _loc(filename, mark) if mark else Location(filename, 1, 1)
    problem = e.problem or "invalid YAML"
    plain = _in_plain_words(e, text.splitlines()) if mark else None
    if plain is not None:
        message = plain
        if "never closed" in plain and e.context_mark is not None:
            loc = _loc(filename, e.context_mark)  # where the quote opens, not the end of file
    elif "'\\t'" in problem:
        message = "tab character: YAML does not allow tabs for indentation, use spaces"
    elif "expected a single document" in (e.context or ""):
        message = (
            "the file holds more than one YAML document (a '---' line); a scenario is one document"
        )
    else:
        message = f"invalid YAML: {problem}"
        if e.context and e.context_mark and mark and e.context_mark.line != mark.line:
            message += f" ({e.context} at line {e.context_mark.line + 1})"
        elif e.context:
            message += f" ({e.context})"
    return Diagnostic(message, loc, code="yaml-syntax")


class _Converter:
    """Composed yaml nodes -> `Node`s; expands aliases within the node budget."""

    def __init__(self, filename: str, text: str, max_nodes: int = MAX_NODES):
        self.filename = filename
        self.max_nodes = max_nodes
        self.lines = text.splitlines()
        self.count = 0
        self.diagnostics: list[Diagnostic] = []

    def loc(self, node: Any) -> Location:
        return _loc(self.filename, node.start_mark)

    def convert(self, node: Any, depth: int) -> Node:
        self.count += 1
        if self.count > self.max_nodes:
            message = (
                f"the scenario and its fragments have more than {MAX_NODES} nodes together "
                "(the limit counts every included file, aliases expanded)"
                if self.max_nodes < MAX_NODES
                else f"the document has more than {MAX_NODES} nodes once its aliases are "
                "expanded (too many aliases, or simply too big)"
            )
            raise _Limit(
                message,
                node.start_mark,
                "too-large",
            )
        if depth > MAX_DEPTH:  # reached through aliases, including recursive ones
            raise _Limit(f"nesting is deeper than {MAX_DEPTH} levels", node.start_mark, "too-deep")
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            self.check_tag(node, _TAG + "seq")
            items = [self.convert(child, depth + 1) for child in node.value]
            return Node("seq", items, self.loc(node))
        assert isinstance(node, MappingNode)
        self.check_tag(node, _TAG + "map")
        return self.mapping(node, depth)

    def check_tag(self, node: Any, expected: str) -> None:
        if node.tag != expected:
            self.diagnostics.append(
                Diagnostic(
                    f"unsupported YAML tag '{excerpt(node.tag)}'", self.loc(node), code="yaml-tag"
                )
            )

    def scalar(self, node: ScalarNode) -> Node:
        loc, text = self.loc(node), node.value
        if node.style in ("|", ">"):
            loc = self.block_content_loc(node) or loc
        if node.tag not in _SCALAR_TAGS:
            self.diagnostics.append(
                Diagnostic(f"unsupported YAML tag '{excerpt(node.tag)}'", loc, code="yaml-tag")
            )
            value: Any = node.value
        elif node.tag in (_TAG + "str", _TAG + "timestamp"):
            value = node.value
            if node.style == '"':
                value = text = self.no_surrogates(value, loc)
        else:
            try:
                value = core_value(node.tag, node.value)
            except ValueError:
                msg = f"'{excerpt(node.value)}' is not a valid {node.tag.rsplit(':', 1)[-1]}"
                self.diagnostics.append(Diagnostic(msg, loc, code="wrong-type"))
                value = node.value
        # libyaml reports a plain scalar's style as "", PyYAML's Python parser as None
        return Node("scalar", value, loc, text=text, style=node.style or None)

    def no_surrogates(self, text: str, loc: Location) -> str:
        """`text` with each lone surrogate (``"\\ud83d"``: PyYAML makes one per escape, even for
        the two of a pair) replaced by U+FFFD, and an error for the first: no output (JSON, a
        terminal) can encode one, and libyaml refuses the escape outright."""
        found = _SURROGATE.search(text)
        if found is None:
            return text
        self.diagnostics.append(
            Diagnostic(
                f"a quoted text contains a lone surrogate \\u{ord(found.group()):04x}, half of a "
                "UTF-16 surrogate pair and not a character (two halves make two): write the "
                "character itself, or \\U and eight hex digits (\\U0001F600) for one past \\uFFFF",
                loc,
                code="yaml-syntax",
            )
        )
        return _SURROGATE.sub("\ufffd", text)

    def block_content_loc(self, node: ScalarNode) -> Location | None:
        """A block scalar (``|``) starts on the line after its indicator: point there."""
        for i in range(node.start_mark.line + 1, min(node.end_mark.line + 1, len(self.lines))):
            line = self.lines[i]
            if line.strip():
                return Location(self.filename, i + 1, len(line) - len(line.lstrip()) + 1)
        return None

    def mapping(self, node: MappingNode, depth: int) -> Node:
        value: dict[str, Node] = {}
        keys: dict[str, Location] = {}
        explicit: set[str] = set()
        merges: list[Any] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            key_loc = self.loc(key_node)
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.append(
                    Diagnostic(
                        "a mapping key must be a plain word or string", key_loc, code="bad-key"
                    )
                )
                continue
            key = key_node.value
            if key_node.style == '"':
                key = self.no_surrogates(key, key_loc)
            if key in explicit:
                first = keys[key]
                self.diagnostics.append(
                    Diagnostic(
                        f"duplicate key '{excerpt(key)}' (first defined at line {first.line}, column "
                        f"{first.column}; YAML would silently keep only the last one)",
                        key_loc,
                        code="duplicate-key",
                    )
                )
                continue
            explicit.add(key)
            keys[key] = key_loc
            value[key] = self.convert(value_node, depth + 1)
        for merge in merges:
            self.merge_into(value, keys, merge, depth)
        return Node("map", value, self.loc(node), keys=keys)

    def merge_into(
        self, value: dict[str, Node], keys: dict[str, Location], merge: Any, depth: int
    ) -> None:
        """``<<: *a`` or ``<<: [*a, *b]``: copy keys not already present (explicit keys win)."""
        sources = merge.value if isinstance(merge, SequenceNode) else [merge]
        for source in sources:
            if not isinstance(source, MappingNode):
                msg = "a merge key '<<' takes a mapping or a list of mappings"
                self.diagnostics.append(Diagnostic(msg, self.loc(source), code="wrong-type"))
                continue
            merged = self.convert(source, depth + 1)
            for k, v in merged.value.items():
                if k not in value:
                    value[k] = v
                    keys[k] = merged.keys[k]
