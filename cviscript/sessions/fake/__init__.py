"""The fake Daily room: trying the live commands, and testing the live path, without an account.

There is no local Daily server and no reachable Tavus account, so the live path is exercised
against stand-ins that mirror daily-python's runtime signatures and threading:

* `daily_room.FakeDaily` — a stand-in for the `daily` module (one callback thread per client,
  app-messages, a virtual microphone, test controls);
* `replica.FakeReplica` — the one replica model (`cviscript.sessions.replica_model`) put in that
  room on a wall clock; `replica.fake_daily_from_env` builds a talking room from the
  ``CVISCRIPT_FAKE_DAILY`` environment variable, which makes the command line use it.

None of this talks to Daily or Tavus; `cviscript.sessions.live` holds what does.
Names are imported lazily so that `import cviscript.sessions.fake` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

FAKE_DAILY_ENV = "CVISCRIPT_FAKE_DAILY"

_LAZY = {
    "FakeDaily": "daily_room",
    "FakeReplica": "replica",
    "fake_daily_from_env": "replica",
}

__all__ = sorted([*_LAZY, "FAKE_DAILY_ENV"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
