"""The live path: Tavus's REST API and the Daily room a conversation runs in.

* `tavus_api.TavusClient` — create / end / read conversations (stdlib HTTP only);
* `daily_session.DailySession` — the `Session` over daily-python (the only module importing
  `daily`, and only when a session connects);
* `options.LiveOptions` — everything a live run is given (connection, identity, limits, audio,
  steering), built once by the command line and passed down;
* `runner.LiveRun` / `run_live` / `run_live_sync` — a scenario against a live conversation, with
  clean-up on every exit path; `resolve_target` — which conversation the command line asks for;
* `tools.Listener` / `tools.Sender` — watch a conversation's events, send one interaction.

A runner creates the conversation, connects a session, hands it to the engine, and on every exit
path closes the session and ends the conversation it created (billing runs until then).
The fake Daily room for trying these offline is `cviscript.sessions.fake`, not part of this package.
Names are imported lazily so that `import cviscript.sessions.live` stays cheap.
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
    "LiveRun": "runner",
    "LiveOptions": "options",
    "Connection": "options",
    "Identity": "options",
    "Limits": "options",
    "Audio": "options",
    "Steering": "options",
    "LiveTarget": "target",
    "Interrupted": "runner",
    "run_live": "runner",
    "run_live_sync": "runner",
    "resolve_target": "target",
    "Listener": "tools",
    "Sender": "tools",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
