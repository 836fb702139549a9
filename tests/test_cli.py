"""The command line end to end: run, validate, exit codes, transcript file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import REPO

from cviscript.cli.main import cli
from cviscript.transcript import read_transcript

DEMO = str(REPO / "scenarios" / "product-demo.yaml")

BROKEN = """\
cviscript: 1
name: broken
initial: start
states:
  start:
    enter:
      - eccho: "hi"
    on:
      - utterance: "(unclosed"
        goto: nowhere
"""


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_transcript_hides_the_copies_and_heartbeats_a_2026_server_sends(tmp_path):
    # Today's servers repeat most events in other spellings and send presence heartbeats; the
    # console shows each event once, while the transcript file keeps every message as received.
    out = tmp_path / "t.jsonl"
    res = invoke("run", DEMO, "--no-color", "--transcript", str(out))
    assert res.exit_code == 0, res.output
    assert "dropped: duplicate" not in res.output
    assert "replica_present" not in res.output
    assert res.output.count("← replica started speaking") == res.output.count("── ")
    _header, records = read_transcript(out)
    kept = [r for r in records if r.get("kind") == "dropped"]
    assert any(r["reason"].startswith("duplicate") for r in kept)


def test_run_prints_a_readable_transcript_and_exits_0():
    res = invoke("run", DEMO, "--no-color")
    assert res.exit_code == 0, res.output
    assert "── intro  (initial)" in res.output
    assert "→ echo \"Hi, I'm Ava." in res.output
    assert "← replica started speaking" in res.output
    assert "✔ completed" in res.output
    assert "path: intro → tour_deploy" in res.output


def test_run_picks_a_rehearsal_by_name_and_suggests_on_a_typo():
    res = invoke("run", DEMO, "-r", "visitor cuts in during the tour", "-q")
    assert res.exit_code == 0
    assert "take_over" in res.output
    res = invoke("run", DEMO, "-r", "visitor cuts in during the tuor")
    assert res.exit_code == 2
    assert 'did you mean "visitor cuts in during the tour"' in res.output


def test_run_writes_a_complete_versioned_transcript(tmp_path):
    out = tmp_path / "sub" / "run.jsonl"
    res = invoke("run", DEMO, "-q", "--transcript", str(out))
    assert res.exit_code == 0
    header, records = read_transcript(out)
    assert header["format"] == "cviscript-transcript" and header["version"] == 1
    assert header["mode"] == "simulated"
    kinds = {r["kind"] for r in records}
    assert {"state", "sent", "received", "outcome"} <= kinds
    assert records[-1]["kind"] == "outcome" and records[-1]["outcome"] == "completed"
    assert all("t" in r and "ts" in r for r in records)
    # received records keep the raw wire message, ready for replay
    received = [r for r in records if r["kind"] == "received"]
    assert all(r["message"]["event_type"] for r in received)


def test_two_runs_give_byte_identical_transcripts(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path in (a, b):
        assert invoke("run", DEMO, "-q", "--transcript", str(path)).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_var_overrides_and_json_output():
    res = invoke("run", DEMO, "--json", "--var", "product=Zed Cloud", "--var", "max_reprompts=0")
    assert res.exit_code == 0
    result = json.loads(res.output)
    assert result["vars"]["product"] == "Zed Cloud"
    assert result["vars"]["max_reprompts"] == 0
    assert result["path"] == ["intro", "tour_deploy", "tour_scale", "questions", "wrap_up"]


def test_bad_var_is_a_usage_error():
    res = CliRunner().invoke(cli, ["run", DEMO, "--var", "no-equals"])
    assert res.exit_code == 2
    assert "name=value" in res.output


def test_failed_run_exits_1(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(
        "cviscript: 1\nname: f\ninitial: a\nstates:\n  a:\n    enter:\n      - fail: nope\n"
    )
    res = invoke("run", str(path), "-q")
    assert res.exit_code == 1
    assert "failed: nope" in res.output


def test_timed_out_run_exits_1(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "cviscript: 1\nname: t\ntimeout: 5s\ninitial: a\nstates:\n"
        "  a: {on: [{utterance: never, goto: b}]}\n  b: {final: true}\n"
    )
    res = invoke("run", str(path), "-q")
    assert res.exit_code == 1
    assert "timed_out" in res.output


def test_invalid_scenario_exits_2_naming_file_line_and_problem(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    res = CliRunner().invoke(cli, ["run", str(path)])
    assert res.exit_code == 2
    assert (
        f"{path}:7:" in res.output and "eccho" in res.output and 'did you mean "echo"' in res.output
    )


def test_validate_reports_every_problem_of_every_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    res = CliRunner().invoke(cli, ["validate", DEMO, str(path)])
    assert res.exit_code == 2
    assert f"{DEMO}: ok" in res.output
    lines = [line for line in res.output.splitlines() if line.startswith(str(path))]
    assert any(":7:" in line and "eccho" in line for line in lines)
    assert any(":9:" in line and "regular expression" in line.lower() for line in lines)
    assert any(":10:" in line and "nowhere" in line for line in lines)


def test_validate_all_shipped_scenarios_is_clean():
    files = sorted(str(p) for p in (REPO / "scenarios").glob("*.yaml"))
    res = invoke("validate", *files)
    assert res.exit_code == 0, res.output


def test_missing_file_is_a_clear_error():
    res = CliRunner().invoke(cli, ["run", "no/such/file.yaml"])
    assert res.exit_code == 2
    assert "no/such/file.yaml" in res.output


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["validate", "--help"]])
def test_help_teaches(args):
    res = invoke(*args)
    assert res.exit_code == 0
    assert "Usage:" in res.output
    if args == ["--help"]:
        assert "Exit codes" in res.output and "run" in res.output
    if args[0] == "run":
        assert "Examples:" in res.output


def test_console_script_is_installed():
    proc = subprocess.run(
        [sys.executable, "-m", "cviscript", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "cviscript" in proc.stdout


def test_var_overrides_are_recorded_so_the_transcript_replays(tmp_path):
    out = tmp_path / "run.jsonl"
    assert (
        invoke("run", DEMO, "-q", "--var", "max_reprompts=0", "--transcript", str(out)).exit_code
        == 0
    )
    header, _ = read_transcript(out)
    assert header["vars"] == {"max_reprompts": 0}
    res = CliRunner().invoke(cli, ["replay", str(out)])
    assert res.exit_code == 0, res.output


def test_run_shows_warnings_on_stderr_but_still_runs(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text(
        "cviscript: 1\nname: w\ninitial: a\nstates:\n  a: {enter: [end]}\n  lonely: {final: true}\n"
    )
    res = CliRunner().invoke(cli, ["run", str(path), "--no-color"])
    assert res.exit_code == 0
    assert f"{path}:6:3: warning:" in res.stderr and "lonely" in res.stderr
    quiet = CliRunner().invoke(cli, ["run", str(path), "-q"])
    assert "warning" not in quiet.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [("--audio-chunk-ms", "100"), ("--audio-chunk-ms", "0"), ("--audio-speed", "0")],
)
def test_audio_pacing_out_of_bounds_is_a_usage_error(option, value):
    res = CliRunner().invoke(cli, ["run", DEMO, "-q", option, value])
    assert res.exit_code == 2
    assert option in res.output and "range" in res.output


def test_audio_pacing_is_checked_for_library_callers_too():
    from cviscript.errors import UsageError
    from cviscript.language.validate import load_scenario
    from cviscript.sessions.simulated.runner import simulated_conversation

    actions = simulated_conversation(load_scenario(DEMO), None).engine.actions
    actions.set_audio_pacing(50, 3)
    assert (actions.audio_chunk_ms, actions.audio_speed) == (50, 3.0)
    with pytest.raises(UsageError, match="audio chunks must be 1-59 ms"):
        actions.set_audio_pacing(chunk_ms=100)
    with pytest.raises(UsageError, match="audio speed must be positive"):
        actions.set_audio_pacing(speed=0)
