"""Trigger kinds: each is one registered object that the schema, the reference pages, the
validator, the engine and lint all take from the registry; and the `objective:` trigger added
through it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from helpers import ev, run_script, scenario_from, user_says

import cviscript.language.triggers as triggers_pkg
from cviscript.engine.describe import describe_trigger
from cviscript.errors import ScenarioError
from cviscript.language import spec
from cviscript.language.lint import lint
from cviscript.language.schema import build_schema
from cviscript.language.triggers import KINDS, TriggerKind, kind_of
from cviscript.language.validate import check_file

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"


def _kind_classes() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(triggers_pkg.__path__):
        module = importlib.import_module(f"{triggers_pkg.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, TriggerKind) and cls is not TriggerKind:
                found.append(cls)
    return found


def test_every_trigger_kind_is_registered_once_with_its_own_model():
    classes = set(_kind_classes())
    assert classes == {type(k) for k in KINDS.values()}, "a TriggerKind missing from KINDS"
    models = [k.model for k in KINDS.values()]
    assert len(set(models)) == len(models)
    for key, kind in KINDS.items():
        assert kind.key == key
        assert kind.summary, key


@pytest.mark.parametrize("key", list(KINDS))
def test_every_trigger_kind_is_in_the_schema_and_the_reference_pages(key):
    kind = KINDS[key]
    schema = build_schema()
    defs = schema["$defs"]
    if kind.in_transitions:
        assert key in defs["transition"]["properties"]
        assert key in spec.TRIGGERS
    if kind.in_user_rules:
        assert key in defs["user_on"]["properties"]
        assert key in spec.USER_TRIGGERS
    for name in kind.defs:
        assert name in defs
    keys_md = (REFERENCE / "keys.md").read_text(encoding="utf-8")
    assert f"| `{key}` |" in keys_md
    for name in kind.defs:
        assert f"{{ #{name.replace('_', '-')} }}" in keys_md
    events_md = (REFERENCE / "events.md").read_text(encoding="utf-8")
    assert f"| `{key}:` |" in events_md
    for name in kind.events:
        assert f"| `{name}` |" in events_md


OBJECTIVES = """
cviscript: 1
name: lead
vars: {budget: 0, seen: ""}
initial: qualify
states:
  qualify:
    on:
      - objective: {name: budget, status: activated}
        do: [{set: {seen: "{{ event.objective_name }} {{ event.status }}"}}]
      - objective: budget
        do: [{set: {budget: "{{ event.output_variables.budget }}"}}]
        goto: done
  done: {final: true}
"""


def test_objective_trigger_fires_on_the_wire_events_and_reads_output_variables():
    sc = scenario_from(OBJECTIVES)
    script = [
        (1.0, ev("conversation.objective.completed", objective_name="other")),
        (2.0, ev("conversation.objective.activated", objective_name="budget")),
        (3.0, ev("conversation.objective.pending", objective_name="budget")),
        (
            4.0,
            ev(
                "conversation.objective.completed",
                objective_name="budget",
                output_variables={"budget": 5000},
            ),
        ),
    ]
    conv, _ = run_script(sc, script)
    result = conv.engine.result
    assert result.outcome == "completed"
    assert result.path == ["qualify", "done"]
    assert result.vars == {"budget": 5000, "seen": "budget activated"}
    assert sc.objective_names() == {"budget": sc.states["qualify"].on[0].trigger.loc}
    assert describe_trigger(sc.states["qualify"].on[0]) == "objective budget activated"
    assert describe_trigger(sc.states["qualify"].on[1]) == "objective budget"


def test_the_transcript_says_which_objective_changed_and_what_it_collected():
    from cviscript.trace_lines import format_record

    script = [
        (1.0, ev("conversation.objective.activated", objective_name="budget")),
        (
            2.0,
            ev(
                "conversation.objective.completed",
                objective_name="budget",
                output_variables={"budget": 5000, "currency": "EUR"},
            ),
        ),
    ]
    conv, _ = run_script(scenario_from(OBJECTIVES), script)
    lines = [format_record(r) for r in conv.trace.records if r.kind == "received"]
    assert any(line.endswith("objective budget activated") for line in lines), lines
    assert any(
        line.endswith('objective budget completed budget="5000", currency="EUR"') for line in lines
    ), lines


def test_objective_trigger_is_checked_at_load():
    bad = OBJECTIVES.replace("status: activated", "status: done")
    with pytest.raises(ScenarioError) as err:
        scenario_from(bad)
    assert "status" in str(err.value) and "activated" in str(err.value)
    with pytest.raises(ScenarioError):
        scenario_from(OBJECTIVES.replace("objective: budget\n", "objective: {status: pending}\n"))


def test_an_unguarded_event_trigger_shadows_what_it_covers_and_nothing_else():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a:
            on:
              - event: perception_analysis
                goto: b
              - perception: "(?i)glasses"
                goto: b
              - event: objective.completed
                goto: b
              - objective: budget
                goto: b
          b: {final: true}
        """
    )
    shadowed = [d for d in lint(sc) if d.code == "shadowed-transition"]
    # `event: perception_analysis` is the end-of-call summary, never in-call perception
    assert [d.message.split()[1] for d in shadowed] == ["a.on[3]"]


def test_perception_event_text_is_the_observation_on_both_events_it_fires_on():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        vars: {first: "", last: ""}
        initial: a
        states:
          a:
            on:
              - perception: "."
                do: [{set: {first: "{{ vars.last }}", last: "{{ event.text }}"}}]
        """
    )
    script = [
        (
            1.0,
            ev(
                "conversation.utterance",
                role="user",
                speech="hi",
                user_visual_analysis="wears glasses",
            ),
        ),
        (
            2.0,
            ev(
                "conversation.perception_tool_call",
                name="gesture_detected",
                arguments='{"gesture": "wave"}',
                tool_call_id="t1",
            ),
        ),
        (3.0, user_says("no analysis here")),
    ]
    conv, _ = run_script(sc, script, until=5.0)
    assert conv.engine.result is None  # no error: every event it fired on had a text
    assert conv.engine.vars == {
        "first": "wears glasses",
        "last": 'gesture_detected {"gesture": "wave"}',  # arguments as they came
    }


def test_where_value_that_can_never_match_is_an_error_at_load(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        """cviscript: 1
name: t
initial: a
states:
  a:
    on:
      - event: replica.stopped_speaking
        where: {interrupted: "no", turn_idx: two}
        goto: b
      - event: replica.stopped_speaking
        where: {interrupted: "false", turn_idx: "2"}
        goto: b
  b: {final: true}
"""
    )
    errors = [d for d in check_file(path) if d.severity == "error"]
    assert [(d.code, d.loc.line) for d in errors] == [("wrong-type", 8), ("wrong-type", 8)]
    assert "interrupted" in errors[0].message and "true or false" in errors[0].message
    assert "write interrupted: false" in errors[0].message
    assert "turn_idx" in errors[1].message and "number" in errors[1].message


def test_kind_of_answers_for_every_parsed_trigger():
    sc = scenario_from(OBJECTIVES)
    for t in sc.transitions():
        assert kind_of(t.trigger).key == "objective"


def test_a_template_under_a_trigger_may_read_only_the_fields_its_events_have(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        """cviscript: 1
name: t
initial: a
states:
  a:
    on:
      - utterance: hi
        do: [{log: "{{ event.name }}"}]
      - event: replica.started_speaking
        when: "event.text == 'x'"
        goto: a
      - perception: .
        do: [{log: "{{ event.text }} {{ event.properties.x }} {{ event.groups }}"}]
      - after: 1s
        do: [{log: "{{ event.anything }}"}]
      - event: conversation.something_new
        do: [{log: "{{ event.whatever }}"}]
      - objective: budget
        do: [{log: "{{ event.output_variables.budget }} {{ event.text }}"}]
      - tool_call: lookup
        when: "event.text is defined or (event.name | default('x')) == 'y'"
        do: [{log: "{{ event.text | default('none') }}"}]
"""
    )
    errors = [d for d in check_file(path) if d.severity == "error"]
    assert [(d.code, d.loc.line) for d in errors] == [
        ("unknown-field", 8),
        ("unknown-field", 10),
        ("unknown-field", 19),
    ]
    assert "event.name" in errors[0].message and "utterance:" in errors[0].message
    assert "event.text" in errors[1].message and "replica.started_speaking" in errors[1].message


def test_a_user_rule_template_may_read_only_the_fields_of_the_events_it_answers(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        """cviscript: 1
name: t
initial: a
states:
  a:
    on:
      - utterance: bye
        goto: b
  b: {final: true}
rehearsals:
  - name: c
    user:
      - on: {event: replica.stopped_speaking}
        say: "{{ event.interrupted }} {{ event.text }}"
      - on: {utterance: {role: replica}}
        say: "you said {{ event.text }}"
      - on: {perception: glasses}
        say: "I see {{ event.text }}"
"""
    )
    errors = [d for d in check_file(path) if d.severity == "error"]
    assert [(d.code, d.loc.line, "event.text" in d.message) for d in errors] == [
        ("unknown-field", 14, True)
    ]
