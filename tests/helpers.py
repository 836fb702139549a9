"""Test helpers: a scripted session that plays raw wire messages at virtual times."""

from __future__ import annotations

import textwrap
from typing import Any

from cviscript.clock import VirtualClock
from cviscript.engine.conversation import Conversation
from cviscript.engine.session import Session
from cviscript.language.validate import load_scenario

CID = "c123"


def scenario_from(yaml_text: str, path: str = "test.yaml"):
    return load_scenario(path, source=textwrap.dedent(yaml_text))


class ScriptedSession(Session):
    """Delivers pre-scripted raw messages; records what the engine sends."""

    conversation_id = CID

    def __init__(self, clock: VirtualClock):
        self.clock = clock
        self.sent: list[dict[str, Any]] = []
        self.sink = None
        self.closed = False
        self.on_send = None  # optional callback(message) to react to sends

    def start(self, sink) -> None:
        self.sink = sink

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if self.on_send:
            self.on_send(message)

    def close(self) -> None:
        self.closed = True

    def push(self, at: float, message: Any) -> None:
        self.clock.call_later(
            at - self.clock.now(), lambda: self.sink and self.sink.on_message(message)
        )

    def types(self) -> list[str]:
        return [m["event_type"] for m in self.sent]


def ev(event_type: str, seq: int | None = None, **props: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "message_type": "conversation",
        "event_type": event_type,
        "conversation_id": CID,
        "properties": props,
    }
    if seq is not None:
        msg["seq"] = seq
    return msg


def user_says(text: str, seq: int | None = None) -> dict[str, Any]:
    return ev("conversation.utterance", seq, role="user", speech=text)


def replica_says(text: str, seq: int | None = None) -> dict[str, Any]:
    return ev("conversation.utterance", seq, role="replica", speech=text)


def started(seq: int | None = None):
    return ev("conversation.replica.started_speaking", seq)


def stopped(seq: int | None = None, interrupted: bool = False, duration: float = 1.0):
    return ev(
        "conversation.replica.stopped_speaking", seq, interrupted=interrupted, duration=duration
    )


def run_script(scenario, script: list[tuple[float, Any]], *, until: float | None = None, **kw):
    """Run `scenario` against a ScriptedSession playing `script` [(time, message)]."""
    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(scenario, session, clock, **kw)
    conv.start()
    for at, message in script:
        session.push(at, message)
    clock.run(until=until, stop=lambda: conv.done)
    return conv, session


def yaml_paths(value: Any, prefix: tuple = ()):
    """Every path (tuple of keys/indexes) into a plain YAML document, the root included."""
    yield prefix
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        items = ()
    for k, v in items:
        yield from yaml_paths(v, (*prefix, k))


def mutate(
    data, document: Any, replacements: list, *, times: int, may_delete: bool = False
) -> None:
    """Hypothesis: replace (or delete) up to `times` random nodes of `document` in place.

    Replacements are deep-copied: a later mutation must never edit the shared sample list, or
    hypothesis sees data generation change between runs."""
    import copy

    from hypothesis import strategies as st

    for _ in range(data.draw(st.integers(1, times))):
        where = data.draw(st.sampled_from([p for p in yaml_paths(document) if p]))
        target = document
        for key in where[:-1]:
            target = target[key]
        if may_delete and isinstance(target, dict) and data.draw(st.booleans()):
            del target[where[-1]]
        else:
            target[where[-1]] = copy.deepcopy(data.draw(st.sampled_from(replacements)))


def speaking_persona(*tools: str, on_call: str = "none", **fields: Any):
    """A persona file (as data) whose tools speak after their result (`on_resolve:
    generate_response`) and say nothing while they run (`on_call: none`, unless given)."""
    from cviscript.language.persona_file import persona_from_json

    return persona_from_json(
        {
            "persona_name": "Test persona",
            "pipeline_mode": "full",
            "tools": [
                {"name": name, "on_call": on_call, "on_resolve": "generate_response"}
                for name in tools
            ],
            **fields,
        }
    )


def once_joined(fake: Any, script: Any) -> None:
    """Run `script()` when the client's join to the fake Daily room completes (after any hook
    already set, such as the fake replica's). The `after=` offsets of what it schedules then
    count from the join, not from the test's start: on a loaded machine a slow start would
    otherwise have them happen before the client is in the room, where Daily delivers nothing."""
    before = fake.on_joined

    def joined() -> None:
        if before is not None:
            before()
        script()

    fake.on_joined = joined
