"""The one replica model: what a 2026 server emits, the 2024 vintage, presence, limits, tools,
determinism, and the same model inside the fake Daily room."""

from __future__ import annotations

import json
import logging
import re
import threading
import time

import pytest
from helpers import speaking_persona

from cviscript.clock import VirtualClock
from cviscript.language.model import (
    AtTrigger,
    Faults,
    PersonaRule,
    Rehearsal,
    ReplicaSettings,
    Text,
    ToolCallSpec,
    UserRule,
)
from cviscript.language.templates import compile_text
from cviscript.protocol import Interactions
from cviscript.sessions.fake.daily_room import FakeDaily
from cviscript.sessions.fake.replica import FakeReplica, fake_daily_from_env
from cviscript.sessions.replica_model.presence import MAX_CALL_DURATION
from cviscript.sessions.simulated import SimulatedReplica
from cviscript.sessions.simulated.replica import model_settings
from cviscript.trace import Trace

IA = Interactions("c-sim")
LONG = "One, two, three. Four five six, seven eight nine ten eleven twelve."


class Sink:
    def __init__(self, clock: VirtualClock):
        self.clock = clock
        self.got: list[tuple[float, dict]] = []
        self.closed: list[str] = []
        self.present: list[float] = []

    def on_message(self, message, sender=None):
        self.got.append((self.clock.now(), message))

    def on_closed(self, reason):
        self.closed.append(reason)

    def on_present(self):
        self.present.append(self.clock.now())

    def of(self, event_type: str, role: str | None = None) -> list[tuple[float, dict]]:
        return [
            (t, m)
            for t, m in self.got
            if m["event_type"] == event_type
            and (role is None or m.get("properties", {}).get("role") == role)
        ]

    def types(self) -> list[str]:
        return [m["event_type"] for _, m in self.got]


def make(*, user=(), persona=(), faults=None, seed=0, trace=None, persona_file=None, **settings):
    settings.setdefault("heartbeat", 0)
    rehearsal = Rehearsal(
        "r",
        user=list(user),
        persona=list(persona),
        replica=ReplicaSettings(**settings),
        faults=faults or Faults(),
        seed=seed,
    )
    clock = VirtualClock()
    replica = SimulatedReplica(clock, rehearsal, settings=model_settings(rehearsal, persona_file))
    if trace is not None:
        replica.attach_trace(trace(clock))
    sink = Sink(clock)
    replica.start(sink)
    return clock, replica, sink


# ------------------------------------------------------------------------- the 2026 stream


def test_2026_replica_speech_is_said_several_times_with_both_seq_forms():
    clock, replica, sink = make()
    replica.send(IA.echo("Hello there."))  # speech 1: the legacy copy shares its seq
    clock.run()
    replica.send(IA.echo("Again."))  # speech 2: the legacy copy has its own
    clock.run()
    assert sink.types()[:5] == [
        "system.replica_joined",
        "conversation.replica.started_speaking",
        "conversation.started_speaking",
        "conversation.started_speaking",
        "conversation.utterance",
    ]
    started = [m for _, m in sink.of("conversation.replica.started_speaking")]
    assert "properties" not in started[0]  # the docs omit properties here
    pal, legacy = [m for _, m in sink.of("conversation.utterance")][:2]
    assert pal["properties"] == {"role": "pal", "speech": "Hello there."}
    assert legacy["properties"] == {"role": "replica", "speech": "Hello there."}
    # turn_idx moves on respond (and the visitor's turns), not per echo: both echoes are turn 0
    assert pal["seq"] == legacy["seq"] and pal["turn_idx"] == 0
    later_pal, later_legacy = [m for _, m in sink.of("conversation.utterance")][2:]
    assert later_legacy["seq"] == later_pal["seq"] + 1 and later_pal["turn_idx"] == 0
    seqs = [m["seq"] for _, m in sink.got]
    assert seqs == sorted(seqs)  # never decreasing; a shared seq repeats its original
    stops = [m for _, m in sink.of("conversation.stopped_speaking")]
    assert [m["properties"]["role"] for m in stops] == ["pal", "replica"] * 2
    assert stops[0]["properties"]["interrupted"] is False


def test_2026_streams_the_spoken_text_and_says_how_far_a_cut_off_reply_got():
    clock, replica, sink = make(words_per_minute=60.0)  # a word a second
    replica.send(IA.echo(LONG))
    clock.run(until=0.3 + 3.5)  # "One, two, three." spoken, "Four" started
    replica.send(IA.interrupt())
    clock.run()
    chunks = [m["properties"] for _, m in sink.of("conversation.utterance.streaming", "pal")]
    assert chunks[:3] == [
        {"role": "pal", "speech": "One,", "content_index": 0, "final": False},
        {"role": "pal", "speech": "One, two,", "content_index": 1, "final": False},
        {"role": "pal", "speech": "One, two, three.", "content_index": 2, "final": False},
    ]
    assert chunks[-1] == {
        "role": "pal",
        "speech": "One, two, three.",
        "content_index": 3,
        "final": True,
        "is_interrupted": True,
    }
    [(_, stop)] = sink.of("conversation.replica.stopped_speaking")
    assert stop["properties"] == {"duration": 3.5, "interrupted": True}
    assert "conversation.replica_interrupted" not in sink.types()


def test_2026_final_streaming_holds_the_whole_text_when_not_cut_off():
    clock, replica, sink = make()
    replica.send(IA.echo("Short and sweet."))
    clock.run()
    [(_, final)] = [
        (t, m)
        for t, m in sink.of("conversation.utterance.streaming", "pal")
        if m["properties"]["final"]
    ]
    assert final["properties"]["speech"] == "Short and sweet."


def test_2026_user_turns_have_role_agnostic_copies_and_a_wordless_noise_has_no_duration():
    rules = [UserRule(AtTrigger(1.0), say=Text("hi")), UserRule(AtTrigger(3.0), interrupt=True)]
    clock, _replica, sink = make(user=rules)
    clock.run()
    starts = sink.of("conversation.started_speaking", "user")
    assert len(starts) == 2 and len(sink.of("conversation.user.started_speaking")) == 2
    stops = [m["properties"] for _, m in sink.of("conversation.stopped_speaking", "user")]
    assert stops[0]["duration"] == pytest.approx(0.4) and stops[1]["duration"] is None
    [(_, specific)] = sink.of("conversation.user.stopped_speaking")[:1]
    assert "properties" not in specific


# --------------------------------------------------------------------------- 2024 vintage


def test_2024_says_each_fact_once_and_reports_a_cut_off_as_replica_interrupted():
    clock, replica, sink = make(vintage="2024", heartbeat=10.0)
    replica.send(IA.echo(LONG))
    clock.run(until=2.0)
    replica.send(IA.interrupt())
    clock.run(until=100.0)
    assert sink.types() == [
        "system.replica_joined",
        "conversation.replica.started_speaking",
        "conversation.utterance",
        "conversation.replica_interrupted",
        "conversation.replica.stopped_speaking",
    ]
    assert sink.of("conversation.utterance")[0][1]["properties"]["role"] == "replica"


# ------------------------------------------------------------------------------- presence


def test_greeting_is_spoken_on_joining_and_messages_before_the_join_are_lost():
    clock, replica, sink = make(join_delay=3.0, greeting="Welcome to Acme!")
    replica.send(IA.echo("too early"))
    clock.run(until=2.0)
    assert sink.got == [] and sink.present == []
    clock.run()
    assert sink.present == [3.0]
    speech = [m["properties"]["speech"] for _, m in sink.of("conversation.utterance", "pal")]
    assert speech == ["Welcome to Acme!"]
    assert sink.of("conversation.replica.started_speaking")[0][0] == 3.0
    assert [reason for _, reason in replica.ignored] == ["sent before the replica joined (lost)"]


def test_greeting_is_spoken_before_anything_the_script_sends():
    clock, replica, sink = make(greeting="Welcome!")
    replica.send(IA.echo("Script line."))
    clock.run()
    speech = [m["properties"]["speech"] for _, m in sink.of("conversation.utterance", "pal")]
    assert speech == ["Welcome!", "Script line."]


def test_heartbeats_repeat_replica_present_with_an_attempt_counter():
    clock, _replica, sink = make(heartbeat=5.0)
    clock.run(until=16.0)
    beats = sink.of("system.replica_present")
    assert [t for t, _ in beats] == [5.0, 10.0, 15.0]
    assert [m["properties"]["attempt"] for _, m in beats] == [1, 2, 3]
    assert sink.types().count("system.replica_joined") == 1


def test_max_call_duration_shuts_down_then_the_perception_summary_then_the_replica_leaves():
    rules = [UserRule(AtTrigger(1.0), perceive=Text("a red mug"))]
    clock, replica, sink = make(user=rules)
    replica.model.settings.max_call_duration = 30.0
    replica.model.later(30.0, replica.model.end, MAX_CALL_DURATION)
    clock.run()
    types = sink.types()
    assert types[-2:] == ["system.shutdown", "conversation.perception_analysis"]
    assert types.index("conversation.perception_tool_call") < types.index("system.shutdown")
    shutdown = sink.of("system.shutdown")[0][1]
    assert shutdown["properties"] == {"shutdown_reason": "max_call_duration reached"}
    summary = sink.of("conversation.perception_analysis")[0][1]["properties"]["analysis"]
    assert "a red mug" in summary
    assert sink.closed and "max_call_duration reached" in sink.closed[0]


def test_conversation_create_limits_reach_the_simulated_server():
    from cviscript.language.validate import load_scenario
    from cviscript.sessions.simulated.runner import run_simulated

    sc = load_scenario(
        "limits.yaml",
        source="""
cviscript: 1
name: limits
conversation:
  create:
    custom_greeting: "Hello {{ vars.who }}!"
    properties: {max_call_duration: 20}
vars: {who: Ada}
initial: wait
states:
  wait:
    on:
      - event: shutdown
        goto: done
  done: {final: true}
""",
    )
    conv = run_simulated(sc)
    assert conv.result.outcome == "completed" and conv.result.path == ["wait", "done"]
    received = [r.data["message"] for r in conv.trace.records if r.kind == "received"]
    said = [
        m["properties"]["speech"] for m in received if m["event_type"] == "conversation.utterance"
    ]
    assert said[0] == "Hello Ada!"
    [shutdown] = [m for m in received if m["event_type"] == "system.shutdown"]
    assert shutdown["properties"]["shutdown_reason"] == "max_call_duration reached"
    assert shutdown["timestamp"] - received[0]["timestamp"] == pytest.approx(20.0)


# ---------------------------------------------------------------------------------- tools


def weather_persona() -> list[PersonaRule]:
    return [
        PersonaRule(
            re.compile(r"weather"),
            say=compile_text("It is {{ result }}."),
            tool_call=ToolCallSpec("get_weather", {"city": Text("Oslo")}),
        )
    ]


def test_tool_call_carries_the_triggering_user_utterances_inference_id():
    rules = [UserRule(AtTrigger(1.0), say=Text("what's the weather"))]
    clock, replica, sink = make(
        user=rules, persona=weather_persona(), persona_file=speaking_persona("get_weather")
    )
    clock.run()
    [(_, utterance)] = sink.of("conversation.utterance", "user")
    [(_, call)] = sink.of("conversation.tool_call")
    assert call["inference_id"] == utterance["inference_id"]
    assert call["turn_idx"] == utterance["turn_idx"]
    replica.send(IA.tool_result(call["properties"]["tool_call_id"], "sunny"))
    clock.run()
    reply = sink.of("conversation.utterance", "pal")[0][1]
    assert reply["properties"]["speech"] == "It is sunny."
    assert reply["inference_id"] == utterance["inference_id"]


def test_a_tool_result_with_status_error_is_acknowledged_as_a_failure():
    clock, replica, sink = make(
        persona=weather_persona(), persona_file=speaking_persona("get_weather")
    )
    replica.send(IA.respond("weather please"))
    clock.run()
    [(_, call)] = sink.of("conversation.tool_call")
    message = IA.tool_result(call["properties"]["tool_call_id"], "service down")
    message["properties"]["status"] = "error"
    replica.send(message)
    clock.run()
    said = [m["properties"]["speech"] for _, m in sink.of("conversation.utterance", "pal")]
    assert said == ["Sorry, that did not work."]
    assert replica.tool_results[-1]["status"] == "error"


def test_a_tool_result_without_tool_call_id_answers_nothing():
    clock, replica, sink = make(
        persona=weather_persona(), persona_file=speaking_persona("get_weather")
    )
    replica.send(IA.respond("weather please"))
    clock.run()
    message = IA.tool_result("x", "sunny")
    del message["properties"]["tool_call_id"]
    replica.send(message)
    clock.run()
    assert sink.of("conversation.utterance", "pal") == []
    assert "without tool_call_id" in replica.ignored[-1][1]


# ------------------------------------------------------------------- determinism, faults


def busy(seed: int, vintage: str):
    rules = [
        UserRule(AtTrigger(1.0), say=Text("what's the weather")),
        UserRule(AtTrigger(2.0), perceive=Text("smiling")),
        UserRule(AtTrigger(9.0), say=Text("stop"), barge_in=True),
    ]
    faults = Faults(delay=0.05, jitter=0.1, duplicate=0.2, reorder=0.2, drop=0.1)
    clock, replica, sink = make(
        user=rules, persona=weather_persona(), faults=faults, seed=seed, vintage=vintage
    )
    clock.run(until=5.0)
    for _, m in sink.of("conversation.tool_call"):
        replica.send(IA.tool_result(m["properties"]["tool_call_id"], "sunny"))
    replica.send(IA.echo(LONG))
    clock.run(until=60.0)
    return json.dumps([m for _, m in sink.got]), [t for t, _ in sink.got]


@pytest.mark.parametrize("vintage", ["2026", "2024"])
def test_same_rehearsal_and_seed_same_messages_byte_for_byte(vintage):
    assert busy(7, vintage) == busy(7, vintage)
    assert busy(7, vintage) != busy(8, vintage)


def test_faults_are_reported_into_the_trace_not_as_log_warnings(caplog):
    traces = []

    def trace(clock):
        traces.append(Trace(clock))
        return traces[-1]

    faults = Faults(drop=0.5, duplicate=0.5, reorder=0.3)
    clock, replica, sink = make(faults=faults, seed=3, trace=trace)
    [trace] = traces
    with caplog.at_level(logging.DEBUG):
        replica.send(IA.echo(LONG))
        clock.run()
    faults = [r.data for r in trace.records if r.kind == "fault"]
    kinds = {f["fault"] for f in faults}
    assert kinds == {"drop", "duplicate", "reorder"}
    assert all(isinstance(f["seq"], int) and f["event_type"] for f in faults)
    assert [f["seq"] for f in faults if f["fault"] == "drop"] == replica.link.dropped
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# ----------------------------------------------------------------------- the fake room


def test_the_fake_daily_room_runs_the_same_model_on_its_callback_thread():
    fake = FakeDaily()
    replica = FakeReplica(fake, greeting="Hi from the room.", persona=None)
    threads: list[threading.Thread] = []
    got: list[dict] = []

    class Handler(fake.EventHandler):
        def on_app_message(self, message, sender):
            threads.append(threading.current_thread())
            got.append(message)

    fake.Daily.init()
    client = fake.CallClient(event_handler=Handler())
    client.join("https://tavus.daily.co/c123")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not any(
        m["event_type"] == "conversation.stopped_speaking" for m in got
    ):
        time.sleep(0.01)
    client.release()
    assert replica.model is not None and replica.model.settings.vintage == "2026"
    assert got[0]["event_type"] == "system.replica_joined"
    roles = [m["properties"]["role"] for m in got if m["event_type"] == "conversation.utterance"]
    assert roles == ["pal", "replica"]
    # the custom greeting is a single-shot utterance: no streaming chunks
    assert not any(m["event_type"] == "conversation.utterance.streaming" for m in got)
    assert set(threads) == {fake.callback_thread}


def test_fake_daily_from_env_takes_the_model_settings():
    fake = fake_daily_from_env('{"vintage": "2024", "greeting": "hey", "heartbeat": 0}')
    fake.shutdown()
    with pytest.raises(Exception, match="vintage"):
        fake_daily_from_env('{"vintage": "1999"}')


# ------------------------------------------------------------- shipped scenarios, both vintages


@pytest.mark.parametrize("vintage", ["2026", "2024"])
def test_shipped_scenarios_rehearse_green_against_both_vintages(vintage, monkeypatch):
    from cviscript.rehearsal import suite

    load = suite.load

    def load_with_vintage(file):
        scenario = load(file)
        for case in scenario.rehearsals:
            case.replica.vintage = vintage
        return scenario

    monkeypatch.setattr(suite, "load", load_with_vintage)
    collection = suite.collect(["scenarios", "examples"])
    assert collection.cases and not collection.invalid
    failed = []
    for case in collection.cases:
        if case.replay:
            continue  # a recorded session replays; no server speaks
        run = suite.run_case(case.file, case.case)
        if not run.passed:
            failed.append((case.file, case.case, [f.message for f in run.failures]))
    assert failed == []
