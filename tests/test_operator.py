"""Operator transitions: `manual: NAME` triggers, fired by an operator (the engine API, a
rehearsal's `operator:` rules), rehearsed, covered, linted, recorded and replayed."""

from __future__ import annotations

import json

import pytest
from helpers import scenario_from

from cviscript.clock import VirtualClock
from cviscript.errors import ScenarioError
from cviscript.language.validate import check_file
from cviscript.sessions.replay import replay
from cviscript.sessions.simulated.runner import drive, run_simulated, simulated_conversation

DEMO = """\
cviscript: 1
name: steer
initial: intro
any:
  - manual: bail
    goto: bye
states:
  intro:
    enter: [{echo: "Welcome."}]
    on:
      - manual: skip
        goto: pricing
      - manual: skip-guarded
        when: "vars.allowed"
        goto: pricing
      - after: 60s
        goto: bye
  pricing:
    enter: [{echo: "Plans start at ten dollars."}]
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    enter: [{echo: "Bye."}]
    final: true
vars: {allowed: false}
rehearsals:
  - name: operator skips to pricing
    operator:
      - on: intro
        fire: skip
        delay: 2s
    expect:
      path: [intro, pricing, bye]
      said: ["ten dollars"]
  - name: operator bails at ten seconds
    operator:
      - at: 10s
        fire: bail
    expect:
      path: [intro, bye]
"""


def test_manual_trigger_loads_and_describes():
    sc = scenario_from(DEMO)
    t = sc.states["intro"].on[0]
    assert type(t.trigger).__name__ == "ManualTrigger" and t.trigger.name == "skip"
    assert sc.rehearsals[0].operator[0].fire == "skip"
    assert sc.rehearsals[0].operator[0].delay == 2.0


def test_operator_rule_fires_a_manual_transition_in_rehearsal():
    conv = run_simulated(scenario_from(DEMO), rehearsal="operator skips to pricing")
    assert conv.result.path == ["intro", "pricing", "bye"]
    ops = [r.data for r in conv.trace.records if r.kind == "operator"]
    assert ops == [{"name": "skip", "fired": "intro.on[0]", "state": "intro"}]
    transition = next(r for r in conv.trace.records if r.kind == "transition")
    assert transition.data["trigger"] == "manual skip"
    assert transition.t == pytest.approx(2.0)


def test_any_manual_and_at_rule():
    conv = run_simulated(scenario_from(DEMO), rehearsal="operator bails at ten seconds")
    assert conv.result.path == ["intro", "bye"]
    assert next(r for r in conv.trace.records if r.kind == "transition").t == pytest.approx(10.0)


def _started():
    sc = scenario_from(DEMO)
    clock = VirtualClock()
    conv = simulated_conversation(sc, None, clock=clock)
    conv.start()
    clock.run(until=1.0)
    return conv, clock


def test_engine_fire_api_reports_what_fired():
    conv, clock = _started()
    assert conv.engine.state == "intro"
    assert conv.engine.manual_names() == ["bail", "skip", "skip-guarded"]
    assert conv.fire("nope") is None  # no such name here: nothing happens
    assert conv.fire("skip-guarded") is None  # its `when` does not hold
    assert conv.engine.state == "intro"
    assert conv.fire("skip") == "intro.on[0]"
    assert conv.engine.state == "pricing"
    assert conv.fire("skip") is None  # not a name of this state
    clock.run(stop=lambda: conv.done)
    assert conv.result.path == ["intro", "pricing", "bye"]
    fired = [(r.data["name"], r.data["fired"]) for r in conv.trace.records if r.kind == "operator"]
    assert fired == [
        ("nope", None),
        ("skip-guarded", None),
        ("skip", "intro.on[0]"),
        ("skip", None),
    ]


def test_fire_after_the_run_ended_does_nothing():
    conv, clock = _started()
    conv.fire("bail")
    clock.run(stop=lambda: conv.done)
    assert conv.done
    assert conv.fire("skip") is None
    assert conv.result.path == ["intro", "bye"]


def test_events_never_fire_manual_transitions():
    """A room event that looks like an operator fire must not fire a manual transition."""
    sc = scenario_from(DEMO)
    clock = VirtualClock()
    conv = simulated_conversation(sc, None, clock=clock)
    conv.start()
    clock.run(until=1.0)
    conv.on_message(
        {
            "message_type": "conversation",
            "event_type": "conversation.utterance",
            "conversation_id": "c0ffee5im",
            "properties": {"role": "user", "speech": "skip", "name": "skip"},
        }
    )
    assert conv.engine.state == "intro"


def test_manual_fires_are_recorded_and_replayed(tmp_path):
    sc = scenario_from(DEMO)
    conv = run_simulated(sc, rehearsal="operator skips to pricing")
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in conv.trace.records))
    # the same scenario without the rehearsal's operator: only the recording fires `skip`
    result = replay(path, scenario_from(DEMO))
    assert result.divergence is None
    assert result.conversation.result.path == ["intro", "pricing", "bye"]


@pytest.mark.parametrize(
    "snippet, code",
    [
        ("manual: 'has space'", "bad-value"),
        ("manual: ''", "bad-value"),
    ],
)
def test_bad_manual_names_are_errors(snippet, code):
    text = DEMO.replace("manual: skip\n", snippet + "\n", 1)
    with pytest.raises(ScenarioError) as e:
        scenario_from(text)
    assert code in {d.code for d in e.value.diagnostics}


def test_operator_rule_must_fire_a_known_manual_name():
    text = DEMO.replace("fire: skip\n", "fire: skp\n")
    with pytest.raises(ScenarioError) as e:
        scenario_from(text)
    d = next(d for d in e.value.diagnostics if d.code == "unknown-manual")
    assert 'did you mean "skip"?' in d.message
    assert d.loc.line == text.splitlines().index("        fire: skp") + 1


def test_user_rules_cannot_use_manual():
    text = DEMO.replace(
        "    operator:\n      - at: 10s\n        fire: bail\n",
        "    user:\n      - on: {manual: bail}\n        say: hi\n",
    )
    with pytest.raises(ScenarioError):
        scenario_from(text)


def test_lint_warns_about_manual_names_no_rehearsal_fires(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(DEMO)
    warned = [d for d in check_file(path) if d.code == "manual-never-fired"]
    assert [d.message.split("'")[1] for d in warned] == ["skip-guarded"]
    assert warned[0].loc.line == DEMO.splitlines().index("      - manual: skip-guarded") + 1


def test_lint_same_manual_name_shadows():
    text = DEMO.replace('manual: skip-guarded\n        when: "vars.allowed"', "manual: skip")
    path_codes = {d.code for d in scenario_from_checked(text)}
    assert "shadowed-transition" in path_codes


def scenario_from_checked(text):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "s.yaml"
        p.write_text(text)
        return check_file(p)


def test_coverage_counts_manual_transitions(tmp_path):
    from cviscript.rehearsal.suite import run_suite

    path = tmp_path / "s.yaml"
    path.write_text(DEMO)
    suite = run_suite([str(path)], coverage=True, case_timeout=None)
    assert len(suite.cases) == 2 and all(c.passed for c in suite.cases)
    cov = suite.coverage.scenarios[0]
    assert {"intro.on[0]", "any[0]"} <= cov.taken
    missed = [t.id for t in cov.transitions_missed]
    assert "intro.on[1]" in missed and "intro.on[0]" not in missed


def test_drive_with_operator_and_no_rehearsal_rules_is_unchanged():
    sc = scenario_from(DEMO)
    clock = VirtualClock()
    conv = drive(simulated_conversation(sc, None, clock=clock), clock)
    assert conv.result.path == ["intro", "bye"]  # the 60 s timer
    assert not [r for r in conv.trace.records if r.kind == "operator"]


def test_console_prints_a_line_for_each_operator_fire(tmp_path):
    """A rehearsal's operator fires show in the console transcript, as a person's would."""
    from click.testing import CliRunner

    from cviscript.cli.main import cli

    path = tmp_path / "s.yaml"
    path.write_text(DEMO)
    out = CliRunner().invoke(cli, ["run", str(path), "-r", "operator skips to pricing"]).output
    lines = out.splitlines()
    fired = [line for line in lines if "⚑ operator" in line]
    assert fired == ["   2.000s  ⚑ operator fired skip (intro.on[0])"], out
    assert lines.index(fired[0]) < next(i for i, x in enumerate(lines) if "── pricing" in x)


def test_operator_record_lines():
    from cviscript.trace import TraceRecord
    from cviscript.trace_lines import format_record

    def line(**data):
        return format_record(TraceRecord(1.5, 0.0, "operator", data, None))

    assert line(name="bail", fired=None, state="intro").endswith(
        "⚑ operator fired bail: nothing fired in intro"
    )
    assert line(name="bail", fired=None, state=None).endswith("fired bail: nothing fired")
    said = line(say="hi\x1b[2J there", barge_in=True)
    assert "\x1b" not in said and said.endswith('[2J there" (barging in)')
    assert line(see="a cat").endswith('perception "a cat"')
    assert line(barge=True).endswith("visitor barges in")
