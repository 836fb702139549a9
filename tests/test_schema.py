"""The JSON Schema: generated from cviscript.language.spec, shipped, and in agreement with the validator —
checked with a third-party validator (jsonschema, Draft 2020-12)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO
from helpers import mutate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from cviscript.cli.main import cli
from cviscript.language.durations import parse_duration
from cviscript.language.loader import compose
from cviscript.language.schema import (
    DURATION_PATTERN,
    SCHEMA_PATH,
    build_schema,
    schema_json,
    shipped_schema_json,
)
from cviscript.language.validate import check_file

VALIDATOR = Draft202012Validator(build_schema())
SHIPPED = sorted((REPO / "scenarios").glob("*.yaml")) + sorted((REPO / "examples").rglob("*.yaml"))
GOOD = sorted((REPO / "tests" / "data" / "good").glob("*.yaml"))


def data_of(text: str, name: str = "s.yaml"):
    """The document as editors and tools see it (keys stay strings: `on` is not `true`)."""
    node, problems = compose(text, name)
    assert node is not None, problems
    return node.plain()


def schema_errors(text: str) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(data_of(text))]


def validator_errors(text: str) -> list[str]:
    return [d.code for d in check_file("s.yaml", source=text) if d.severity == "error"]


def doc(states: str, top: str = "", rehearsals: str = "") -> str:
    text = "cviscript: 1\nname: t\ninitial: a\n" + textwrap.dedent(top)
    text += "states:\n" + textwrap.indent(textwrap.dedent(states), "  ")
    if rehearsals:
        text += "rehearsals:\n" + textwrap.indent(textwrap.dedent(rehearsals), "  ")
    return text


# -------------------------------------------------------------------------------- the artifact


def test_schema_is_valid_draft_2020_12():
    schema = build_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_shipped_copy_equals_the_generated_schema():
    """Regenerate with: cviscript schema -o cviscript/language/scenario.schema.json"""
    assert SCHEMA_PATH.is_file()
    assert shipped_schema_json() == schema_json()


def test_cli_prints_and_writes_the_schema(tmp_path):
    res = CliRunner().invoke(cli, ["schema"])
    assert res.exit_code == 0 and json.loads(res.output) == build_schema()
    out = tmp_path / "s.json"
    res = CliRunner().invoke(cli, ["schema", "-o", str(out)])
    assert res.exit_code == 0 and out.read_text() == schema_json()


def test_unknown_keys_are_rejected_everywhere():
    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                yield node
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    objects = list(walk(build_schema()))
    assert len(objects) > 15
    assert all(o["additionalProperties"] is False for o in objects)


# ------------------------------------------------------------------------ shipped files are valid


@pytest.mark.parametrize("path", SHIPPED + GOOD, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_scenario_is_valid(path):
    errors = list(VALIDATOR.iter_errors(data_of(path.read_text(), str(path))))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_scenarios_carry_the_editor_modeline(path):
    first = path.read_text().splitlines()[0]
    m = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert m, first
    assert (path.parent / m.group(1)).resolve() == SCHEMA_PATH.resolve()


# ---------------------------------------------------------------- both accept the shorthand forms

BASE_STATES = "a:\n  on: [{utterance: x, goto: b}]\nb: {final: true}\n"

VALID = {
    "utterance shorthand": doc("a:\n  on: [{utterance: '(?i)yes', goto: b}]\nb: {final: true}\n"),
    "utterance mapping": doc(
        "a:\n  on:\n    - utterance: {role: any, contains: word, equals: hi, match: x}\n"
        "      goto: b\n    - {utterance: {}, goto: b}\nb: {final: true}\n"
    ),
    "perception forms": doc(
        "a:\n  on: [{perception: 'smil', goto: b}, {perception: {}, goto: b}]\nb: {final: true}\n"
    ),
    "tool_call forms": doc(
        "a:\n  on:\n    - {tool_call: lookup, do: [{tool_result: ok}]}\n"
        "    - tool_call: {name: lookup, arguments: {city: Paris}}\n"
        "      do:\n        - tool_result: {output: {temp: 21}, status: error}\n"
        "        - tool_result: {output: x, status: '{{ vars.s }}'}\n"
        "      goto: b\nb: {final: true}\n",
        top="vars: {s: success}\n",
    ),
    "one action without a list, bare words": doc(
        "a:\n  enter: {echo: hi}\n  exit: interrupt\n  on:\n"
        "    - {after: 1s, do: [interrupt, {interrupt: true}, {end: null}], goto: b}\n"
        "    - {after: 2s, do: [fail, {fail: null}, {fail: why}], goto: null}\n"
        "b: {final: true, description: the end}\n"
    ),
    "echo forms and scalars": doc(
        "a:\n  enter: [{echo: {text: hi}}, {echo: 42}, {respond: true}, {log: 1.5},\n"
        "          {send: {event_type: custom, properties: {a: 1}}},\n"
        "          {set: {n: '{{ vars.n + 1 }}'}}, {sensitivity: {pause: low}}]\n"
        "  final: true\n",
        top="vars: {n: 0}\n",
    ),
    "empty states": doc(
        "a:\n  on: [{event: conversation.custom_event, where: {x: 1}, goto: b}]\nb:\nc: {}\n"
    ),
    "durations": doc(
        "a:\n  on: [{after: 5, goto: b}, {after: 1m30s, goto: b}, {after: 250ms, goto: b},\n"
        "       {after: 0.5, goto: b}, {after: '2', goto: b}]\nb: {final: true}\n",
        top="timeout: 2m\nfinal_wait: 0\n",
    ),
    "top level": doc(
        "a: {final: true}\n",
        top="description: null\nvars: null\nany: null\nconversation:\n  url: https://x.daily.co/r\n"
        "  token: null\n  context_spelling: context\n",
    ).replace("cviscript: 1", "cviscript: '1'"),
    "conversation create": doc(
        "a: {final: true}\n",
        top="conversation:\n  create:\n    persona_id: p1\n    replica_id: null\n"
        "    test_mode: true\n    require_auth: null\n    properties: {max_call_duration: 60}\n",
    ),
    "rehearsal shorthands": doc(
        "a:\n  on: [{utterance: x, goto: b}]\nb: {final: true}\n",
        rehearsals="""\
        - name: r
          description: null
          seed: 3
          vars: {x: 1}
          user:
            - {on: a, say: hi, times: 0, delay: 1s, barge_in: true}
            - {on: {at: 2s}, interrupt: true}
            - {on: {state: a}, say: hi, interrupt: false}
            - {on: {event: utterance.streaming, where: {role: user}}, perceive: smiling}
            - {on: {utterance: hi}, tool_call: lookup}
            - {on: {after: 1s}, tool_call: {name: lookup, arguments: {a: 1}}}
          persona:
            - {match: x, say: y}
            - {match: z, tool_call: lookup}
          replica: {words_per_minute: 200, echo_latency: 100ms, pipeline: echo, default_reply: null}
          faults: {drop: 0.1, duplicate: 0, reorder: 1, only: utterance, disconnect: 30s}
          expect:
            path: a
            said: hi
            sent: echo
            not_sent: [respond]
            final: b
            outcome: completed
            vars: null
            duration: 2m
        - name: s
          faults: {only: [utterance, conversation.tool_call]}
          expect: {duration: {max: 1m}, vars: {x: 1}}
        """,
    ),
}


VALID.update(
    {
        "after template": doc(
            "a:\n  on: [{after: '{{ vars.wait }}', goto: b}]\nb: {final: true}\n",
            top="vars: {wait: 2s}\n",
        ),
        "where with real fields": doc(
            "a:\n  on: [{event: replica.stopped_speaking, where: {interrupted: true}, goto: b}]\n"
            "b: {final: true}\n"
        ),
        "at in a user rule, persona fallback, not_said, seed 1.0": doc(
            BASE_STATES,
            rehearsals="""\
            - name: r
              seed: 1.0
              user: [{at: 5s, say: hi}]
              persona: [{match: x, say: y}, {say: fallback}]
              expect: {not_said: [free trial], said: hi}
            """,
        ),
        "yes is a word in a var": doc(BASE_STATES, top="vars: {country: NO, at: 19:30}\n"),
    }
)


@pytest.mark.parametrize("name", VALID)
def test_shorthand_forms_are_accepted_by_both(name):
    text = VALID[name]
    assert validator_errors(text) == []
    assert schema_errors(text) == []


# --------------------------------------------------------------------- both reject invalid samples

INVALID = {
    "unknown top key": (doc(BASE_STATES, top="rehersals: []\n"), "unknown-key"),
    "unknown state key": (doc("a:\n  on_enter: [end]\n"), "unknown-key"),
    "unknown transition key": (
        doc("a:\n  on: [{utterance: x, gotoo: b}]\nb: {final: true}\n"),
        "unknown-key",
    ),
    "two triggers": (
        doc("a:\n  on: [{utterance: x, after: 1s, goto: b}]\nb: {final: true}\n"),
        "trigger-count",
    ),
    "no trigger": (doc("a:\n  on: [{goto: b}]\nb: {final: true}\n"), "trigger-count"),
    "unknown action": (doc("a:\n  enter: [{eccho: hi}]\n  final: true\n"), "unknown-action"),
    "action with two keys": (
        doc("a:\n  enter: [{echo: hi, log: x}]\n  final: true\n"),
        "bad-value",
    ),
    "bad level": (doc("a:\n  enter: [{sensitivity: {pause: loud}}]\n  final: true\n"), "bad-value"),
    "empty sensitivity": (doc("a:\n  enter: [{sensitivity: {}}]\n  final: true\n"), "missing-key"),
    "bad duration": (doc("a:\n  on: [{after: soon, goto: b}]\nb: {final: true}\n"), "bad-duration"),
    "negative duration": (
        doc("a:\n  on: [{after: -2s, goto: b}]\nb: {final: true}\n"),
        "bad-duration",
    ),
    "zero timeout": (doc(BASE_STATES, top="timeout: 0\n"), "bad-duration"),
    "version 2": (doc(BASE_STATES).replace("cviscript: 1", "cviscript: 2"), "bad-value"),
    "no states": ("cviscript: 1\nname: t\ninitial: a\n", "missing-key"),
    "empty states": ("cviscript: 1\nname: t\ninitial: a\nstates: {}\n", "bad-value"),
    "final is not a boolean": (doc("a:\n  final: yes please\n"), "wrong-type"),
    "where without event": (
        doc("a:\n  on: [{utterance: x, where: {a: 1}, goto: b}]\nb: {final: true}\n"),
        "bad-value",
    ),
    "unknown event": (
        doc("a:\n  on: [{event: replica.stoped_speaking, goto: b}]\nb: {final: true}\n"),
        "unknown-event",
    ),
    "bad role": (
        doc("a:\n  on: [{utterance: {role: agent}, goto: b}]\nb: {final: true}\n"),
        "bad-value",
    ),
    "interrupt with a value": (doc("a:\n  enter: [{interrupt: 3}]\n  final: true\n"), "bad-value"),
    "bad tool_result status": (
        doc("a:\n  on: [{tool_call: t, do: [{tool_result: {output: x, status: done}}]}]\n"),
        "bad-value",
    ),
    "url and create": (
        doc(BASE_STATES, top="conversation: {url: 'https://x', create: {persona_id: p}}\n"),
        "bad-value",
    ),
    "unknown create field": (
        doc(BASE_STATES, top="conversation: {create: {persona: p}}\n"),
        "unknown-key",
    ),
    "user rule does two things": (
        doc(BASE_STATES, rehearsals="- name: r\n  user: [{on: a, say: hi, perceive: x}]\n"),
        "bad-value",
    ),
    "user rule does nothing": (
        doc(BASE_STATES, rehearsals="- name: r\n  user: [{on: a, interrupt: false}]\n"),
        "missing-key",
    ),
    "user rule without on": (
        doc(BASE_STATES, rehearsals="- name: r\n  user: [{say: hi}]\n"),
        "missing-key",
    ),
    "persona rule says nothing": (
        doc(BASE_STATES, rehearsals="- name: r\n  persona: [{match: x}]\n"),
        "missing-key",
    ),
    "probability above 1": (
        doc(BASE_STATES, rehearsals="- name: r\n  faults: {drop: 2}\n"),
        "bad-value",
    ),
    "negative times": (
        doc(BASE_STATES, rehearsals="- name: r\n  user: [{on: a, say: hi, times: -1}]\n"),
        "bad-value",
    ),
    "bad outcome": (
        doc(BASE_STATES, rehearsals="- name: r\n  expect: {outcome: passed}\n"),
        "bad-value",
    ),
    "unknown expect key": (
        doc(BASE_STATES, rehearsals="- name: r\n  expect: {duration: {maximum: 2m}}\n"),
        "unknown-key",
    ),
    "rehearsal without name": (
        doc(BASE_STATES, rehearsals="- expect: {outcome: completed}\n"),
        "missing-key",
    ),
    "bad pipeline": (
        doc(BASE_STATES, rehearsals="- name: r\n  replica: {pipeline: half}\n"),
        "bad-value",
    ),
}


INVALID.update(
    {
        "final: yes (YAML 1.2)": (doc("a:\n  final: yes\n"), "wrong-type"),
        "final: on (YAML 1.2)": (doc("a:\n  final: on\n"), "wrong-type"),
        "barge_in: yes (YAML 1.2)": (
            doc(BASE_STATES, rehearsals="- name: r\n  user: [{at: 1s, say: x, barge_in: yes}]\n"),
            "wrong-type",
        ),
        "timeout: 1:30 (no base-60)": (doc(BASE_STATES, top="timeout: 1:30\n"), "bad-duration"),
        "misspelt where key": (
            doc(
                "a:\n  on: [{event: replica.stopped_speaking, where: {interupted: 1}, goto: b}]\n"
                "b: {final: true}\n"
            ),
            "unknown-field",
        ),
        "both on and at": (
            doc(BASE_STATES, rehearsals="- name: r\n  user: [{at: 1s, on: a, say: x}]\n"),
            "trigger-count",
        ),
        "seed 1.5": (doc(BASE_STATES, rehearsals="- name: r\n  seed: 1.5\n"), "wrong-type"),
    }
)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_samples_are_rejected_by_both(name):
    text, code = INVALID[name]
    assert code in validator_errors(text), check_file("s.yaml", source=text)
    assert schema_errors(text), f"the schema accepts: {name}"


# ---------------------------------------------------------------------- never stricter than cviscript

_REPLACEMENTS = [
    None, 0, -1, 1.5, True, "", "x", "2s", "{{ vars.a }}", [], {}, ["x"], {"a": 1},
    "interrupt", "end", {"echo": "hi"}, {"say": "hi"}, "replica.stopped_speaking", "success",
]  # fmt: skip


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_whatever_the_validator_accepts_the_schema_accepts(data):
    path = data.draw(st.sampled_from(SHIPPED[:3] + GOOD))
    document = data_of(path.read_text())
    mutate(data, document, _REPLACEMENTS, times=2, may_delete=True)
    text = yaml.safe_dump(document, sort_keys=False)
    if not validator_errors(text):
        assert schema_errors(text) == []


# ---------------------------------------------------------------------------------- durations

DURATIONS = [
    "250ms", "2s", "1.5s", "3m", "1h", "1m30s", "1 m 30 s", " 2s ", "5", "0.5", ".5", "5.",
    "1e3", "+5", "-5", "-2s", "2 seconds", "", "s", "2x", "1.5.3s", "1m30", "ms", "10 ms",
]  # fmt: skip


@pytest.mark.parametrize("text", DURATIONS)
def test_duration_pattern_reads_what_parse_duration_reads(text):
    try:
        parse_duration(text)
        accepted = True
    except ValueError:
        accepted = False
    assert bool(re.search(DURATION_PATTERN, text)) == accepted


def test_schema_file_is_package_data():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"language/*.json"' in pyproject and Path(SCHEMA_PATH).parent.name == "language"
