"""The live self-check's detectors, fed recorded-style records (no room, no clock)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cviscript.fidelity import Assumptions, Monitor, ToolRule
from cviscript.fidelity.codes import CODES
from tests.helpers import ev, replica_says, started, stopped, user_says


def feed(monitor: Monitor, script: list[tuple[float, str, Any]]) -> Monitor:
    monitor.feed("header", {"conversation_id": None}, 0.0)
    for t, kind, message in script:
        monitor.feed(kind, {"message": message}, t)
    monitor.feed("outcome", {"outcome": "completed"}, script[-1][0] + 0.1 if script else 0.1)
    return monitor


def respond(text: str) -> dict[str, Any]:
    return {"event_type": "conversation.respond", "properties": {"text": text}}


def tool_call(call_id: str, name: str = "lookup", inference_id: str = "inf-1") -> dict:
    msg = ev("conversation.tool_call", None, name=name, arguments="{}", tool_call_id=call_id)
    msg["inference_id"] = inference_id
    return msg


def tool_result(call_id: str, status: str = "success") -> dict:
    return {
        "event_type": "conversation.tool_result",
        "properties": {"tool_call_id": call_id, "output": "ok", "status": status},
    }


def turn(t: float, text: str, inference_id: str | None = None) -> list[tuple[float, str, Any]]:
    s, u = started(), replica_says(text)
    if inference_id:
        s["inference_id"] = u["inference_id"] = inference_id
    return [(t, "received", s), (t, "received", u), (t + 1, "received", stopped())]


def codes_of(script, assumptions: Assumptions | None = None) -> list[str]:
    return feed(Monitor(assumptions), script).codes()


def test_codes_are_unique_and_stable_spelling():
    names = [c.code for c in CODES]
    assert len(names) == len(set(names))
    assert all(n == n.lower() and " " not in n for n in names)


def test_a_faithful_stream_has_no_findings():
    script = [
        (0.0, "sent", respond("Hello")),
        *turn(1.0, "Hi there."),
        (3.0, "received", user_says("I am here to see Ada")),
        *turn(4.0, "Welcome."),
    ]
    assert codes_of(script) == []


def test_no_utterances_after_two_replica_turns_once():
    script = [(float(i), "received", started()) for i in range(4)]
    m = feed(Monitor(), script)
    assert m.codes() == ["no-utterances"]
    f = m.findings[0]
    assert "enable_closed_captions" in f.fix and "2 turns" in f.live and f.count == 1


def test_one_utterance_is_enough_to_stay_quiet():
    assert codes_of([*turn(0, "Hi"), (3, "received", started()), (5, "received", started())]) == []


def test_respond_echo_both_ways():
    script = [
        (0.0, "sent", respond("What does it cost?")),
        (0.5, "received", user_says("what does it cost")),
    ]
    script += turn(1.0, "Ten dollars.")
    m = feed(Monitor(), script)
    assert m.codes() == ["respond-echoed"]
    assert "respond_echo: true" in m.findings[0].fix
    assert codes_of(script, Assumptions(respond_echo=True)) == []
    silent = [(0.0, "sent", respond("What does it cost?")), *turn(1.0, "Ten dollars.")]
    assert codes_of(silent) == []
    assert codes_of(silent, Assumptions(respond_echo=True)) == ["respond-not-echoed"]


def test_a_visitor_saying_other_words_is_no_echo():
    script = [(0.0, "sent", respond("Hello")), (0.5, "received", user_says("Hello there"))]
    assert codes_of(script) == []


def test_tool_filler_and_missing_filler():
    call = [(0.0, "received", tool_call("c1")), *turn(0.3, "One moment please.")]
    call += [(2.0, "sent", tool_result("c1")), *turn(2.5, "Ada is expecting you.")]
    m = feed(Monitor(), call)
    assert m.codes() == ["tool-filler"]
    assert "One moment please." in m.findings[0].live and "on_call" in m.findings[0].fix
    filler_rule = Assumptions(default_tool=ToolRule("generate_filler", "speak"))
    assert codes_of(call, filler_rule) == []
    quiet = [(0.0, "received", tool_call("c1")), (2.0, "sent", tool_result("c1"))]
    quiet += turn(2.5, "Ada is expecting you.")
    assert codes_of(quiet, filler_rule) == ["tool-no-filler"]


def test_an_early_filler_of_the_same_inference_counts():
    script = [
        *turn(0.0, "Let me check.", "inf-9"),
        (0.5, "received", tool_call("c1", inference_id="inf-9")),
    ]
    script += [(1.0, "sent", tool_result("c1")), *turn(1.5, "Found it.")]
    assert codes_of(script) == ["tool-filler"]


def test_tool_result_unspoken_and_spoken():
    quiet = [(0.0, "received", tool_call("c1")), (0.5, "sent", tool_result("c1"))]
    quiet += [(9.0, "received", user_says("hello?"))]
    m = feed(Monitor(), quiet)
    assert m.codes() == ["tool-result-unspoken"]
    assert "fire_and_forget" in m.findings[0].fix
    forget = Assumptions(default_tool=ToolRule(on_resolve="fire_and_forget"))
    assert codes_of(quiet, forget) == []
    spoken = [(0.0, "received", tool_call("c1")), (0.5, "sent", tool_result("c1"))]
    spoken += turn(1.4, "Ada is expecting you.")
    assert codes_of(spoken) == []
    assert codes_of(spoken, forget) == ["tool-result-spoken"]


def test_an_error_result_is_acknowledged_when_results_are_spoken():
    quiet = [(0.0, "received", tool_call("c1")), (0.5, "sent", tool_result("c1", "error"))]
    quiet += [(9.0, "received", user_says("hello?"))]
    m = feed(Monitor(), quiet)
    assert m.codes() == ["tool-result-unspoken"]
    assert "a failed result is acknowledged" in m.findings[0].assumed


def test_a_result_later_than_the_follow_up_window_is_not_expected_spoken():
    late = [(0.0, "received", tool_call("c1")), (20.0, "sent", tool_result("c1"))]
    late += [(29.0, "received", user_says("hello?"))]
    assert codes_of(late) == ["tool-result-unspoken"]
    assert codes_of(late, Assumptions(follow_up_window=15.0)) == []


def test_a_persona_file_model_has_tavus_defaults_and_the_files_tools():
    from types import SimpleNamespace

    tool = SimpleNamespace(on_call="none", on_resolve="generate_response", static_filler=None)
    settings = SimpleNamespace(persona_file=SimpleNamespace(tools={"lookup": tool}))
    a = Assumptions.from_settings(settings)
    assert a.tool("other").filler and not a.tool("other").speaks_result
    assert not a.tool("lookup").filler and a.tool("lookup").speaks_result
    assert not ToolRule("static_filler", "fire_and_forget").filler  # no text: nothing to say


def test_unknown_event_types_and_roles_once_each():
    script = [
        (0.0, "received", ev("conversation.utterance_v2", None, role="replica", speech="x")),
        (0.1, "received", ev("conversation.utterance_v2", None, role="replica", speech="y")),
        (0.2, "received", ev("conversation.utterance", None, role="assistant", speech="z")),
        # Tavus's own app spells the end-of-call analysis with a hyphen: a known spelling
        (0.3, "received", ev("conversation.perception-analysis", None, analysis="a")),
    ]
    m = feed(Monitor(), script)
    assert m.codes() == ["unknown-event"] * 2
    assert m.findings[0].count == 2
    assert "conversation.utterance_v2" in m.findings[0].live


def test_unknown_spellings_are_bounded():
    script = [(i / 10, "received", ev(f"x.event{i}")) for i in range(100)]
    m = feed(Monitor(), script)
    assert len(m.findings) <= 17


def pal_utterance(text: str, role: str, seq: int) -> dict:
    msg = ev("conversation.utterance", seq, role=role, speech=text)
    msg["inference_id"] = "inf-1"
    return msg


def test_copies_within_the_window_are_normal():
    script = [
        (0.0, "received", pal_utterance("Hi", "pal", 1)),
        (0.0, "received", pal_utterance("Hi", "replica", 2)),
    ]
    assert codes_of(script) == []


def test_a_late_copy_is_found_with_its_gap():
    script = [(0.0, "received", pal_utterance("Hi", "pal", 1))]
    script += [(0.1 * i, "received", user_says(f"word {i}", 1 + i)) for i in range(1, 11)]
    script += [(3.0, "received", pal_utterance("Hi", "replica", 12))]
    m = feed(Monitor(), script)
    assert m.codes() == ["late-copy"]
    assert m.findings[0].detail["messages"] == 11
    assert "folding window of at least 11 messages" in m.findings[0].fix


def test_join_order_from_the_record_and_from_the_session():
    m = Monitor()
    m.feed("log", {"text": "x", "replica_first": True}, 0.0)
    assert m.codes() == ["join-order"]
    m = Monitor(Assumptions(replica_first=True))
    m.joined(True)
    assert m.codes() == []
    m.joined(False)
    assert m.codes() == ["join-order"]


def test_unknown_shutdown_reason():
    known = ev("system.shutdown", None, shutdown_reason="max_call_duration reached")
    odd = ev("system.shutdown", None, shutdown_reason="daily_room_deleted")
    assert codes_of([(0.0, "received", known)]) == []
    m = feed(Monitor(), [(0.0, "received", odd)])
    assert m.codes() == ["unknown-shutdown-reason"]
    assert "daily_room_deleted" in m.findings[0].live


def test_findings_are_reported_as_they_happen():
    seen = []
    m = Monitor(on_finding=seen.append)
    m.feed("received", {"message": started()}, 1.0)
    m.feed("received", {"message": started()}, 2.0)
    assert [f.code for f in seen] == ["no-utterances"]
    assert seen[0].t == 2.0


@pytest.mark.parametrize("junk", [None, 3, "x", [], {"event_type": 5}, {"properties": "no"}])
def test_hostile_messages_never_raise(junk):
    m = Monitor()
    m.feed("received", {"message": junk}, 0.0)
    m.feed("sent", {"message": junk}, 0.0)
    m.feed("received", {}, 0.0)
    assert m.broken is None


def test_an_internal_error_switches_the_monitor_off():
    m = Monitor()
    m.detectors.append(type("Boom", (), {"event": None, "raw": lambda *a: 1 / 0})())
    m.feed("received", {"message": started()}, 0.0)
    assert m.broken and "ZeroDivisionError" in m.broken
    m.feed("received", {"message": started()}, 1.0)  # nothing more, nothing raised


def test_a_message_received_as_a_json_string_is_checked_like_an_object():
    # Tavus's own clients parse an app message whose data is a JSON string
    raw = json.dumps(ev("conversation.utterance_v2", None, role="replica", speech="x"))
    m = feed(Monitor(), [(0.0, "received", raw)])
    assert m.codes() == ["unknown-event"]
