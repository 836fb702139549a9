"""Lint rules (cviscript.language.lint) and the validator's reference checks: one positive and one negative
case per rule, the locations they point at, and that lint stays quiet on broken or shipped files."""

from __future__ import annotations

import textwrap

import pytest
from conftest import REPO

from cviscript.language.lint import CODES, RULES, covers, lint
from cviscript.language.validate import check_file, load_scenario


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def diags(text: str):
    return check_file("s.yaml", source=src(text))


def codes(text: str, severity: str = "warning") -> list[str]:
    return [d.code for d in diags(text) if d.severity == severity]


def only(text: str, code: str, severity: str = "warning"):
    found = [d for d in diags(text) if d.code == code and d.severity == severity]
    assert len(found) == 1, diags(text)
    return found[0]


HEAD = "cviscript: 1\nname: t\ninitial: a\n"


# ------------------------------------------------------------------------------ unreachable-state


def test_unreachable_state_warns_at_the_state():
    text = HEAD + src("""
        states:
          a:
            on: [{event: replica.stopped_speaking, goto: b}]
          b: {final: true}
          c: {final: true}
        """)
    d = only(text, "unreachable-state")
    assert (d.loc.line, d.loc.column) == (8, 3) and "'c'" in d.message


def test_states_reached_through_any_are_reachable():
    text = HEAD + src("""
        any:
          - utterance: bye
            goto: c
        states:
          a:
            on: [{event: replica.stopped_speaking, goto: b}]
          b: {final: true}
          c: {final: true}
        """)
    assert "unreachable-state" not in codes(text)


# --------------------------------------------------------------------------------------- dead-end


def test_state_without_transitions_is_a_dead_end():
    text = HEAD + src("""
        states:
          a:
            on: [{after: 1s, goto: b}]
          b:
            enter: [{echo: hi}]
        """)
    d = only(text, "dead-end")
    assert d.loc.line == 7 and "'b'" in d.message and "10m" in d.message


def test_state_whose_transitions_never_leave_is_a_dead_end():
    text = HEAD + src("""
        states:
          a:
            on:
              - tool_call: lookup
                do: [{tool_result: ok}]
              - after: 5s
                goto: a
          b: {final: true}
        any: []
        """)
    assert "dead-end" in codes(text)


@pytest.mark.parametrize(
    "body",
    [
        "a:\n  enter: [end]\n",  # ends the run itself
        "a:\n  final: true\n",
        "a:\n  on: [{utterance: x, do: [{fail: no}]}]\n",  # a transition ends the run
        "a:\n  on: [{utterance: x, goto: b}]\nb: {final: true}\n",
    ],
)
def test_states_with_a_way_out_are_not_dead_ends(body):
    assert "dead-end" not in codes(HEAD + "states:\n" + textwrap.indent(body, "  "))


def test_a_way_out_through_any_is_enough():
    text = HEAD + "any: [{utterance: bye, goto: b}]\nstates:\n  a: {}\n  b: {final: true}\n"
    assert "dead-end" not in codes(text)


# ---------------------------------------------------------------------------- shadowed-transition


def test_identical_unguarded_trigger_shadows_the_later_one():
    text = HEAD + src("""
        states:
          a:
            on:
              - utterance: {role: user}
                goto: b
              - utterance: {role: user}
                goto: c
          b: {final: true}
          c: {final: true}
        """)
    d = only(text, "shadowed-transition")
    assert d.loc.line == 9 and "a.on[1]" in d.message and "a.on[0] (line 7)" in d.message


def test_any_transition_shadows_a_state_transition_it_covers():
    text = HEAD + src("""
        any:
          - event: utterance
            goto: b
        states:
          a:
            on:
              - utterance: "(?i)price"
                goto: b
          b: {final: true}
        """)
    d = only(text, "shadowed-transition")
    assert "a.on[0]" in d.message and "any[0]" in d.message


@pytest.mark.parametrize(
    "first",
    [
        "{utterance: {role: user}, when: 'vars.n > 1', goto: b}",  # guarded: may not fire
        "{utterance: 'yes', goto: b}",  # matches less
        "{utterance: {role: replica}, goto: b}",  # another role
        "{event: replica.stopped_speaking, where: {interrupted: false}, goto: b}",
    ],
)
def test_transitions_that_do_not_cover_shadow_nothing(first):
    text = HEAD + "vars: {n: 0}\nstates:\n  a:\n    on:\n      - " + first + "\n"
    text += "      - {utterance: {role: user}, goto: c}\n"
    text += "      - {event: replica.stopped_speaking, goto: c}\n"
    text += "  b: {final: true}\n  c: {final: true}\n"
    assert "shadowed-transition" not in codes(text)


def test_covers_compares_trigger_parameters():
    sc = load_scenario(
        "s.yaml",
        source=HEAD
        + src("""
        states:
          a:
            on:
              - {event: replica.stopped_speaking, goto: b}
              - {event: replica.stopped_speaking, where: {interrupted: true}, goto: b}
              - {tool_call: lookup, goto: b}
              - {tool_call: {name: lookup, arguments: {x: 1}}, goto: b}
              - {utterance: {role: any}, goto: b}
              - {utterance: {contains: [a, b]}, goto: b}
              - {utterance: {contains: a}, goto: b}
              - {after: 1s, goto: b}
          b: {final: true}
        """),
    )
    t = [x.trigger for x in sc.states["a"].on]
    assert covers(t[0], t[1]) and not covers(t[1], t[0])
    assert covers(t[2], t[3]) and not covers(t[3], t[2])
    assert covers(t[4], t[5]) and not covers(t[5], t[4])
    assert covers(t[5], t[6]) and not covers(t[6], t[5])
    assert not covers(t[7], t[7])  # a timer only fires its own transition


# ------------------------------------------------------------------------------ timer-never-fires


def test_a_longer_timer_behind_an_unguarded_shorter_one_never_fires():
    text = HEAD + src("""
        states:
          a:
            on:
              - after: 10s
                goto: b
              - after: 20s
                goto: c
          b: {final: true}
          c: {final: true}
        """)
    d = only(text, "timer-never-fires")
    assert (d.loc.line, d.loc.column) == (9, 9)  # the `after` key
    assert "a.on[1]" in d.message and "a.on[0]" in d.message


def test_equal_timers_fire_in_order():
    text = HEAD + src("""
        states:
          a:
            on:
              - {after: 5s, goto: b}
              - {after: 5s, goto: c}
          b: {final: true}
          c: {final: true}
        """)
    d = only(text, "timer-never-fires")
    assert "a.on[1]" in d.message


def test_a_timer_not_shorter_than_the_run_timeout_never_fires():
    text = (
        HEAD
        + "timeout: 1m\n"
        + src("""
        states:
          a:
            on:
              - {utterance: x, goto: b}
              - {after: 2m, goto: b}
          b: {final: true}
        """)
    )
    d = only(text, "timer-never-fires")
    assert "timeout (1m)" in d.message


@pytest.mark.parametrize(
    "first",
    [
        "{after: 10s, when: 'vars.n < 2', goto: b}",  # guarded: may let the later one fire
        "{after: 10s, do: [{log: tick}]}",  # stays without re-entering: timers keep running
    ],
)
def test_timers_that_can_fire(first):
    text = HEAD + "vars: {n: 0}\nstates:\n  a:\n    on:\n      - " + first + "\n"
    text += "      - {after: 20s, goto: c}\n  b: {final: true}\n  c: {final: true}\n"
    assert "timer-never-fires" not in codes(text)


# ------------------------------------------------------------------------- final-state-transition


def test_the_shorter_timer_wins_whatever_the_order():
    text = HEAD + src("""
        states:
          a:
            on:
              - {after: 30s, goto: b}
              - {after: 20s, goto: c}
          b: {final: true}
          c: {final: true}
        """)
    d = only(text, "timer-never-fires")
    assert d.loc.line == 7 and "after 30s (a.on[0])" in d.message


def test_transitions_of_a_final_state_warn():
    text = HEAD + src("""
        states:
          a:
            final: true
            on:
              - {after: 1s, goto: b}
          b: {final: true}
        """)
    d = only(text, "final-state-transition")
    assert d.loc.line == 8 and "'a'" in d.message


def test_final_state_without_transitions_is_fine():
    text = HEAD + "states:\n  a: {final: true}\n"
    assert diags(text) == []


# ---------------------------------------------------------------------------------- undefined-var


def test_variable_read_but_never_defined_warns_with_a_suggestion():
    text = HEAD + src("""
        vars: {product: Acme}
        states:
          a:
            enter:
              - echo: "Welcome to {{ vars.prodcut }}!"
            final: true
        """)
    d = only(text, "undefined-var")
    assert d.loc.line == 8 and "vars.prodcut" in d.message and 'did you mean "product"' in d.message


def test_undefined_variable_in_a_guard_and_by_subscript():
    text = HEAD + src("""
        states:
          a:
            on:
              - utterance: x
                when: "vars['tries'] < 3"
                goto: b
          b: {final: true}
        """)
    d = only(text, "undefined-var")
    assert "vars.tries" in d.message and d.loc.line == 8


def test_a_line_deep_in_a_block_template_points_at_that_line():
    text = HEAD + src("""
        states:
          a:
            enter:
              - echo: |
                  Hello.
                  {{ vars.missing }}
            final: true
        """)
    assert only(text, "undefined-var").loc.line == 9


def test_expect_vars_naming_an_undefined_variable_warns():
    text = HEAD + src("""
        vars: {n: 0}
        states:
          a: {final: true}
        rehearsals:
          - name: r
            expect: {vars: {m: 1}}
        """)
    d = only(text, "undefined-var")
    assert "vars.m" in d.message and d.loc.line == 9


def test_variables_defined_by_vars_or_set_anywhere_are_fine():
    text = HEAD + src("""
        vars: {n: 0}
        states:
          a:
            enter:
              - echo: "{{ vars.n }} {{ vars.later }} {{ vars.get('maybe', 0) }} {{ vars.items() }}"
            on:
              - utterance: x
                when: "vars.later > 0 and vars['n'] == 0"
                do: [{set: {later: 1}}]
                goto: b
          b: {final: true}
        rehearsals:
          - name: r
            expect: {vars: {later: 1}}
        """)
    assert "undefined-var" not in codes(text)


# ---------------------------------------------------------------------- event names (error, warning)


def test_unknown_canonical_event_is_an_error_with_a_suggestion():
    d = only(
        HEAD + "states:\n  a:\n    on: [{event: replica.stoped_speaking, goto: a}]\n",
        "unknown-event",
        "error",
    )
    assert 'did you mean "replica.stopped_speaking"' in d.message


def test_unknown_raw_event_type_warns_with_a_suggestion():
    text = HEAD + src("""
        states:
          a:
            on:
              - event: conversation.replica.stoped_speaking
                goto: b
          b: {final: true}
        """)
    d = only(text, "unknown-event-type")
    assert d.loc.line == 7 and 'did you mean "conversation.replica.stopped_speaking"' in d.message


def test_known_raw_and_canonical_event_names_are_fine():
    text = HEAD + src("""
        states:
          a:
            on:
              - {event: conversation.replica.stopped_speaking, goto: b}
              - {event: system.shutdown, goto: b}
              - {event: user.started_speaking, goto: b}
          b: {final: true}
        rehearsals:
          - name: r
            faults: {only: [conversation.utterance]}
        """)
    assert codes(text) == [] and codes(text, "error") == []


def test_unknown_raw_event_type_in_rehearsals_warns():
    text = HEAD + src("""
        states:
          a: {on: [{after: 1s, goto: b}]}
          b: {final: true}
        rehearsals:
          - name: r
            user:
              - on: {event: conversation.user.startd_speaking}
                say: hi
        """)
    assert codes(text) == ["unknown-event-type"]


# ------------------------------------------------------------- rehearsal expectations name states


@pytest.mark.parametrize("expect", ["{path: [a, nowhere]}", "{final: nowhere}"])
def test_expectation_naming_an_unknown_state_is_an_error(expect):
    text = HEAD + "states:\n  a: {final: true}\nrehearsals:\n  - name: r\n    expect: " + expect
    d = only(text + "\n", "unknown-state", "error")
    assert d.loc.line == 8 and "nowhere" in d.message


def test_expectations_naming_existing_states_are_fine():
    text = HEAD + "states:\n  a: {final: true}\nrehearsals:\n  - name: r\n"
    text += "    expect: {path: [a], final: a}\n"
    assert diags(text) == []


# ------------------------------------------------------------------------------------- as a whole


def test_every_rule_has_a_stable_code_and_a_summary():
    assert len(CODES) == len(RULES)
    assert all(r.code == r.code.lower() and " " not in r.code and r.summary for r in RULES)


def test_lint_stays_quiet_on_files_with_errors():
    text = HEAD + src("""
        states:
          a:
            enter: [{eccho: hi}]
          c: {}
        """)
    assert codes(text, "error") == ["unknown-action"]
    assert codes(text) == []


def test_lint_findings_are_in_file_order():
    sc = load_scenario(
        "s.yaml",
        source=HEAD
        + src("""
        states:
          a:
            enter: [{echo: "{{ vars.x }}"}]
            on: [{after: 1s, goto: a}]
          z: {final: true}
        """),
    )
    found = lint(sc)
    assert [(d.code, d.loc.line) for d in found] == [
        ("dead-end", 5),
        ("undefined-var", 6),
        ("unreachable-state", 8),
    ]


@pytest.mark.parametrize(
    "path",
    sorted((REPO / "scenarios").glob("*.yaml")) + sorted((REPO / "examples").rglob("*.yaml")),
    ids=lambda p: p.name,
)
def test_shipped_scenarios_have_no_warnings(path):
    assert check_file(path) == []


# ---------------------------------------------------------------------------- event-empty-at-start


def test_event_read_where_the_run_starts_warns():
    # validated clean, then the run ended in error at 0.0 s: 'undefined variable event.txt'
    text = HEAD + src("""
        states:
          a:
            initial: one
            states:
              one:
                enter: [{echo: "You said {{ event.text }}"}]
                on: [{event: replica.stopped_speaking, goto: b}]
          b:
            enter: [{echo: "{{ event.text }} and {{ event.text | default('') }}"}]
            final: true
        """)
    d = only(text, "event-empty-at-start")
    assert "event.text in the enter: of 'a.one'" in d.message and d.loc.line == 9
