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
