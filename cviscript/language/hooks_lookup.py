"""Finding a `call:` hook without running it: the `hook-not-found` lint, and the check `run` and
`rehearse` make before a conversation starts (a hook that cannot be found is an error there).

`cviscript validate` and `graph` must not execute a scenario's Python: importing a module runs its
top level, and so does `importlib.util.find_spec("pkg.mod")`, which imports `pkg` (its
`__init__`) to learn where `mod` lives. So the module is located by walking the folders: the
scenario's folder, then `sys.path`; for a dotted name, the top-level package's folders (asked of
the import system without importing it, which covers editable installs) and then one folder per
dot. A Python source file found is parsed: the function must be defined (or assigned, or
imported) at its top level. A compiled or namespace module is given the benefit of the doubt: it
has no source to read without running it.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from .cache import note_path, note_read

MAX_SOURCE_BYTES = 2 * 1024 * 1024


def module_file(module: str, folder: str) -> str | None:
    """The module's file in `folder` (``mod.py`` or ``pkg/__init__.py``), if there is one."""
    rel = module.replace(".", os.sep)
    for candidate in (rel + ".py", os.path.join(rel, "__init__.py")):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
        note_read(path, None)  # a module written here later is found instead: the cache must know
    return None


_NOT_FOUND = ""  # `locate`'s answer for a module that is nowhere
_OPAQUE = None  # a module that exists but has no source to read (compiled, namespace, frozen)


def _top_folders(top: str) -> Iterator[str]:
    """The folders the top-level package `top` can live in, without importing it."""
    module = sys.modules.get(top)
    if module is not None:
        yield from list(getattr(module, "__path__", None) or [])
        return
    try:  # a top-level name: the finders are asked, nothing is executed
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        yield from list(spec.submodule_search_locations)


def _in_folders(parts: list[str], folders: Iterable[str]) -> str | None:
    """`parts` (a dotted name split) under one of `folders`: its file, _OPAQUE, or _NOT_FOUND."""
    for base in folders:
        if not isinstance(base, str):
            continue
        here = os.path.join(base or os.curdir, *parts[:-1])
        if not os.path.isdir(here):
            continue
        leaf = os.path.join(here, parts[-1])
        for candidate in (leaf + ".py", os.path.join(leaf, "__init__.py")):
            if os.path.isfile(candidate):
                return candidate
        for suffix in importlib.machinery.EXTENSION_SUFFIXES + [".pyc"]:
            if os.path.isfile(leaf + suffix):
                return _OPAQUE
        if os.path.isdir(leaf):
            return _OPAQUE  # a namespace package
    return _NOT_FOUND


def locate(module: str, folder: str) -> str | None:
    """Where `module` is, without importing anything: a source file, None for a module that exists
    with no source to read (compiled, built in, a namespace package), "" when it is nowhere."""
    found = module_file(module, folder)
    if found is not None:
        return found
    parts = module.split(".")
    if not all(p.isidentifier() for p in parts):
        return _NOT_FOUND
    if len(parts) == 1:
        if module in sys.builtin_module_names or module in sys.modules:
            spec = getattr(sys.modules.get(module), "__spec__", None)
            origin = getattr(spec, "origin", None)
            return origin if origin and origin.endswith(".py") else _OPAQUE
        try:
            spec = importlib.util.find_spec(module)  # top level: nothing is imported
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return _NOT_FOUND
        origin = spec.origin
        return origin if origin and origin.endswith(".py") else _OPAQUE
    return _in_folders(parts[1:], list(_top_folders(parts[0])))


def find_hook(function: str, folder: str) -> str | None:
    """None when `module:function` can be found; otherwise why not. Imports nothing."""
    module, _, name = function.partition(":")
    path = locate(module, folder)
    if path == _NOT_FOUND:
        return f"no module '{module}' in the scenario's folder ({folder}) or installed"
    if path is None:
        return None  # a compiled or namespace module: cannot read it without running it
    note_path(path)
    names = _names_in(path)
    if isinstance(names, str):
        return names
    if names is None or name in names:
        return None
    return f"{path} defines no function '{name}' at its top level"


_parsed: dict[str, tuple[tuple[int, int, int], set[str] | str | None]] = {}


def _names_in(path: str) -> set[str] | str | None:
    """The top-level names of the module file at `path` (None: too big to read; a string: why it
    cannot be read). Parsed again only when the file changed: every run and rehearsal case
    checks its hooks before it starts."""
    try:
        st = os.stat(path)
    except OSError as e:
        return f"cannot read {path}: {e}"
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _parsed.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    found: set[str] | str | None
    if st.st_size > MAX_SOURCE_BYTES:
        found = None
    else:
        try:
            with open(path, encoding="utf-8") as f:
                found = _top_level_names(ast.parse(f.read(), path))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as e:
            found = f"cannot read {path}: {e}"
    if len(_parsed) >= 256:
        _parsed.pop(next(iter(_parsed)))
    _parsed[path] = (key, found)
    return found


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


_calls: dict[int, tuple[Any, dict[str, Any]]] = {}  # id -> (scenario, its calls by name)


def missing_hooks(scenario: object, canned: Iterable[str] = ()) -> list[str]:
    """Every `call:` hook of `scenario` that cannot be found (and is not replaced by a canned
    value), as "file:line: call: module:function: why" — an error before a run starts."""
    from .lint import all_actions
    from .model import Call

    cached = _calls.get(id(scenario))
    if cached is not None and cached[0] is scenario:
        calls = cached[1]
    else:  # once per scenario: a rehearsal suite starts many runs of it
        calls = {}
        for action in all_actions(scenario):  # type: ignore[arg-type]
            if isinstance(action, Call):
                calls.setdefault(action.function, action)
        if len(_calls) >= 64:
            _calls.pop(next(iter(_calls)))
        _calls[id(scenario)] = (scenario, calls)
    if not calls:
        return []
    folder = os.path.dirname(os.path.abspath(scenario.path))  # type: ignore[attr-defined]
    skip = set(canned)
    problems: list[str] = []
    for function, action in calls.items():
        if function in skip:
            continue
        problem = find_hook(action.function, folder)
        if problem is not None:
            where = f"{action.loc}: " if action.loc else ""
            problems.append(f"{where}call: {action.function}: {problem}")
    return problems
