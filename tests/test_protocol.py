"""The wire format: what cviscript sends (strict), what it accepts (liberal)."""

from __future__ import annotations

import json

import pytest

from cviscript import errors
from cviscript.protocol import (
    CONTEXT_EVENT_TYPES,
    EVENT_NAMES,
    MAX_MESSAGE_CHARS,
    Interactions,
    Normalizer,
    ProtocolError,
    check_size,
    message_size,
    parse_interaction,
    server_event,
)

CID = "c123456789"


def env(event_type: str, properties: dict) -> dict:
    return {
        "message_type": "conversation",
        "event_type": event_type,
        "conversation_id": CID,
        "properties": properties,
    }


# ------------------------------------------------------------------------------------ builders


def test_echo_text_carries_done_true_as_the_docs_example_does():
    msg = Interactions(CID).echo("Hi there")
    assert msg == env("conversation.echo", {"modality": "text", "text": "Hi there", "done": True})
    assert message_size(msg) == len(json.dumps(msg, separators=(",", ":"), ensure_ascii=False))


def test_echo_audio_done_is_a_json_boolean():
    msg = Interactions(CID).echo_audio("AAAA", sample_rate=24000, inference_id="inf1", done=True)
    assert msg == env(
        "conversation.echo",
        {
            "modality": "audio",
            "audio": "AAAA",
            "sample_rate": 24000,
            "inference_id": "inf1",
            "done": True,
        },
    )
    assert '"done":true' in json.dumps(msg, separators=(",", ":"))
    msg = Interactions(CID).echo_audio("AAAA", sample_rate=16000, inference_id="i", done=False)
    assert msg["properties"]["done"] is False


def test_respond_and_interrupt():
    it = Interactions(CID)
    assert it.respond("What does it cost?") == env(
        "conversation.respond", {"text": "What does it cost?"}
    )
    # no `properties` at all: the docs and every maintained client send none
    interrupt = it.interrupt()
    assert interrupt == {
        "message_type": "conversation",
        "event_type": "conversation.interrupt",
        "conversation_id": CID,
    }
    assert parse_interaction(interrupt).kind == "interrupt"


@pytest.mark.parametrize(
    "spelling, overwrite, append",
    [
        ("llm_context", "conversation.overwrite_llm_context", "conversation.append_llm_context"),
        ("context", "conversation.overwrite_context", "conversation.append_context"),
    ],
)
def test_context_both_spellings(spelling, overwrite, append):
    it = Interactions(CID, context_spelling=spelling)
    assert it.overwrite_context("New context") == env(overwrite, {"context": "New context"})
    assert it.append_context("More") == env(append, {"context": "More"})
    assert CONTEXT_EVENT_TYPES[spelling] == (overwrite, append)


def test_default_context_spelling_is_official():
    assert Interactions(CID).append_context("x")["event_type"] == "conversation.append_llm_context"


def test_unknown_context_spelling_refused():
    with pytest.raises(ProtocolError, match="context spelling"):
        Interactions(CID, context_spelling="llm")


def test_sensitivity_one_message_per_key():
    it = Interactions(CID)
    assert it.sensitivity(pause="high", interrupt="low") == [
        env("conversation.sensitivity", {"participant_pause_sensitivity": "high"}),
        env("conversation.sensitivity", {"participant_interrupt_sensitivity": "low"}),
    ]
    assert it.sensitivity(interrupt="medium") == [
        env("conversation.sensitivity", {"participant_interrupt_sensitivity": "medium"})
    ]
    assert it.sensitivity() == []


def test_sensitivity_bad_level_refused():
    with pytest.raises(ProtocolError, match="low, medium, high"):
        Interactions(CID).sensitivity(pause="extreme")


def test_tool_result_shapes():
    it = Interactions(CID)
    assert it.tool_result("tc1", "Sunny") == env(
        "conversation.tool_result", {"tool_call_id": "tc1", "output": "Sunny", "status": "success"}
    )
    assert it.tool_result("tc2", {"temp": 21}, status="error") == env(
        "conversation.tool_result",
        {"tool_call_id": "tc2", "output": {"temp": 21}, "status": "error"},
    )
    # other JSON values travel as their JSON text
    assert it.tool_result("t1", [1, 2])["properties"]["output"] == "[1, 2]"
    assert it.tool_result("t", 3)["properties"]["output"] == "3"
    with pytest.raises(ProtocolError, match="status"):
        it.tool_result("t", "x", status="ok")


@pytest.mark.parametrize("missing", [None, "", 7])
def test_tool_result_refuses_a_call_without_tool_call_id(missing):
    # Tavus marks tool_call_id required: never build a tool_result that lacks it
    with pytest.raises(ProtocolError, match="tool_call_id"):
        Interactions(CID).tool_result(missing, "Sunny")


def test_custom_fills_envelope():
    it = Interactions(CID)
    props = {"a": 1}
    msg = it.custom("conversation.something_new", props)
    assert msg == env("conversation.something_new", {"a": 1})
    assert msg["properties"] is not props
    assert it.custom("conversation.ping") == env("conversation.ping", {})


# ------------------------------------------------------------------------------------ size


def test_message_size_is_compact_json_characters():
    msg = {"a": "é", "b": [1, 2]}
    assert message_size(msg) == len('{"a":"é","b":[1,2]}')


def test_check_size_limit():
    base = env("conversation.echo", {"modality": "text", "text": ""})
    room = MAX_MESSAGE_CHARS - message_size(base)
    fits = env("conversation.echo", {"modality": "text", "text": "x" * room})
    assert message_size(fits) == MAX_MESSAGE_CHARS
    check_size(fits)
    over = env("conversation.echo", {"modality": "text", "text": "x" * (room + 1)})
    with pytest.raises(ProtocolError, match=r"conversation\.echo.*4097") as info:
        check_size(over)
    assert isinstance(info.value, errors.CviscriptError)


def test_builders_refuse_oversized_messages():
    with pytest.raises(ProtocolError, match="conversation.respond"):
        Interactions(CID).respond("word " * 1000)


# ------------------------------------------------------------------------------ server events


def test_server_event_shape():
    msg = server_event(
        "conversation.utterance",
        CID,
        {"role": "replica", "speech": "Hello"},
        seq=7,
        turn_idx=2,
        inference_id="inf",
        timestamp=1700000000.5,
    )
    assert msg == {
        "message_type": "conversation",
        "event_type": "conversation.utterance",
        "conversation_id": CID,
        "properties": {"role": "replica", "speech": "Hello"},
        "inference_id": "inf",
        "seq": 7,
        "turn_idx": 2,
        "timestamp": 1700000000.5,
    }


def test_server_event_system_and_minimal():
    assert server_event("system.replica_joined", CID) == {
        "message_type": "system",
        "event_type": "system.replica_joined",
        "conversation_id": CID,
        "properties": {},
    }
    assert server_event("system.shutdown", CID, message_type="conversation")["message_type"] == (
        "conversation"
    )


def test_server_events_normalise_back():
    n = Normalizer(CID)
    ev, why = n.feed(server_event("conversation.replica.started_speaking", CID, seq=1))
    assert why is None and ev.type == "replica.started_speaking"


# ------------------------------------------------------------------------- parse_interaction


@pytest.mark.parametrize("spelling", ["llm_context", "context"])
def test_parse_interaction_round_trips_builders(spelling):
    it = Interactions(CID, context_spelling=spelling)
    cases = [
        (it.echo("hi"), "echo"),
        (it.echo_audio("AA==", sample_rate=24000, inference_id="i", done=False), "echo_audio"),
        (it.respond("r"), "respond"),
        (it.interrupt(), "interrupt"),
        (it.overwrite_context("c"), "overwrite_context"),
        (it.append_context("c"), "append_context"),
        (it.sensitivity(pause="low")[0], "sensitivity"),
        (it.tool_result("t", "o"), "tool_result"),
        (it.custom("conversation.new_thing", {"x": 1}), "conversation.new_thing"),
    ]
    for msg, kind in cases:
        parsed = parse_interaction(msg)
        assert parsed.kind == kind
        assert parsed.event_type == msg["event_type"]
        assert parsed.conversation_id == CID
    assert parse_interaction(it.append_context("ctx")).text == "ctx"


def test_parse_interaction_is_liberal():
    old = env(
        "conversation.echo",
        {"modality": "audio", "audio": "AA==", "inference_id": "i", "done": "true"},
    )
    parsed = parse_interaction(old)
    assert parsed.kind == "echo_audio"
    assert parsed.properties["done"] is True
    assert parsed.properties["sample_rate"] == 16000  # Tavus's assumption when absent
    assert old["properties"]["done"] == "true"  # the raw message is left alone
    parsed = parse_interaction(env("conversation.echo", {"modality": "audio", "done": "false"}))
    assert parsed.properties["done"] is False
    no_props = {"event_type": "conversation.interrupt", "conversation_id": CID}
    assert parse_interaction(no_props).kind == "interrupt"
    assert parse_interaction(no_props).properties == {}


@pytest.mark.parametrize("bad", [None, "x", [1], {"properties": {}}, {"event_type": 3}])
def test_parse_interaction_none_for_non_interactions(bad):
    assert parse_interaction(bad) is None


# ------------------------------------------------------------------------------- normaliser


def msg(event_type: str, properties=None, **top) -> dict:
    m = {"message_type": "conversation", "event_type": event_type, "conversation_id": CID}
    if properties is not None:
        m["properties"] = properties
    m.update(top)
    return m


def accept(n: Normalizer, message) -> object:
    ev, why = n.feed(message)
    assert why is None, why
    assert ev is not None
    return ev


def skip(n: Normalizer, message) -> str:
    ev, why = n.feed(message)
    assert ev is None
    assert isinstance(why, str)
    return why


@pytest.mark.parametrize(
    "props, text",
    [
        ({"role": "user", "speech": "a", "content": "b", "text": "c"}, "a"),
        ({"role": "user", "content": "b", "text": "c"}, "b"),
        ({"role": "user", "text": "c"}, "c"),
        ({"role": "user", "speech": None, "content": "b"}, "b"),
        ({"role": "user"}, None),
    ],
)
def test_utterance_text_fallbacks(props, text):
    ev = accept(Normalizer(CID), msg("conversation.utterance", props))
    assert ev.type == "utterance" and ev.text == text and ev.role == "user"


def test_utterance_pal_is_replica_and_keeps_raw():
    m = msg("conversation.utterance", {"role": "pal", "speech": "Hi"}, seq=3, turn_idx=1)
    ev = accept(Normalizer(CID), m)
    assert ev.role == "replica"
    assert ev.message is m and ev.properties is m["properties"]
    assert ev.seq == 3 and ev.turn_idx == 1 and ev.conversation_id == CID
    assert ev.answers_to("utterance") and ev.answers_to("conversation.utterance")


def test_streaming_utterance():
    ev = accept(
        Normalizer(CID),
        msg(
            "conversation.utterance.streaming",
            {"role": "replica", "speech": "Hel", "content_index": 0, "final": False},
        ),
    )
    assert ev.type == "utterance.streaming" and ev.text == "Hel" and ev.role == "replica"


@pytest.mark.parametrize(
    "event_type, canonical, role",
    [
        ("conversation.replica.started_speaking", "replica.started_speaking", "replica"),
        ("conversation.replica.stopped_speaking", "replica.stopped_speaking", "replica"),
        ("conversation.user.started_speaking", "user.started_speaking", "user"),
        ("conversation.user.stopped_speaking", "user.stopped_speaking", "user"),
        ("conversation.perception_tool_call", "perception_tool_call", None),
        ("system.replica_joined", "replica.joined", "replica"),
        ("system.pal_joined", "replica.joined", "replica"),
        ("system.replica_present", "replica.joined", "replica"),
    ],
)
def test_canonical_names(event_type, canonical, role):
    ev = accept(Normalizer(CID), msg(event_type, {}))
    assert ev.type == canonical and ev.role == role
    assert ev.event_type == event_type
    assert canonical in EVENT_NAMES


@pytest.mark.parametrize(
    "event_type, role, canonical",
    [
        ("conversation.started_speaking", "replica", "replica.started_speaking"),
        ("conversation.started_speaking", "pal", "replica.started_speaking"),
        ("conversation.started_speaking", "user", "user.started_speaking"),
        ("conversation.stopped_speaking", "pal", "replica.stopped_speaking"),
        ("conversation.stopped_speaking", "user", "user.stopped_speaking"),
    ],
)
def test_role_agnostic_speaking_events(event_type, role, canonical):
    ev = accept(Normalizer(CID), msg(event_type, {"role": role, "duration": 1.5}))
    assert ev.type == canonical
    assert ev.role == canonical.split(".")[0]


def test_role_agnostic_without_role_passes_through():
    ev = accept(Normalizer(CID), msg("conversation.started_speaking", {}))
    assert ev.type == "conversation.started_speaking"


def test_stopped_speaking_fields():
    n = Normalizer(CID)
    ev = accept(
        n, msg("conversation.replica.stopped_speaking", {"duration": 2.25, "interrupted": False})
    )
    assert ev.duration == 2.25 and ev.interrupted is False and ev.aliases == frozenset()
    ev = accept(n, msg("conversation.replica.stopped_speaking", {"duration": None}))
    assert ev.duration is None and ev.interrupted is False
    ev = accept(n, msg("conversation.user.stopped_speaking", {"duration": "bad"}))
    assert ev.duration is None


def test_tool_call_arguments_json_string():
    ev = accept(
        Normalizer(CID),
        msg(
            "conversation.tool_call",
            {"name": "get_weather", "arguments": '{"location": "Paris"}', "tool_call_id": "tc1"},
        ),
    )
    assert ev.type == "tool_call"
    assert ev.name == "get_weather"
    assert ev.arguments == {"location": "Paris"}
    assert ev.tool_call_id == "tc1"


def test_tool_call_arguments_object_and_tool_name_fallback():
    ev = accept(
        Normalizer(CID),
        msg("conversation.tool_call", {"tool_name": "lookup", "arguments": {"q": 1}}),
    )
    assert ev.name == "lookup" and ev.arguments == {"q": 1} and ev.tool_call_id is None


def test_tool_call_bad_json_kept_as_string_and_missing_is_empty():
    n = Normalizer(CID)
    ev = accept(n, msg("conversation.tool_call", {"name": "f", "arguments": "{not json"}))
    assert ev.arguments == "{not json"
    ev = accept(n, msg("conversation.tool_call", {"name": "g"}))
    assert ev.arguments == {}


def test_perception_analysis_text():
    ev = accept(
        Normalizer(CID), msg("conversation.perception_analysis", {"analysis": "A person waves"})
    )
    assert ev.type == "perception_analysis" and ev.text == "A person waves"


def test_shutdown():
    m = server_event("system.shutdown", CID, {"shutdown_reason": "max_call_duration reached"})
    ev = accept(Normalizer(CID), m)
    assert ev.type == "shutdown"
    assert ev.text == "max_call_duration reached"
    assert ev.properties["shutdown_reason"] == "max_call_duration reached"


def test_inference_id_top_level_or_in_properties():
    n = Normalizer(CID)
    ev = accept(n, msg("conversation.utterance", {"role": "user", "speech": "a"}, inference_id="t"))
    assert ev.inference_id == "t"
    ev = accept(
        n, msg("conversation.utterance", {"role": "user", "speech": "b", "inference_id": "p"})
    )
    assert ev.inference_id == "p"


def test_wrong_typed_envelope_fields_are_ignored_not_fatal():
    ev = accept(
        Normalizer(CID),
        msg(
            "conversation.utterance",
            {"role": "user", "speech": "x"},
            seq="nope",
            turn_idx=[1],
            timestamp={},
        ),
    )
    assert ev.seq is None and ev.turn_idx is None and ev.timestamp is None
    ev = accept(Normalizer(CID), msg("conversation.utterance", {}, seq=4, timestamp=17))
    assert ev.seq == 4 and ev.timestamp == 17.0


def test_unknown_event_passes_through_with_fields():
    m = msg(
        "conversation.brand_new",
        {"role": "pal", "speech": "s", "extra": {"k": 1}},
        seq=9,
        inference_id="i9",
        new_top_level="kept",
    )
    ev = accept(Normalizer(CID), m)
    assert ev.type == "conversation.brand_new" == ev.event_type
    assert ev.role == "replica" and ev.text == "s" and ev.inference_id == "i9" and ev.seq == 9
    assert ev.properties["extra"] == {"k": 1}
    assert ev.message["new_top_level"] == "kept"


# -- de-duplication


def test_duplicate_by_seq():
    n = Normalizer(CID)
    accept(n, msg("conversation.utterance", {"role": "pal", "speech": "Hi"}, seq=5))
    why = skip(n, msg("conversation.utterance", {"role": "replica", "speech": "Hi"}, seq=5))
    assert why.startswith("duplicate:")
    accept(n, msg("conversation.utterance", {"role": "replica", "speech": "Hi"}, seq=6))


def test_duplicate_pal_replica_without_seq():
    n = Normalizer(CID)
    props = {"speech": "Hello", "content_index": 0}
    accept(n, msg("conversation.utterance.streaming", {**props, "role": "pal"}, inference_id="i1"))
    why = skip(
        n, msg("conversation.utterance.streaming", {**props, "role": "replica"}, inference_id="i1")
    )
    assert why.startswith("duplicate:")
    # the next streaming piece of the same inference is new
    accept(
        n,
        msg(
            "conversation.utterance.streaming",
            {"speech": "Hello there", "content_index": 1, "role": "pal"},
            inference_id="i1",
        ),
    )
    # the same text in another inference is new
    accept(n, msg("conversation.utterance.streaming", {**props, "role": "pal"}, inference_id="i2"))


def test_no_seq_no_inference_id_is_never_deduplicated():
    n = Normalizer(CID)
    accept(n, msg("conversation.user.started_speaking", {}))
    accept(n, msg("conversation.user.started_speaking", {}))


def test_dedup_memory_is_bounded():
    n = Normalizer(CID)
    for seq in range(1000):
        accept(n, msg("conversation.user.started_speaking", {}, seq=seq))
    assert len(n._seqs) <= 256 and len(n._recent) <= 256
    accept(n, msg("conversation.user.started_speaking", {}, seq=0))  # long forgotten
    skip(n, msg("conversation.user.started_speaking", {}, seq=999))


# -- interruptions


def test_stopped_speaking_interrupted_answers_to_replica_interrupted():
    n = Normalizer(CID)
    ev = accept(n, msg("conversation.replica.stopped_speaking", {"interrupted": "true"}))
    assert ev.interrupted is True
    assert ev.aliases == frozenset({"replica.interrupted"})
    assert ev.answers_to("replica.interrupted") and ev.answers_to("replica.stopped_speaking")


@pytest.mark.parametrize(
    "legacy", ["conversation.replica_interrupted", "conversation.replica.interrupted"]
)
def test_legacy_interrupted_alone_fires(legacy):
    ev = accept(Normalizer(CID), msg(legacy, {}, inference_id="i1"))
    assert ev.type == "replica.interrupted" and ev.interrupted is True


def fired(events, name="replica.interrupted"):
    return sum(1 for e in events if e is not None and e.answers_to(name))


@pytest.mark.parametrize(
    "legacy", ["conversation.replica_interrupted", "conversation.replica.interrupted"]
)
@pytest.mark.parametrize(
    "ids",
    [
        {"turn_idx": 3},
        {"inference_id": "inf-3"},
        {},  # neither: the same speaking turn decides
    ],
)
def test_all_interrupted_forms_fire_once(legacy, ids):
    n = Normalizer(CID)
    events = [
        n.feed(msg("conversation.replica.started_speaking", {}, **ids))[0],
        n.feed(msg("conversation.replica.stopped_speaking", {"interrupted": True}, **ids))[0],
        n.feed(msg("conversation.replica_interrupted", {}, **ids))[0],
        n.feed(msg(legacy, {}, **ids))[0],
    ]
    assert fired(events) == 1
    assert fired(events, "replica.stopped_speaking") == 1
    _, why = n.feed(msg(legacy, {}, **ids))
    assert why.startswith("duplicate:")


def test_legacy_first_then_stopped_speaking_fires_once():
    n = Normalizer(CID)
    first = accept(n, msg("conversation.replica_interrupted", {}, inference_id="a"))
    stopped = accept(
        n, msg("conversation.replica.stopped_speaking", {"interrupted": True}, inference_id="a")
    )
    assert fired([first, stopped]) == 1
    assert stopped.interrupted is True  # still the stopped_speaking it is


def test_next_interruption_fires_again():
    n = Normalizer(CID)
    events = []
    for turn in (1, 2):
        accept(n, msg("conversation.replica.started_speaking", {}))
        events.append(accept(n, msg("conversation.replica.stopped_speaking", {"interrupted": 1})))
        events.append(n.feed(msg("conversation.replica_interrupted", {}))[0])
        assert turn
    assert fired(events) == 2
    # different turns by turn_idx are different interruptions
    n = Normalizer(CID)
    a = accept(n, msg("conversation.replica.stopped_speaking", {"interrupted": True}, turn_idx=1))
    b = accept(n, msg("conversation.replica_interrupted", {}, turn_idx=2))
    assert fired([a, b]) == 2


# -- malformed and foreign


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("just text", "not a JSON object"),
        ([{"event_type": "conversation.utterance"}], "not a JSON object (list)"),
        (None, "not a JSON object"),
        ({"properties": {}}, "no event_type"),
        ({"event_type": 5}, "event_type"),
        ({"event_type": "conversation.utterance", "properties": "speech"}, "properties"),
        ({"event_type": "conversation.utterance", "properties": [1]}, "properties"),
    ],
)
def test_malformed_dropped_with_reason(bad, fragment):
    why = skip(Normalizer(CID), bad)
    assert why.startswith("malformed: ")
    assert fragment in why


def test_properties_none_or_absent_is_empty():
    n = Normalizer(CID)
    assert accept(n, {"event_type": "conversation.user.started_speaking"}).properties == {}
    ev = accept(n, {"event_type": "conversation.user.stopped_speaking", "properties": None})
    assert ev.properties == {}


def test_other_conversation_dropped():
    n = Normalizer(CID)
    m = msg("conversation.utterance", {"role": "user", "speech": "x"})
    m["conversation_id"] = "c-other"
    why = skip(n, m)
    assert why.startswith("other conversation: ") and "c-other" in why
    # unknown on either side: accepted
    assert Normalizer().feed(m)[0] is not None
    del m["conversation_id"]
    accept(n, m)
