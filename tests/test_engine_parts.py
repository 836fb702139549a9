"""The engine's parts own their state and never reach back into the engine (issue 21.3)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "cviscript" / "engine"
PARTS = sorted(
    p for p in ENGINE.glob("*.py") if p.name not in ("__init__.py", "engine.py", "conversation.py")
)


@pytest.mark.parametrize("path", PARTS, ids=lambda p: p.name)
def test_no_part_of_the_engine_imports_the_engine(path):
    """Not even under TYPE_CHECKING: a part is handed what it needs, it does not name Engine."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")
            assert not (node.level == 1 and module == ["engine"]), f"{path.name} imports .engine"
            assert "Engine" not in [a.name for a in node.names], f"{path.name} imports Engine"


def _epoch_reads(name: str) -> list[int]:
    tree = ast.parse((ENGINE / name).read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and "epoch" in node.attr and node.attr != "outer_epoch"
    ]


def test_only_the_timers_know_the_epoch():
    """The epoch (which state entry armed a timer) is the timers' own; the engine and the
    hierarchy never touch it."""
    for name in ("engine.py", "hierarchy.py", "final_wait.py"):
        assert _epoch_reads(name) == [], name
    assert _epoch_reads("timers.py")
