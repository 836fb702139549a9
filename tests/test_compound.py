"""Compound states and `resume:`: dispatch order, enter/exit order, dotted names, history,
timers of an enclosing state, validation and lints."""

from __future__ import annotations

import pytest
import tools
from helpers import ev, run_script, scenario_from, started, stopped, user_says

from cviscript.errors import ScenarioError
from cviscript.language.validate import check_file

TOUR = """
cviscript: 1
name: tour
initial: tour
any:
  - utterance: "(?i)^stop$"
    do: [{log: "any stop"}]
    goto: bye
states:
  tour:
    initial: intro
    enter: [{log: "enter tour"}]
    exit: [{log: "exit tour"}]
    on:
      - utterance: "(?i)question"
        do: [{log: "tour question"}]
        goto: question
      - utterance: "(?i)^stop$"
        do: [{log: "tour stop (never: any first)"}]
        goto: bye
      - utterance: "(?i)skip"
        goto: scale
    states:
      intro:
        enter: [{log: "enter intro"}, {echo: "intro"}]
        exit: [{log: "exit intro"}]
        on:
          - utterance: "(?i)question"
            do: [{log: "intro question (never: tour first)"}]
          - event: replica.stopped_speaking
            goto: scale
      scale:
        enter: [{log: "enter scale"}, {echo: "scale"}]
        exit: [{log: "exit scale"}]
        on:
          - event: replica.stopped_speaking
            goto: bye
  question:
    enter: [{log: "enter question"}, {echo: "good question"}]
    on:
      - event: replica.stopped_speaking
        resume: tour
  bye:
    enter: [{log: "enter bye"}]
    final: true
"""


def _logs(conv) -> list[str]:
    return [r.data["text"] for r in conv.trace.records if r.kind == "log"]


def test_compound_enter_runs_before_the_initial_child_and_path_names_leaves():
    conv, _ = run_script(scenario_from(TOUR), [(1, started()), (2, stopped())], until=3)
    assert _logs(conv)[:3] == ["enter tour", "enter intro", "exit intro"]
    assert conv.engine.path == ["tour.intro", "tour.scale"]
    assert conv.engine.state == "tour.scale"


def test_outer_on_is_checked_before_the_childs_and_any_before_both():
    conv, _ = run_script(scenario_from(TOUR), [(1, user_says("a question"))], until=2)
    assert "tour question" in _logs(conv)
    assert "intro question (never: tour first)" not in _logs(conv)
    assert conv.engine.state == "question"
    conv, _ = run_script(scenario_from(TOUR), [(1, user_says("stop"))], until=2)
    assert "any stop" in _logs(conv) and "tour stop (never: any first)" not in _logs(conv)


def test_leaving_exits_innermost_first():
    conv, _ = run_script(scenario_from(TOUR), [(1, user_says("question"))], until=2)
    logs = _logs(conv)
    assert logs[logs.index("tour question") :][:4] == [
        "tour question",
        "exit intro",
        "exit tour",
        "enter question",
    ]


def test_resume_returns_to_the_child_it_was_last_in():
    script = [
        (1, started()),
        (2, stopped()),  # intro -> scale
        (3, user_says("question")),  # scale -> question
        (4, started()),
        (5, stopped()),  # question -> resume tour: scale again, not intro
    ]
    conv, session = run_script(scenario_from(TOUR), script, until=6)
    assert conv.engine.path == ["tour.intro", "tour.scale", "question", "tour.scale"]
    logs = _logs(conv)
    assert logs[-2:] == ["enter tour", "enter scale"]  # the compound is entered again
    transitions = [r.data for r in conv.trace.records if r.kind == "transition"]
    assert transitions[-1]["to"] == "tour.scale"


@pytest.mark.parametrize("nested", [False, True])
def test_resume_to_a_state_without_inner_states_is_a_plain_goto(nested):
    """As documented (and linted as resume-not-compound): it used to end the run with
    KeyError 'question.on[0]>tour' when the scenario had no compound state at all."""
    extra = "  box:\n    initial: inner\n    states:\n      inner: {}\n" if nested else ""
    sc = scenario_from(
        f"""
        cviscript: 1
        name: t
        initial: tour
        states:
          tour:
            enter: [{{log: "enter tour"}}]
            on:
              - utterance: question
                goto: question
          question:
            on:
              - event: replica.stopped_speaking
                resume: tour
        {extra.replace(chr(10), chr(10) + "        ")}
        """
    )
    conv, _ = run_script(sc, [(1, user_says("question")), (2, started()), (3, stopped())], until=4)
    assert conv.engine.result is None, conv.engine.result
    assert conv.engine.path == ["tour", "question", "tour"]
    assert _logs(conv) == ["enter tour", "enter tour"]
    transitions = [r.data for r in conv.trace.records if r.kind == "transition"]
    assert transitions[-1]["to"] == "tour"


def test_resume_before_any_child_was_left_enters_the_initial_child():
    conv, _ = run_script(
        scenario_from(TOUR), [(1, user_says("question")), (2, started()), (3, stopped())], until=4
    )
    assert conv.engine.path == ["tour.intro", "question", "tour.intro"]


def test_sibling_by_short_name_from_the_compound_and_dotted_from_anywhere():
    sc = scenario_from(TOUR)
    assert sc.states["tour"].on[2].goto == "tour.scale"  # `goto: scale` inside tour
    assert sc.states["tour.intro"].on[1].goto == "tour.scale"
    conv, _ = run_script(sc, [(1, user_says("skip"))], until=2)
    assert conv.engine.path == ["tour.intro", "tour.scale"]


def test_a_goto_to_the_enclosing_state_exits_and_reenters_it():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: box
        states:
          box:
            initial: a
            enter: [{log: "enter box"}]
            exit: [{log: "exit box"}]
            states:
              a:
                on:
                  - utterance: "next"
                    goto: b
              b:
                on:
                  - utterance: "again"
                    goto: box
                  - utterance: "end"
                    goto: done
          done: {final: true}
        """
    )
    conv, _ = run_script(sc, [(1, user_says("next")), (2, user_says("again"))], until=3)
    assert conv.engine.path == ["box.a", "box.b", "box.a"]
    assert _logs(conv) == ["enter box", "exit box", "enter box"]


def test_a_timer_of_the_compound_counts_from_its_entry_not_each_child():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: box
        states:
          box:
            initial: a
            on:
              - after: 10s
                goto: timeout
            states:
              a:
                on:
                  - utterance: "next"
                    goto: b
              b:
                on:
                  - utterance: "back"
                    goto: a
          timeout: {final: true}
        """
    )
    script = [(4, user_says("next")), (8, user_says("back"))]
    conv, _ = run_script(sc, script, until=20)
    assert conv.engine.path == ["box.a", "box.b", "box.a", "timeout"]
    entered = [r.t for r in conv.trace.records if r.kind == "state"]
    assert entered[-1] == pytest.approx(10.0)  # not 18: moving inside box keeps its timer


def test_flat_scenarios_still_behave_as_before():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        any:
          - utterance: "bye"
            goto: b
        states:
          a:
            on:
              - after: 2s
                goto: a
          b: {final: true}
        """
    )
    conv, _ = run_script(sc, [(5, user_says("bye"))], until=6)
    assert conv.engine.path == ["a", "a", "a", "b"]


# --------------------------------------------------------------------------------- validation


def _errors(source: str) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        scenario_from(source)
    return [f"{d.loc.line}: {d.code}: {d.message}" for d in e.value.diagnostics]


def test_a_compound_state_needs_a_known_initial_child_with_did_you_mean():
    errors = _errors(
        """
        cviscript: 1
        name: t
        initial: box
        states:
          box:
            initial: frist
            states:
              first: {final: true}
        """
    )
    assert any("7: unknown-state" in e and 'did you mean "first"' in e for e in errors), errors
    errors = _errors(
        """
        cviscript: 1
        name: t
        initial: box
        states:
          box:
            states:
              first: {final: true}
        """
    )
    assert any("missing-key" in e and "no initial" in e for e in errors), errors


def test_unknown_goto_suggests_the_short_name_inside_and_the_dotted_name_outside():
    errors = _errors(TOUR.replace("goto: scale\n      scale:", "goto: scael\n      scale:"))
    assert any("31: unknown-state" in e and 'did you mean "scale"' in e for e in errors), errors
    errors = _errors(TOUR.replace("        resume: tour\n", "        goto: tour.scael\n"))
    assert any("unknown-state" in e and 'did you mean "tour.scale"' in e for e in errors), errors


def test_goto_and_resume_together_and_a_final_compound_are_errors():
    errors = _errors(
        TOUR.replace("        resume: tour\n", "        resume: tour\n        goto: bye\n")
    )
    assert any("both goto and resume" in e for e in errors), errors
    errors = _errors(TOUR.replace("    initial: intro\n", "    initial: intro\n    final: true\n"))
    assert any("cannot be final" in e for e in errors), errors


def test_lints_unreachable_child_resume_of_a_leaf_and_a_compound_in_expect(tmp_path):
    source = TOUR.replace("  bye:\n", "  lost:\n    final: true\n  bye:\n")
    source = source.replace("        resume: tour\n", "        resume: bye\n")
    source += """
rehearsals:
  - name: r
    expect: {path: [tour, bye]}
"""
    path = tmp_path / "t.yaml"
    path.write_text(source)
    codes = {(d.code, d.loc.line) for d in check_file(path)}
    assert ("resume-not-compound", 41) in codes
    assert ("unreachable-state", 43) in codes
    assert any(code == "compound-state-expected" for code, _ in codes)
    # the children of `tour` are reached through it; none is reported
    assert not any(code == "unreachable-state" and line < 43 for code, line in codes)


def test_events_from_the_room_do_not_fire_in_the_pseudo_state_before_start():
    sc = scenario_from(TOUR)
    conv, session = run_script(sc, [(0.5, ev("conversation.replica.started_speaking"))], until=1)
    assert session.types()[0] == "conversation.echo"


# ------------------------------------------------------------------------ coverage and diagrams


def test_coverage_counts_the_states_a_run_can_be_in_by_dotted_name():
    from cviscript.rehearsal.coverage import for_scenario

    cov = for_scenario("t.yaml", scenario_from(TOUR))
    assert cov.states == ["tour.intro", "tour.scale", "question", "bye"]
    resume = [t for t in cov.transitions if t.id == "question.on[0]"]
    assert resume[0].target == "tour"


def test_mermaid_draws_a_compound_state_as_a_composite_and_resume_to_it():
    from cviscript.report.graph import mermaid

    text = mermaid(scenario_from(TOUR))
    block = text[text.index("state tour {") :]
    block = block[: block.index("}")]
    assert 'state "tour.intro" as tour_intro' in block and "tour_scale" in block
    assert "question -->" not in block
    assert "question --> tour: replica.stopped_speaking (resume)" in text
    assert "tour --> question" in text


def test_graphviz_draws_a_compound_state_as_a_cluster():
    tools.module("graphviz", install="graphviz")
    from cviscript.report.graph import dot

    text = dot(scenario_from(TOUR))
    cluster = text[text.index("subgraph cluster_tour {") :]
    cluster = cluster[: cluster.index("}")]
    assert "tour_intro" in cluster and "tour_scale" in cluster and "question" not in cluster
