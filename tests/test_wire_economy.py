"""What lets a rehearsal keep every message it receives cheaply: the replica model emits fresh JSON
values delivered as they are (no copy, no JSON round trip), flags the copies of a 2026 stream so
the visitor's view skips them, and the trace keeps a received message without a dict around it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cviscript.clock import VirtualClock
from cviscript.language.model import AtTrigger, Rehearsal, ReplicaSettings, Text, UserRule
from cviscript.language.validate import load_scenario
from cviscript.protocol import Interactions, Normalizer
from cviscript.sessions.simulated import SimulatedReplica
from cviscript.sessions.simulated.runner import run_simulated

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
IA = Interactions("c-sim")


class Sink:
    def __init__(self):
        self.got: list[dict] = []

    def on_message(self, message, sender=None):
        self.got.append(message)

    def on_closed(self, reason):
        pass

    def on_present(self):
        pass


def _containers(value, out: list[int]) -> None:
    if isinstance(value, dict | list | tuple | set):
        out.append(id(value))
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, out)


VISITOR = [UserRule(AtTrigger(9.0), say=Text("Hi there, how are you?"))]


def _speaking_replica(user=(), heard=None):
    """A 2026 replica on a virtual clock that speaks, streams, is cut off, hears a visitor and
    sends heartbeats; every message emitted, with the model's `copy` flag at that moment."""
    rehearsal = Rehearsal(
        "r", user=list(user), replica=ReplicaSettings(heartbeat=2.0, words_per_minute=60.0)
    )
    clock = VirtualClock()
    replica = SimulatedReplica(clock, rehearsal)
    flagged: list[tuple[dict, bool]] = []
    emitted = replica.model.wire._out

    def spy(message):
        flagged.append((message, replica.model.wire.copy))
        emitted(message)

    replica.model.wire._out = spy
    if heard is not None:
        hear = replica.user.on_event
        replica.user.on_event = lambda event: (heard.append(event), hear(event))
    sink = Sink()
    replica.start(sink)
    replica.send(IA.echo("One, two, three. Four five six, seven eight."))
    clock.run(until=4.0)
    replica.send(IA.interrupt())  # cut off mid-speech: the final streaming chunk is interrupted
    clock.run(until=8.0)
    replica.send(IA.echo("Again, once more."))
    clock.run(until=20.0)
    replica.close()
    return replica, sink, flagged


def test_emitted_messages_are_fresh_json_values_delivered_as_they_are():
    replica, sink, flagged = _speaking_replica()
    messages = [m for m, _ in flagged]
    assert len(messages) > 30
    for m in messages:
        assert json.loads(json.dumps(m)) == m  # only JSON values: no tuple, no odd number type
    ids: list[int] = []
    for m in messages:
        _containers(m, ids)
    assert len(ids) == len(set(ids))  # no dict or list is shared by two messages
    # delivered without a copy: what the session hears is what the model emitted
    assert [id(m) for m in sink.got] == [id(m) for m in replica.emitted][: len(sink.got)]
    assert all(a is b for a, b in zip(sink.got, messages, strict=False))


def test_messages_flagged_as_copies_are_exactly_the_ones_a_normaliser_folds():
    _, _, flagged = _speaking_replica(VISITOR)
    normalizer = Normalizer("c-sim")
    folded = []
    for message, _copy in flagged:
        event, reason = normalizer.feed(message)
        folded.append(event is None)
        assert event is not None or reason.startswith("duplicate:")
    copies = [copy for _, copy in flagged]
    assert copies == folded
    assert 10 < sum(copies) < len(copies)
    kinds = {m["event_type"] for m, copy in flagged if copy}
    assert {"conversation.started_speaking", "conversation.utterance.streaming"} <= kinds
    assert any(m["event_type"] == "system.replica_present" for m, _ in flagged)


def test_the_visitor_hears_each_event_once_as_a_full_normaliser_would():
    """The visitor's own normaliser skips the flagged copies: it still sees what a normaliser fed
    every message accepts (heartbeats aside, which a person does not notice)."""
    heard = []
    replica, _, flagged = _speaking_replica(VISITOR, heard)
    normalizer = Normalizer("c-sim")
    accepted = [normalizer.feed(m)[0] for m, _ in flagged]
    expected = [
        (e.type, e.seq, e.text, e.aliases)
        for e in accepted
        if e is not None and e.event_type != "system.replica_present"
    ]
    heard = [(e.type, e.seq, e.text, e.aliases) for e in heard]
    assert heard == expected
    assert ("replica.stopped_speaking", frozenset({"replica.interrupted"})) in {
        (t, a) for t, _, _, a in heard
    }


@pytest.mark.parametrize("name", ["kiosk.yaml", "product-demo.yaml", "survey.yaml"])
def test_every_received_message_is_recorded_as_it_came_and_copies_carry_no_event(name):
    scenario = load_scenario(str(SCENARIOS / name))
    conv = run_simulated(scenario)
    received = conv.trace.of_kind("received")
    emitted = conv.session.emitted
    assert [r.data["message"] for r in received] == emitted[: len(received)]
    assert all(r.data["message"] is m for r, m in zip(received, emitted, strict=False))
    copies = [r for r in received if r.event is None]
    assert copies and all(r.to_json()["message"] is r.data["message"] for r in copies)


def test_message_records_read_like_emitted_records_and_survive_pickling():
    import pickle

    from cviscript.trace import Trace

    clock = VirtualClock()
    trace = Trace(clock)
    message = {"event_type": "conversation.utterance", "properties": {"speech": "hi"}}
    plain = trace.emit("dropped", message=message, sender="p-1", reason="duplicate: x")
    compact = trace.emit_message("dropped", message, "p-1", reason="duplicate: x")
    assert compact.data == plain.data and list(compact.data) == list(plain.data)
    assert compact.to_json() == plain.to_json()
    received = trace.emit_message("received", message)
    assert received.data == {"message": message}
    assert received.to_json() == {"t": 0.0, "ts": received.ts, "kind": "received", **received.data}
    again = pickle.loads(pickle.dumps(received))
    assert again == received and again.to_json() == received.to_json()


def test_records_of_one_clock_reading_share_their_time_stamps():
    from cviscript.trace import Trace

    clock = VirtualClock()
    trace = Trace(clock)
    clock.call_later(1.5, lambda: None)
    clock.run()
    a = trace.emit("log", text="a")
    b = trace.emit_message("received", {"x": 1})
    clock.call_later(0.5, lambda: None)
    clock.run()
    c = trace.emit("log", text="c")
    assert a.t is b.t and a.ts is b.ts and (a.t, c.t) == (1.5, 2.0)
    assert c.ts - a.ts == 0.5


def test_a_run_without_random_faults_makes_no_generator_and_keeps_no_spent_timers():
    replica, _, _ = _speaking_replica()
    assert replica.link._rng is None  # nothing random to draw: no 2.5 KB generator state
    spoken = replica.model.speaker.spoken
    assert len(spoken) >= 2 and all(not s.timers for s in spoken)


def test_a_normaliser_with_little_memory_folds_copies_in_the_window_but_forgets_old_seqs():
    def utterance(seq, text, role="pal"):
        props = {"role": role, "speech": text}
        return {"event_type": "conversation.utterance", "seq": seq, "properties": props}

    for memory, remembers in ((0, False), (256, True)):
        n = Normalizer(memory=memory)
        assert n.feed(utterance(1, "first"))[0] is not None
        assert n.feed(utterance(1, "first", role="replica"))[0] is None  # a copy, same seq
        for seq in range(2, 40):
            assert n.feed(utterance(seq, f"line {seq}"))[0] is not None
        event, reason = n.feed(utterance(1, "first"))  # delivered again, long after
        assert (event is None) == remembers, reason
