"""The pytest plugin (loaded through its `pytest11` entry point): collection, reports, xdist."""

from __future__ import annotations

import pytest

import cviscript.language.validate  # noqa: F401

# Imported here so the inner (in-process) pytest runs find them loaded instead of importing them
# again each time.
import cviscript.rehearsal.pytest_plugin  # noqa: F401
import cviscript.rehearsal.text  # noqa: F401
import cviscript.sessions.simulated.runner  # noqa: F401

pytest_plugins = ["pytester"]

DEMO = """\
cviscript: 1
name: demo
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
      said: ["welcome"]
  - name: wrong path
    expect:
      path: [greet, greet, bye]
"""

# hypothesis's plugin is unrelated here, and re-importing it costs about a second per inner run
FAST = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")

BROKEN = "cviscript: 1\nname: broken\ninitial: a\nstates:\n  a: {enter: [{shout: hi}]}\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    scen = pytester.mkdir("scenarios")
    (scen / "demo.yaml").write_text(DEMO)
    (scen / "compose.yml").write_text("services:\n  web: {image: nginx}\n")  # not a scenario
    (scen / "cases.yaml").write_text("- just a list\n")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*FAST, *args)


def test_a_folder_on_the_command_line_collects_each_case(project: pytest.Pytester):
    result = run(project, "scenarios", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*scenarios/demo.yaml::says hello PASSED*",
            "*scenarios/demo.yaml::wrong path FAILED*",
        ]
    )


def test_a_failing_case_prints_the_rehearsal_report(project: pytest.Pytester):
    result = run(project, "scenarios")
    result.stdout.fnmatch_lines(
        [
            "*rehearsal 'wrong path' failed: the run ended completed*",
            "*path-mismatch: expect.path (*demo.yaml:22:7)",
            "*the states entered differ: step 2 entered 'bye', expected 'greet'",
            "*expected: greet → greet → bye",
            "*actual:   greet → bye",
            "*transcript:",
            "*>*── bye  (via greet.on?0?)",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_k_selects_cases_by_name(project: pytest.Pytester):
    run(project, "scenarios", "-k", "hello").assert_outcomes(passed=1)


def test_nothing_is_collected_unless_asked(project: pytest.Pytester):
    project.makepyfile(test_plain="def test_ok():\n    assert True\n")
    # no path on the command line: the YAML under the rootdir stays alone
    run(project).assert_outcomes(passed=1)
    # the plugin can be turned off
    result = run(project, "scenarios", "-p", "no:cviscript")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_ini_cviscript_paths_collects_without_arguments_and_restricts_folders(
    project: pytest.Pytester,
):
    project.makeini("[pytest]\ncviscript_paths = scenarios\n")
    fixtures = project.mkdir("fixtures")
    (fixtures / "broken.yaml").write_text(BROKEN)
    (fixtures / "demo.yaml").write_text(DEMO)
    run(project).assert_outcomes(passed=1, failed=1)
    # a folder outside cviscript_paths is not searched for scenarios ...
    assert run(project, "fixtures").ret == pytest.ExitCode.NO_TESTS_COLLECTED
    # ... but a file named on the command line still is
    run(project, "fixtures/demo.yaml").assert_outcomes(passed=1, failed=1)


def test_an_invalid_scenario_is_a_collection_error_with_its_diagnostics(
    project: pytest.Pytester,
):
    (project.path / "scenarios" / "broken.yaml").write_text(BROKEN)
    result = run(project, "scenarios")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*broken.yaml:5:*shout*", "*invalid scenario: 1 error*"])


def test_junitxml_of_pytest_records_the_run(project: pytest.Pytester):
    run(project, "scenarios", "--junitxml=out.xml")
    xml = (project.path / "out.xml").read_text()
    assert 'name="says hello"' in xml
    assert 'name="outcome" value="completed"' in xml


def test_xdist_spreads_cases_over_workers(project: pytest.Pytester):
    result = project.runpytest_subprocess(*FAST, "scenarios", "-n", "2", "-v")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "[gw0]" in out or "[gw1]" in out
    result.stdout.fnmatch_lines(["*path-mismatch: expect.path*", "*expected: greet → greet → bye"])


LOOPING = """\
cviscript: 1
name: looping
timeout: 100h
initial: wait
states:
  wait:
    on:
      - after: 0.01s
        goto: wait
rehearsals:
  - name: runs for hours of virtual time
    expect: {outcome: timed_out}
"""


def test_a_case_past_its_wall_clock_limit_fails_and_the_session_goes_on(
    project: pytest.Pytester,
):
    (project.path / "scenarios" / "looping.yaml").write_text(LOOPING)
    project.makeini("[pytest]\ncviscript_case_timeout = 0.5\n")
    result = run(project, "scenarios")
    result.assert_outcomes(passed=1, failed=2)  # demo: one passes, one fails on its own
    result.stdout.fnmatch_lines(
        [
            "*rehearsal 'runs for hours of virtual time' failed: the run ended error*",
            "*case-timeout: run",
            "*the case ran longer than its 0.5 s wall-clock limit*",
        ]
    )
    # the command-line option overrides the ini option; 0 is no limit
    result = run(project, "scenarios/demo.yaml", "--cviscript-case-timeout", "0")
    result.assert_outcomes(passed=1, failed=1)


def test_a_bad_case_timeout_is_a_usage_error(project: pytest.Pytester):
    project.makeini("[pytest]\ncviscript_case_timeout = soon\n")
    result = run(project, "scenarios")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cviscript_case_timeout = 'soon': expected a number of seconds*"])
