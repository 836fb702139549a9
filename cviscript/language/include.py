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
* a fragment takes only `description`, `include`, `vars`, `any` and `states`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import spec as S
from .cache import note_read
from .loader import Node, compose, read_source

if TYPE_CHECKING:
    from .validate_base import Checks

MAX_FILES = 64  # fragments in one scenario, all levels together
MERGED = ("vars", "any", "states")


def expand_includes(v: Checks, root: Node) -> Node:
    """`root` with the `vars`, `any` and `states` of its fragments merged in (`root` itself when
    it includes nothing). Problems are reported through `v`."""
    if root.get("include") is None:
        return root
    merger = _Merger(v)
    merger.seen.add(os.path.abspath(v.file))
    parts = merger.collect(root, v.file, [os.path.abspath(v.file)])
    value = dict(root.value)
    keys = dict(root.keys)
    for key in MERGED:
        merged = merger.merge(key, parts)
        if merged is not None:
            value[key] = merged
            keys.setdefault(key, merged.loc)
    return Node("map", value, root.loc, keys, root.text, root.style)


class _Merger:
    def __init__(self, v: Checks):
        self.v = v
        self.seen: set[str] = set()  # absolute paths already merged (diamonds merge once)
        self.count = 0

    def collect(self, node: Node, filename: str, stack: list[str]) -> list[Node]:
        """`node` and the roots of every fragment it includes, depth first, in order."""
        parts = [node]
        entries = self._entries(node.get("include"), filename)
        base = os.path.dirname(os.path.abspath(filename))
        for entry, rel in entries:
            path = os.path.normpath(os.path.join(base, rel))
            if path in stack:
                chain = " -> ".join(os.path.basename(p) for p in [*stack, path])
                self.v.error(entry.loc, "include-cycle", f"include: cycle: {chain}")
                continue
            if path in self.seen:
                continue
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
        if not os.path.isfile(path):
            note_read(path, None)
            self.v.error(
                entry.loc,
                "include-missing",
                f"include: no such file '{entry.value}' (looked for {shown})",
            )
            return None
        text, problems = read_source(path)
        if text is None:
            self.v.diagnostics += problems
            return None
        root, problems = compose(text, shown)
        self.v.diagnostics += problems
        if root is None:
            return None
        if not root.is_map:
            self.v.error(
                root.loc,
                "wrong-type",
                f"a fragment must be a mapping of vars, any and states, got {root.describe()}",
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
