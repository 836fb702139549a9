"""`cviscript rehearse`: discovery, the report, exit codes, -k, -j, --repeat/--seed-from, --json."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cviscript.cli.main import cli
from cviscript.rehearsal.suite import discover, is_scenario_file, matches, run_case, run_suite

REPO = Path(__file__).resolve().parent.parent

GOOD = """\
cviscript: 1
name: greeter
initial: greet
states:
  greet:
    enter:
      - echo: "Hello and welcome!"
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
      path: [greet, bye]
      said: ["welcome", "goodbye"]
  - name: wrong path
    expect:
      path: [greet, greet, bye]
      outcome: completed
"""

FLAKY = """\
cviscript: 1
name: flaky
initial: greet
states:
  greet:
    enter:
      - echo: "Hello, this is a short greeting."
    on:
      - event: replica.stopped_speaking
        goto: done
      - after: 30s
        goto: missed
  done:
    final: true
  missed:
    enter:
      - fail: "never heard the replica stop speaking"
rehearsals:
  - name: lossy network
    faults: {drop: 0.5, only: [replica.stopped_speaking]}
    seed: 1
    expect: {outcome: completed}
  - name: jittery network
    faults: {delay: 100ms, jitter: 2s}
    seed: 3
    expect: {outcome: completed}
"""


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "greeter.yaml").write_text(GOOD)
    (tmp_path / "scenarios" / "nested").mkdir()
    (tmp_path / "scenarios" / "nested" / "flaky.yml").write_text(FLAKY)
    # YAML that is not a scenario: left alone when a folder is searched
    (tmp_path / "scenarios" / "workflow.yml").write_text("name: ci\non: [push]\n")
    (tmp_path / "scenarios" / "notes.txt").write_text("cviscript: 1\n")
    return tmp_path


def invoke(*args: str, cwd: Path | None = None):
    """Run `cviscript rehearse ARGS` in-process, from folder `cwd`."""
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, ["rehearse", *args], catch_exceptions=False)
    finally:
        os.chdir(old)


def test_discovery_finds_scenarios_only(suite_dir: Path):
    files = discover([suite_dir / "scenarios"])
    names = [Path(f).name for f in files]
    assert names == ["greeter.yaml", "flaky.yml"]
    assert not is_scenario_file(suite_dir / "scenarios" / "workflow.yml")
    # a file named explicitly is taken whatever it is
    assert discover([suite_dir / "scenarios" / "workflow.yml"]) == [
        str(suite_dir / "scenarios" / "workflow.yml")
    ]


def test_report_has_one_line_per_case_failure_details_and_exit_1(suite_dir: Path):
    res = invoke("scenarios/greeter.yaml", cwd=suite_dir)
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert lines[0].startswith("PASS scenarios/greeter.yaml::says hello (")
    assert lines[0].endswith("s wall, 2.1s virtual)")
    assert lines[1].startswith("FAIL scenarios/greeter.yaml::wrong path (")
    out = res.output
    assert "path-mismatch: expect.path (scenarios/greeter.yaml:22:7)" in out
    assert "step 2 entered 'bye', expected 'greet'" in out
    assert "expected: greet → greet → bye" in out
    assert "actual:   greet → bye" in out
    assert "transcript:" in out and "── bye" in out
    assert lines[-1].startswith("1 passed, 1 failed in ")


def test_all_passing_exits_0_and_quiet_prints_only_the_summary(suite_dir: Path):
    res = invoke("scenarios/greeter.yaml", "-k", "hello", "-q", cwd=suite_dir)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("1 passed, 0 failed")


def test_invalid_scenario_exits_2_with_diagnostics(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cviscript: 1\nname: bad\ninitial: nowhere\nstates:\n  a: {final: true}\n")
    good = tmp_path / "good.yaml"
    good.write_text(GOOD.split("  - name: wrong path")[0])
    res = invoke(str(tmp_path))
    assert res.exit_code == 2
    assert "bad.yaml:3:" in res.output and "nowhere" in res.output
    assert f"INVALID {bad} (its cases did not run)" in res.output
    assert "1 passed, 0 failed, 1 invalid file" in res.output


def test_missing_path_and_nothing_selected_are_usage_errors(suite_dir: Path):
    res = invoke("nope/", cwd=suite_dir)
    assert res.exit_code == 2 and "nope/: no such file or folder" in res.output
    res = invoke("scenarios", "-k", "zzz", cwd=suite_dir)
    assert res.exit_code == 2 and "no rehearsal cases matched -k 'zzz'" in res.output


def test_k_patterns():
    cid = "scenarios/kiosk.yaml::visitor leaves early"
    assert matches(cid, ["LEAVES"])
    assert matches(cid, ["kiosk*early"])
    assert not matches(cid, ["courier"])
    assert matches(cid, ["courier", "leaves"])
    assert not matches(cid, ["not leaves"])
    assert matches(cid, ["kiosk", "not courier"])


def test_parallel_runs_give_the_same_results_in_the_same_order(suite_dir: Path):
    paths = [suite_dir / "scenarios"]
    one = run_suite(paths, jobs=1)
    two = run_suite(paths, jobs=2)
    assert [c.id for c in one.cases] == [c.id for c in two.cases]
    strip = [
        {k: v for k, v in r.to_json(trace=False).items() if k != "wall"}
        for c in one.cases
        for r in c.runs
    ]
    strip2 = [
        {k: v for k, v in r.to_json(trace=False).items() if k != "wall"}
        for c in two.cases
        for r in c.runs
    ]
    assert strip == strip2


def test_repeat_reports_a_pass_rate_and_the_failing_seeds(suite_dir: Path):
    suite = run_suite(
        [suite_dir / "scenarios" / "nested"], repeat=10, seed_from=1, patterns=["lossy"]
    )
    (case,) = suite.cases
    assert [r.seed for r in case.runs] == list(range(1, 11))
    assert 0 < case.pass_rate < 1  # half the stopped_speaking events are dropped
    failing = case.failing_seeds
    assert failing
    # the same seed fails the same way again
    again = run_case(case.file, case.case, seed=failing[0])
    assert not again.passed and again.failures[0].code == "outcome-mismatch"

    res = invoke(
        "scenarios/nested/flaky.yml",
        "-k",
        "lossy",
        "--repeat",
        "10",
        "--seed-from",
        "1",
        cwd=suite_dir,
    )
    assert res.exit_code == 1
    first = res.output.splitlines()[0]
    n_ok = sum(r.passed for r in case.runs)
    assert first.startswith(
        f"FAIL scenarios/nested/flaky.yml::lossy network ({n_ok}/10 runs passed"
    )
    assert "failing seeds " + ", ".join(map(str, failing)) in first
    assert f"--seed-from {failing[0]})" in res.output  # how to reproduce it


def test_without_seed_from_a_repeat_starts_at_the_case_seed(suite_dir: Path):
    suite = run_suite([suite_dir / "scenarios" / "nested"], repeat=3, patterns=["jittery"])
    assert [r.seed for r in suite.cases[0].runs] == [3, 4, 5]


def test_faults_same_seed_same_transcript_other_seed_other_timing(suite_dir: Path):
    file = str(suite_dir / "scenarios" / "nested" / "flaky.yml")
    a = run_case(file, "jittery network", keep_trace="all")
    b = run_case(file, "jittery network", keep_trace="all")
    c = run_case(file, "jittery network", seed=4, keep_trace="all")
    assert a.passed and c.passed
    assert a.trace == b.trace
    times = lambda run: [r["t"] for r in run.trace if r["kind"] == "received"]  # noqa: E731
    assert times(a) != times(c)
    assert a.duration != c.duration


def test_json_report_holds_results_and_failing_transcripts(suite_dir: Path):
    res = invoke("scenarios", "--json", "out/r.json", cwd=suite_dir)
    assert res.exit_code == 1
    data = json.loads((suite_dir / "out" / "r.json").read_text())
    assert data["passed"] + data["failed"] == 4
    by_id = {c["id"]: c for c in data["cases"]}
    wrong = by_id["scenarios/greeter.yaml::wrong path"]
    assert wrong["passed"] is False
    run = wrong["runs"][0]
    assert run["failures"][0]["code"] == "path-mismatch"
    assert run["trace"][0]["kind"] == "header"
    ok = by_id["scenarios/greeter.yaml::says hello"]["runs"][0]
    assert "trace" not in ok and ok["said"] == ["Hello and welcome!", "Goodbye!"]


def test_rehearsing_the_shipped_scenarios_takes_seconds():
    started = time.perf_counter()
    res = CliRunner().invoke(cli, ["rehearse", str(REPO / "scenarios"), "-q"])
    took = time.perf_counter() - started
    assert res.exit_code == 0, res.output
    assert took < 5.0


def test_a_crash_inside_cviscript_fails_only_that_case(suite_dir: Path, monkeypatch):
    import cviscript.sessions.simulated.runner

    def boom(*_a, **_kw):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cviscript.sessions.simulated.runner, "run_simulated", boom)
    run = run_case(str(suite_dir / "scenarios" / "greeter.yaml"), "says hello")
    assert not run.passed
    (f,) = run.failures
    assert f.code == "internal-error"
    assert f.message == "cviscript crashed running this case: RuntimeError: kaboom"
    assert any("RuntimeError: kaboom" in line for line in f.context)
