"""The optional tools some tests need (Chromium, tmux, espeak-ng, Graphviz, ...): a test that
needs one SKIPS when it is missing on a developer's machine and FAILS when it is missing in CI.

CI is known by `CVISCRIPT_REQUIRE_TOOLS=1`, which `.ci/run` exports after installing every tool,
or by a `CI` variable set to a true value (GitHub Actions, GitLab and most others set `CI=true`).
Every test that needs a tool asks here, never `pytest.skip` on its own: a guard that only a
forgotten variable turns on is no guard (tests/test_ci_guards.py keeps it so).
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType

import pytest

REQUIRE_ENV = "CVISCRIPT_REQUIRE_TOOLS"


def required() -> bool:
    """Whether a missing tool fails the test instead of skipping it (CI)."""
    if os.environ.get(REQUIRE_ENV) == "1" or os.environ.get("CVISCRIPT_REQUIRE_BROWSER") == "1":
        return True
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(why: str) -> None:
    """Stop the test: a failure in CI, a skip elsewhere."""
    if required():
        pytest.fail(f"{why} — required in CI ({REQUIRE_ENV}=1 or CI=true; .ci/run installs it)")
    pytest.skip(why)


def program(*names: str, install: str) -> str:
    """The path of the first program of `names` on PATH (else the test stops; see `missing`)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    missing(f"{names[0]} is not installed (Debian: apt-get install {install})")
    raise AssertionError("unreachable")  # pragma: no cover - missing() always raises


def module(name: str, install: str) -> ModuleType:
    """The Python module `name` (else the test stops; see `missing`)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python package {name!r} is not installed (pip install {install})")
        raise AssertionError("unreachable") from None  # pragma: no cover
