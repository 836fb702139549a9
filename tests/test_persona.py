"""Rehearsing against the user's own persona: the persona file, what the replica model takes from
it (tools' on_call / on_resolve, echo mode, perception, objectives, the respond echo), replica
profiles, and the persona and the scenario checked against each other at load."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from helpers import speaking_persona

from cviscript.clock import VirtualClock
from cviscript.errors import ScenarioError
from cviscript.language.model import PersonaRule, Rehearsal, ReplicaSettings, ToolCallSpec
from cviscript.language.persona_file import (
    PersonaFileError,
    persona_from_json,
)
from cviscript.language.templates import compile_text
from cviscript.language.validate import check_file, load_scenario
from cviscript.protocol import Interactions
from cviscript.rehearsal.suite import run_case
from cviscript.sessions.simulated import SimulatedReplica
from cviscript.sessions.simulated.replica import model_settings
from cviscript.sessions.simulated.runner import run_simulated

IA = Interactions("c-sim")

KIOSK = """\
cviscript: 1
name: kiosk
conversation:
  persona_file: persona.json
initial: welcome
states:
  welcome:
    on:
      - tool_call: lookup_meeting
        do:
          - tool_result: "Ada Lovelace, 3rd floor"
        goto: checked_in
      - after: 20s
        goto: done
  checked_in:
    on:
      - utterance: {role: replica, contains: "expecting you"}
        goto: done
      - after: 20s
        goto: done
  done:
    final: true
rehearsals:
  - name: checks in
    user:
      - at: 1s
        say: "I'm here to see Ada."
    persona:
      - match: "(?i)see (?P<host>\\\\w+)"
        tool_call: {name: lookup_meeting, arguments: {host: "{{ groups.host }}"}}
        say: "{{ result }} is expecting you."
    expect:
      said: ["Ada Lovelace, 3rd floor is expecting you"]
      final: done
"""


RULE_LINE = KIOSK.splitlines().index("    persona:") + 2  # the persona rule's line


def tool(**fields) -> dict:
    return {"name": "lookup_meeting", "origin": "llm", **fields}


def write(tmp_path: Path, scenario: str, persona: dict | None) -> Path:
    if persona is not None:
        (tmp_path / "persona.json").write_text(json.dumps(persona))
    path = tmp_path / "demo.yaml"
    path.write_text(textwrap.dedent(scenario))
    return path


def said(conv) -> list[str]:
    return [
        r.data["message"]["properties"]["speech"]
        for r in conv.trace.records
        if r.kind == "received"
        and r.data["message"].get("event_type") == "conversation.utterance"
        and r.data["message"]["properties"].get("role") == "pal"
    ]


def rehearse(path: Path, case: str | None = None):
    sc = load_scenario(path)
    name = case or sc.rehearsals[0].name
    return run_case(str(path), name, scenario=sc)


# ----------------------------------------------------------------------------- the file


def test_a_legacy_persona_and_a_pal_with_registry_tools_are_read_with_tavus_defaults():
    legacy = persona_from_json(
        {
            "persona_id": "p1",
            "persona_name": "Kiosk",
            "pipeline_mode": "full",
            "layers": {
                "llm": {"tools": [{"type": "function", "function": {"name": "inline_tool"}}]},
                "perception": {"perception_model": "raven-0", "visual_tools": []},
            },
            "some_future_field": {"kept": True},
        }
    )
    assert legacy.kind == "persona" and legacy.name == "Kiosk" and legacy.has_perception
    inline = legacy.tools["inline_tool"]
    assert (inline.on_call, inline.on_resolve) == ("generate_filler", "fire_and_forget")
    assert legacy.raw["some_future_field"] == {"kept": True}  # unknown fields kept, ignored
    pal = persona_from_json(
        {
            "pal_id": "pa1",
            "pal_name": "Anna",
            "tools": [
                {"name": "a", "on_call": "static_filler", "static_filler": "One sec."},
                {"name": "seen", "origin": "vision"},
                {"name": "after", "trigger_type": "post_call"},
            ],
        }
    )
    assert pal.kind == "pal" and pal.name == "Anna" and not pal.echo
    assert pal.tools["a"].static_filler == "One sec." and pal.tools["a"].field == "tools[0]"
    assert pal.tools["seen"].perception and pal.tools["seen"].on_call is None
    assert "after" not in pal.tools  # post-call actions never run in the call
    assert pal.has_perception  # a vision tool implies perception


def test_a_broken_persona_file_is_an_error_at_the_key_that_names_it(tmp_path):
    path = write(tmp_path, KIOSK, None)
    (tmp_path / "persona.json").write_text("{not json")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    [d] = [d for d in err.value.diagnostics if d.severity == "error"]
    assert d.code == "bad-persona-file" and d.loc.line == 4 and "not JSON" in d.message
    with pytest.raises(PersonaFileError, match="must hold one JSON object"):
        persona_from_json([1, 2])
    (tmp_path / "persona.json").unlink()
    diags = check_file(path)
    assert [d.code for d in diags if d.severity == "error"] == ["missing-file"]


def test_an_odd_value_in_the_persona_file_is_a_warning_naming_its_field(tmp_path):
    path = write(tmp_path, KIOSK, {"persona_name": "K", "tools": [tool(on_resolve="shout")]})
    warnings = [d for d in check_file(path) if d.code == "persona-file-value"]
    assert len(warnings) == 1 and "tools[0].on_resolve 'shout'" in warnings[0].message


# ------------------------------------------------------------------ tools: on_call, on_resolve


def test_with_default_tools_the_result_is_not_spoken_and_the_failure_names_on_resolve(tmp_path):
    path = write(tmp_path, KIOSK, {"persona_name": "Kiosk", "tools": [tool()]})
    run = rehearse(path)
    assert not run.passed
    [failure] = [f for f in run.failures if f.code == "said-missing"]
    assert "on_resolve is fire_and_forget" in failure.message
    assert "tools[0].on_resolve (not set: Tavus's default)" in failure.message
    assert f"line {RULE_LINE}" in failure.message  # the persona rule whose reply was not spoken
    # the default on_call speaks a filler while the tool runs
    assert any("One moment" in s for s in run.said)


def test_without_a_persona_file_the_model_follows_tavus_defaults(tmp_path):
    text = KIOSK.replace("conversation:\n  persona_file: persona.json\n", "")
    run = rehearse(write(tmp_path, text, None))
    assert not run.passed
    assert "Tavus's default: no persona file" in run.failures[0].message


def test_generate_response_speaks_the_result_and_static_filler_speaks_the_filler(tmp_path):
    persona = {
        "persona_name": "Kiosk",
        "tools": [
            tool(
                on_call="static_filler",
                static_filler="Let me look.",
                on_resolve="generate_response",
            )
        ],
    }
    run = rehearse(write(tmp_path, KIOSK, persona))
    assert run.passed, [f.message for f in run.failures]
    assert run.said[:2] == ["Let me look.", "Ada Lovelace, 3rd floor is expecting you."]


def test_on_call_none_is_silent_while_the_tool_runs(tmp_path):
    persona = {"tools": [tool(on_call="none", on_resolve="generate_response")]}
    run = rehearse(write(tmp_path, KIOSK, persona))
    assert run.said == ["Ada Lovelace, 3rd floor is expecting you."]


def test_a_result_later_than_the_follow_up_window_is_not_spoken():
    clock = VirtualClock()
    rule = PersonaRule(
        re.compile("weather"),
        say=compile_text("It is {{ result }}."),
        tool_call=ToolCallSpec("get_weather", {}),
    )
    rehearsal = Rehearsal(
        "r", persona=[rule], replica=ReplicaSettings(follow_up_window=5.0, heartbeat=0)
    )
    settings = model_settings(rehearsal, speaking_persona("get_weather"))
    replica = SimulatedReplica(clock, rehearsal, settings=settings)
    got: list[dict] = []

    class Sink:
        def on_message(self, message, sender=None):
            got.append(message)

        def on_closed(self, reason):
            pass

        def on_present(self):
            pass

    replica.start(Sink())
    for delay in (1.0, 8.0):  # within the window, then past it
        got.clear()
        replica.send(IA.respond("weather?"))
        clock.run()
        [call] = [m for m in got if m["event_type"] == "conversation.tool_call"]
        result = IA.tool_result(call["properties"]["tool_call_id"], "sunny")
        clock.call_later(delay, replica.send, result)
        clock.run()
        spoken = [
            m
            for m in got
            if m["event_type"] == "conversation.utterance" and m["properties"]["role"] != "user"
        ]
        assert bool(spoken) == (delay < 5.0)
    what, note = replica.model.notes[-1]
    assert what == "reply-not-spoken" and "follow-up window (5s)" in note["why"]
    assert note["field"] == "replica.follow_up_window"


def test_status_error_is_acknowledged_with_a_trace_note_and_a_load_warning(tmp_path):
    text = KIOSK.replace(
        '          - tool_result: "Ada Lovelace, 3rd floor"\n',
        '          - tool_result: {output: "directory down", status: error}\n',
    )
    persona = {"tools": [tool(on_call="none", on_resolve="generate_response")]}
    path = write(tmp_path, text, persona)
    [warning] = [d for d in check_file(path) if d.code == "persona-error-result"]
    assert warning.loc.line == RULE_LINE + 2 and "status: error (line 11)" in warning.message
    conv = run_simulated(load_scenario(path))
    assert said(conv) == ["Sorry, that did not work."]
    [note] = [r.data for r in conv.trace.records if r.kind == "model"]
    assert note["note"] == "tool-error-acknowledged"
    assert note["replaces"] == "None is expecting you." and note["rule_line"] == RULE_LINE


# ------------------------------------------------------------------------------- echo mode


ECHO_KIOSK = """cviscript: 1
name: echo-kiosk
conversation:
  persona_file: persona.json
initial: idle
states:
  idle:
    enter:
      - echo: "Welcome."
    on:
      - utterance: "(?i)hello"
        goto: done
      - event: user.started_speaking
        goto: done
      - perception: "badge"
        goto: done
      - after: 5s
        goto: done
  done:
    final: true
rehearsals:
  - name: visitor speaks
    user:
      - at: 1s
        say: "hello there"
    expect:
      path: [idle, done]
"""


def test_an_echo_persona_with_visitor_triggers_is_flagged_at_load_with_line_and_field(tmp_path):
    path = write(tmp_path, ECHO_KIOSK, {"persona_name": "Sign", "pipeline_mode": "echo"})
    findings = [d for d in check_file(path) if d.code.startswith("persona-")]
    assert [(d.code, d.loc.line) for d in findings] == [
        ("persona-echo-visitor", 11),
        ("persona-echo-visitor", 13),
        ("persona-echo-visitor", 15),
    ]
    assert all(d.severity == "warning" for d in findings)
    assert "[persona field: pipeline_mode]" in findings[0].message
    with pytest.raises(ScenarioError):  # --strict: they are errors
        load_scenario(path, strict=True)


def test_an_echo_persona_never_hears_the_visitor_in_rehearsal(tmp_path):
    path = write(tmp_path, ECHO_KIOSK, {"persona_name": "Sign", "pipeline_mode": "echo"})
    conv = run_simulated(load_scenario(path))
    kinds = [r.data["message"]["event_type"] for r in conv.trace.records if r.kind == "received"]
    assert not [k for k in kinds if "user" in k] and "conversation.utterance" in kinds
    assert conv.result.path == ["idle", "done"] and conv.result.duration == pytest.approx(5.0)
    notes = [r.data["note"] for r in conv.trace.records if r.kind == "model"]
    assert notes == ["visitor-not-heard"]


# ------------------------------------------------------------------------ other findings


FINDINGS = """cviscript: 1
name: checks
conversation:
  persona_file: persona.json
initial: a
states:
  a:
    on:
      - tool_call: lookup_meting
        do:
          - tool_result: "x"
        goto: b
      - perception: "badge"
        goto: b
      - after: 5s
        goto: b
  b:
    on:
      - event: replica.stopped_speaking
        goto: c
  c:
    final: true
rehearsals:
  - name: r
    persona:
      - complete_objective: {name: budget_check}
"""


def test_unknown_tool_no_perception_unspoken_result_and_unknown_objective(tmp_path):
    persona = {"persona_name": "P", "tools": [tool()], "objectives": [{"objective_name": "x"}]}
    path = write(tmp_path, FINDINGS, persona)
    found = {(d.code, d.loc.line, d.severity) for d in check_file(path) if "persona" in d.code}
    assert found == {
        ("persona-unknown-tool", 9, "warning"),
        ("persona-no-perception", 13, "warning"),
        # b can only be left by the replica speaking, and nothing will be spoken: an error
        ("persona-unspoken-result", 9, "error"),
        ("persona-unknown-objective", 26, "warning"),
    }
    [unknown] = [d for d in check_file(path) if d.code == "persona-unknown-tool"]
    assert 'did you mean "lookup_meeting"' in unknown.message


# -------------------------------------------------------------------- objectives, perception


OBJECTIVE = """cviscript: 1
name: qualify
conversation:
  persona_file: persona.json
initial: ask
states:
  ask:
    enter:
      - respond: "Ask about the budget."
    on:
      - event: conversation.objective.completed
        do:
          - set: {budget: "{{ event.properties.output_variables.budget }}"}
        goto: done
      - after: 20s
        goto: done
  done:
    final: true
rehearsals:
  - name: budget given
    user:
      - at: 2s
        say: "About 5000 dollars."
    persona:
      - match: "(?i)(?P<amount>\\\\d+) dollars"
        say: "Thanks, noted."
        complete_objective:
          name: budget_check
          output_variables: {budget: "{{ groups.amount }}"}
    expect:
      vars: {budget: 5000}
      path: [ask, done]
"""


def test_complete_objective_emits_the_completion_as_tavus_spells_it(tmp_path):
    persona = {"persona_name": "Q", "objectives": [{"objective_name": "budget_check"}]}
    path = write(tmp_path, OBJECTIVE, persona)
    assert not [d for d in check_file(path) if d.code.startswith("persona-")]
    run = rehearse(path)
    assert run.passed, [f.message for f in run.failures]
    conv = run_simulated(load_scenario(path))
    [msg] = [
        r.data["message"]
        for r in conv.trace.records
        if r.kind == "received"
        and r.data["message"]["event_type"] == "conversation.objective.completed"
    ]
    assert msg["properties"] == {
        "objective_name": "budget_check",
        "output_variables": {"budget": "5000"},
    }
    objectives = [
        (r.data["message"]["event_type"], r.data["message"]["properties"]["objective_name"])
        for r in conv.trace.records
        if r.kind == "received" and "objective" in r.data["message"]["event_type"]
    ]
    assert objectives == [
        ("conversation.objective.activated", "budget_check"),  # as the replica joins
        ("conversation.objective.completed", "budget_check"),
    ]


def test_perception_tool_calls_are_the_personas_tools_and_a_tool_result_may_answer_one(tmp_path):
    text = """\
    cviscript: 1
    name: badge
    conversation:
      persona_file: persona.json
    initial: watch
    states:
      watch:
        on:
          - event: perception_tool_call
            do:
              - tool_result: "noted"
            goto: done
      done:
        final: true
    rehearsals:
      - name: badge shown
        user:
          - at: 1s
            perceive: "a badge is shown"
        expect:
          path: [watch, done]
          sent: [conversation.tool_result]
    """
    persona = {"persona_name": "B", "tools": [{"name": "badge_seen", "origin": "vision"}]}
    path = write(tmp_path, text, persona)
    conv = run_simulated(load_scenario(path))
    [call] = [
        r.data["message"]
        for r in conv.trace.records
        if r.kind == "received"
        and r.data["message"]["event_type"] == "conversation.perception_tool_call"
    ]
    assert call["properties"]["name"] == "badge_seen" and call["properties"]["tool_call_id"]
    assert conv.result.path == ["watch", "done"]
    # without a perception layer, nothing is perceived
    (tmp_path / "persona.json").write_text(json.dumps({"persona_name": "B"}))
    conv = run_simulated(load_scenario(path))
    assert conv.result.path == ["watch"]


# --------------------------------------------------------------------------- respond echo


RESPOND = """cviscript: 1
name: own-words
initial: a
states:
  a:
    enter:
      - respond: "Say goodbye to the visitor."
    on:
      - utterance: "(?i)goodbye"
        goto: fooled
      - after: 3s
        goto: done
  fooled:
    final: true
  done:
    final: true
rehearsals:
  - name: r
    expect:
      path: [a, done]
"""


@pytest.mark.parametrize("echo", [True, False])
def test_the_scenarios_own_respond_never_fires_its_own_utterance_transitions(tmp_path, echo):
    text = RESPOND.replace(
        "  - name: r\n", f"  - name: r\n    replica: {{respond_echo: {str(echo).lower()}}}\n"
    )
    conv = run_simulated(load_scenario(write(tmp_path, text, None)))
    assert conv.result.path == ["a", "done"]
    users = [
        r.data["message"]["properties"]["speech"]
        for r in conv.trace.records
        if r.kind == "received"
        and r.data["message"]["event_type"] == "conversation.utterance"
        and r.data["message"]["properties"]["role"] == "user"
    ]
    assert users == (["Say goodbye to the visitor."] if echo else [])
    own = [r for r in conv.trace.records if r.kind == "log" and r.data.get("own_respond")]
    assert len(own) == (1 if echo else 0)


# ------------------------------------------------------------------------------- profiles


def test_a_replica_profile_is_merged_under_the_cases_own_keys(tmp_path):
    (tmp_path / "replica.yaml").write_text("reply_latency: 2s\nwords_per_minute: 100\n")
    text = KIOSK.replace(
        "  persona_file: persona.json\n",
        "  persona_file: persona.json\n  replica_profile: replica.yaml\n",
    ).replace(
        "  - name: checks in\n", "  - name: checks in\n    replica: {words_per_minute: 200}\n"
    )
    path = write(tmp_path, text, {"tools": [tool()]})
    r = load_scenario(path).rehearsals[0].replica
    assert (r.reply_latency, r.words_per_minute) == (2.0, 200.0)
    (tmp_path / "replica.yaml").write_text("reply_latency: soon\npersona_file: x.json\n")
    errors = [d for d in check_file(path) if d.severity == "error"]
    assert {d.loc.file for d in errors} == {str(tmp_path / "replica.yaml")}
    assert len(errors) == 2


# --------------------------------------------------------------------------------- the docs


def test_every_fidelity_row_says_how_sure_it_is_and_links_a_source():
    text = (Path(__file__).parent.parent / "docs" / "fidelity.md").read_text()
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| what a") and "---" not in line
    ]
    assert len(rows) > 40
    sure = ("documented", "Tavus's code", "inferred", "unconfirmed")
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert len(cells) == 4, row
        assert cells[1].startswith(sure), row
        assert "](https://" in cells[2], row


def test_the_filler_line_is_a_replica_setting_a_profile_can_carry(tmp_path):
    (tmp_path / "replica.yaml").write_text('filler: "Hang on a second."\n')
    text = """\
    cviscript: 1
    name: f
    conversation: {replica_profile: replica.yaml}
    initial: a
    states:
      a:
        on:
          - tool_call: t
            do: [{tool_result: "x"}]
            goto: b
          - after: 5s
            goto: c
      b:
        on: [{after: 3s, goto: c}]
      c: {final: true}
    rehearsals:
      - name: r
        user: [{at: 1s, say: "go"}]
        persona: [{match: "go", tool_call: t}]
        expect: {said: ["Hang on a second."], path: [a, b, c]}
    """
    run = rehearse(write(tmp_path, text, None))
    assert run.passed, [f.message for f in run.failures]


@pytest.mark.parametrize("pipeline", ["echo", "full"])
def test_the_fake_daily_room_follows_a_persona_file(tmp_path, pipeline):
    import time

    from cviscript.sessions.fake.replica import fake_daily_from_env

    (tmp_path / "p.json").write_text(json.dumps({"persona_name": "P", "pipeline_mode": pipeline}))
    spec = {
        "persona_file": str(tmp_path / "p.json"),
        "user": [[0.05, "hello there"]],
        "heartbeat": 0,
    }
    fake = fake_daily_from_env(json.dumps(spec))
    got: list[dict] = []

    class Handler(fake.EventHandler):
        def on_app_message(self, message, sender):
            got.append(message)

    fake.Daily.init()
    client = fake.CallClient(event_handler=Handler())
    client.join("https://tavus.daily.co/c123")
    deadline = time.monotonic() + (3 if pipeline == "full" else 0.8)  # the words end by 0.3 s
    while time.monotonic() < deadline and not any("user" in m["event_type"] for m in got):
        time.sleep(0.02)
    client.release()
    heard = [m for m in got if "user" in m["event_type"]]
    assert bool(heard) == (pipeline == "full")


def test_an_objective_trigger_the_persona_lacks_is_flagged(tmp_path):
    text = """\
    cviscript: 1
    name: o
    conversation: {persona_file: persona.json}
    initial: a
    states:
      a:
        on:
          - objective: budget_chek
            goto: b
          - objective: {name: timeline_check, status: pending}
            goto: b
      b: {final: true}
    """
    persona = {
        "objectives": [{"objective_name": "budget_check"}, {"objective_name": "timeline_check"}]
    }
    [d] = [d for d in check_file(write(tmp_path, text, persona)) if d.code.startswith("persona-")]
    assert d.code == "persona-unknown-objective" and d.loc.line == 8
    assert 'did you mean "budget_check"' in d.message


def test_the_visitors_speech_streams_with_final_true_mid_turn(tmp_path):
    text = """\
    cviscript: 1
    name: s
    initial: a
    states:
      a:
        on: [{utterance: "see Ada", goto: b}, {after: 10s, goto: b}]
      b: {final: true}
    rehearsals:
      - name: r
        user: [{at: 1s, say: "I am here to see Ada"}]
    """
    conv = run_simulated(load_scenario(write(tmp_path, text, None)))
    user = [
        (r.data["message"]["event_type"], r.data["message"]["properties"])
        for r in conv.trace.records
        if r.kind == "received"
        and r.data["message"].get("properties", {}).get("role") == "user"
        and "utterance" in r.data["message"]["event_type"]
    ]
    assert user == [
        ("conversation.utterance.streaming", {"role": "user", "speech": "I am here", "content_index": 0, "final": True}),
        ("conversation.utterance.streaming", {"role": "user", "speech": "I am here to see Ada", "content_index": 1, "final": True}),
        ("conversation.utterance", {"role": "user", "speech": "I am here to see Ada"}),
    ]  # fmt: skip
    assert conv.result.path == ["a", "b"]  # the utterance fires it, not a streaming chunk


def test_objectives_start_where_no_other_leads_and_chain_by_next_required():
    pf = persona_from_json(
        {
            "objectives": [
                {"objective_name": "greet", "next_required_objective": "budget"},
                {"objective_name": "budget", "next_conditional_objectives": {"big": "if > 10k"}},
                {"objective_name": "big"},
            ]
        }
    )
    assert [o.name for o in pf.first_objectives()] == ["greet"]
    assert pf.objectives["greet"].next_required == "budget"


def test_a_changed_persona_file_is_checked_again_not_read_from_the_scenario_cache(tmp_path):
    full = {"persona_name": "Sign", "layers": {"perception": {"perception_model": "raven-1"}}}
    path = write(tmp_path, ECHO_KIOSK, full)
    assert not [d for d in check_file(path) if d.code.startswith("persona-")]
    (tmp_path / "persona.json").write_text(json.dumps({"pipeline_mode": "echo"}))
    assert len([d for d in check_file(path) if d.code == "persona-echo-visitor"]) == 3


def test_a_hostile_persona_file_is_an_error_or_warnings_never_a_traceback():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["tools", "layers", "llm", "perception", "objectives", "name", "origin",
                 "on_call", "on_resolve", "objective_name", "pipeline_mode", "function",
                 "delivery", "data", "visual_tools", "next_conditional_objectives",
                 "next_required_objective", "output_variables", "static_filler"]
            ) | st.text(max_size=4),
            inner,
            max_size=5,
        ),
        max_leaves=30,
    )  # fmt: skip

    @settings(max_examples=300, deadline=None)
    @given(json_values)
    def check(value):
        try:
            pf = persona_from_json(value)
        except PersonaFileError:
            return
        pf.has_perception, pf.first_objectives(), pf.perception_tools(), pf.describe()

    check()
