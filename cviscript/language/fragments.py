"""Fragments (`include:`) checked as fragments: `cviscript validate common/house.yaml`.

A fragment is not a scenario: it has no `cviscript:`, `name:` or `initial:`, and its transitions
may go to states only the including scenario defines. Checking it as a scenario would report three
missing keys and nothing useful. So a file that looks like a fragment (`looks_like_fragment`: its
top-level keys are only a fragment's — description, include, vars, any, states) is checked in two
ways (`check_fragment`):

* on its own: its shape and every state, transition, action and template in it, as in a scenario,
  except references to states it does not define (the including scenario may define them);
* as included: the scenarios that include it, directly or through other fragments (in its folder
  or the folders above: a scenario includes only files inside its own folder by default), are
  checked, and their problems located in the
  fragment are reported, each naming the scenario (a fragment shared by ten scenarios may be
  wrong for one of them only). A fragment no scenario includes is reported
  (`fragment-not-included`): it is checked on its own only.

Nothing here imports or runs anything but the validator.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from ..errors import Diagnostic, Location
from .files import SUFFIXES, has_scenario_key, head, yaml_files_under
from .loader import Node, compose, read_source

_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:", re.MULTILINE)
FRAGMENT_KEYS = {"description", "include", "vars", "any", "states"}  # spec.FRAGMENT's keys
MAX_CANDIDATES = 500  # scenario files looked at to find the includers of one fragment
MAX_DEPTH = 8  # levels of include: followed from a scenario
MAX_WALK = 20_000  # files walked past, at most, looking for includers under an include root
_SCENARIO_WIDE = {"too-large"}  # a scenario's limits, counted over its fragments: its problem
MAX_UP = 4  # folders above a fragment's looked in for its includers
_PROJECT_MARKERS = (".git", "pyproject.toml", "mkdocs.yml")


def looks_like_fragment(path: str | os.PathLike[str]) -> bool:
    """A YAML file whose top-level keys are only a fragment's, with vars, any or states among
    them (a cheap look at its first 64 KB, not a parse)."""
    path = os.fspath(path)
    if not path.lower().endswith(SUFFIXES) or not os.path.isfile(path):
        return False
    text = head(path)
    if text is None:
        return False
    keys = set(_TOP_KEY.findall(text))
    return bool(keys & {"vars", "any", "states"}) and keys <= FRAGMENT_KEYS


def fragments_under(folder: str) -> list[str]:
    """The fragment files under `folder` (hidden and dependency folders skipped)."""
    return [p for p in yaml_files_under(folder) if looks_like_fragment(p)]


def _included(path: str) -> list[str]:
    """The files `path` names in its top-level `include:` (absolute, not followed)."""
    text, _problems = read_source(path)
    if text is None:
        return []
    root, _diags = compose(text, path)
    if root is None or not root.is_map:
        return []
    node = root.get("include")
    if node is None or node.is_null:
        return []
    items = node.value if node.is_seq else [node]
    base = os.path.dirname(os.path.abspath(path))
    return [
        os.path.realpath(os.path.join(base, item.value.strip()))
        for item in items
        if item.is_scalar and isinstance(item.value, str) and item.value.strip()
    ]


def _includes(scenario: str, target: str) -> bool:
    """Whether `scenario` includes `target` (a real path), directly or through fragments."""
    seen: set[str] = set()
    frontier = [os.path.realpath(scenario)]
    for _ in range(MAX_DEPTH):
        following = []
        for path in frontier:
            for child in _included(path):
                if child == target:
                    return True
                if child not in seen and os.path.isfile(child):
                    seen.add(child)
                    following.append(child)
        frontier = following
        if not frontier:
            break
    return False


def _candidates(fragment: str, include_root: str | None) -> Iterator[str]:
    """Files that may include `fragment`. A scenario may include only files inside its include
    root — by default its own folder — so its includers sit in the fragment's folder or one above
    it (up to a project's top: a folder with .git, pyproject.toml or mkdocs.yml, at most
    `MAX_UP` levels); with an explicit root (``--include-root``), anywhere under that root."""
    from .include import ROOT_ENV

    root = include_root or os.environ.get(ROOT_ENV)
    if root:
        yield from yaml_files_under(os.fspath(root), limit=MAX_WALK)
        return
    folder = os.path.dirname(os.path.abspath(fragment))
    for _ in range(MAX_UP + 1):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return
        for name in names:
            if name.lower().endswith(SUFFIXES):
                yield os.path.join(folder, name)
        if any(marker in names for marker in _PROJECT_MARKERS):
            return
        parent = os.path.dirname(folder)
        if parent == folder:
            return
        folder = parent


def includers(fragment: str, include_root: str | None = None) -> list[str]:
    """The scenario files that include the fragment, directly or through other fragments (see
    `_candidates` for where they are looked for), as paths relative to the current folder when
    below it."""
    target = os.path.realpath(fragment)
    found = []
    looked = 0
    for path in _candidates(fragment, include_root):
        text = head(path)
        if text is None or not has_scenario_key(text) or "include" not in text:
            continue
        looked += 1
        if looked > MAX_CANDIDATES:
            break
        if _includes(path, target):
            shown = os.path.relpath(path)
            found.append(path if shown.startswith(os.pardir) else shown)
    return found


def _same_file(a: str | None, b: str) -> bool:
    if not a:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_fragment(
    path: str | os.PathLike[str], *, include_root: str | os.PathLike[str] | None = None
) -> list[Diagnostic]:
    """Every problem of the fragment at `path`: on its own, and in each scenario that includes
    it (see the module's docstring)."""
    from . import spec as S
    from .validate import Validator, check_file

    filename = os.fspath(path)
    text, problems = read_source(filename)
    if text is None:
        return problems
    root, out = compose(text, filename)
    if root is None:
        return out
    out = list(out)
    if not root.is_map:
        out.append(
            Diagnostic(
                f"a fragment must be a mapping of vars, any and states, got {root.describe()}",
                root.loc,
                "error",
                "wrong-type",
            )
        )
        return out
    v = Validator(filename)  # `v.states` stays empty: a goto may name the includer's states
    v.shape(root, f"fragment {filename}", S.FRAGMENT)
    if (n := root.get("vars")) is not None:
        v.plain_map(n, "vars")
    v.each(root.get("any"), "any", lambda t, i: v.transition(t, f"any[{i}]"))
    states: Node | None = root.get("states")
    if states is not None and states.is_map:
        v.states_into(states, {})
    out += v.diagnostics
    seen = {(d.loc.line, d.loc.column, d.code) for d in out if d.loc}
    given = os.fspath(include_root) if include_root is not None else None
    users = includers(filename, given)
    for scenario in users:
        for d in check_file(scenario, include_root=given):
            if d.loc is None or not _same_file(d.loc.file, filename) or d.code in _SCENARIO_WIDE:
                continue
            key = (d.loc.line, d.loc.column, d.code)
            if d.severity == "error" and key in seen:
                continue  # found on its own already
            seen.add(key)
            out.append(
                Diagnostic(
                    d.message, Location(filename, d.loc.line, d.loc.column), d.severity, d.code
                )
            )
    if not users:
        out.append(
            Diagnostic(
                "no scenario in this folder or the ones above includes this fragment: it was "
                "checked on its own (references to states it does not define are checked only "
                "where it is included)",
                root.loc,
                "warning",
                "fragment-not-included",
            )
        )
    out.sort(key=lambda d: (d.loc.line, d.loc.column) if d.loc else (0, 0))
    return out
