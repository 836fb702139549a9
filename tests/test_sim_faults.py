"""Seeded faults between the simulated replica and the runner, and run-to-run determinism."""

from __future__ import annotations

import json
import re

import pytest
from helpers import speaking_persona

from cviscript.clock import VIRTUAL_EPOCH, VirtualClock
from cviscript.language.model import (
    AtTrigger,
    EventTrigger,
    Faults,
    PersonaRule,
    Rehearsal,
    ReplicaSettings,
    StateTrigger,
    Text,
    ToolCallSpec,
    UserRule,
)
from cviscript.language.templates import compile_text
from cviscript.protocol import Interactions
from cviscript.sessions.simulated import SimulatedReplica
from cviscript.sessions.simulated.faults import REORDER_MAX_HOLD
from cviscript.sessions.simulated.replica import model_settings
from cviscript.trace import TraceRecord

IA = Interactions("c-sim")

OLD = ReplicaSettings(vintage="2024")  # each fact said once, no heartbeats


class Sink:
    def __init__(self, clock: VirtualClock):
        self.clock = clock
        self.got: list[tuple[float, dict]] = []
        self.closed: list[str] = []

    def on_message(self, message, sender=None):
        self.got.append((self.clock.now(), message))

    def on_closed(self, reason):
        self.closed.append(reason)

    def on_present(self):
        self.present = True

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for _, m in self.got]


def run(faults: Faults | None = None, seed: int = 7, echos: int = 12):
    """A replica saying `echos` short sentences back to back; returns (replica, sink)."""
    clock = VirtualClock()
    replica = SimulatedReplica(
        clock, Rehearsal("r", replica=OLD, faults=faults or Faults(), seed=seed)
    )
    sink = Sink(clock)
    replica.start(sink)
    for i in range(echos):
        replica.send(IA.echo(f"sentence number {i}"))
    clock.run()
    return replica, sink


def emitted_seqs(replica: SimulatedReplica) -> list[int]:
    return [m["seq"] for m in replica.emitted]


def test_no_faults_delivers_everything_in_order_at_emission_time():
    replica, sink = run()
    assert sink.seqs == emitted_seqs(replica) == list(range(1, 3 * 12 + 2))
    for t, msg in sink.got:
        assert msg["timestamp"] == pytest.approx(VIRTUAL_EPOCH + t)


def test_drop_loses_some_events_reproducibly():
    replica, sink = run(Faults(drop=0.3))
    lost = set(emitted_seqs(replica)) - set(sink.seqs)
    assert lost and lost == set(replica.link.dropped)
    assert sink.seqs == sorted(sink.seqs)
    _, again = run(Faults(drop=0.3))
    assert again.got == sink.got
    _, other = run(Faults(drop=0.3), seed=8)
    assert other.seqs != sink.seqs


def test_duplicate_delivers_the_same_message_twice_with_the_same_seq():
    replica, sink = run(Faults(duplicate=0.4))
    twice = [s for s in set(sink.seqs) if sink.seqs.count(s) == 2]
    assert twice and sorted(twice) == sorted(replica.link.duplicated)
    assert set(sink.seqs) == set(emitted_seqs(replica))
    for s in twice:
        first, second = [(t, m) for t, m in sink.got if m["seq"] == s]
        assert first == second
    _, other = run(Faults(duplicate=0.4), seed=99)
    assert other.seqs != sink.seqs


def test_reorder_holds_an_event_behind_the_next_keeping_its_seq():
    replica, sink = run(Faults(reorder=0.3))
    held = replica.link.reordered
    assert held
    assert sorted(sink.seqs) == emitted_seqs(replica)  # nothing lost, nothing invented
    assert sink.seqs != sorted(sink.seqs)
    emitted_at = {m["seq"]: m["timestamp"] for m in replica.emitted}
    for s in held:
        i = sink.seqs.index(s)
        if emitted_at.get(s + 1, float("inf")) - emitted_at[s] <= REORDER_MAX_HOLD:
            assert sink.seqs[i - 1] == s + 1  # right behind the next event
        else:  # no successor in time: released late, never lost
            assert sink.got[i][0] == pytest.approx(emitted_at[s] - VIRTUAL_EPOCH + REORDER_MAX_HOLD)
    _, again = run(Faults(reorder=0.3))
    assert again.got == sink.got


def test_reordered_last_event_is_released_rather_than_lost():
    clock = VirtualClock()
    replica = SimulatedReplica(clock, Rehearsal("r", replica=OLD, faults=Faults(reorder=1.0)))
    sink = Sink(clock)
    replica.start(sink)
    clock.run()
    assert sink.seqs == [1]  # system.replica_joined, held with no successor, still arrives


def test_delay_and_jitter_shift_delivery_not_timestamps():
    replica, sink = run(Faults(delay=0.5, jitter=0.2))
    lags = [t - (m["timestamp"] - VIRTUAL_EPOCH) for t, m in sink.got]
    assert all(0.5 - 1e-9 <= lag <= 0.7 + 1e-9 for lag in lags)
    assert len({round(lag, 6) for lag in lags}) > 1
    assert sorted(sink.seqs) == emitted_seqs(replica)
    _, again = run(Faults(delay=0.5, jitter=0.2))
    assert again.got == sink.got
    _, other = run(Faults(delay=0.5, jitter=0.2), seed=8)
    assert [t for t, _ in other.got] != [t for t, _ in sink.got]


def test_only_restricts_faults_to_the_named_events():
    replica, sink = run(Faults(drop=1.0, only=("utterance",)))
    delivered = {m["event_type"] for _, m in sink.got}
    assert "conversation.utterance" not in delivered
    assert "conversation.replica.stopped_speaking" in delivered
    emitted_non_utterances = [
        m["seq"] for m in replica.emitted if m["event_type"] != "conversation.utterance"
    ]
    assert sink.seqs == emitted_non_utterances


def test_disconnect_stops_delivery_and_reports_it():
    clock = VirtualClock()
    replica = SimulatedReplica(clock, Rehearsal("r", replica=OLD, faults=Faults(disconnect=2.0)))
    sink = Sink(clock)
    replica.start(sink)
    replica.send(IA.echo("one two three four five six seven eight"))  # would stop at 3.3
    clock.run()
    assert sink.closed == ["disconnected"]
    assert all(t <= 2.0 for t, _ in sink.got)
    assert "conversation.replica.stopped_speaking" not in [m["event_type"] for _, m in sink.got]
    assert clock.now() == pytest.approx(2.0) and clock.pending() == 0
    replica.send(IA.echo("nobody hears this"))  # no error, no effect
    clock.run()
    assert sink.closed == ["disconnected"]


# ------------------------------------------------------------------------------ determinism


def busy_rehearsal(seed: int) -> Rehearsal:
    return Rehearsal(
        "busy",
        replica=OLD,
        seed=seed,
        user=[
            UserRule(StateTrigger("ask"), say=Text("What's the weather in Paris?")),
            UserRule(EventTrigger("replica.stopped_speaking"), perceive=Text("nodding"), times=3),
            UserRule(AtTrigger(20.0), say=Text("thanks, bye"), barge_in=True),
        ],
        persona=[
            PersonaRule(
                re.compile(r"weather in (?P<city>\w+)"),
                say=compile_text("{{ groups.city }}: {{ result }}"),
                tool_call=ToolCallSpec("get_weather", {"city": compile_text("{{ groups.city }}")}),
            ),
            PersonaRule(re.compile("bye"), say=Text("Goodbye and have a lovely day.")),
        ],
        faults=Faults(delay=0.05, jitter=0.3, duplicate=0.2, reorder=0.2, drop=0.1),
    )


def full_run(seed: int) -> str:
    clock = VirtualClock()
    rehearsal = busy_rehearsal(seed)
    settings = model_settings(rehearsal, speaking_persona("get_weather"))
    replica = SimulatedReplica(clock, rehearsal, settings=settings)
    sink = Sink(clock)

    class Runner(Sink):
        def on_message(self, message, sender=None):
            sink.on_message(message, sender)
            if message["event_type"] == "conversation.tool_call":
                call_id = message["properties"]["tool_call_id"]
                clock.call_later(0.2, replica.send, IA.tool_result(call_id, "sunny"))

    replica.start(Runner(clock))
    replica.send(IA.echo("Welcome to the demo."))
    clock.call_later(1.0, replica.observe, TraceRecord(1.0, 0.0, "state", {"state": "ask"}))
    clock.run()
    return json.dumps([[t, m] for t, m in sink.got])


def test_same_seed_gives_byte_identical_delivery_and_another_seed_does_not():
    first = full_run(3)
    assert full_run(3) == first
    assert full_run(4) != first
    said = [
        m["properties"]["speech"]
        for _, m in json.loads(first)
        if m["event_type"] == "conversation.utterance"
    ]
    assert "Paris: sunny" in said
