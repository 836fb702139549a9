"""Events per second per core: cviscript's engine against sismic interpreting the same statechart.

Both get the same stream, one question-and-answer cycle at a time, as a conversation produces it:
the replica starts speaking, its utterance, it stops speaking, the user starts and stops speaking,
the user's answer. Only the answer fires a transition (re-entering `ask`, which renders and sends
the next question as a JSON-encoded echo); the others are matched and ignored.

cviscript gets raw wire dicts (normalised, de-duplicated, traced, then matched): the whole path a
live event takes. sismic gets ready-made `Event`s (it has no wire format), runs the statechart of
`bench/sismic/latency.yaml` with the same guards in the same priority, and calls the same compiled
Python `echo` (it builds and size-checks the same JSON message). So the comparison, if anything,
favours sismic. One thread, one core; the best of several alternating rounds of each.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from common import BENCH, Row, scenario

CID = "c-bench"


def _wire(event_type: str, seq: int, **properties: Any) -> dict[str, Any]:
    return {
        "message_type": "conversation",
        "event_type": event_type,
        "conversation_id": CID,
        "properties": properties,
        "seq": seq,
    }


def wire_stream(cycles: int) -> list[dict[str, Any]]:
    out = []
    seq = 0
    for i in range(cycles):
        for event_type, props in (
            ("conversation.replica.started_speaking", {}),
            ("conversation.utterance", {"role": "replica", "speech": f"Question {i}, how was it?"}),
            ("conversation.replica.stopped_speaking", {"duration": 2.5, "interrupted": False}),
            ("conversation.user.started_speaking", {}),
            ("conversation.user.stopped_speaking", {}),
            ("conversation.utterance", {"role": "user", "speech": "Hmm, I'd say 4 out of 5."}),
        ):
            seq += 1
            out.append(_wire(event_type, seq, **props))
    return out


_SISMIC_NAMES = {
    "conversation.replica.started_speaking": ("started_speaking", "replica"),
    "conversation.replica.stopped_speaking": ("stopped_speaking", "replica"),
    "conversation.user.started_speaking": ("user_started_speaking", "user"),
    "conversation.user.stopped_speaking": ("user_stopped_speaking", "user"),
    "conversation.utterance": ("utterance", None),
}


def to_sismic(message: dict[str, Any], event_class: Any) -> Any:
    """A wire dict as the sismic `Event` its statechart expects (its share of normalising)."""
    name, role = _SISMIC_NAMES[message["event_type"]]
    props = message["properties"]
    if role is None:
        return event_class(name, role=props["role"], text=props["speech"])
    if name == "stopped_speaking":
        return event_class(name, role=role, interrupted=props.get("interrupted", False))
    return event_class(name, role=role)


class _Session:
    conversation_id = CID

    def __init__(self) -> None:
        self.sent = 0

    def start(self, sink: Any) -> None:
        pass

    def send(self, message: dict[str, Any]) -> None:
        self.sent += 1

    def close(self) -> None:
        pass

    def observe(self, record: Any) -> None:
        pass


def cviscript_round(sc: Any, stream: list[dict[str, Any]]) -> float:
    from cviscript.clock import VirtualClock
    from cviscript.engine.conversation import Conversation

    session = _Session()
    conv = Conversation(sc, session, VirtualClock())
    conv.start()
    messages = [dict(m) for m in stream]  # fresh dicts, as the wire gives them
    on_message = conv.on_message
    t0 = time.perf_counter()
    for m in messages:
        on_message(m)
    dt = time.perf_counter() - t0
    assert session.sent == len(stream) // 6 + 1, session.sent
    return len(stream) / dt


def sismic_round(chart: Any, stream: list[dict[str, Any]]) -> float:
    from sismic.interpreter import Interpreter
    from sismic.model import Event

    sent: list[dict[str, Any]] = []

    def echo(text: str) -> None:
        message = {
            "message_type": "conversation",
            "event_type": "conversation.echo",
            "conversation_id": CID,
            "properties": {"modality": "text", "text": text},
        }
        if len(json.dumps(message, separators=(",", ":"), ensure_ascii=False)) > 4096:
            raise ValueError("message too big")
        sent.append(message)

    context = {
        "echo": echo,
        "BYE": re.compile(r"(?i)\b(goodbye|stop)\b"),
        "SCORE": re.compile(r"(?P<score>[1-5])"),
    }
    interpreter = Interpreter(chart, initial_context=context)
    interpreter.execute()
    queue, execute = interpreter.queue, interpreter.execute
    messages = [dict(m) for m in stream]
    t0 = time.perf_counter()
    for m in messages:
        queue(to_sismic(m, Event))
        execute()
    dt = time.perf_counter() - t0
    assert len(sent) == len(stream) // 6 + 1, len(sent)
    return len(stream) / dt


def run(quick: bool = False) -> list[Row]:
    try:
        from sismic.io import import_from_yaml
    except ImportError:
        return [
            Row(
                what="events per second per core",
                figure="—",
                baseline="sismic not installed (pip install -e '.[bench]')",
                ratio="—",
                target="≥ 2× sismic",
                ok=None,
            )
        ]
    sc = scenario("throughput.yaml")
    chart = import_from_yaml(filepath=str(BENCH / "sismic" / "throughput.yaml"))
    cycles, rounds = (150, 2) if quick else (600, 5)
    ours_stream = theirs_stream = wire_stream(cycles)
    cviscript_round(sc, ours_stream[:60])  # warm up
    sismic_round(chart, theirs_stream[:60])
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        theirs.append(sismic_round(chart, theirs_stream))
        ours.append(cviscript_round(sc, ours_stream))
    best_ours, best_theirs = max(ours), max(theirs)
    ratio = best_ours / best_theirs
    return [
        Row(
            what="events per second per core",
            figure=f"{best_ours:,.0f} events/s",
            baseline=f"sismic {best_theirs:,.0f} events/s",
            ratio=f"{ratio:.1f}×",
            target="≥ 2× sismic",
            ok=ratio >= 2.0,
            note=f"{len(ours_stream)} events per round, best of {rounds}; same statechart, no "
            "timers, both from wire dicts; cviscript also de-duplicates and traces each event",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
