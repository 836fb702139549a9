"""Every normalisation rule, tried on documented payloads (tests/data/wire/, each with its source).

`received.json`: events as Tavus's docs and maintained clients show them, with the normalised event
expected (written by hand). `sent.json`: interactions as the docs send them; cviscript's builders
must produce the same shapes. The sequences below assemble 2026-style streams from those payloads:
copies in every spelling, presence heartbeats, in-call perception.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from helpers import ScriptedSession, scenario_from

from cviscript.clock import VirtualClock
from cviscript.engine.conversation import Conversation
from cviscript.protocol import Interactions, Normalizer

DATA = Path(__file__).parent / "data" / "wire"
RECEIVED = {e["name"]: e for e in json.loads((DATA / "received.json").read_text())["entries"]}
SENT = {e["name"]: e for e in json.loads((DATA / "sent.json").read_text())["entries"]}


def payload(name: str, **changes) -> dict:
    """A corpus message, in conversation c123456, with `changes` to its envelope."""
    message = copy.deepcopy(RECEIVED[name]["message"])
    message.update(conversation_id="c123456", **changes)
    return message


CONFIDENCE = ("documented", "seen in Tavus's code", "inferred", "unconfirmed")


def test_every_entry_says_how_sure_it_is_and_cites_a_url_a_reader_can_open():
    for entry in [*RECEIVED.values(), *SENT.values()]:
        assert entry["confidence"] in CONFIDENCE, entry["name"]
        for part in entry["source"].split(" ; "):
            assert part.startswith("https://"), (entry["name"], part)


def test_the_replica_model_knows_the_eight_documented_shutdown_reasons():
    from cviscript.sessions.replica_model.presence import SHUTDOWN_REASONS

    in_corpus = {
        e["expect"].get("text")
        for e in RECEIVED.values()
        if isinstance(e["message"], dict) and e["message"].get("event_type") == "system.shutdown"
    }
    assert len(SHUTDOWN_REASONS) == 8 and set(SHUTDOWN_REASONS) <= in_corpus | {
        "participant_left_timeout reached"
    }


def test_a_second_barge_in_of_the_same_turn_is_a_second_interruption():
    # turn_idx moves on respond, not per echo: two echoes cut off in one turn share it
    def started(inf: str, seq: int) -> dict:
        return payload("replica_started_speaking", seq=seq, turn_idx=5, inference_id=inf)

    first = payload(
        "stopped_speaking_interrupted_second_echo_same_turn", seq=11, inference_id="inf-echo-1"
    )
    second = payload("stopped_speaking_interrupted_second_echo_same_turn")
    legacy = payload("replica_interrupted_legacy", seq=31, turn_idx=5, inference_id="inf-echo-2")
    events = _accepted(
        [started("inf-echo-1", 10), first, started("inf-echo-2", 29), second, legacy]
    )
    cut = [e for e in events if e.answers_to("replica.interrupted")]
    assert [e.inference_id for e in cut] == ["inf-echo-1", "inf-echo-2"]  # the legacy copy folds


@pytest.mark.parametrize("name", sorted(RECEIVED))
def test_each_documented_event_normalises_as_expected(name):
    entry = RECEIVED[name]
    event, reason = Normalizer().feed(copy.deepcopy(entry["message"]))
    expect = entry["expect"]
    if "dropped" in expect:
        assert event is None and reason.startswith(expect["dropped"])
        return
    assert reason is None
    for key, value in expect.items():
        assert getattr(event, key) == value, (name, key)


# -- sends


@pytest.mark.parametrize(
    "name, build",
    [
        ("echo_text_done_true", lambda it: it.echo("Hello from an external echo.")),
        ("interrupt_docs", lambda it: it.interrupt()),
        ("interrupt_pipecat", lambda it: it.interrupt()),
        (
            "respond_docs",
            lambda it: it.respond("User message as if they had just finished speaking."),
        ),
        ("sensitivity_pause_one_key", lambda it: it.sensitivity(pause="high")[0]),
        (
            "tool_result_docs",
            lambda it: it.tool_result(
                "<id from the tool_call event>", "It is 72 degrees and sunny in San Francisco."
            ),
        ),
        (
            "tool_result_perception_call",
            lambda it: it.tool_result("<id from the perception_tool_call event>", "Badge logged."),
        ),
        (
            "tool_result_error_object_output",
            lambda it: it.tool_result(
                "<id from the tool_call event>",
                {"error": "weather service unavailable"},
                status="error",
            ),
        ),
    ],
)
def test_builders_send_what_the_docs_show(name, build):
    documented = SENT[name]["message"]
    assert build(Interactions(documented["conversation_id"])) == documented


# -- copies


def _accepted(messages: list[dict]) -> list:
    normalizer = Normalizer("c123456")
    return [e for e in (normalizer.feed(copy.deepcopy(m))[0] for m in messages) if e is not None]


@pytest.mark.parametrize(
    "legacy_copy",
    ["streaming_replica_chunk0_legacy_dup", "streaming_replica_chunk0_legacy_dup_own_seq"],
)
def test_streaming_pal_and_legacy_replica_copies_fold_shared_or_own_seq(legacy_copy):
    events = _accepted(
        [payload("streaming_pal_chunk0"), payload(legacy_copy), payload("streaming_pal_chunk1")]
    )
    assert [e.seq for e in events] == [46, 48]


def test_role_specific_and_role_agnostic_copies_fold_without_inference_id():
    bare = {"inference_id": None}
    messages = [
        payload("user_stopped_speaking", **bare, seq=10),
        payload("stopped_speaking_user_null_duration_interrupted", **bare, seq=11),
    ]
    for m in messages:
        m.pop("inference_id")
        m.get("properties", {}).pop("inference_id", None)
        m.pop("turn_idx", None)
        m.setdefault("properties", {})["interrupted"] = False
    assert [e.type for e in _accepted(messages)] == ["user.stopped_speaking"]


def test_three_spellings_of_a_replica_start_are_one_event():
    specific = payload("replica_started_speaking", seq=42)
    pal = payload("started_speaking_pal", seq=43)
    legacy = payload("started_speaking_replica_legacy_dup", seq=44)
    for m in (specific, pal, legacy):
        m["inference_id"] = "inf-7"
        m["turn_idx"] = 3
    assert len(_accepted([specific, pal, legacy])) == 1


def test_two_genuine_user_starts_in_one_inference_both_pass():
    first = payload("user_started_speaking", seq=42)
    second = payload("user_started_speaking", seq=45)
    assert [e.seq for e in _accepted([first, second])] == [42, 45]


def test_the_same_message_delivered_twice_folds():
    m = payload("replica_stopped_speaking")
    assert len(_accepted([m, m])) == 1


# -- presence


def test_presence_is_one_join_then_heartbeats():
    n = Normalizer("c123456")
    present = payload("system_replica_present_heartbeat_unconfirmed")
    pal_present = payload("system_pal_present_unconfirmed")
    first, _ = n.feed(copy.deepcopy(present))
    assert first.type == "replica.joined" and first.answers_to("replica.present")
    # a heartbeat, its pal spelling in the same beat (a copy), the next heartbeat
    beats = [n.feed(copy.deepcopy(m))[0] for m in (present, pal_present, present)]
    assert [e and e.type for e in beats] == ["replica.present", None, "replica.present"]
    assert not any(e.answers_to("replica.joined") for e in beats if e)


def test_joined_counts_once_and_a_later_present_is_a_heartbeat():
    n = Normalizer("c123456")
    assert n.feed(payload("system_replica_joined_app_message_minimal"))[0].type == "replica.joined"
    event, reason = n.feed(payload("system_pal_joined_webhook_unconfirmed"))
    assert event is None and reason.startswith("duplicate")
    assert n.feed(payload("system_pal_present_unconfirmed"))[0].type == "replica.present"


# -- perception


PERCEPTION_SCENARIO = """
cviscript: 1
name: perceive
initial: watch
timeout: 30s
states:
  watch:
    on:
      - perception: "(?i)smiling"
        goto: smiled
      - perception: "(?i)hat_detected.*baseball"
        goto: hat
      - event: perception_analysis
        goto: summary
  smiled: {on: [{perception: "(?i)baseball", goto: hat}]}
  hat: {on: [{event: perception_analysis, goto: summary}]}
  summary: {final: true}
"""


def _run(messages: list[dict]) -> list[str]:
    clock = VirtualClock()
    session = ScriptedSession(clock)
    session.conversation_id = "c123456"
    conv = Conversation(scenario_from(PERCEPTION_SCENARIO), session, clock)
    conv.start()
    for at, message in enumerate(messages, start=1):
        session.push(float(at), message)
    clock.run(until=len(messages) + 1.0)
    return list(conv.engine.path)


def test_perception_fires_on_in_call_signals_and_the_summary_stays_an_event():
    in_call = [
        payload("utterance_user_raven_analysis", seq=1),  # visual: "...smiling..."
        payload("perception_tool_call_vision", seq=2),  # name and arguments: hat, baseball
        payload("perception_analysis_end_of_call", seq=3),
    ]
    assert _run(in_call) == ["watch", "smiled", "hat", "summary"]
    # the end-of-call summary is reachable by `event:`, never as `perception:`
    assert _run([payload("perception_analysis_end_of_call", seq=1)]) == ["watch", "summary"]
    # an utterance without analysis is no perception
    assert _run([payload("utterance_user", seq=1)]) == ["watch"]


# -- the 2026 facts through the normaliser and the engine

OWN_WORDS = """
cviscript: 1
name: own-words
initial: ask
timeout: 30s
states:
  ask:
    enter:
      - respond: "Say goodbye to the visitor."
    on:
      - utterance: "(?i)goodbye"
        goto: fooled
      - perception: "(?i)desk"
        goto: seen
  seen:
    on:
      - event: perception_analysis
        goto: summary
  fooled: {final: true}
  summary: {final: true}
"""


def test_real_shaped_traffic_gives_the_verdicts_a_real_server_would():
    clock = VirtualClock()
    session = ScriptedSession(clock)
    session.conversation_id = "c123456"
    conv = Conversation(scenario_from(OWN_WORDS), session, clock)
    conv.start()
    own = payload("utterance_user", seq=1)  # the respond, back as a user utterance
    own["properties"]["speech"] = "Say goodbye to the visitor."
    seen = payload("utterance_legacy_visual_context")  # an older server's in-call perception
    analysis = payload("perception_analysis_hyphen_tavus_app")  # Tavus's in-call spelling
    for at, message in enumerate([json.dumps(own), seen, analysis], start=1):  # one as a string
        session.push(float(at), message)
    clock.run(until=5.0, stop=lambda: conv.done)
    assert list(conv.engine.path) == ["ask", "seen", "summary"]  # never "fooled"
