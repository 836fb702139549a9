"""The JUnit XML `cviscript rehearse --junit` writes, read back by a third-party parser (junitparser)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from junitparser import Error, Failure, JUnitXml

from cviscript.cli.main import cli

GREETER = """\
cviscript: 1
name: greeter
initial: greet
states:
  greet:
    enter:
      - echo: "Hello\\a and welcome <friend> & co!"
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    enter:
      - echo: "Goodbye!"
    final: true
rehearsals:
  - name: says hello
    expect:
      said: ["welcome"]
  - name: expects the wrong words
    expect:
      said: ["see you"]
      final: greet
"""

SURVEY = """\
cviscript: 1
name: tiny-survey
initial: ask
states:
  ask:
    enter:
      - echo: "Rate us from one to five."
    on:
      - utterance: {match: "[1-5]"}
        goto: done
  done:
    final: true
rehearsals:
  - name: answers
    user:
      - on: {state: ask}
        say: "4"
    expect: {path: [ask, done]}
"""

BROKEN = "cviscript: 1\nname: broken\ninitial: a\nstates:\n  a: {enter: [{shout: hi}]}\n"


@pytest.fixture
def report(tmp_path: Path) -> tuple[JUnitXml, int, Path]:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "greeter.yaml").write_text(GREETER)
    (tmp_path / "scenarios" / "survey.yaml").write_text(SURVEY)
    (tmp_path / "scenarios" / "broken.yaml").write_text(BROKEN)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(cli, ["rehearse", "scenarios", "--junit", "out/rehearsal.xml"])
    finally:
        os.chdir(old)
    path = tmp_path / "out" / "rehearsal.xml"
    return JUnitXml.fromfile(str(path)), res.exit_code, path


def test_one_suite_per_file_one_case_per_rehearsal(report):
    xml, code, _ = report
    assert code == 2  # an invalid file is worse than a failing case
    suites = {s.name: s for s in xml}
    assert set(suites) == {
        "scenarios/greeter.yaml",
        "scenarios/survey.yaml",
        "scenarios/broken.yaml",
    }
    greeter = suites["scenarios/greeter.yaml"]
    assert (greeter.tests, greeter.failures, greeter.errors) == (2, 1, 0)
    assert [c.name for c in greeter] == ["says hello", "expects the wrong words"]
    assert {c.classname for c in greeter} == {"scenarios.greeter"}
    props = {p.name: p.value for p in greeter.properties()}
    assert props["scenario"] == "greeter"
    assert (xml.tests, xml.failures, xml.errors) == (4, 1, 1)


def test_a_passing_case_has_no_result_and_a_time(report):
    xml, _, _ = report
    case = next(c for s in xml for c in s if c.name == "answers")
    assert case.is_passed
    assert case.time >= 0


def test_a_failing_case_carries_codes_message_and_the_full_report(report):
    xml, _, _ = report
    case = next(c for s in xml for c in s if c.name == "expects the wrong words")
    assert not case.is_passed
    (failure,) = case.result
    assert isinstance(failure, Failure)
    assert failure.type == "final-mismatch said-missing"
    assert failure.message.startswith("the run ended in state 'bye', expected 'greet'")
    assert failure.message.endswith("(and 1 more)")
    text = failure.text
    assert "final-mismatch: expect.final (scenarios/greeter.yaml:" in text
    assert "said-missing: expect.said[0]" in text
    assert "transcript:" in text
    # the failing run's whole transcript, the control character shown as its symbol (printable)
    assert '← replica: "Hello␇ and welcome <friend> & co!"' in case.system_out


def test_an_invalid_file_is_an_error_listing_its_diagnostics(report):
    xml, _, _ = report
    suite = next(s for s in xml if s.name == "scenarios/broken.yaml")
    (case,) = list(suite)
    (error,) = case.result
    assert isinstance(error, Error)
    assert error.type == "invalid-scenario"
    assert "scenarios/broken.yaml:5:" in error.text and "shout" in error.text


def test_testcases_have_file_line_and_properties(report):
    _, _, path = report
    root = ET.parse(path).getroot()
    tc = root.find(".//testcase[@name='says hello']")
    assert tc.get("file") == "scenarios/greeter.yaml"
    assert tc.get("line") == "16"
    props = {p.get("name"): p.get("value") for p in tc.iter("property")}
    assert props["outcome"] == "completed"
    assert props["seed"] == "0"
    assert float(props["virtual_duration"]) > 0
