"""Each `expect:` kind passes when it holds and fails with its stable code and a useful message."""

from __future__ import annotations

import textwrap

import pytest
from helpers import scenario_from

from cviscript.rehearsal.expectations import check, same_value
from cviscript.sessions.simulated.runner import run_simulated

SCENARIO = """\
cviscript: 1
name: shop
vars: {count: 0, ratio: 0.5, flags: {vip: false}, items: [1, 2]}
initial: hello
states:
  hello:
    enter:
      - echo: "Hello there, welcome to the shop."
    on:
      - event: replica.stopped_speaking
        goto: ask
  ask:
    enter:
      - set: {count: "{{ vars.count + 1 }}"}
      - echo: "What can I do for you?"
    on:
      - utterance: "(?i)price"
        goto: price
      - after: 5s
        goto: bye
  price:
    enter:
      - append_context: "The visitor asked for prices."
      - respond: "What does it cost?"
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    enter:
      - echo: "Goodbye and thank you!"
    final: true
rehearsals:
  - name: case
    user:
      - on: {state: ask}
        say: "What is the price?"
    persona:
      - match: "(?i)cost"
        say: "Ten dollars a month, the first month is free."
"""


def run(expect: str, scenario: str = SCENARIO):
    """Run the scenario's case with this `expect:` block; returns (failures, conversation)."""
    block = textwrap.indent(textwrap.dedent(expect).strip(), " " * 6)
    sc = scenario_from(scenario + "    expect:\n" + block + "\n", path="shop.yaml")
    conv = run_simulated(sc, rehearsal="case")
    case = sc.rehearsal("case")
    return check(case.expect, conv.result, conv.trace.records), conv


def only(failures, code):
    assert [f.code for f in failures] == [code], [f.message for f in failures]
    return failures[0]


def marked(failure) -> str:
    """The transcript line a failure points at."""
    lines = [ln for ln in failure.context if ln.startswith(">")]
    assert len(lines) == 1, failure.context
    return lines[0]


def test_every_expectation_holding_gives_no_failure():
    failures, conv = run(
        """
        path: [hello, ask, price, bye]
        final: bye
        outcome: completed
        said: ["welcome", "ten DOLLARS", "first month is free", "goodbye"]
        sent: [conversation.echo, respond, echo]
        not_sent: [interrupt, tool_result]
        vars: {count: 1.0, ratio: 0.5, flags: {vip: false}, items: [1, 2.0]}
        duration: {max: 1m}
        """
    )
    assert failures == []
    assert conv.result.path == ["hello", "ask", "price", "bye"]


def test_path_mismatch_names_the_first_differing_step_and_points_at_it():
    failures, _ = run("path: [hello, ask, bye]")
    f = only(failures, "path-mismatch")
    assert f.expectation == "expect.path"
    assert f.loc == f"shop.yaml:{SCENARIO.count(chr(10)) + 2}:7"  # the line after `expect:`
    assert "step 3 entered 'price', expected 'bye'" in f.message
    assert f.expected == "hello → ask → bye"
    assert f.actual == "hello → ask → price → bye"
    assert "── price" in marked(f)


def test_path_shorter_and_longer_than_the_run():
    f = only(run("path: [hello, ask, price, bye, hello]")[0], "path-mismatch")
    assert "entered only 4 states; step 5 should be 'hello'" in f.message
    f = only(run("path: [hello, ask]")[0], "path-mismatch")
    assert "entered 'price' at step 3, after the expected path ended" in f.message


def test_final_mismatch():
    f = only(run("final: price")[0], "final-mismatch")
    assert f.message == "the run ended in state 'bye', expected 'price'"
    assert (f.expected, f.actual) == ("price", "bye")
    assert "■ completed" in marked(f)


def test_outcome_mismatch_gives_the_reason():
    f = only(run("outcome: failed")[0], "outcome-mismatch")
    assert f.message.startswith("the run ended completed (reached final state 'bye')")
    assert f.message.endswith("expected failed")


BROKEN = SCENARIO.replace('- echo: "Goodbye and thank you!"', '- echo: "Bye {{ vars.nope }}"')


def test_an_error_without_an_outcome_expectation_is_never_a_pass():
    failures, conv = run("final: bye", scenario=BROKEN)
    assert conv.result.outcome == "error"
    f = only(failures, "run-error")
    assert f.expectation == "outcome"
    assert "nope" in f.message


def test_the_error_is_the_first_failure_listed():
    # a missing hook or a broken template is the cause; the path that was never walked follows
    # from it, so a reader sees the cause first (path-mismatch came first and hid it)
    failures, conv = run("path: [hello, ask, price, bye, ask]", scenario=BROKEN)
    assert conv.result.outcome == "error" and len(failures) >= 2
    assert failures[0].code == "run-error"


def test_an_expected_error_passes():
    failures, _ = run("outcome: error", scenario=BROKEN)
    assert failures == []


def test_said_is_in_order_and_case_insensitive():
    assert run('said: ["WELCOME", "ten dollars", "goodbye"]')[0] == []
    f = only(run('said: ["goodbye", "welcome"]')[0], "said-missing")
    assert f.expectation == "expect.said[1]"
    assert f.message == "'welcome' was not said: the replica never said it after 'goodbye'"
    assert f.actual[0] == "Hello there, welcome to the shop."


def test_said_needs_each_occurrence_and_only_counts_the_replica():
    f = only(run('said: ["ten dollars", "ten dollars"]')[0], "said-missing")
    assert f.expectation == "expect.said[1]"
    # the visitor said "price", the replica never did
    f = only(run('said: ["what is the price"]')[0], "said-missing")
    assert "the replica never said it" in f.message


def test_sent_is_a_subsequence_in_order():
    assert run("sent: [echo, append_llm_context, echo]")[0] == []
    f = only(run("sent: [respond, append_llm_context]")[0], "sent-missing")
    assert f.expectation == "expect.sent[1]"
    assert f.message == (
        "conversation.append_llm_context (expected #2) was not sent after "
        "conversation.respond (interaction #4)"
    )
    assert "→ respond" in marked(f)


def test_sent_missing_entirely():
    f = only(run("sent: [interrupt]")[0], "sent-missing")
    assert f.message == "conversation.interrupt (expected #1) was not sent"


def test_not_sent_names_when_it_was_sent():
    f = only(run("not_sent: [interrupt, echo]")[0], "not-sent-sent")
    assert f.message == "conversation.echo was sent at 0.000s (and 2 more), expected never"
    assert f.actual == ["conversation.echo"] * 3
    assert "→ echo" in marked(f)


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ("vars: {count: 2}", "vars.count is 1, expected 2"),
        ("vars: {count: '1'}", "vars.count is 1, expected '1'"),
        ("vars: {missing: 1}", "vars.missing is not set, expected 1"),
        ("vars: {flags: {vip: 0}}", "vars.flags is {'vip': False}, expected {'vip': 0}"),
        ("vars: {items: [1]}", "vars.items is [1, 2], expected [1]"),
    ],
)
def test_vars_mismatch(expect, message):
    f = only(run(expect)[0], "vars-mismatch")
    assert f.message == message


def test_vars_compares_only_the_keys_given_and_reports_every_wrong_one():
    f = only(run("vars: {count: 5, ratio: 0.5, items: []}")[0], "vars-mismatch")
    assert f.message == "vars.count is 1, expected 5; vars.items is [1, 2], expected []"
    assert f.expected == {"count": 5, "items": []}
    assert f.actual == {"count": 1, "items": [1, 2]}


def test_duration_exceeded_points_at_the_moment_the_limit_passed():
    failures, conv = run("duration: {max: 5s}")
    f = only(failures, "duration-exceeded")
    assert f.message == (
        f"the run took {conv.result.duration:.3f}s of virtual time, over the 5s maximum"
    )
    at = float(marked(f)[2:].split("s")[0])
    assert at >= 5.0


def test_one_failure_per_unmet_expectation_in_contract_order():
    failures, _ = run(
        """
        path: [hello]
        final: hello
        outcome: timed_out
        said: ["nope"]
        sent: [interrupt]
        not_sent: [echo]
        vars: {count: 9}
        duration: 1s
        """
    )
    assert [f.code for f in failures] == [
        "path-mismatch",
        "final-mismatch",
        "outcome-mismatch",
        "said-missing",
        "sent-missing",
        "not-sent-sent",
        "vars-mismatch",
        "duration-exceeded",
    ]
    assert all(f.loc and f.loc.startswith("shop.yaml:") for f in failures)
    assert all(f.context for f in failures)


def test_same_value_rules():
    assert same_value(3, 3.0)
    assert same_value(0.1 + 0.2, 0.3)
    assert not same_value(True, 1)
    assert not same_value(1, True)
    assert same_value({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]})
    assert not same_value({"a": 1}, {"a": 1, "b": 2})
    assert not same_value("3", 3)
    assert same_value(None, None)


# ------------------------------------------------------------ said counts only what was spoken


def cut_off_run():
    """A replica utterance cut off after its first words (streaming says how far it got)."""
    from helpers import ev, run_script

    sc = scenario_from(
        "cviscript: 1\nname: t\ninitial: a\nstates:\n  a:\n    on: [{after: 20s, goto: b}]\n"
        "  b: {final: true}\n"
    )
    whole = "Plans start at ten dollars, and the first month is free."
    said = {"role": "replica", "inference_id": "i1"}
    script = [
        (1.0, ev("conversation.replica.started_speaking", 1)),
        (1.0, ev("conversation.utterance", 2, speech=whole, **said)),
        (1.4, ev("conversation.utterance.streaming", 3, speech="Plans start", **said)),
        (
            1.7,
            ev(
                "conversation.utterance.streaming",
                4,
                speech="Plans start at",
                final=True,
                is_interrupted=True,
                **said,
            ),
        ),
        (1.7, ev("conversation.replica.stopped_speaking", 5, interrupted=True, duration=0.7)),
        (3.0, ev("conversation.utterance", 6, speech="Sorry, go ahead.", role="replica")),
    ]
    conv, _ = run_script(sc, script)
    return conv


def expect_of(block: str):
    sc = scenario_from(
        "cviscript: 1\nname: t\ninitial: a\nstates:\n  a: {final: true}\nrehearsals:\n"
        "  - name: r\n    expect:\n"
        + textwrap.indent(textwrap.dedent(block).strip(), " " * 6)
        + "\n"
    )
    return sc.rehearsal("r").expect


def test_said_does_not_count_the_words_an_interruption_cut_off():
    conv = cut_off_run()
    records = conv.trace.records
    assert check(expect_of("said: [plans start, go ahead]"), conv.result, records) == []
    f = only(check(expect_of("said: [ten dollars]"), conv.result, records), "said-missing")
    assert "cut off" in f.message and "'Plans start at'" in f.message


def test_not_said_fails_on_spoken_words_and_ignores_cut_off_ones():
    conv = cut_off_run()
    records = conv.trace.records
    assert check(expect_of("not_said: [first month is free]"), conv.result, records) == []
    f = only(
        check(expect_of("not_said: [free trial, GO AHEAD]"), conv.result, records), "not-said-said"
    )
    assert "'GO AHEAD'" in f.message and "Sorry, go ahead." in f.message
    assert f.expectation == "expect.not_said[1]"


def test_a_persona_rule_without_match_is_the_fallback_answer():
    scenario = SCENARIO.replace(
        '      - match: "(?i)cost"\n        say: "Ten dollars a month, the first month is free."\n',
        '      - match: "(?i)refund"\n        say: "No refunds."\n'
        '      - say: "Let me check that for you."\n',
    )
    failures, _ = run("said: [check that for you]\nnot_said: [refunds]", scenario)
    assert failures == []
