"""`include:` — shared fragments merged into a scenario before it is validated.

A team with ten demos keeps the greeting, the goodbye and the "stop" handling in one file:

    include: [common.yaml]

merges the fragment's `vars`, `any` and `states` into the including file. The merge happens on the
located YAML nodes (`loader.Node`), not on the model: every node keeps the file and line it was
written at, so an error inside a fragment — and any report that names a location — points into
the fragment, not at the `include:` line.

Rules (each problem is an error located in the file that has it):

* paths are relative to the file that names them; a fragment may include others;
* the including file's own entries come first, then each fragment's in the order listed (so its
  `any:` transitions are checked before the fragments'); a variable or top-level state defined
  twice is an error naming both places;
* a missing or unreadable fragment is an error at its entry in the `include:` list; a fragment
  that includes, directly or not, a file already being included is a cycle, also an error there;
* a file reached twice by different routes (a diamond) is merged once;
* a fragment takes only `description`, `include`, `vars`, `any` and `states`;
* files are compared by their resolved paths, so one fragment reached through a symlink and
  through its own name is one file (merged once, no false "defined twice").

Confinement (an include names a file to read, and its text would end up in errors and reports):

* every fragment must resolve (symlinks followed) inside the *include root*: the folder of the
  scenario being loaded, or the folder given with ``--include-root`` / ``CVISCRIPT_INCLUDE_ROOT``
  / ``load_scenario(include_root=...)``. An absolute path or ``../`` that leaves it is refused
  (`include-outside`) without the file being opened;
* a device, FIFO or socket is refused before it is read, and a file's size before its bytes are;
* a fragment that is not a YAML mapping is described by its size only, and any error quoting a
  fragment's text shows a short, redacted excerpt (`printable.excerpt`), never the file;
* the loader's limits (`loader.MAX_BYTES`, `loader.MAX_NODES`) count the scenario and all its
  fragments together, so 64 fragments cannot make 64 times the largest scenario.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import Diagnostic
from ..printable import printable
from . import spec as S
from .cache import note_read
from .loader import MAX_BYTES, MAX_NODES, Node, compose, read_source

if TYPE_CHECKING:
    from .validate_base import Checks

MAX_FILES = 64  # fragments in one scenario, all levels together
MERGED = ("vars", "any", "states")
ROOT_ENV = "CVISCRIPT_INCLUDE_ROOT"
MAX_PATH_SHOWN = 200  # characters of an include entry an error shows


def include_root(scenario_file: str, given: str | os.PathLike[str] | None = None) -> str:
    """The resolved folder every fragment of `scenario_file` must be inside: `given`, else the
    ``CVISCRIPT_INCLUDE_ROOT`` environment variable, else the scenario's own folder."""
    chosen = given or os.environ.get(ROOT_ENV) or os.path.dirname(os.path.abspath(scenario_file))
    return os.path.realpath(chosen)


def count_nodes(node: Node) -> int:
    """How many nodes a tree holds (what `loader.MAX_NODES` counts)."""
    count, todo = 0, [node]
    while todo:
        n = todo.pop()
        count += 1
        if n.kind == "map":
            todo.extend(n.value.values())
        elif n.kind == "seq":
            todo.extend(n.value)
    return count


def expand_includes(
    v: Checks, root: Node, *, root_dir: str | None = None, used: tuple[int, int] = (0, 0)
) -> Node:
    """`root` with the `vars`, `any` and `states` of its fragments merged in (`root` itself when
    it includes nothing). Problems are reported through `v`. `root_dir` is the include root
    (`include_root`); `used` is (bytes, nodes) the scenario file itself took of the limits."""
    if root.get("include") is None:
        return root
    merger = _Merger(v, root_dir or include_root(v.file))
    merger.bytes_used, merger.nodes_used = used
    if not merger.nodes_used:
        merger.nodes_used = count_nodes(root)
    own = os.path.realpath(v.file)
    merger.seen.add(own)
    parts = merger.collect(root, v.file, [own])
    value = dict(root.value)
    keys = dict(root.keys)
    for key in MERGED:
        merged = merger.merge(key, parts)
        if merged is not None:
            value[key] = merged
            keys.setdefault(key, merged.loc)
    return Node("map", value, root.loc, keys, root.text, root.style)


class _Merger:
    def __init__(self, v: Checks, root_dir: str):
        self.v = v
        self.root_dir = root_dir
        self.seen: set[str] = set()  # resolved paths already merged (diamonds merge once)
        self.count = 0
        self.bytes_used = 0
        self.nodes_used = 0
        self.over_budget = False  # a fragment took the scenario past a limit: read no more

    def collect(self, node: Node, filename: str, stack: list[str]) -> list[Node]:
        """`node` and the roots of every fragment it includes, depth first, in order."""
        parts = [node]
        entries = self._entries(node.get("include"), filename)
        base = os.path.dirname(os.path.abspath(filename))
        for entry, rel in entries:
            path = os.path.realpath(os.path.join(base, rel))
            if os.path.commonpath([path, self.root_dir]) != self.root_dir:
                self.v.error(
                    entry.loc,
                    "include-outside",
                    f"include: '{_path_shown(rel)}' is outside the include root {self.root_dir} "
                    "(fragments must be in the scenario's folder or below it; give "
                    "--include-root to allow a wider folder)",
                )
                continue
            if path in stack:
                chain = " -> ".join(os.path.basename(p) for p in [*stack, path])
                self.v.error(entry.loc, "include-cycle", f"include: cycle: {chain}")
                continue
            if path in self.seen or self.over_budget:
                continue  # past the size limits: the first fragment over them was reported
            self.count += 1
            if self.count > MAX_FILES:
                self.v.error(
                    entry.loc, "bad-value", f"include: more than {MAX_FILES} fragments in all"
                )
                return parts
            self.seen.add(path)
            shown = os.path.join(os.path.dirname(filename), rel) if filename else rel
            fragment = self._read(path, shown, entry)
            if fragment is not None:
                parts += self.collect(fragment, shown, [*stack, path])
        return parts

    def _entries(self, node: Node | None, filename: str) -> list[tuple[Node, str]]:
        if node is None or node.is_null:
            return []
        items = node.value if node.is_seq else [node]
        out = []
        for item in items:
            if item.is_scalar and isinstance(item.value, str) and item.value.strip():
                out.append((item, item.value.strip()))
            else:
                self.v.error(
                    item.loc,
                    "wrong-type",
                    f"include: each entry must be a file path, got {item.describe()}",
                )
        return out

    def _read(self, path: str, shown: str, entry: Node) -> Node | None:
        if not os.path.exists(path):
            note_read(path, None)
            self.v.error(
                entry.loc,
                "include-missing",
                f"include: no such file '{_path_shown(str(entry.value).strip())}' (looked for {shown})",
            )
            return None
        text, problems = read_source(path, max_bytes=MAX_BYTES - self.bytes_used)
        if text is None:
            self.over_budget = any(d.code == "too-large" for d in problems)
            self.v.diagnostics += [_at_entry(d, entry, shown) for d in problems]
            return None
        self.bytes_used += len(text.encode("utf-8", "surrogatepass"))
        root, problems = compose(text, shown, max_nodes=MAX_NODES - self.nodes_used)
        self.v.diagnostics += problems
        if root is None:
            self.over_budget = any(d.code == "too-large" for d in problems)
            return None
        self.nodes_used += count_nodes(root)
        if not root.is_map:
            what = "a list" if root.is_seq else f"a text of {len(text):,} characters"
            self.v.error(
                root.loc,
                "wrong-type",
                f"a fragment must be a mapping of vars, any and states; {shown} holds {what} "
                "(its content is not shown)",
            )
            return None
        self.v.shape(root, f"fragment {shown}", S.FRAGMENT)
        return root

    def merge(self, key: str, parts: list[Node]) -> Node | None:
        nodes = [n for p in parts if (n := p.get(key)) is not None and not n.is_null]
        if all(p.get(key) is None for p in parts[1:]):
            return None  # nothing from fragments: the file's own node stays as it is
        if key == "any":
            items: list[Node] = []
            for n in nodes:
                if n.is_seq:
                    items += n.value
                else:  # reported by the validator when it reads that node
                    self.v.error(n.loc, "wrong-type", f"any must be a list, got {n.describe()}")
            return Node("seq", items, nodes[0].loc if nodes else parts[0].loc)
        value: dict[str, Node] = {}
        keys = {}
        what = "variable" if key == "vars" else "state"
        for n in nodes:
            if not n.is_map:
                self.v.error(n.loc, "wrong-type", f"{key} must be a mapping, got {n.describe()}")
                continue
            for name, child in n.value.items():
                if name in value:
                    self.v.error(
                        n.key_loc(name),
                        "include-clash",
                        f"{what} '{name}' is defined twice: here and at {keys[name]} "
                        "(an included fragment cannot redefine a name)",
                    )
                    continue
                value[name] = child
                keys[name] = n.key_loc(name)
        return Node("map", value, nodes[0].loc if nodes else parts[0].loc, keys)


def _path_shown(rel: str) -> str:
    """An include entry as the scenario wrote it: shown whole (it is the author's own text, and a
    path is no secret), on one line and bounded."""
    rel = printable(rel, keep_newlines=False)
    return rel if len(rel) <= MAX_PATH_SHOWN else rel[: MAX_PATH_SHOWN - 1] + "…"


def _at_entry(d: Diagnostic, entry: Node, shown: str) -> Diagnostic:
    """A fragment that could not be read, reported at its `include:` entry."""
    return Diagnostic(f"include: {shown}: {d.message}", entry.loc, d.severity, d.code)
