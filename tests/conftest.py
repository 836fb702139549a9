"""Shared test configuration: `helpers` importable, slow tests opt-in with CVISCRIPT_SLOW=1."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: takes more than a few seconds; run with CVISCRIPT_SLOW=1"
    )


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CVISCRIPT_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow; set CVISCRIPT_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
