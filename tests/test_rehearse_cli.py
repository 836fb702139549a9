"""`cviscript rehearse`: discovery, the report, exit codes, -k, -j, --repeat/--seed-from, --json."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cviscript.cli.main import cli
from cviscript.language.files import is_scenario_file
from cviscript.rehearsal.suite import discover, matches, run_case, run_suite

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
    replica: {vintage: 2024}   # each fact said once: a 2026 server repeats it three times
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
    assert took < 30.0  # ~0.3 s; a loose bound a loaded CI machine keeps (bench/ measures speed)


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


# ------------------------------------------- wall-clock limits, lost workers, Ctrl-C, shards

MANY = GOOD.replace(
    "rehearsals:\n",
    "rehearsals:\n"
    + "".join(f"  - name: case {i}\n    expect: {{path: [greet, bye]}}\n" for i in range(12)),
)


def _sabotage(monkeypatch, case: str, how):
    """Workers are forked: a patched run_case misbehaves in them for one case only."""
    from cviscript.rehearsal import suite as suite_module

    real = suite_module.run_case

    def patched(file, name, **kw):
        if name == case:
            how()
        return real(file, name, **kw)

    monkeypatch.setattr(suite_module, "run_case", patched)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_case_past_its_wall_clock_limit_fails_and_the_suite_goes_on(tmp_path, monkeypatch, jobs):
    (tmp_path / "many.yaml").write_text(MANY)
    _sabotage(monkeypatch, "case 3", lambda: time.sleep(3600))
    suite = run_suite([tmp_path], jobs=jobs, case_timeout=1.0)
    by_name = {c.case: c for c in suite.cases}
    assert len(by_name) == 14 and not suite.interrupted
    (run,) = by_name["case 3"].runs
    assert [f.code for f in run.failures] == ["case-timeout"]
    assert "wall-clock limit" in run.failures[0].message
    assert all(c.passed for name, c in by_name.items() if name not in ("case 3", "wrong path"))


def test_a_worker_killed_mid_case_costs_only_that_case(tmp_path, monkeypatch):
    (tmp_path / "many.yaml").write_text(MANY)
    _sabotage(monkeypatch, "case 5", lambda: os.kill(os.getpid(), 9))  # as the OOM killer
    junit = tmp_path / "out.xml"
    result = CliRunner().invoke(
        cli, ["rehearse", str(tmp_path), "-j", "2", "--junit", str(junit)], catch_exceptions=False
    )
    assert "BrokenProcessPool" not in result.output and "Traceback" not in result.output
    from junitparser import JUnitXml

    cases = {c.name: c for s in JUnitXml.fromfile(str(junit)) for c in s}
    assert len(cases) == 14
    assert "worker-lost" in result.output
    assert sum(1 for c in cases.values() if c.is_passed) == 12  # all but case 5 and wrong path


def test_shards_partition_the_suite_exactly(tmp_path, monkeypatch):
    # relative paths: a case's id (what its shard is drawn from) then does not depend on the
    # temporary folder's name, which left one shard of three empty now and then
    (tmp_path / "many.yaml").write_text(MANY)
    monkeypatch.chdir(tmp_path)
    everything = sorted(c.case for c in run_suite(["."], case_timeout=None).cases)
    shards = [
        sorted(c.case for c in run_suite(["."], case_timeout=None, shard=(i, 3)).cases)
        for i in (1, 2, 3)
    ]
    assert sorted(sum(shards, [])) == everything
    assert all(shards) and sum(len(s) for s in shards) == len(everything)
    again = sorted(c.case for c in run_suite(["."], case_timeout=None, shard=(2, 3)).cases)
    assert again == shards[1]


def test_shard_is_stable_across_processes():
    """Not Python's hash(): the same case lands in the same shard under any PYTHONHASHSEED."""
    import subprocess
    import sys

    code = "from cviscript.rehearsal.suite import in_shard; print([in_shard(f'f::c{i}', (1, 4)) for i in range(40)])"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1 and "True" in outs.pop()


@pytest.mark.parametrize("value", ["0/3", "4/3", "a/b", "1"])
def test_bad_shard_is_a_usage_error(tmp_path, value):
    result = CliRunner().invoke(cli, ["rehearse", str(tmp_path), "--shard", value])
    assert result.exit_code == 2 and "--shard" in result.output


CTRL_C = """
import os, signal, sys, threading, time
from cviscript.rehearsal import suite
real = suite.run_case
def slow(file, name, **kw):
    if name == "case 6":
        os.kill(os.getppid(), signal.SIGINT)  # Ctrl-C while cases are running
        time.sleep(3600)
    return real(file, name, **kw)
suite.run_case = slow
from cviscript.cli.main import cli
cli(["rehearse", sys.argv[1], "-j", "2", "--junit", sys.argv[2], "--json", sys.argv[3]])
"""


def test_ctrl_c_during_parallel_rehearsal_ends_promptly_and_writes_reports(tmp_path):
    import subprocess
    import sys

    (tmp_path / "many.yaml").write_text(MANY)
    junit, js = tmp_path / "out.xml", tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C, str(tmp_path / "many.yaml"), str(junit), str(js)],
        capture_output=True,
        text=True,
        timeout=60,  # the stuck case would sleep an hour
    )
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(js.read_text())
    assert junit.exists() and 0 < len(report["cases"]) < 14


def test_an_empty_shard_succeeds_with_a_note(tmp_path):
    from cviscript.rehearsal.suite import collect, in_shard

    (tmp_path / "greeter.yaml").write_text(GOOD)
    ids = [c.id for c in collect([tmp_path]).cases]
    count = len(ids) + 3
    empty = next(i for i in range(1, count + 1) if not any(in_shard(x, (i, count)) for x in ids))
    junit = tmp_path / "j.xml"
    result = invoke(str(tmp_path), "--shard", f"{empty}/{count}", "--junit", str(junit))
    assert result.exit_code == 0, result.output
    assert f"shard {empty}/{count} has no cases" in result.output
    assert junit.exists()
    result = invoke(
        str(tmp_path), "--shard", f"{empty}/{count}", "--coverage", "--fail-under", "90"
    )
    assert result.exit_code == 0, result.output
    # no cases at all is still a mistake, sharded or not
    (tmp_path / "greeter.yaml").unlink()
    (tmp_path / "bare.yaml").write_text(
        "cviscript: 1\nname: b\ninitial: a\nstates: {a: {final: true}}\n"
    )
    assert invoke(str(tmp_path), "--shard", f"1/{count}").exit_code == 2


def test_rehearse_validate_and_watch_walk_a_folder_alike(tmp_path):
    # each command kept its own walk: rehearse went into venv/ and node_modules/, which --watch
    # skipped, so the suite run and the suite watched differed
    from cviscript.cli.watch import scenario_files

    scenario = "cviscript: 1\nname: s\ninitial: a\nstates:\n  a: {final: true}\n"
    for folder in ("demos", "venv", "env", "node_modules/pkg", ".tox"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "s.yaml").write_text(scenario)
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")  # a virtualenv by any name
    expected = [str(tmp_path / "demos" / "s.yaml")]
    assert discover([tmp_path]) == expected
    assert [p for p in scenario_files([tmp_path]) if p.endswith(".yaml")] == expected
