"""`--coverage`: the states and transitions the rehearsals exercised, and `--fail-under`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cviscript.cli.main import cli
from cviscript.rehearsal.coverage import format_coverage
from cviscript.rehearsal.suite import run_suite

SCENARIO = """\
cviscript: 1
name: menu
initial: ask
any:
  - utterance: "(?i)bye"
    goto: bye
states:
  ask:
    enter: [{echo: "Coffee or tea?"}]
    on:
      - utterance: "(?i)coffee"
        goto: coffee
      - utterance: "(?i)tea"
        goto: tea
      - after: 10s
        goto: bye
  coffee:
    enter: [{echo: "Coffee it is."}]
    on:
      - event: replica.stopped_speaking
        goto: bye
  tea:
    enter: [{echo: "Tea it is."}]
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    enter: [{echo: "Bye!"}]
    final: true
rehearsals:
  - name: coffee
    user:
      - on: {event: replica.stopped_speaking}
        say: "Coffee please"
  - name: silence
"""


def write(tmp_path: Path) -> Path:
    path = tmp_path / "menu.yaml"
    path.write_text(SCENARIO)
    return path


def test_coverage_counts_states_entered_and_transitions_taken(tmp_path: Path):
    path = write(tmp_path)
    suite = run_suite([path], coverage=True)
    (cov,) = suite.coverage.scenarios
    assert cov.cases == 2
    assert cov.states_missed == ["tea"]
    assert [t.id for t in cov.transitions_missed] == ["any[0]", "ask.on[1]", "tea.on[0]"]
    # 3 of 4 states, 3 of 6 transitions
    assert (cov.covered, cov.total) == (6, 10)
    assert suite.coverage.percent == 60.0
    text = "\n".join(format_coverage(suite.coverage))
    assert f"{path} (menu): states 3/4, transitions 3/6, 60%" in text
    assert "states never entered: tea" in text
    assert "ask.on[1]: user says /(?i)tea/ → tea (line 13)" in text
    assert "any[0]: user says /(?i)bye/ → bye (line 5)" in text


def test_only_the_selected_cases_count(tmp_path: Path):
    suite = run_suite([write(tmp_path)], coverage=True, patterns=["silence"])
    (cov,) = suite.coverage.scenarios
    assert cov.entered == {"ask", "bye"}
    assert cov.taken == {"ask.on[2]"}


def test_cli_coverage_report_and_fail_under(tmp_path: Path):
    path = write(tmp_path)
    runner = CliRunner()
    res = runner.invoke(cli, ["rehearse", str(path), "--coverage"])
    assert res.exit_code == 0, res.output
    assert "coverage:" in res.output and "total: 60.0%" in res.output

    res = runner.invoke(cli, ["rehearse", str(path), "--fail-under", "75"])
    assert res.exit_code == 1
    assert "coverage 60.0% is under --fail-under 75%" in res.output

    res = runner.invoke(cli, ["rehearse", str(path), "--fail-under", "60"])
    assert res.exit_code == 0

    out = tmp_path / "r.json"
    runner.invoke(cli, ["rehearse", str(path), "--coverage", "--json", str(out)])
    data = json.loads(out.read_text())["coverage"]
    assert data["percent"] == 60.0
    missed = data["scenarios"][0]["transitions"]["missed"]
    assert {
        "id": "tea.on[0]",
        "to": "bye",
        "trigger": "replica.stopped_speaking",
        "line": 25,
    } in missed


def test_a_scenario_without_rehearsals_is_uncovered(tmp_path: Path):
    path = tmp_path / "bare.yaml"
    path.write_text(SCENARIO.split("rehearsals:")[0])
    other = write(tmp_path)
    suite = run_suite([path, other], coverage=True)
    bare = next(s for s in suite.coverage.scenarios if s.scenario == "menu" and s.cases == 0)
    assert bare.percent == 0.0
    assert suite.without_cases == [str(path)]
