"""The package's shape: what imports what (checked on the source, without importing it)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cviscript"


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) for every import in one module of the package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts[:-1]  # a module's package; for an __init__, the package itself
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, [alias.name for alias in node.names], node.lineno))
    return found


def test_the_live_path_does_not_import_the_fake_room():
    live = PACKAGE / "sessions" / "live"
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in sorted(live.rglob("*.py"))
        for module, names, line in _imports(path)
        if module.startswith("cviscript.sessions.fake")
        or (module == "cviscript.sessions" and "fake" in names)
    ]
    assert offenders == []
    assert not any("fake" in path.name for path in live.rglob("*.py"))


def _module_names(path: Path) -> dict[str, str]:
    """Local name -> absolute module, for the cviscript modules `path` imports as modules."""
    found = {}
    for module, names, _line in _imports(path):
        for name in names:
            full = f"{module}.{name}"
            as_path = PACKAGE.parent.joinpath(*full.split("."))
            if as_path.with_suffix(".py").is_file() or (as_path / "__init__.py").is_file():
                found[name] = full
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_imports_a_private_name_from_another_module():
    """A name starting with ``_`` is its module's own: another module that needs it gets a
    public name (or the piece moves where both can reach it)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE.parent)
        for module, names, line in _imports(path):
            if not module.startswith("cviscript"):
                continue
            offenders += [f"{where}:{line} imports {module}.{n}" for n in names if _private(n)]
            if any(_private(part) for part in module.split(".")):
                offenders.append(f"{where}:{line} imports the private module {module}")
        modules = _module_names(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and _private(node.attr)
            ):
                offenders.append(f"{where}:{node.lineno} uses {modules[node.value.id]}.{node.attr}")
    assert offenders == []


# Private names of other libraries that cviscript reaches on purpose (each commented where used).
FOREIGN_PRIVATE = {"os._exit", "regex._regexp", "re2._re2", "rv._undefined_hint"}
FOREIGN_PRIVATE |= {"result._fail_with_undefined_error"}


def test_no_module_uses_a_private_attribute_another_module_defines():
    """`obj._name` where nothing in this module defines `_name`: reaching into another module's
    object (the fake replica called the fake room's `_schedule` and `_deliver`). Such a name is
    the other module's interface and gets a public name."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        own: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            if node.attr in own or (isinstance(node.value, ast.Name) and node.value.id == "self"):
                continue
            if ast.unparse(node) not in FOREIGN_PRIVATE:
                offenders.append(
                    f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {ast.unparse(node)}"
                )
    assert offenders == []


CLI_FUNCTION_LINES = 60  # the command line only parses, builds the options, calls and prints


def test_no_function_of_the_command_line_is_long():
    """A long function in `cviscript/cli/` is library work done in the wrong layer."""
    long = []
    for path in sorted((PACKAGE / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > CLI_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    assert long == []


def test_every_file_the_package_claims_to_ship_exists():
    """pyproject.toml's package data: each pattern names at least one file (it once claimed a
    py.typed that was never there)."""
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["cviscript"]
    assert patterns
    assert [p for p in patterns if not list(PACKAGE.glob(p))] == []
