"""The live path: Tavus's REST API and the Daily room a conversation runs in.

* `tavus_api.TavusClient` — create / end / read conversations (stdlib HTTP only);
* `daily_session.DailySession` — the `Session` over daily-python (the only module importing
  `daily`, and only when a session connects);
* `fake_daily.FakeDaily` — a stand-in for the `daily` module, for tests and offline trials.

A runner creates the conversation, connects a session, hands it to the engine, and on every exit
path closes the session and ends the conversation it created (billing runs until then).
Names are imported lazily so that `import cviscript.live` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "TavusClient": "tavus_api",
    "TavusError": "tavus_api",
    "TavusAuthError": "tavus_api",
    "conversation_id_from_url": "tavus_api",
    "DailySession": "daily_session",
    "FakeDaily": "fake_daily",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
