"""Extend cviscript with your own session: drive a scenario from any event source.

    python examples/extend/custom_session.py

The engine talks to a conversation only through the `Session` interface (start / send / close),
and receives raw wire messages, which it normalises exactly as it does for a live Tavus room. So
anything that can produce Tavus-shaped events can drive a scenario: a message queue, a websocket
bridge, a log file — here, a hand-written script of events, played on a virtual clock.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cviscript.clock import VirtualClock
from cviscript.engine.conversation import Conversation
from cviscript.engine.session import Session
from cviscript.language.validate import load_scenario

SCENARIO = Path(__file__).with_name("doorbell.yaml")


def tavus_event(event_type: str, **properties) -> dict:
    """A message shaped like the ones a Tavus replica sends."""
    return {
        "message_type": "conversation",
        "event_type": event_type,
        "conversation_id": "c-doorbell",
        "properties": properties,
    }


class ScriptedSession(Session):
    """Plays `script` [(seconds, message)] on the clock and prints what the scenario sends."""

    conversation_id = "c-doorbell"

    def __init__(self, clock: VirtualClock, script: list[tuple[float, dict]]):
        self.clock = clock
        self.script = script
        self.sent: list[dict] = []

    def start(self, sink) -> None:
        for at, message in self.script:
            self.clock.call_later(at, sink.on_message, message)

    def send(self, message: dict) -> None:
        self.sent.append(message)
        props = message["properties"]
        print(f"{self.clock.now():6.2f}s  -> {message['event_type']} {props.get('text', '')}")

    def close(self) -> None:
        print(f"{self.clock.now():6.2f}s  session closed")


def main() -> int:
    scenario = load_scenario(SCENARIO)
    clock = VirtualClock()
    session = ScriptedSession(
        clock,
        [
            (0.5, tavus_event("conversation.replica.started_speaking")),
            (2.0, tavus_event("conversation.replica.stopped_speaking", duration=1.5)),
            (
                4.0,
                tavus_event("conversation.utterance", role="user", speech="It's a parcel for Ada"),
            ),
            (4.5, tavus_event("conversation.replica.started_speaking")),
            (6.0, tavus_event("conversation.replica.stopped_speaking", duration=1.5)),
            (6.3, tavus_event("conversation.replica.started_speaking")),
            (7.1, tavus_event("conversation.replica.stopped_speaking", duration=0.8)),
        ],
    )
    conv = Conversation(scenario, session, clock)
    conv.start()
    clock.run(stop=lambda: conv.done)
    print(f"outcome: {conv.result.outcome}, path: {' -> '.join(conv.result.path)}")
    return 0 if conv.result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
