"""Template memory bounds: numbers and built sequences stay within the documented limits.

`test_sandbox.py` checks that oversized strings are refused; this file checks the two ways a
template used to reach gigabytes before any check saw a value — integers squared again and again,
and a lazy `map(...)` materialised by `| list` — with the memory a render takes measured in a
subprocess (tracemalloc peak, under an address-space limit so a regression fails instead of
swapping). It also checks that a huge number in speech captured by `set:` stays a string.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from helpers import run_script, scenario_from, user_says

from cviscript.errors import TemplateRenderError
from cviscript.language.template_bounds import MAX_INT_DIGITS, MAX_OUTPUT, size_of
from cviscript.language.templates import compile_text, parse_scalar, render
from cviscript.sessions.simulated.runner import run_simulated


def ctx():
    return {"vars": {"n": 2}, "event": {}, "state": "s", "visits": 1}


def _render_error(source: str) -> str:
    with pytest.raises(TemplateRenderError) as err:
        render(compile_text(source), ctx(), "s")
    return str(err.value)


_MEASURE = textwrap.dedent(
    """
    import json, resource, sys, tracemalloc
    limit = 1 << 30  # a regression dies with MemoryError here instead of taking the machine
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from cviscript.language.templates import compile_text, render
    text = compile_text(sys.argv[1])
    tracemalloc.start()
    try:
        render(text, {"vars": {}, "event": {}, "state": "s", "visits": 1}, "s")
        error = None
    except Exception as e:
        error = str(e)
    print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "error": error}))
    """
)

HOGS = [
    # repeated squaring from 2**40000: 10 KB, 20 KB ... 2.5 GB by the 18th step
    "{% set ns = namespace(n=2 ** 40000) %}"
    "{% for i in range(30) %}{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n > 0 }}",
    "{% set ns = namespace(n=7) %}{% for i in range(40) %}{% set ns.n = ns.n ** 2 %}{% endfor %}"
    "{{ ns.n > 0 }}",
    # 100,000 strings of 99,999 characters: ten gigabytes once listed
    "{{ range(100000) | map('center', 99999) | list | length }}",
    "{{ range(100000) | map('center', 99999) | join | length }}",
    "{{ range(100000) | map('center', 99999) | select | list | length }}",
    "{{ (range(100000) | map('center', 99999) | sort)[0] | length }}",
    "{{ ([('x' * 99999)] * 99999) | join | length }}",
    "{{ '-'.join(range(100000) | map('center', 99999)) | length }}",
]


@pytest.mark.parametrize("source", HOGS)
def test_templates_that_used_to_reach_gigabytes_stop_within_a_few_megabytes(source):
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, source], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["error"] and ("too large" in result["error"] or "too long" in result["error"])
    assert result["peak"] < 16 * 2**20, result


@pytest.mark.parametrize(
    "source",
    [
        "{{ 10 ** 5000 }}",
        "{{ (10 ** 3000) * (10 ** 3000) }}",
        "{{ ('9' * 4200) | int }}",
        "{% set ns = namespace(n=3) %}{% for i in range(20) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}{{ ns.n }}",
    ],
)
def test_numbers_over_the_digit_limit_are_refused_with_a_clear_error(source):
    assert f"number too large (over {MAX_INT_DIGITS:,} digits)" in _render_error(source)


def test_numbers_up_to_the_digit_limit_render():
    out = render(compile_text("{{ 10 ** 3999 }}"), ctx())
    assert len(out) == MAX_INT_DIGITS
    out = render(compile_text("{{ (('9' * 4000) | int) + 0 }}"), ctx())
    assert out == "9" * MAX_INT_DIGITS
    assert "too large" in _render_error("{{ (('9' * 4000) | int) + 1 }}")


def test_a_list_counts_what_it_holds_not_only_its_length():
    # 99,999 references to one 99,999-character string: small in memory, ten GB once joined
    assert "too long" in _render_error("{{ (['x' * 99999] * 99999) | length }}")
    assert "too long" in _render_error("{{ ['x' * 60000, 'y' * 60000] | list | length }}")
    assert render(compile_text("{{ (['ab'] * 1000) | join(',') | length }}"), ctx()) == "2999"
    assert render(compile_text("{{ range(1000) | map('string') | list | length }}"), ctx()) == (
        "1000"
    )


def test_size_of_stops_early_and_measures_nested_values():
    assert size_of("abc") == 3
    assert size_of([1, "ab", {"k": None}]) == 3 + 1 + 2 + 1 + 1 + 1
    big = ["x" * 1000] * 10**6
    assert size_of(big) == MAX_OUTPUT + 1  # refused on its length, before its items are walked
    assert size_of(10**999) == 1000


# ----------------------------------------------------------------- a huge number in speech


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1" * 5000, "1" * 5000),
        ("-" + "9" * 4300, "-" + "9" * 4300),
        ("9" * MAX_INT_DIGITS, int("9" * MAX_INT_DIGITS)),
        ("1" * 400 + ".5", "1" * 400 + ".5"),  # too large for a float: not inf
        ("1e999", "1e999"),
    ],
)
def test_parse_scalar_keeps_numbers_it_cannot_hold_as_strings(text, value):
    result = parse_scalar(text)
    assert result == value and type(result) is type(value)


CAPTURE = """
cviscript: 1
name: capture
initial: ask
states:
  ask:
    enter: [{echo: "Your card number?"}]
    on:
      - utterance: {match: "(?P<number>[0-9]+)"}
        do: [{set: {card: "{{ event.groups.number }}"}}]
        goto: done
  done:
    enter: [{echo: "Got {{ vars.card | length }} digits"}]
    final: true
"""


def test_a_5000_digit_number_in_speech_captured_by_set_stays_a_string_in_the_engine():
    sc = scenario_from(CAPTURE)
    conv, session = run_script(sc, [(1, user_says("4" * 5000))])
    assert conv.result.outcome == "completed", conv.result.reason
    card = conv.engine.vars["card"]  # (patterns may search only a long text's first part)
    assert isinstance(card, str) and len(card) > MAX_INT_DIGITS and set(card) == {"4"}
    assert session.sent[-1]["properties"]["text"] == f"Got {len(card)} digits"


def test_a_5000_digit_number_in_speech_captured_by_set_stays_a_string_in_simulation():
    sc = scenario_from(
        CAPTURE
        + """
rehearsals:
  - name: reads a very long number
    user:
      - on: {event: replica.stopped_speaking}
        say: """
        + "7" * 5000
        + """"
    expect:
      path: [ask, done]
"""
    )
    conv = run_simulated(sc)
    assert conv.result.outcome == "completed", conv.result.reason
    card = conv.engine.vars["card"]
    assert isinstance(card, str) and len(card) > MAX_INT_DIGITS and set(card) == {"7"}
