"""`cviscript calibrate`: recordings made in the fake room with known replica settings give those
settings back, within a stated tolerance; too little evidence is refused, not guessed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cviscript.fidelity.calibrate import CalibrationError, calibrate
from cviscript.fidelity.profile import profile_yaml, replica_keys
from cviscript.rehearsal.live import LiveSuiteOptions, run_live_suite
from cviscript.rehearsal.suite import run_suite
from cviscript.transcript import read_transcript

DATA = Path(__file__).parent / "data" / "fidelity"
PROBE = str(DATA / "calibration.yaml")
KNOWN = {"words_per_minute": 180, "reply_latency": 1.2, "heartbeat": 3.0}
# Stated tolerance: timings within 5% (the fake room runs 20x faster than real time, so a
# millisecond of thread scheduling is 20 ms of conversation), the speaking rate within 2%.
TOLERANCE = {"words_per_minute": 0.02, "reply_latency": 0.05, "heartbeat": 0.05}


def record(tmp_path, misbehave=None, repeat=2, source=PROBE):
    spec = json.dumps({"misbehave": misbehave or {}})
    options = LiveSuiteOptions(
        fake=spec, transcripts=str(tmp_path / "live"), jobs=2, max_concurrent=2
    )
    # the fake room at 10x real time (not 20x): a loaded machine's scheduling jitter stays
    # well inside the tolerance
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("cviscript.rehearsal.live.FAKE_SPEED", 10.0)
        suite, summary = run_live_suite([source], options, repeat=repeat)
    assert all(c.passed for c in suite.cases), [r.reason for c in suite.cases for r in c.runs]
    return [(p, *read_transcript(p)) for p in summary.transcripts]


@pytest.fixture(scope="module")
def faithful(tmp_path_factory):
    return record(tmp_path_factory.mktemp("faithful"))


def test_known_settings_come_back_within_tolerance(faithful):
    cal = calibrate(faithful)
    for key, want in KNOWN.items():
        fig = cal.figure(key)
        assert fig is not None and fig.known, fig
        assert abs(fig.value - want) <= TOLERANCE[key] * want, (key, fig.value, want)
        assert fig.samples >= 3
    assert cal.figure("vintage").value == "2026"
    assert cal.figure("replica_first").value is False
    window = cal.figure("copy_window").value
    assert window["messages"] <= 8 and window["seconds"] <= 2.0


def test_yes_no_facts_agree_with_the_model_the_recording_came_from(faithful):
    """The same case rehearsed (simulated, on the virtual clock) and recorded in the fake room
    calibrate to the same facts."""
    live = calibrate(faithful, min_facts=1)
    suite = run_suite([PROBE], case_timeout=None, keep_traces="all")
    (case,) = suite.cases
    header, *records = case.runs[0].trace
    simulated = calibrate([("simulated", header, records)], min_facts=1, min_numbers=1)
    for key in ("vintage", "respond_echo", "greeting_streams", "tool_filler", "tool_result_spoken"):
        assert live.figure(key).value == simulated.figure(key).value, key


def test_misbehaviours_are_measured(tmp_path):
    spec = {"respond_echo": True, "tool_filler": "One moment while I check that."}
    cal = calibrate(record(tmp_path, spec), min_facts=2)
    assert cal.figure("respond_echo").value is True
    assert cal.figure("tool_filler").value is True
    assert cal.figure("filler").value == "One moment while I check that."


def test_a_2024_server_is_recognised(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text(
        Path(PROBE).read_text().replace("heartbeat: 3", 'heartbeat: 3\n      vintage: "2024"')
    )
    cal = calibrate(record(tmp_path, repeat=1, source=str(old)))
    assert cal.figure("vintage").value == "2024"
    assert cal.figure("copy_window").value is None  # no copies: nothing to fold


def test_too_little_is_refused_not_guessed(faithful):
    name, header, records = faithful[0]
    short = records[: len(records) // 6]
    cal = calibrate([(name, header, short)], min_numbers=3)
    refused = [f for f in cal.figures if not f.known]
    assert any(f.key == "reply_latency" for f in refused)
    assert all("needs" in f.note for f in refused)
    text = profile_yaml(cal)
    assert "reply_latency:" not in [line.split(" ")[0] for line in text.splitlines()]
    with pytest.raises(CalibrationError, match="too little"):
        calibrate([(name, header, [])])


def test_the_profile_writes_only_replica_keys_and_says_what_each_rests_on(faithful):
    import yaml

    cal = calibrate(faithful)
    text = profile_yaml(cal)
    data = yaml.safe_load(text)
    assert set(data) <= replica_keys()
    assert data["words_per_minute"] == pytest.approx(180, rel=0.02)
    assert "rests on" in text and "copy_window" in text  # as a comment


def cli(*args, cwd):
    env = {**os.environ}
    return subprocess.run([sys.executable, "-m", "cviscript", "calibrate", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip


def test_the_command_writes_the_profile(tmp_path, faithful):
    paths = [p for p, _, _ in faithful]
    out = cli(*paths, "-o", str(tmp_path / "replica.yaml"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "reply_latency" in out.stdout and "wrote" in out.stdout
    assert (tmp_path / "replica.yaml").read_text().count("reply_latency: ") == 1
    as_json = json.loads(cli(*paths, "--json", cwd=tmp_path).stdout)
    assert {f["key"] for f in as_json["figures"]} >= {"reply_latency", "vintage"}


def test_the_command_refuses_bad_input(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    out = cli(str(bad), cwd=tmp_path)
    assert out.returncode == 2 and "not a JSON line" in out.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text(
        json.dumps({"kind": "header", "format": "cviscript-transcript", "version": 1}) + "\n"
    )
    out = cli(str(empty), cwd=tmp_path)
    assert out.returncode == 1 and "too little" in out.stderr


def test_a_rehearsal_with_the_calibrated_profile_gives_the_live_verdict(tmp_path, faithful):
    """The loop: record live, calibrate, rehearse with `replica: {profile: …}`."""
    from cviscript.language.validate import load_scenario

    (tmp_path / "replica.yaml").write_text(profile_yaml(calibrate(faithful)))
    source = Path(PROBE).read_text()
    start = source.index("    replica:\n")
    end = source.index("    user:\n")
    source = source[:start] + "    replica: {profile: replica.yaml}\n" + source[end:]
    scenario = tmp_path / "calibration.yaml"
    scenario.write_text(source)
    sc = load_scenario(str(scenario))
    replica = sc.rehearsals[0].replica
    assert replica.reply_latency == pytest.approx(1.2, rel=TOLERANCE["reply_latency"])
    assert replica.words_per_minute == pytest.approx(180, rel=TOLERANCE["words_per_minute"])
    suite = run_suite([str(scenario)], case_timeout=None)
    (case,) = suite.cases
    assert case.passed, [f.message for r in case.runs for f in r.failures]
    live_paths = {
        tuple(s["state"] for s in recs if s.get("kind") == "state") for _, _, recs in faithful
    }
    assert live_paths == {tuple(case.runs[0].path)}


REAL_SHAPED = sorted(DATA.glob("real-shaped-*.jsonl"))


def test_real_shaped_transcripts_calibrate_to_what_they_show():
    """Documented 2026 payloads (tests/data/fidelity/make_real_shaped.py): a reply 1.0-1.6 s after
    the visitor's last word (median of the six non-tool turns 1.462 s), ~150 wpm, the respond
    echoed, a single-shot greeting, a filler and no spoken result around the tool call, the
    replica already in the room."""
    assert len(REAL_SHAPED) == 2
    cal = calibrate([(str(p), *read_transcript(p)) for p in REAL_SHAPED])
    got = {f.key: f.value for f in cal.figures}
    assert got["vintage"] == "2026"
    assert got["reply_latency"] == pytest.approx(1.462, abs=0.05)
    assert cal.figure("reply_latency").samples == 6  # the tool call's turn is no reply latency
    assert got["words_per_minute"] == pytest.approx(150, rel=0.05)
    assert got["respond_echo"] is True
    assert got["greeting_streams"] is False
    assert got["replica_first"] is True
    assert got["tool_filler"] is True and got["tool_result_spoken"] is False
    assert got["filler"] == "One moment while I look that up for you."
    assert got["heartbeat"] is None  # two heartbeats a conversation: too few intervals
    assert got["copy_window"]["messages"] <= 8


def test_real_shaped_traffic_checked_against_the_model():
    """The live self-check over the same traffic: today's model (respond echo, Tavus's tool
    defaults) matches it except for the replica already being in the room."""
    from cviscript.fidelity import Assumptions, check_records
    from cviscript.sessions.replica_model import ModelSettings

    for path in REAL_SHAPED:
        header, records = read_transcript(path)
        found = check_records(records, Assumptions.from_settings(ModelSettings()), header=header)
        assert [f.code for f in found] == ["join-order"], [f.line() for f in found]
