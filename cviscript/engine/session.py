"""The session interface: the engine's one view of a conversation, live or simulated.

A session moves messages, nothing more. It delivers every message it receives from the conversation
*as it came off the wire* (a parsed JSON value, not yet validated) to `sink.on_message`, and sends
interactions (already complete dicts built by `cviscript.protocol`). Normalising, de-duplicating
and recording happen once, above the session, in `cviscript.engine.conversation`, so the live, simulated
and replay sessions feed the engine identical events.

Implementations:

* `cviscript.sessions.simulated.replica.SimulatedReplica` — the built-in simulated replica on a virtual clock;
* `cviscript.sessions.live.daily_session.DailySession` — a Tavus conversation over daily-python;
* `cviscript.sessions.replay.ReplaySession` — the received messages of a recorded transcript.

Threading: every `sink` call must happen on the thread that runs the clock (the virtual clock's
caller, or the asyncio loop live). Live sessions bridge from daily's thread themselves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from ..trace import TraceRecord


class SessionSink(Protocol):
    def on_message(self, message: Any, sender: str | None = None) -> None:
        """A message arrived from the conversation (raw wire value)."""

    def on_closed(self, reason: str) -> None:
        """The connection is gone (left, disconnected, ended). No more messages will arrive."""

    def on_present(self) -> None:
        """The replica is in the room: what is sent from now on reaches it. Sessions whose
        `reports_presence` is true call this once (the scenario starts then)."""


class Session(ABC):
    conversation_id: str = ""
    # True: this session calls `sink.on_present()` once the replica is in the room, and the
    # scenario starts only then (Daily stores no message for a late joiner, so anything sent
    # before is lost). False (replay, scripted tests): the scenario starts at once.
    reports_presence: bool = False

    @abstractmethod
    def start(self, sink: SessionSink) -> None:
        """Begin delivering received messages to `sink`. Called once, after the session is ready."""

    @abstractmethod
    def send(self, message: dict[str, Any]) -> None:
        """Send one interaction. Raises `cviscript.errors.CviscriptError` if it cannot be sent."""

    @abstractmethod
    def close(self) -> None:
        """Stop delivering and release resources. Idempotent."""

    def observe(self, record: TraceRecord) -> None:  # noqa: B027 - optional hook, no-op by default
        """Sees every trace record (state changes, ...). The simulated user reacts to these."""
