"""`cviscript validate`: errors and warnings separated, --strict, --format json (stable)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import REPO

from cviscript.cli.main import cli

CLEAN = "cviscript: 1\nname: clean\ninitial: a\nstates:\n  a: {final: true}\n"
WARNS = """\
cviscript: 1
name: warns
initial: a
states:
  a:
    enter:
      - echo: "{{ vars.missing }}"
    final: true
  b: {final: true}
"""
BROKEN = """\
cviscript: 1
name: broken
initial: a
states:
  a:
    enter:
      - eccho: hi
    final: true
  b: {final: true}
"""


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, text in (("clean.yaml", CLEAN), ("warns.yaml", WARNS), ("broken.yaml", BROKEN)):
        (tmp_path / name).write_text(text)
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, ["validate", *args], catch_exceptions=False)


def test_clean_file_exits_0_even_with_strict(files):
    for args in (["clean.yaml"], ["--strict", "clean.yaml"]):
        res = invoke(*args)
        assert res.exit_code == 0 and "clean.yaml: ok" in res.output


def test_warnings_exit_0_but_1_with_strict(files):
    res = invoke("warns.yaml")
    assert res.exit_code == 0
    assert "warns.yaml: ok (2 warnings)" in res.output
    assert "warns.yaml:7:15: warning: vars.missing is read here" in res.output
    assert "[undefined-var]" in res.output and "[unreachable-state]" in res.output
    strict = invoke("--strict", "warns.yaml")
    assert strict.exit_code == 1
    # "0 errors, 2 warnings" and exit 1, with no word why, read as a bug
    assert "0 errors, 2 warnings in 1 file (--strict: warnings fail)" in strict.output


def test_errors_exit_2_and_come_before_warnings(files):
    res = invoke("--strict", "warns.yaml", "broken.yaml", "clean.yaml")
    assert res.exit_code == 2
    lines = res.output.splitlines()
    broken = [line for line in lines if line.startswith("broken.yaml:")]
    assert broken == [
        "broken.yaml:7:9: error: unknown action 'eccho' (did you mean \"echo\"?) [unknown-action]"
    ]  # no lint warnings on a file with errors
    warns = [line for line in lines if line.startswith("warns.yaml:") and ": warning: " in line]
    assert len(warns) == 2 and "warns.yaml: ok (2 warnings)" not in lines  # --strict: not ok
    assert lines[-1] == "1 error, 2 warnings in 3 files"


def test_errors_and_warnings_of_one_file_are_separated(tmp_path, monkeypatch):
    text = (
        "cviscript: 1\nname: m\ninitial: a\nstates:\n"
        "  a:\n    enter: [{echo: '{{ vars.x }}'}]\n    final: true\n"
        "  b:\n    enter: [{eccho: hi}]\n"
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(text)
    res = invoke("--format", "json", "m.yaml")
    doc = json.loads(res.output)
    (f,) = doc["files"]
    assert [d["severity"] for d in f["errors"]] == ["error"]
    assert all(d["severity"] == "warning" for d in f["warnings"])


def test_json_output_is_stable(files):
    res = invoke("--format", "json", "clean.yaml", "warns.yaml", "broken.yaml")
    assert res.exit_code == 2
    assert json.loads(res.output) == {
        "version": 1,
        "files": [
            {"file": "clean.yaml", "ok": True, "errors": [], "warnings": []},
            {
                "file": "warns.yaml",
                "ok": True,
                "errors": [],
                "warnings": [
                    {
                        "code": "undefined-var",
                        "severity": "warning",
                        "message": "vars.missing is read here but never defined: add it to "
                        "`vars:` or set it with `set:`",
                        "file": "warns.yaml",
                        "line": 7,
                        "column": 15,
                    },
                    {
                        "code": "unreachable-state",
                        "severity": "warning",
                        "message": "state 'b' is never entered: no transition goes to it",
                        "file": "warns.yaml",
                        "line": 9,
                        "column": 3,
                    },
                ],
            },
            {
                "file": "broken.yaml",
                "ok": False,
                "errors": [
                    {
                        "code": "unknown-action",
                        "severity": "error",
                        "message": "unknown action 'eccho' (did you mean \"echo\"?)",
                        "file": "broken.yaml",
                        "line": 7,
                        "column": 9,
                    }
                ],
                "warnings": [],
            },
        ],
        "summary": {"files": 3, "errors": 1, "warnings": 2},
    }
    again = invoke("--format", "json", "clean.yaml", "warns.yaml", "broken.yaml")
    assert again.output == res.output


def test_json_strict_exit_code(files):
    assert invoke("--format", "json", "--strict", "warns.yaml").exit_code == 1
    assert invoke("--format", "json", "warns.yaml").exit_code == 0


def test_missing_file_is_an_error_in_json_too(files):
    res = invoke("--format", "json", "nope.yaml")
    assert res.exit_code == 2
    (f,) = json.loads(res.output)["files"]
    assert f["errors"][0]["code"] == "io-error"


def test_shipped_scenarios_pass_strict():
    files = sorted(str(p) for p in (REPO / "scenarios").glob("*.yaml"))
    files += sorted(str(p) for p in (REPO / "examples").rglob("*.yaml"))
    res = invoke("--strict", *files)
    assert res.exit_code == 0, res.output
