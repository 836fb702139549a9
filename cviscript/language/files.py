"""Which files under a folder are scenario files: one walk and one look for every command.

`rehearse DIR`, `validate DIR`, `--watch DIR`, the pytest plugin and the search for the
scenarios that include a fragment all ask the same two questions — which folders does a walk
skip, and is this YAML file a scenario — and got three different answers while each kept its own
walk (`rehearse` walked into `venv/` and `node_modules/`, which `--watch` skipped, so the two
saw different suites). The answers live here:

* a walk skips folders whose name starts with a dot (``.git``, ``.venv``, ``.tox``), dependency
  and build folders (``node_modules``, ``__pycache__``, ``site-packages``, ``venv``, ``CVS``)
  and any virtualenv (a folder holding ``pyvenv.cfg``), in a stable order;
* a scenario is a ``.yaml``/``.yml`` file with a top-level ``cviscript:`` key in its first
  64 KiB (a cheap look, not a parse).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

SUFFIXES = (".yaml", ".yml")
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "CVS"})
SNIFF_BYTES = 65536
_SCENARIO_KEY = re.compile(r"^cviscript[ \t]*:", re.MULTILINE)


def skipped(folder: str, name: str) -> bool:
    """Whether a walk skips the folder `name` inside `folder`."""
    if name.startswith(".") or name in SKIPPED_FOLDERS:
        return True
    return os.path.exists(os.path.join(folder, name, "pyvenv.cfg"))  # a virtualenv


def yaml_files_under(folder: str | os.PathLike[str], limit: int | None = None) -> Iterator[str]:
    """The YAML files under `folder`, in a stable order; at most `limit` files looked at."""
    seen = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not skipped(root, d))
        for name in sorted(files):
            seen += 1
            if limit is not None and seen > limit:
                return
            if name.lower().endswith(SUFFIXES):
                yield os.path.join(root, name)


def head(path: str | os.PathLike[str]) -> str | None:
    """The first `SNIFF_BYTES` of a file as text, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError:
        return None


def has_scenario_key(text: str) -> bool:
    """Whether `text` (a file's head) has a top-level ``cviscript:`` key."""
    return _SCENARIO_KEY.search(text) is not None


def is_scenario_file(path: str | os.PathLike[str]) -> bool:
    """A YAML file with a top-level ``cviscript:`` key."""
    path = os.fspath(path)
    if not path.lower().endswith(SUFFIXES) or not os.path.isfile(path):
        return False
    text = head(path)
    return text is not None and has_scenario_key(text)
