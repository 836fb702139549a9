"""Shared test configuration: `helpers` importable, slow tests opt-in with CVISCRIPT_SLOW=1."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parent.parent

# The scenario cache of this test session (and of the commands it starts): starts empty, never the
# developer's own, removed at the end.
_CACHE_DIR = tempfile.mkdtemp(prefix="cviscript-test-cache-")
os.environ["CVISCRIPT_CACHE_DIR"] = _CACHE_DIR
os.environ.pop("CVISCRIPT_NO_CACHE", None)
atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)


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
