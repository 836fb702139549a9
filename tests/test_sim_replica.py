"""The simulated replica as a Session: speech timing, queueing, interrupts, persona, tool calls."""

from __future__ import annotations

import base64
import json
import re

import pytest
from helpers import speaking_persona

from cviscript.clock import VIRTUAL_EPOCH, VirtualClock
from cviscript.language.model import PersonaRule, Rehearsal, ReplicaSettings, Text, ToolCallSpec
from cviscript.language.templates import compile_text
from cviscript.protocol import Interactions
from cviscript.sessions.simulated import SimulatedReplica
from cviscript.sessions.simulated.replica import model_settings
from cviscript.trace import TraceRecord

IA = Interactions("c-sim")
SPEAKER = "conversation.replica.started_speaking"
STOPPED = "conversation.replica.stopped_speaking"
UTTER = "conversation.utterance"


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
    def messages(self) -> list[dict]:
        return [m for _, m in self.got]

    def of(self, event_type: str) -> list[tuple[float, dict]]:
        return [(t, m) for t, m in self.got if m["event_type"] == event_type]

    def types(self) -> list[str]:
        return [m["event_type"] for m in self.messages]


def make(rehearsal: Rehearsal | None = None, persona_file=None, **kw):
    """An older (2024) server: each fact said once, no heartbeats (test_replica_model has 2026).
    `persona_file`: the persona the model is configured from (None: Tavus's defaults)."""
    clock = VirtualClock()
    rehearsal = rehearsal or persona()
    if persona_file is not None:
        kw["settings"] = model_settings(rehearsal, persona_file)
    replica = SimulatedReplica(clock, rehearsal, **kw)
    sink = Sink(clock)
    replica.start(sink)
    return clock, replica, sink


def persona(*rules: PersonaRule, **settings) -> Rehearsal:
    settings.setdefault("vintage", "2024")
    settings.setdefault("respond_echo", False)  # tests of the echo say so
    return Rehearsal("r", persona=list(rules), replica=ReplicaSettings(**settings))


def state(name: str) -> TraceRecord:
    return TraceRecord(0.0, 0.0, "state", {"state": name})


# ------------------------------------------------------------------------------------- joining


def test_joins_after_join_delay_with_a_system_message():
    clock, _replica, sink = make(persona(join_delay=1.5))
    clock.run()
    [(t, msg)] = sink.got
    assert t == 1.5
    assert msg["event_type"] == "system.replica_joined"
    assert msg["message_type"] == "system"
    assert msg["conversation_id"] == "c-sim"
    assert msg["timestamp"] == VIRTUAL_EPOCH + 1.5


# -------------------------------------------------------------------------------------- echo


def test_text_echo_timing_and_events():
    clock, replica, sink = make()
    clock.run()
    replica.send(IA.echo("Hello there, how are you today"))  # 6 words at 160 wpm: 2.25 s
    assert sink.types() == ["system.replica_joined"]  # never delivered inside send()
    clock.run()
    started, utter, stopped = sink.got[1:]
    assert started[0] == pytest.approx(0.3) and started[1]["event_type"] == SPEAKER
    assert utter[0] == pytest.approx(0.3)
    assert utter[1]["properties"] == {"role": "replica", "speech": "Hello there, how are you today"}
    assert stopped[0] == pytest.approx(2.55)
    assert stopped[1]["properties"] == {"duration": 2.25, "interrupted": False}
    ids = {m["inference_id"] for _, m in (started, utter, stopped)}
    turns = {m["turn_idx"] for _, m in (started, utter, stopped)}
    assert len(ids) == 1 and None not in ids
    assert turns == {0}  # turn_idx moves on respond and the visitor's turns, not per echo
    assert stopped[1]["timestamp"] == pytest.approx(VIRTUAL_EPOCH + 2.55)


def test_short_echo_speaks_at_least_the_floor():
    clock, replica, sink = make()
    replica.send(IA.echo("Hi"))
    clock.run()
    [(t, msg)] = sink.of(STOPPED)
    assert msg["properties"]["duration"] == 0.4
    assert t == pytest.approx(0.7)


def test_words_per_minute_sets_the_speaking_time():
    clock, replica, sink = make(persona(words_per_minute=60, echo_latency=0.0))
    replica.send(IA.echo("one two three"))
    clock.run()
    [(t, _)] = sink.of(STOPPED)
    assert t == pytest.approx(3.0)


def test_two_echos_are_queued_first_in_first_out():
    clock, replica, sink = make()
    replica.send(IA.echo("first words here"))  # 3 words: 1.125 s
    replica.send(IA.echo("second"))
    clock.run()
    utterances = [m["properties"]["speech"] for _, m in sink.of(UTTER)]
    assert utterances == ["first words here", "second"]
    kinds = [m["event_type"] for m in sink.messages[1:]]
    assert kinds == [SPEAKER, UTTER, STOPPED, SPEAKER, UTTER, STOPPED]
    first_stop, second_start = sink.of(STOPPED)[0][0], sink.of(SPEAKER)[1][0]
    assert second_start == pytest.approx(first_stop) == pytest.approx(0.3 + 1.125)
    turns = [m["turn_idx"] for _, m in sink.of(SPEAKER)]
    assert turns[1] == turns[0]  # echoes share the turn: it moves on respond


def test_echo_sent_while_speaking_waits_for_the_end():
    clock, replica, sink = make()
    replica.send(IA.echo("one two three four five six seven eight"))  # 3 s
    clock.run(until=1.0)
    replica.send(IA.echo("next"))
    clock.run()
    starts = [t for t, _ in sink.of(SPEAKER)]
    assert starts == [pytest.approx(0.3), pytest.approx(3.3)]


def audio_chunks(seconds: float, rate: int, inference_id: str, *, done: bool = True) -> list[dict]:
    """Real-sized chunks (40 ms each, under the 4 KB message limit) of silent 16-bit PCM."""
    per_chunk = rate * 40 // 1000
    samples = round(seconds * rate)
    out = []
    while samples > 0:
        n = min(per_chunk, samples)
        samples -= n
        pcm = base64.b64encode(b"\x00\x00" * n).decode()
        out.append(IA.echo_audio(pcm, sample_rate=rate, inference_id=inference_id, done=False))
    out[-1]["properties"]["done"] = done
    return out


def test_audio_echo_speaks_for_the_audio_duration_once_done_arrives():
    clock, replica, sink = make()
    for chunk in audio_chunks(2.0, 24000, "a1", done=False):
        replica.send(chunk)
    clock.run()
    assert sink.of(SPEAKER) == []  # nothing until done
    for chunk in audio_chunks(0.5, 24000, "a1"):
        replica.send(chunk)
    start = clock.now()
    clock.run()
    [(t0, started)] = sink.of(SPEAKER)
    [(t1, stopped)] = sink.of(STOPPED)
    assert t0 == pytest.approx(start + 0.3)
    assert stopped["properties"]["duration"] == 2.5
    assert t1 - t0 == pytest.approx(2.5)
    assert started["inference_id"] == "a1"


def test_audio_echo_without_sample_rate_assumes_16k():
    clock, replica, sink = make()
    chunks = audio_chunks(1.0, 16000, "x")
    for chunk in chunks:
        del chunk["properties"]["sample_rate"]
    chunks[-1]["properties"]["done"] = "true"  # the older spelling
    for chunk in chunks:
        replica.send(chunk)
    clock.run()
    [(_, stopped)] = sink.of(STOPPED)
    assert stopped["properties"]["duration"] == 1.0


def test_audio_chunks_of_two_utterances_are_kept_apart():
    clock, replica, sink = make()
    a, b = audio_chunks(1.0, 24000, "a"), audio_chunks(0.5, 24000, "b")
    for pair in zip(a, b, strict=False):
        for chunk in pair:
            replica.send(chunk)
    for chunk in a[len(b) :]:
        replica.send(chunk)
    clock.run()
    durations = {m["inference_id"]: m["properties"]["duration"] for _, m in sink.of(STOPPED)}
    assert durations == {"a": 1.0, "b": 0.5}


# --------------------------------------------------------------------------------- interrupt


def test_interrupt_while_speaking_stops_at_once_and_drops_the_queue():
    clock, replica, sink = make()
    replica.send(IA.echo("one two three four five six seven eight"))  # 3 s
    replica.send(IA.echo("queued and never said"))
    clock.run(until=1.3)
    replica.send(IA.interrupt())
    clock.run()
    stops = sink.of(STOPPED)
    assert len(stops) == 1
    t, stopped = stops[0]
    assert t == pytest.approx(1.3)
    assert stopped["properties"] == {"duration": 1.0, "interrupted": True}
    assert [m["properties"]["speech"] for _, m in sink.of(UTTER)] == [
        "one two three four five six seven eight"
    ]
    assert not replica.speaking


def test_interrupt_while_silent_emits_nothing():
    clock, replica, sink = make()
    clock.run()
    before = list(sink.got)
    replica.send(IA.interrupt())
    clock.run()
    assert sink.got == before


def test_interrupt_cancels_speech_still_in_its_latency():
    clock, replica, sink = make()
    replica.send(IA.echo("about to be said"))
    clock.run(until=0.1)
    replica.send(IA.interrupt())
    clock.run()
    assert sink.of(SPEAKER) == []


def test_speech_after_an_interrupt_is_spoken():
    clock, replica, sink = make()
    replica.send(IA.echo("one two three four five six"))
    clock.run(until=1.0)
    replica.send(IA.interrupt())
    replica.send(IA.echo("fresh start"))
    clock.run()
    assert [m["properties"]["speech"] for _, m in sink.of(UTTER)][-1] == "fresh start"
    assert [m["properties"]["interrupted"] for _, m in sink.of(STOPPED)] == [True, False]


# ---------------------------------------------------------------------------------- persona


def test_respond_goes_through_the_persona_after_reply_latency():
    r = persona(
        PersonaRule(re.compile("(?i)pricing"), say=Text("Plans start at ten dollars a month."))
    )
    clock, replica, sink = make(r)
    clock.run()
    replica.send(IA.respond("What are your pricing plans?"))
    clock.run()
    [(t, utter)] = sink.of(UTTER)
    assert t == pytest.approx(0.9)
    assert utter["properties"] == {
        "role": "replica",
        "speech": "Plans start at ten dollars a month.",
    }


def test_respond_without_a_matching_rule_is_silent_or_the_default_reply():
    r = persona(PersonaRule(re.compile("weather"), say=Text("Sunny.")))
    clock, replica, sink = make(r)
    replica.send(IA.respond("pricing?"))
    clock.run()
    assert sink.of(UTTER) == []
    r2 = persona(default_reply="Sorry, I did not get that.")
    clock, replica, sink = make(r2)
    replica.send(IA.respond("pricing?"))
    clock.run()
    assert [m["properties"]["speech"] for _, m in sink.of(UTTER)] == ["Sorry, I did not get that."]


def test_first_matching_persona_rule_wins_and_named_groups_render():
    r = persona(
        PersonaRule(
            re.compile(r"(?i)weather in (?P<city>\w+)"),
            say=compile_text("It is sunny in {{ groups.city }}."),
        ),
        PersonaRule(re.compile("(?i)weather"), say=Text("No idea where.")),
    )
    clock, replica, sink = make(r)
    replica.send(IA.respond("What's the weather in Paris?"))
    clock.run()
    assert [m["properties"]["speech"] for _, m in sink.of(UTTER)] == ["It is sunny in Paris."]


def test_persona_tool_call_waits_for_the_tool_result_then_speaks_it():
    rule = PersonaRule(
        re.compile(r"(?i)weather in (?P<city>\w+)"),
        say=compile_text("In {{ groups.city }}: {{ result }}"),
        tool_call=ToolCallSpec("get_weather", {"location": compile_text("{{ groups.city }}")}),
    )
    clock, replica, sink = make(persona(rule), persona_file=speaking_persona("get_weather"))
    replica.send(IA.respond("weather in Oslo please"))
    clock.run()
    [(t, call)] = sink.of("conversation.tool_call")
    assert t == pytest.approx(0.9)
    props = call["properties"]
    assert props["name"] == "get_weather"
    assert json.loads(props["arguments"]) == {"location": "Oslo"}
    assert isinstance(props["arguments"], str)
    assert props["tool_call_id"] and call["inference_id"]
    assert sink.of(UTTER) == []  # waits for the result
    replica.send(IA.tool_result("unknown-id", "Rainy"))
    clock.run()
    assert sink.of(UTTER) == []
    assert replica.tool_results[-1]["answered"] is False
    replica.send(IA.tool_result(props["tool_call_id"], "Snowy, -3 C"))
    at = clock.now()
    clock.run()
    [(t, utter)] = sink.of(UTTER)
    assert t == pytest.approx(at + 0.9)
    assert utter["properties"]["speech"] == "In Oslo: Snowy, -3 C"
    assert utter["inference_id"] == call["inference_id"]


def test_echo_pipeline_ignores_respond():
    r = persona(PersonaRule(re.compile("."), say=Text("I answer everything")), pipeline="echo")
    clock, replica, sink = make(r)
    replica.send(IA.respond("hello?"))
    replica.send(IA.echo("echo still works"))
    clock.run()
    assert [m["properties"]["speech"] for _, m in sink.of(UTTER)] == ["echo still works"]


# --------------------------------------------------------------------------- other interactions


def test_context_and_sensitivity_are_accepted_silently():
    clock, replica, sink = make()
    clock.run()
    n = len(sink.got)
    replica.send(IA.overwrite_context("new context"))
    replica.send(IA.append_context("more"))
    for m in IA.sensitivity(pause="high", interrupt="low"):
        replica.send(m)
    replica.send(Interactions("c-sim", "context").append_context("older spelling"))
    clock.run()
    assert len(sink.got) == n
    assert [ia.kind for ia in replica.context] == [
        "overwrite_context",
        "append_context",
        "sensitivity",
        "sensitivity",
        "append_context",
    ]


def test_unknown_and_malformed_interactions_are_recorded_not_fatal():
    clock, replica, sink = make()
    replica.send(IA.custom("conversation.something_new", {"x": 1}))
    replica.send({"no": "event type"})  # type: ignore[arg-type]
    replica.send(Interactions("another-conversation").echo("not for us"))
    clock.run()
    assert len(replica.ignored) == 3
    assert sink.of(UTTER) == []


def test_close_stops_everything_and_is_idempotent():
    clock, replica, sink = make()
    replica.send(IA.echo("one two three four"))
    clock.run(until=0.5)
    n = len(sink.got)
    replica.close()
    replica.close()
    replica.send(IA.echo("after close"))
    clock.run()
    assert len(sink.got) == n
    assert clock.pending() == 0


def test_seq_strictly_increases_and_every_event_has_the_envelope():
    rule = PersonaRule(re.compile("."), say=Text("Sure thing."))
    clock, replica, sink = make(persona(rule))
    replica.send(IA.echo("one"))
    replica.send(IA.respond("two"))
    replica.send(IA.echo("three"))
    clock.run()
    seqs = [m["seq"] for m in sink.messages]
    assert seqs == list(range(1, len(seqs) + 1))
    for m in sink.messages:
        assert m["conversation_id"] == "c-sim"
        assert isinstance(m["turn_idx"], int)
        assert isinstance(m["timestamp"], float)
    stamps = [m["timestamp"] for m in sink.messages]
    assert stamps == sorted(stamps)


def test_observe_ignores_other_records():
    clock, replica, sink = make()
    replica.observe(TraceRecord(0.0, 0.0, "log", {"text": "hi"}))
    replica.observe(state("nobody-listens"))
    clock.run()
    assert sink.types() == ["system.replica_joined"]
