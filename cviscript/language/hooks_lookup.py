"""Finding a `call:` hook without running it, for the `hook-not-found` lint.

`cviscript validate` must not execute a scenario's Python: importing a module runs its top level.
So the module is located (a file in the scenario's folder, else an installed module through
`importlib.util.find_spec`, which imports at most its parent packages) and, when it is a Python
source file, parsed: the function must be defined (or assigned, or imported) at its top level.
A module that builds its functions dynamically is given the benefit of the doubt when it has no
source to read.
"""

from __future__ import annotations

import ast
import importlib.util
import os

MAX_SOURCE_BYTES = 2 * 1024 * 1024


def module_file(module: str, folder: str) -> str | None:
    """The module's file in `folder` (``mod.py`` or ``pkg/__init__.py``), if there is one."""
    rel = module.replace(".", os.sep)
    for candidate in (rel + ".py", os.path.join(rel, "__init__.py")):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def find_hook(function: str, folder: str) -> str | None:
    """None when `module:function` can be found; otherwise why not."""
    module, _, name = function.partition(":")
    path = module_file(module, folder)
    if path is None:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return f"no module '{module}' in the scenario's folder ({folder}) or installed"
        path = spec.origin if spec.origin and spec.origin.endswith(".py") else None
        if path is None:
            return None  # a compiled or namespace module: cannot read it without running it
    try:
        if os.path.getsize(path) > MAX_SOURCE_BYTES:
            return None
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as e:
        return f"cannot read {path}: {e}"
    if name in _top_level_names(tree):
        return None
    return f"{path} defines no function '{name}' at its top level"


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
