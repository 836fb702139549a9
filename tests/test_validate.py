import os
import re
import struct
import textwrap
import wave
from pathlib import Path

import pytest
import yaml
from helpers import mutate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cviscript.errors import Location, ScenarioError
from cviscript.language import model as m
from cviscript.language.templates import render
from cviscript.language.validate import check_file, load_scenario

DATA = Path(__file__).parent / "data"
PRICING = DATA / "good" / "pricing-demo.yaml"


def src(text):
    return textwrap.dedent(text).lstrip("\n")


def load(text, path="s.yaml"):
    return load_scenario(path, source=src(text))


def errors(text, path="s.yaml"):
    return [d for d in check_file(path, source=src(text)) if d.severity == "error"]


def warnings(text, path="s.yaml"):
    return [d for d in check_file(path, source=src(text)) if d.severity == "warning"]


def one(text, code, line=None, path="s.yaml"):
    found = errors(text, path)
    assert [d.code for d in found] == [code], found
    if line is not None:
        assert found[0].loc.line == line, found[0]
    return found[0]


def scenario(states, top="", rehearsals=""):
    """A valid scenario around `states` (indented YAML of the states mapping body)."""
    text = (
        "cviscript: 1\nname: t\ninitial: a\n"
        + src(top)
        + "states:\n"
        + textwrap.indent(src(states), "  ")
    )
    if rehearsals:
        text += "rehearsals:\n" + textwrap.indent(src(rehearsals), "  ")
    return text


STATES = """
a:
  on:
    - event: replica.stopped_speaking
      goto: b
b:
  final: true
"""


def with_on(transition):
    """A scenario whose state `a` has this one transition (its first key at line 7, column 9)."""
    first, *rest = src(transition).splitlines(keepends=True)
    return scenario(
        "a:\n  on:\n    - "
        + first
        + "".join("      " + line for line in rest)
        + "b:\n  final: true\n"
    )


def first_transition(text):
    return load(text).states["a"].on[0]


def with_enter(actions):
    """State `a` enters with these actions (the first at line 7, its key at column 9)."""
    body = (
        "a:\n  enter:\n"
        + textwrap.indent(src(actions), "    ")
        + "  on:\n    - after: 1s\n      goto: b\nb:\n  final: true\n"
    )
    return scenario(body)


def enter_actions(actions, path="s.yaml"):
    return load(with_enter(actions), path).states["a"].enter


def with_tool_do(actions):
    """State `a` answers a tool call with these actions (the first at line 9)."""
    body = (
        "a:\n  on:\n    - tool_call: lookup\n      do:\n"
        + textwrap.indent(src(actions), "        ")
        + "      goto: b\nb:\n  final: true\n"
    )
    return scenario(body)


def tool_do(actions):
    return load(with_tool_do(actions)).states["a"].on[0].do


# ------------------------------------------------------------------------------------------ example


def test_contract_example_loads_into_the_model():
    sc = load_scenario(PRICING)
    assert sc.name == "pricing-demo"
    assert sc.version == 1
    assert sc.path == str(PRICING)
    assert sc.initial == "greet"
    assert list(sc.states) == ["greet", "ask", "pricing", "bye"]
    assert sc.vars == {"product": "Acme Cloud", "asked": 0}
    assert sc.timeout == m.DEFAULT_RUN_TIMEOUT
    assert sc.description.startswith("Greets")

    create = sc.conversation.create
    assert create["persona_id"].source == "p9a95912"
    assert create["conversation_name"].source == "pricing demo"
    assert create["test_mode"] is False
    assert sc.conversation.context_spelling == "llm_context"

    (stop,) = sc.any
    assert stop.id == "any[0]" and stop.goto == "bye"
    assert stop.trigger.role == "user"
    assert stop.trigger.match.search("ok GOODBYE then")

    greet = sc.states["greet"]
    sens, echo = greet.enter
    assert sens == m.Sensitivity(pause="high", interrupt="low", loc=sens.loc)
    assert render(echo.text, {"vars": sc.vars}) == "Hi! I'm here to show you Acme Cloud."
    assert greet.on[0].trigger.name == "replica.stopped_speaking"
    assert greet.on[0].loc == Location(str(PRICING), 28, 9)

    ask = sc.states["ask"]
    set_vars = ask.enter[0]
    assert isinstance(set_vars, m.SetVars) and set_vars.values["asked"].is_template
    assert [t.id for t in ask.on] == ["ask.on[0]", "ask.on[1]", "ask.on[2]", "ask.on[3]"]
    tool = ask.on[1]
    assert tool.trigger == m.ToolCallTrigger(name="get_weather", loc=tool.trigger.loc)
    assert tool.goto is None
    assert isinstance(tool.do[0], m.ToolResult)
    assert (
        render(tool.do[0].output, {"event": {"arguments": {"location": "Oslo"}}}) == "Sunny in Oslo"
    )
    assert ask.on[2].trigger.seconds == 20.0
    assert ask.on[2].when.source == "vars.asked < 3"
    assert ask.on[3].when is None and ask.on[3].goto == "bye"

    pricing = sc.states["pricing"]
    assert [type(a) for a in pricing.enter] == [m.Interrupt, m.AppendContext, m.Respond]
    assert sc.states["bye"].final is True
    assert [t.id for t in sc.transitions()][:2] == ["any[0]", "greet.on[0]"]

    (r,) = sc.rehearsals
    assert r.name == "visitor asks for pricing"
    assert r.user[0].on == m.StateTrigger(state="ask", loc=r.user[0].on.loc)
    assert r.user[0].say.source == "How much does it cost?"
    assert r.user[0].times == 1 and r.user[0].barge_in is False
    assert r.persona[0].match.pattern == "(?i)pricing"
    assert r.expect.path == ["greet", "ask", "pricing", "bye"]
    assert r.expect.said == ["ten dollars"]
    assert r.expect.sent[4] == "conversation.append_llm_context"
    assert r.expect.duration_max == 120.0
    assert set(r.expect.locs) == {"path", "said", "sent", "duration"}
    assert r.expect.locs["said"] == Location(str(PRICING), 71, 7)
    assert sc.rehearsal("visitor asks for pricing") is r


def test_contract_example_has_no_diagnostics():
    assert check_file(PRICING) == []


def test_minimal_scenario():
    sc = load(scenario(STATES))
    assert sc.name == "t" and sc.initial == "a" and sc.rehearsals == [] and sc.any == []


# ---------------------------------------------------------------------------------------- top level


def test_missing_required_keys_are_all_reported():
    found = errors("description: nothing here\n")
    assert [d.code for d in found] == ["missing-key"] * 4
    assert {re.search(r"'(\w+)'", d.message).group(1) for d in found} == {
        "cviscript",
        "name",
        "initial",
        "states",
    }


@pytest.mark.parametrize("version", ["2", "'one'", "1.5", "true"])
def test_unsupported_version(version):
    d = one(scenario(STATES).replace("cviscript: 1", f"cviscript: {version}"), "bad-value", 1)
    assert "cviscript: 1" in d.message


def test_top_level_must_be_a_mapping():
    d = one("- a\n- b\n", "wrong-type", 1)
    assert "top level" in d.message


def test_unknown_top_key_with_did_you_mean():
    d = one(scenario(STATES) + "rehersals: []\n", "unknown-key", 11)
    assert d.message == "unknown key 'rehersals' in the scenario (did you mean \"rehearsals\"?)"
    assert d.loc.column == 1


def test_unknown_key_without_close_match_lists_the_keys():
    d = one(scenario(STATES) + "zzz: 1\n", "unknown-key")
    assert "expected one of: cviscript, name" in d.message


def test_initial_must_exist():
    d = one(scenario(STATES).replace("initial: a", "initial: bb"), "unknown-state", 3)
    assert "'bb'" in d.message and 'did you mean "b"' in d.message


def test_states_must_not_be_empty():
    one("cviscript: 1\nname: t\ninitial: a\nstates: {}\n", "bad-value", 4)
    one("cviscript: 1\nname: t\ninitial: a\nstates: [a]\n", "wrong-type", 4)


def test_timeout_final_wait_description_vars():
    sc = load(
        scenario(
            STATES, top="timeout: 5m\nfinal_wait: 2s\ndescription: hi\nvars: {a: [1, {b: c}]}\n"
        )
    )
    assert sc.timeout == 300.0 and sc.final_wait == 2.0 and sc.description == "hi"
    assert sc.vars == {"a": [1, {"b": "c"}]}


def test_bad_timeout():
    d = one(scenario(STATES, top="timeout: soon\n"), "bad-duration", 4)
    assert "timeout" in d.message and "250ms" in d.message
    one(scenario(STATES, top="timeout: 0\n"), "bad-duration", 4)


def test_vars_must_be_a_mapping():
    one(scenario(STATES, top="vars: [1]\n"), "wrong-type", 4)


def test_many_errors_reported_at_once_in_file_order():
    text = src("""
        cviscript: 1
        name: t
        initial: a
        timeout: never
        states:
          a:
            entr: []
            on:
              - event: replica.stoped_speaking
                goto: c
              - after: 1s
                goto: b
          b:
            final: yes please
        """)
    with pytest.raises(ScenarioError) as e:
        load_scenario("s.yaml", source=text)
    got = [(d.code, d.loc.line) for d in e.value.diagnostics if d.severity == "error"]
    assert got == [
        ("bad-duration", 4),
        ("unknown-key", 7),
        ("unknown-event", 9),
        ("unknown-state", 10),
        ("wrong-type", 14),
    ]
    assert "s.yaml:9:" in str(e.value)


def test_duplicate_keys_and_validation_errors_come_together():
    text = scenario(STATES, top="vars: {x: 1}\nvars: {y: 2}\n") + "bogus: 1\n"
    assert [d.code for d in errors(text)] == ["duplicate-key", "unknown-key"]


def test_yaml_syntax_error_through_load_scenario():
    with pytest.raises(ScenarioError) as e:
        load_scenario("s.yaml", source="cviscript: 1\nname: [x\n")
    assert e.value.diagnostics[0].code == "yaml-syntax"


# ------------------------------------------------------------------------------------------- states


def test_unknown_state_key_did_you_mean():
    d = one(scenario("a:\n  entr: []\n  final: true\n"), "unknown-key", 6)
    assert 'did you mean "enter"' in d.message


def test_null_state_body_is_an_empty_state():
    sc = load(scenario("a:\n  on:\n    - after: 1s\n      goto: b\nb:\n"))
    assert sc.states["b"] == m.State(name="b", loc=sc.states["b"].loc)


def test_state_must_be_a_mapping():
    one(scenario("a: [1]\n"), "wrong-type", 5)


def test_final_must_be_boolean():
    one(scenario("a:\n  final: 1\n"), "wrong-type", 6)


def test_exit_actions():
    sc = load(scenario("a:\n  exit: [interrupt]\n  final: true\n"))
    assert isinstance(sc.states["a"].exit[0], m.Interrupt)


# -------------------------------------------------------------------------------------- transitions


def test_transition_ids():
    text = scenario(
        STATES + "c:\n  on:\n    - after: 1s\n    - after: 2s\n      goto: a\n",
        top="any:\n  - after: 9s\n    goto: a\n",
    )
    sc = load(text)
    assert [t.id for t in sc.transitions()] == ["any[0]", "a.on[0]", "c.on[0]", "c.on[1]"]


def test_transition_without_trigger():
    d = one(with_on("goto: b\n"), "trigger-count", 7)
    assert "needs a trigger" in d.message and "utterance" in d.message and "after" in d.message


def test_transition_with_two_triggers_names_them():
    d = one(with_on("event: replica.joined\nafter: 2s\ngoto: b\n"), "trigger-count", 8)
    assert "event, after" in d.message


def test_misspelt_trigger_is_one_unknown_key_error():
    d = one(with_on("utterence: hi\ngoto: b\n"), "unknown-key", 7)
    assert 'did you mean "utterance"' in d.message


def test_goto_must_exist_with_did_you_mean():
    d = one(with_on("after: 1s\ngoto: bb\n"), "unknown-state", 8)
    assert 'did you mean "b"' in d.message
    assert d.loc.column == 15


def test_goto_absent_means_stay():
    t = first_transition(with_on("after: 1s\ndo: [end]\n"))
    assert t.goto is None and isinstance(t.do[0], m.End)


def test_when_is_compiled():
    t = first_transition(with_on("after: 1s\nwhen: vars.n > 2\ngoto: b\n"))
    assert isinstance(t.when, m.Expr) and t.when.compiled is not None
    assert t.when.loc == Location("s.yaml", 8, 15)


@pytest.mark.parametrize("when", ["'vars.n >'", "'{{ vars.n }}'", "varz.n > 1"])
def test_bad_when(when):
    d = one(with_on(f"after: 1s\nwhen: {when}\ngoto: b\n"), "bad-template", 8)
    assert "when" in d.message


def test_where_only_with_event():
    one(with_on("after: 1s\nwhere: {a: 1}\ngoto: b\n"), "bad-value", 8)


def test_transition_doing_nothing_warns():
    (w, unreachable) = warnings(with_on("after: 1s\n"))
    assert w.code == "no-effect" and w.loc.line == 7
    assert unreachable.code == "unreachable-state"


def test_transition_must_be_a_mapping():
    one(scenario("a:\n  on:\n    - goto\nb:\n  final: true\n"), "wrong-type", 7)


# ----------------------------------------------------------------------------------------- triggers


def test_utterance_shorthand_is_user_regex():
    trig = first_transition(with_on("utterance: '(?i)hello (?P<name>\\w+)'\ngoto: b\n")).trigger
    assert isinstance(trig, m.UtteranceTrigger)
    assert trig.role == "user"
    assert trig.match.search("HELLO bob").group("name") == "bob"
    assert trig.loc == Location("s.yaml", 7, 9)


def test_utterance_mapping():
    trig = first_transition(
        with_on(
            "utterance: {role: replica, contains: [Price, COST], equals: '  Yes Please '}\ngoto: b\n"
        )
    ).trigger
    assert trig.role == "replica" and trig.match is None
    assert trig.contains == ("price", "cost")
    assert trig.equals == "yes please"


def test_utterance_contains_single_string_and_any_role():
    trig = first_transition(with_on("utterance: {role: any, contains: Hi}\ngoto: b\n")).trigger
    assert trig.role == "any" and trig.contains == ("hi",)


def test_utterance_with_only_role_means_any_utterance():
    trig = first_transition(with_on("utterance: {role: user}\ngoto: b\n")).trigger
    assert (trig.match, trig.contains, trig.equals) == (None, (), None)


def test_bad_regex_has_location():
    d = one(with_on("utterance: {match: '(unclosed'}\ngoto: b\n"), "bad-regex", 7)
    assert "missing )" in d.message
    assert d.loc.column == 28


def test_bad_role_and_unknown_utterance_key():
    d = one(with_on("utterance: {role: usr}\ngoto: b\n"), "bad-value", 7)
    assert 'did you mean "user"' in d.message
    d = one(with_on("utterance: {matches: x}\ngoto: b\n"), "unknown-key", 7)
    assert 'did you mean "match"' in d.message


@pytest.mark.parametrize(
    "name",
    [
        "replica.stopped_speaking",
        "utterance",
        "shutdown",
        "conversation.some_new_event",
        "system.replica_present",
    ],
)
def test_event_names_accepted(name):
    trig = first_transition(with_on(f"event: {name}\ngoto: b\n")).trigger
    assert trig == m.EventTrigger(name=name, loc=trig.loc)


def test_unknown_event_with_did_you_mean():
    d = one(with_on("event: replica.stoped_speaking\ngoto: b\n"), "unknown-event", 7)
    assert 'did you mean "replica.stopped_speaking"' in d.message
    d = one(with_on("event: spoken\ngoto: b\n"), "unknown-event", 7)
    assert "raw event_type starting with 'conversation.'" in d.message


def test_event_where():
    trig = first_transition(
        with_on("event: replica.stopped_speaking\nwhere: {interrupted: true}\ngoto: b\n")
    ).trigger
    assert trig.where == {"interrupted": True}


def test_tool_call_trigger_forms():
    trig = first_transition(with_on("tool_call: get_weather\ndo: [end]\n")).trigger
    assert trig.name == "get_weather" and trig.arguments == {}
    trig = first_transition(
        with_on("tool_call: {name: book, arguments: {day: monday, n: 2}}\ndo: [end]\n")
    ).trigger
    assert trig == m.ToolCallTrigger(name="book", arguments={"day": "monday", "n": 2}, loc=trig.loc)


def test_tool_call_trigger_needs_a_name():
    one(with_on("tool_call: {arguments: {}}\ngoto: b\n"), "missing-key", 7)


def test_perception_forms():
    assert (
        first_transition(with_on("perception: glasses\ngoto: b\n")).trigger.match.pattern
        == "glasses"
    )
    assert (
        first_transition(with_on("perception: {match: '(?i)hat'}\ngoto: b\n")).trigger.match.pattern
        == "(?i)hat"
    )
    assert first_transition(with_on("perception: {}\ngoto: b\n")).trigger.match is None
    one(with_on("perception: {match: '['}\ngoto: b\n"), "bad-regex", 7)


def test_after_trigger():
    assert first_transition(with_on("after: 250ms\ngoto: b\n")).trigger.seconds == 0.25
    assert first_transition(with_on("after: 3\ngoto: b\n")).trigger.seconds == 3.0
    d = one(with_on("after: soon\ngoto: b\n"), "bad-duration", 7)
    assert "expected a duration like 250ms" in d.message


# ------------------------------------------------------------------------------------------ actions


def test_every_action_kind():
    actions = enter_actions("""
        - echo: "Hi {{ vars.name }}"
        - respond: What do you sell?
        - interrupt
        - overwrite_context: ctx
        - append_context: more
        - sensitivity: {pause: low}
        - set: {n: "{{ vars.n + 1 }}", flag: true, name: plain}
        - log: logged
        - send: {event_type: conversation.custom, properties: {a: "{{ state }}"}}
        - end
        - fail: "went wrong in {{ state }}"
    """)
    kinds = [type(a) for a in actions]
    assert kinds == [
        m.Echo, m.Respond, m.Interrupt, m.OverwriteContext, m.AppendContext, m.Sensitivity,
        m.SetVars, m.Log, m.Send, m.End, m.Fail,
    ]  # fmt: skip
    echo, respond, *_ = actions
    assert echo.text.is_template and echo.loc == Location("s.yaml", 7, 9)
    assert respond.text.source == "What do you sell?" and not respond.text.is_template
    assert actions[5].pause == "low" and actions[5].interrupt is None
    sv = actions[6]
    assert (
        sv.values["n"].is_template
        and sv.values["flag"] is True
        and sv.values["name"].source == "plain"
    )
    send = actions[8]
    assert send.event_type == "conversation.custom" and send.properties["a"].is_template
    assert actions[10].reason.is_template
    (tr,) = tool_do('- tool_result: {output: {temp: "{{ vars.t }}", ok: true}, status: error}\n')
    assert tr.output["temp"].is_template and tr.output["ok"] is True and tr.status.source == "error"


def test_action_shorthands():
    interrupt, end, fail, echo = enter_actions("""
        - interrupt: true
        - end:
        - fail
        - echo: {text: hello}
    """)
    (tr,) = tool_do('- tool_result: "{{ vars.x }}"\n')
    assert isinstance(interrupt, m.Interrupt) and isinstance(end, m.End)
    assert fail.reason.source == "failed"
    assert echo.text.source == "hello"
    assert tr.output.is_template and tr.status is None


def test_single_action_instead_of_a_list():
    sc = load(scenario("a:\n  enter: interrupt\n  exit: {log: bye}\n  final: true\n"))
    assert isinstance(sc.states["a"].enter[0], m.Interrupt)
    assert isinstance(sc.states["a"].exit[0], m.Log)


def test_send_without_dot_gets_conversation_prefix():
    (send,) = enter_actions("- send: {event_type: echo, properties: {text: hi}}\n")
    assert send.event_type == "conversation.echo"


def test_scalar_as_text_is_taken_as_written():
    (echo,) = enter_actions("- echo: 42\n")
    assert echo.text.source == "42"


def test_unknown_action_did_you_mean():
    d = one(with_enter("- ecko: hi\n"), "unknown-action", 7)
    assert 'did you mean "echo"' in d.message
    d = one(with_enter("- interupt\n"), "unknown-action", 7)
    assert 'did you mean "interrupt"' in d.message


def test_action_needing_a_value():
    d = one(with_enter("- echo\n"), "bad-value", 7)
    assert "needs a value" in d.message


def test_action_with_two_keys():
    d = one(with_enter("- echo: a\n  respond: b\n"), "bad-value", 8)
    assert "exactly one key" in d.message


def test_goto_inside_an_action_list_gets_a_hint():
    d = one(with_on("after: 1s\ndo:\n  - echo: hi\n    goto: b\n"), "bad-value", 10)
    assert "belongs to the transition" in d.message


def test_bare_action_with_a_value():
    one(with_enter("- end: now\n"), "bad-value", 7)


def test_template_syntax_error_in_an_action():
    d = one(with_enter('- echo: "Hi {{ vars.name "\n'), "bad-template", 7)
    assert d.loc.column == 15


def test_template_error_in_a_block_scalar_points_at_its_line():
    d = one(with_enter("- echo: |\n    line one\n    line {% if %}\n"), "bad-template", 9)
    assert d.loc.column == 11


def test_template_unknown_name():
    d = one(with_enter("- echo: '{{ var.name }}'\n"), "bad-template", 7)
    assert 'did you mean "vars"' in d.message


def test_sensitivity_rules():
    d = one(with_enter("- sensitivity: {pause: hihg}\n"), "bad-value", 7)
    assert 'did you mean "high"' in d.message
    one(with_enter("- sensitivity: {}\n"), "missing-key", 7)
    d = one(with_enter("- sensitivity: {pause: low, interupt: low}\n"), "unknown-key", 7)
    assert 'did you mean "interrupt"' in d.message


def test_tool_result_rules():
    one(with_tool_do("- tool_result: {status: success}\n"), "missing-key", 9)
    d = one(with_tool_do("- tool_result: {output: x, status: sucess}\n"), "bad-value", 9)
    assert 'did you mean "success"' in d.message
    (tr,) = tool_do(
        "- tool_result: {output: x, status: \"{{ 'error' if vars.bad else 'success' }}\"}\n"
    )
    assert tr.status.is_template


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("a:\n  enter: [{tool_result: x}]\n  final: true\n", "state 'a' enter"),
        ("a:\n  exit: [{tool_result: x}]\n  final: true\n", "state 'a' exit"),
        (
            "a:\n  on:\n    - utterance: hi\n      do: [{tool_result: x}]\n",
            "transition a.on[0], which an utterance fires",
        ),
        (
            "a:\n  on:\n    - after: 1s\n      do: [{tool_result: x}]\n",
            "transition a.on[0], which an after: timer fires",
        ),
        (
            "a:\n  on:\n    - event: replica.stopped_speaking\n      do: [{tool_result: x}]\n",
            "which a 'replica.stopped_speaking' event fires",
        ),
    ],
)
def test_tool_result_where_no_tool_call_can_have_fired_it_is_an_error(body, where):
    d = one(scenario(body), "tool-result-without-tool-call")
    assert where in d.message and "tool_call:" in d.message
    assert d.loc.line > 4  # points at the action


def test_tool_result_under_a_tool_call_or_tool_call_event_is_fine():
    for trigger in ("tool_call: lookup", "event: tool_call", "event: conversation.tool_call"):
        assert (
            errors(scenario(f"a:\n  on:\n    - {trigger}\n      do: [{{tool_result: x}}]\n")) == []
        )


def test_set_and_send_rules():
    one(with_enter("- set: [a]\n"), "wrong-type", 7)
    one(with_enter("- send: {properties: {}}\n"), "missing-key", 7)
    one(with_enter("- send: {event_type: x, properties: [1]}\n"), "wrong-type", 7)


def write_wav(path, channels=1, width=2, frames=160):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(16000)
        w.writeframes(
            struct.pack("<h", 0) * frames * channels if width == 2 else b"\x00" * frames * channels
        )


def test_echo_audio_resolves_relative_to_the_scenario(tmp_path):
    (tmp_path / "audio").mkdir()
    write_wav(tmp_path / "audio" / "hi.wav")
    (echo,) = enter_actions("- echo: {audio: audio/hi.wav}\n", path=str(tmp_path / "s.yaml"))
    assert isinstance(echo, m.EchoAudio)
    assert echo.path == str(tmp_path / "audio" / "hi.wav")
    assert os.path.isabs(echo.path)


def test_echo_audio_missing_file(tmp_path):
    d = one(
        with_enter("- echo: {audio: nope.wav}\n"), "missing-file", 7, path=str(tmp_path / "s.yaml")
    )
    assert str(tmp_path / "nope.wav") in d.message


def test_echo_audio_must_be_16_bit_pcm_wav_other_rates_and_stereo_are_converted(tmp_path):
    write_wav(tmp_path / "stereo.wav", channels=2)  # 16 kHz stereo: mixed down and resampled
    write_wav(tmp_path / "8bit.wav", width=1)
    (tmp_path / "text.wav").write_text("not audio")
    path = str(tmp_path / "s.yaml")
    assert errors(with_enter("- echo: {audio: stereo.wav}\n"), path) == []
    d = one(with_enter("- echo: {audio: 8bit.wav}\n"), "bad-value", 7, path=path)
    assert "8-bit" in d.message and "16-bit" in d.message and "sox" in d.message
    one(with_enter("- echo: {audio: text.wav}\n"), "bad-value", 7, path=path)


# ------------------------------------------------------------------------------------- conversation


def test_conversation_join_settings():
    sc = load(
        scenario(
            STATES,
            top="conversation:\n  url: '{{ vars.url }}'\n  id: c123\n  token: t\n  context_spelling: context\n",
        )
    )
    conv = sc.conversation
    assert conv.url.is_template and conv.id.source == "c123" and conv.token.source == "t"
    assert conv.context_spelling == "context" and conv.create is None


def test_conversation_create_fields():
    sc = load(
        scenario(
            STATES,
            top="""
            conversation:
              create:
                pal_id: p1
                face_id: r1
                custom_greeting: "Hello {{ vars.who }}"
                callback_url: https://example.com/cb
                require_auth: true
                properties: {max_call_duration: 300, language: english}
            """,
        )
    )
    create = sc.conversation.create
    assert create["custom_greeting"].is_template
    assert create["require_auth"] is True
    assert create["properties"]["max_call_duration"] == 300
    assert create["properties"]["language"].source == "english"


def test_conversation_problems():
    d = one(scenario(STATES, top="conversation:\n  create: {persona: p1}\n"), "unknown-key", 5)
    assert 'did you mean "persona_id"' in d.message
    one(scenario(STATES, top="conversation:\n  create: {test_mode: maybe}\n"), "wrong-type", 5)
    one(scenario(STATES, top="conversation:\n  context_spelling: llm\n"), "bad-value", 5)
    d = one(
        scenario(STATES, top="conversation:\n  url: https://x\n  create: {persona_id: p}\n"),
        "bad-value",
        6,
    )
    assert "not both" in d.message


# --------------------------------------------------------------------------------------- rehearsals


def rehearsal(body, states=STATES):
    return scenario(states, rehearsals="- name: r\n" + textwrap.indent(src(body), "  "))


def load_rehearsal(body, path="s.yaml"):
    (r,) = load(rehearsal(body), path).rehearsals
    return r


REH_LINE = 13  # the line of the first body key in `rehearsal(...)`


def test_user_rules_and_triggers():
    r = load_rehearsal("""
        user:
          - on: {state: b}
            say: hello
          - on: {at: 2s}
            perceive: a red hat
            delay: 500ms
          - on: {utterance: {role: replica, contains: price}}
            interrupt: true
            times: 0
          - on: {event: replica.started_speaking}
            say: wait
            barge_in: true
          - on: {tool_call: get_weather}
            tool_call: {name: lookup, arguments: {q: "{{ vars.q }}"}}
          - on: a
            say: shorthand
    """)
    u = r.user
    assert u[0].on == m.StateTrigger(state="b", loc=u[0].on.loc) and u[0].say.source == "hello"
    assert u[1].on.seconds == 2.0 and u[1].perceive.source == "a red hat" and u[1].delay == 0.5
    assert isinstance(u[2].on, m.UtteranceTrigger) and u[2].interrupt is True and u[2].times == 0
    assert u[3].barge_in is True and u[3].on.name == "replica.started_speaking"
    assert u[4].tool_call.name == "lookup" and u[4].tool_call.arguments["q"].is_template
    assert u[5].on.state == "a"


def test_user_rule_problems():
    d = one(rehearsal("user:\n  - on: {state: c}\n    say: x\n"), "unknown-state", REH_LINE + 1)
    assert "'c'" in d.message
    one(
        rehearsal("user:\n  - on: {state: a}\n    say: x\n    perceive: y\n"),
        "bad-value",
        REH_LINE + 3,
    )
    one(rehearsal("user:\n  - on: {state: a}\n"), "missing-key", REH_LINE + 1)
    one(rehearsal("user:\n  - say: x\n"), "missing-key", REH_LINE + 1)
    one(rehearsal("user:\n  - on: {state: a, at: 1s}\n    say: x\n"), "trigger-count", REH_LINE + 1)
    one(
        rehearsal("user:\n  - on: {state: a}\n    say: x\n    times: -1\n"),
        "bad-value",
        REH_LINE + 3,
    )
    d = one(rehearsal("user:\n  - on: {state: a}\n    sya: x\n"), "unknown-key", REH_LINE + 2)
    assert 'did you mean "say"' in d.message


def test_persona_rules():
    r = load_rehearsal("""
        persona:
          - match: "(?i)weather in (?P<city>\\\\w+)"
            tool_call: {name: get_weather, arguments: {city: "{{ groups.city }}"}}
            say: "It is {{ result }}"
          - match: .*
            say: Sure.
    """)
    p = r.persona
    assert p[0].match.search("Weather in Oslo").group("city") == "Oslo"
    assert p[0].tool_call.arguments["city"].is_template and p[0].say.is_template
    assert p[1].tool_call is None and p[1].say.source == "Sure."
    one(rehearsal("persona:\n  - match: x\n"), "missing-key", REH_LINE + 1)


def test_a_persona_rule_without_match_is_the_fallback_and_rules_after_it_are_flagged():
    r = load_rehearsal("""
        persona:
          - match: "(?i)price"
            say: Ten dollars.
          - say: I can help with pricing.
    """)
    assert r.persona[0].match is not None and r.persona[1].match is None
    (w,) = warnings(rehearsal("persona:\n  - say: anything\n  - match: x\n    say: never\n"))
    assert w.code == "shadowed-persona-rule" and w.loc.line == REH_LINE + 2
    one(rehearsal("persona:\n  - match: '('\n    say: x\n"), "bad-regex", REH_LINE + 1)


def test_replica_settings():
    r = load_rehearsal("""
        replica:
          words_per_minute: 200
          user_words_per_minute: 120.5
          echo_latency: 100ms
          reply_latency: 1s
          join_delay: 2s
          pipeline: echo
          default_reply: I don't know.
    """)
    assert r.replica == m.ReplicaSettings(
        200.0,
        120.5,
        0.1,
        1.0,
        2.0,
        "echo",
        "I don't know.",
        loc=r.replica.loc,
        given=frozenset(
            {"words_per_minute", "user_words_per_minute", "echo_latency", "reply_latency"}
            | {"join_delay", "pipeline", "default_reply"}
        ),
    )
    one(rehearsal("replica: {pipeline: ful}\n"), "bad-value", REH_LINE)
    one(rehearsal("replica: {words_per_minute: 0}\n"), "bad-value", REH_LINE)
    one(rehearsal("replica: {reply_latency: fast}\n"), "bad-duration", REH_LINE)


def test_faults():
    r = load_rehearsal(
        "faults: {delay: 50ms, jitter: 0.1, duplicate: 0.2, reorder: 0.1, drop: 0, only: [utterance], disconnect: 10s}\n"
    )
    f = r.faults
    assert (f.delay, f.jitter, f.duplicate, f.reorder, f.drop, f.only, f.disconnect) == (
        0.05, 0.1, 0.2, 0.1, 0.0, ("utterance",), 10.0,
    )  # fmt: skip
    one(rehearsal("faults: {drop: 1.5}\n"), "bad-value", REH_LINE)
    one(rehearsal("faults: {only: [utterence]}\n"), "unknown-event", REH_LINE)


def test_seed_vars_replay(tmp_path):
    (tmp_path / "run.jsonl").write_text("{}\n")
    r = load_rehearsal(
        "seed: 7\nvars: {asked: 2}\nreplay: run.jsonl\n", path=str(tmp_path / "s.yaml")
    )
    assert r.seed == 7 and r.vars == {"asked": 2} and r.replay == str(tmp_path / "run.jsonl")
    one(
        rehearsal("replay: missing.jsonl\n"),
        "missing-file",
        REH_LINE,
        path=str(tmp_path / "s.yaml"),
    )
    one(rehearsal("seed: abc\n"), "wrong-type", REH_LINE)


def test_expect():
    r = load_rehearsal("""
        expect:
          path: [a, b]
          final: b
          outcome: completed
          said: hello
          sent: [echo, conversation.respond]
          not_sent: [interrupt]
          vars: {n: 1}
          duration: 30s
    """)
    e = r.expect
    assert e.path == ["a", "b"] and e.final == "b" and e.outcome == "completed"
    assert e.said == ["hello"]
    assert e.sent == ["conversation.echo", "conversation.respond"]
    assert e.not_sent == ["conversation.interrupt"]
    assert e.vars == {"n": 1} and e.duration_max == 30.0
    assert e.locs["path"] == Location("s.yaml", REH_LINE + 1, 7)
    assert e.locs["duration"].line == REH_LINE + 8


def test_expect_problems():
    d = one(rehearsal("expect: {path: [a, bb]}\n"), "unknown-state", REH_LINE)
    assert 'did you mean "b"' in d.message
    one(rehearsal("expect: {final: z}\n"), "unknown-state", REH_LINE)
    d = one(rehearsal("expect: {outcome: complete}\n"), "bad-value", REH_LINE)
    assert 'did you mean "completed"' in d.message
    assert [d.code for d in errors(rehearsal("expect: {duration: {min: 2s}}\n"))] == [
        "missing-key",
        "unknown-key",
    ]
    d = one(rehearsal("expect: {pth: [a]}\n"), "unknown-key", REH_LINE)
    assert 'did you mean "path"' in d.message


def test_expect_sent_warns_about_names_nothing_sends():
    (w,) = warnings(rehearsal("expect: {sent: [conversation.ecko]}\n"))
    assert w.code == "unknown-interaction" and 'did you mean "conversation.echo"' in w.message


def test_rehearsal_name_required_and_unique():
    text = scenario(STATES, rehearsals="- name: r\n- name: r\n- seed: 1\n")
    assert [(d.code, d.loc.line) for d in errors(text)] == [
        ("duplicate-name", 13),
        ("missing-key", 14),
    ]


def test_unknown_rehearsal_key():
    d = one(rehearsal("persone: []\n"), "unknown-key", REH_LINE)
    assert 'did you mean "persona"' in d.message


def test_rehearsals_must_be_a_list():
    one(scenario(STATES) + "rehearsals: {name: x}\n", "wrong-type", 11)


# ----------------------------------------------------------------------------------------- warnings


def test_unreachable_and_dead_end_states_warn_but_load():
    text = scenario("a:\n  on:\n    - after: 1s\n      goto: b\nb: {}\nc:\n  final: true\n")
    got = sorted((w.code, w.loc.line) for w in warnings(text))
    assert got == [("dead-end", 9), ("unreachable-state", 10)]
    load(text)


# ---------------------------------------------------------------------------------------- check_file


def test_check_file_never_raises(tmp_path):
    assert [d.code for d in check_file(tmp_path / "missing.yaml")] == ["io-error"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("cviscript: 2\n")
    found = check_file(bad)
    assert {d.code for d in found} == {"bad-value", "missing-key"}
    assert all(d.loc.file == str(bad) for d in found)


def test_load_scenario_reads_files(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(scenario(STATES))
    assert load_scenario(path).path == str(path)
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "none.yaml")
    assert e.value.diagnostics[0].code == "io-error"


@pytest.mark.parametrize("path", sorted((DATA / "bad").glob("*.yaml")), ids=lambda p: p.name)
def test_bad_fixtures_fail_with_the_expected_code(path):
    expected = path.read_text().splitlines()[0].removeprefix("# expect:").split()
    found = [d for d in check_file(path) if d.severity == "error"]
    assert found, path
    assert [d.code for d in found] == expected


# ------------------------------------------------------------------------------------------ robust


_REPLACEMENTS = [
    None,
    0,
    -1,
    1.5,
    True,
    "",
    "x",
    "{{",
    "(",
    [],
    {},
    [1],
    {"a": 1},
    {"echo": None},
    "end",
    "2s",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_check_file_reports_instead_of_crashing_on_any_mutation(data):
    doc = yaml.safe_load(PRICING.read_text())
    mutate(data, doc, _REPLACEMENTS, times=3)
    for d in check_file("f.yaml", source=yaml.safe_dump(doc, sort_keys=False)):
        assert d.loc is not None and d.loc.line >= 1 and d.code


# ------------------------------------------------------------------- no silent surprises (issue 10)


@pytest.mark.parametrize(
    ("line", "code", "expected"),
    [
        ("  final: yes\n", "wrong-type", "write true"),
        ("  final: on\n", "wrong-type", "write true"),
        ("  final: Off\n", "wrong-type", "write false"),
    ],
)
def test_yaml_1_1_booleans_are_words_and_the_message_says_what_to_write(line, code, expected):
    d = one(scenario("a:\n" + line), code, 6)
    assert "the string" in d.message and expected in d.message and "YAML 1.2" in d.message


def test_barge_in_yes_is_refused_like_the_editor_does():
    d = one(rehearsal("user:\n  - on: a\n    say: hi\n    barge_in: yes\n"), "wrong-type")
    assert "barge_in" in d.message and "write true" in d.message


def test_a_clock_style_timeout_is_refused_with_a_spelling_that_works():
    d = one(scenario("a: {final: true}\n", top="timeout: 1:30\n"), "bad-duration", 4)
    assert "'1:30'" in d.message and "write 1m30s" in d.message


def test_a_var_written_no_stays_the_word_no():
    sc = load(scenario("a: {final: true}\n", top="vars: {country: NO, at: 19:30}\n"))
    assert sc.vars == {"country": "NO", "at": "19:30"}


def test_whole_numbers_written_with_a_point_are_integers_as_in_the_schema():
    assert load_rehearsal("seed: 1.0\n").seed == 1
    one(rehearsal("seed: 1.5\n"), "wrong-type", REH_LINE)


def test_where_keys_are_checked_against_the_event_fields():
    d = one(
        with_on("event: replica.stopped_speaking\nwhere: {interupted: false}\ngoto: b\n"),
        "unknown-field",
        8,
    )
    assert 'did you mean "interrupted"' in d.message and "never" in d.message
    d = one(with_on("event: tool_call\nwhere: {colour: red}\ngoto: b\n"), "unknown-field", 8)
    assert "tool_call_id" in d.message  # lists the fields when nothing is close
    ok = with_on("event: replica.stopped_speaking\nwhere: {interrupted: true}\ngoto: b\n")
    assert errors(ok) == []
    # an event cviscript does not know: its fields cannot be known either
    assert errors(with_on("event: conversation.brand_new\nwhere: {x: 1}\ngoto: b\n")) == []
    # the same check in a simulated user's rule
    body = "user:\n  - on: {event: user.stopped_speaking, where: {intterupted: true}}\n    say: x\n"
    assert one(rehearsal(body), "unknown-field").loc.line == REH_LINE + 1


def test_after_may_be_a_template_checked_with_the_known_vars():
    sc = load(
        with_on('after: "{{ vars.wait }}"\ngoto: b\n').replace(
            "states:", "vars: {wait: 2s}\nstates:"
        )
    )
    trig = sc.states["a"].on[0].trigger
    assert trig.template.source == "{{ vars.wait }}" and trig.seconds == 2.0
    bad = with_on('after: "{{ vars.wait }}"\ngoto: b\n').replace(
        "states:", "vars: {wait: soon}\nstates:"
    )
    d = one(bad, "bad-duration")
    assert "'soon'" in d.message and "the scenario's vars" in d.message and d.loc.line == 8
    # a rehearsal's vars are checked too
    text = (
        with_on('after: "{{ vars.wait }}"\ngoto: b\n').replace(
            "states:", "vars: {wait: 2s}\nstates:"
        )
        + "rehearsals:\n  - name: r\n    vars: {wait: later}\n"
    )
    assert "rehearsal 'r'" in one(text, "bad-duration").message
    # a template the event decides is left to run time; a user rule's after is no template
    assert errors(with_on('after: "{{ event.text }}"\ngoto: b\n')) == []
    body = 'user:\n  - on: {after: "{{ vars.x }}"}\n    say: x\n'
    assert one(rehearsal(body), "bad-duration")


def test_at_directly_in_a_user_rule():
    r = load_rehearsal("user:\n  - at: 5s\n    say: hello\n")
    assert isinstance(r.user[0].on, m.AtTrigger) and r.user[0].on.seconds == 5.0
    d = one(rehearsal("user:\n  - at: 5s\n    on: a\n    say: x\n"), "trigger-count")
    assert "keep one" in d.message
    d = one(rehearsal("user:\n  - say: x\n"), "missing-key", REH_LINE + 1)
    assert "at: DURATION" in d.message


def test_not_said_is_a_list_of_texts():
    r = load_rehearsal("expect:\n  not_said: [free trial]\n  said: hello\n")
    assert r.expect.not_said == ["free trial"] and r.expect.said == ["hello"]


def test_a_var_the_scenario_does_not_have_is_an_error_with_a_suggestion(tmp_path):
    from click.testing import CliRunner

    from cviscript.cli.main import cli
    from cviscript.language.overrides import check_overrides

    text = with_on('after: "{{ vars.wait }}"\ngoto: b\n').replace(
        "states:", "vars: {wait: 2s, product: Acme}\nstates:"
    )
    sc = load(text)
    (msg,) = check_overrides(sc, {"prodcut": "X"})
    assert (
        msg == "--var prodcut: the scenario has no variable 'prodcut' (did you mean \"product\"?)"
    )
    (msg,) = check_overrides(sc, {"wait": "soon"})
    assert "s.yaml:8:" in msg and "'soon'" in msg and "--var" in msg
    assert check_overrides(sc, {"wait": 3}) == []
    path = tmp_path / "v.yaml"
    path.write_text(text)
    res = CliRunner().invoke(cli, ["run", str(path), "-q", "--var", "prodcut=X"])
    assert res.exit_code == 2 and 'did you mean "product"' in res.output
    res = CliRunner().invoke(cli, ["run", str(path), "-q", "--var", "wait=3"])
    assert res.exit_code == 0, res.output


def test_persona_reply_naming_result_without_a_tool_call_is_refused_at_load():
    # `{{ result }}` is a tool's output: without `tool_call:` in the same rule there is none, and
    # the rehearsal used to end in a traceback when the persona answered.
    rehearsals = """
    - name: r
      persona:
        - match: "(?i)hello"
          say: "Thanks! {{ result }} is expecting you."
    """
    d = one(scenario(STATES, rehearsals=rehearsals), "bad-template")
    assert "result" in d.message and d.loc.line == 15
    with_tool = rehearsals.replace(
        'say: "Thanks!', 'tool_call: {name: lookup}\n          say: "Thanks!'
    )
    assert errors(scenario(STATES, rehearsals=with_tool)) == []
