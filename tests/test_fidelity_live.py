"""The live self-check end to end: the fake room's replica misbehaves in each way a real one may,
and the live path (Daily session, runner, trace, transcript, CLI) reports exactly that."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cviscript.rehearsal.live import LiveSuiteOptions, run_live_suite
from cviscript.sessions.replica_model import ModelSettings
from cviscript.transcript import read_transcript

PROBE = str(Path(__file__).parent / "data" / "fidelity" / "probe.yaml")
# the fake replica does the opposite of what the model does with a respond
MODEL_ECHOES = bool(getattr(ModelSettings(), "respond_echo", False))
ECHO_CODE = "respond-not-echoed" if MODEL_ECHOES else "respond-echoed"


def live_findings(tmp_path, misbehave: dict) -> tuple[list[dict], list[dict]]:
    """(the findings of the probe's one live run, its transcript records)."""
    spec = json.dumps({"misbehave": misbehave})
    options = LiveSuiteOptions(fake=spec, transcripts=str(tmp_path))
    suite, summary = run_live_suite([PROBE], options)
    (case,) = suite.cases
    (run,) = case.runs
    assert run.outcome == "completed", run.reason
    _, records = read_transcript(summary.transcripts[0])
    return run.fidelity, records


@pytest.mark.parametrize(
    "misbehave, code",
    [
        ({"utterances": False}, "no-utterances"),
        ({"respond_echo": not MODEL_ECHOES}, ECHO_CODE),
        ({"tool_filler": "One moment please."}, "tool-filler"),
        ({"tool_result_silent": True}, "tool-result-unspoken"),
        (
            {"rename": {"conversation.utterance.streaming": "conversation.text_stream"}},
            "unknown-event",
        ),
        ({"copy_lag": 12}, "late-copy"),
        ({"replica_first": True}, "join-order"),
    ],
)
def test_each_misbehaviour_is_reported_once_live_and_in_the_transcript(tmp_path, misbehave, code):
    findings, records = live_findings(tmp_path, misbehave)
    assert [f["code"] for f in findings] == [code]
    f = findings[0]
    assert f["assumed"] and f["live"] and f["fix"]
    recorded = [r for r in records if r["kind"] == "fidelity"]
    assert [r["code"] for r in recorded] == [code]  # once, as it happened


def test_the_faithful_room_reports_nothing(tmp_path):
    findings, records = live_findings(tmp_path, {})
    assert findings == []
    assert not [r for r in records if r["kind"] == "fidelity"]
    assert any(r.get("replica_first") is False for r in records if r["kind"] == "log")


def test_the_messages_name_what_to_change(tmp_path):
    (f,) = live_findings(tmp_path, {"respond_echo": not MODEL_ECHOES})[0]
    assert '"Hello!"' in f["live"] and f"respond_echo: {str(not MODEL_ECHOES).lower()}" in f["fix"]
    (f,) = live_findings(tmp_path, {"tool_filler": "Hold on."})[0]
    assert '"Hold on."' in f["live"] and "lookup_meeting" in f["fix"] and "on_call" in f["fix"]
    (f,) = live_findings(tmp_path, {"tool_result_silent": True})[0]
    assert "on_resolve" in f["fix"] and "fire_and_forget" in f["fix"]


def run_cli(tmp_path, spec: dict, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CVISCRIPT_FAKE_DAILY": json.dumps(spec)}
    return subprocess.run(
        [sys.executable, "-m", "cviscript", "run", PROBE, "--url",
         "https://tavus.daily.co/c-probe", *args],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip


def test_run_url_prints_each_finding_as_it_happens_and_in_the_json(tmp_path):
    spec = {"shutdown_after": 0.3, "misbehave": {"shutdown_reason": "daily_room_expired"}}
    out = run_cli(tmp_path, spec, "--json", "--transcript", "t.jsonl")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert [f["code"] for f in result["fidelity"]] == ["unknown-shutdown-reason"]
    assert "daily_room_expired" in result["fidelity"][0]["live"]
    _, records = read_transcript(tmp_path / "t.jsonl")
    assert [r["code"] for r in records if r["kind"] == "fidelity"] == ["unknown-shutdown-reason"]
    console = run_cli(tmp_path, {"misbehave": {"utterances": False}})
    lines = console.stdout.splitlines()
    flagged = [line for line in lines if "⚠ fidelity no-utterances" in line]
    assert len(flagged) == 1  # as it happened; the summary repeats it below the verdict
    assert any("fidelity: 1 difference" in line for line in lines)


def test_a_bad_misbehave_setting_is_a_usage_error(tmp_path):
    out = run_cli(tmp_path, {"misbehave": {"copy_lag": "many"}})
    assert out.returncode == 2
    assert "misbehave.copy_lag" in out.stderr


def test_rehearse_live_reports_show_the_findings(tmp_path):
    env = {**os.environ, "CVISCRIPT_FAKE_DAILY": json.dumps({"misbehave": {"tool_filler": "Hmm."}})}
    out = subprocess.run(
        [sys.executable, "-m", "cviscript", "rehearse", "--live", PROBE, "--transcripts", "t",
         "--junit", "j.xml", "--html", "r.html", "--json", "r.json"],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("⚠ fidelity tool-filler") == 1
    junit = (tmp_path / "j.xml").read_text()
    assert 'name="fidelity" value="tool-filler"' in junit
    assert 'class="finding" data-code="tool-filler"' in (tmp_path / "r.html").read_text()
    (case,) = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert [f["code"] for f in case["runs"][0]["fidelity"]] == ["tool-filler"]
