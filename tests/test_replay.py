"""Replay: a recorded transcript fed back to its scenario sends the same interactions; a changed
scenario is caught at the first differing interaction."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ScriptedSession, replica_says, started, stopped, user_says

from cviscript.cli.main import cli
from cviscript.clock import VirtualClock
from cviscript.engine.conversation import Conversation
from cviscript.language.validate import load_scenario
from cviscript.rehearsal.suite import run_case
from cviscript.sessions.replay import comparable, replay
from cviscript.sessions.simulated.runner import run_simulated
from cviscript.transcript import TranscriptWriter

REPO = Path(__file__).resolve().parent.parent
KIOSK = REPO / "scenarios" / "kiosk.yaml"


def record(scenario_path: Path, case: str, out: Path, **kw) -> Path:
    sc = load_scenario(scenario_path)
    with TranscriptWriter(out) as writer:
        run_simulated(sc, rehearsal=case, subscribers=[writer], **kw)
    return out


@pytest.fixture
def kiosk_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "kiosk.yaml"
    shutil.copy(KIOSK, dest)
    shutil.copy(KIOSK.with_name("kiosk.persona.json"), tmp_path)  # its persona file
    return dest


def test_a_recorded_run_replays_to_a_pass(kiosk_copy: Path, tmp_path: Path):
    trace = record(kiosk_copy, "visitor checks in for a meeting", tmp_path / "run.jsonl")
    result = replay(trace)  # the scenario named in the transcript's header
    assert result.same
    assert result.divergence is None
    assert len(result.replayed) == len(result.recorded) == 5
    run = result.conversation.result
    assert run.outcome == "completed"
    assert run.path == ["welcome", "meeting", "checked_in", "farewell"]
    # the tool_call_id answered is the recorded one
    tool_result = [m for _, m in result.replayed if m["event_type"] == "conversation.tool_result"]
    assert tool_result[0]["properties"]["tool_call_id"] == "call-1"


def test_every_shipped_rehearsal_replays_to_a_pass(tmp_path: Path):
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        sc = load_scenario(path)
        for i, case in enumerate(sc.rehearsals):
            trace = record(path, case.name, tmp_path / f"{path.stem}-{i}.jsonl")
            result = replay(trace, sc)
            assert result.same, (path.name, case.name, result.divergence)


def test_a_run_through_faults_replays_to_a_pass(tmp_path: Path):
    shutil.copy(KIOSK.with_name("kiosk.persona.json"), tmp_path)  # its persona file
    sc_path = tmp_path / "faulty.yaml"
    sc_path.write_text(
        KIOSK.read_text().replace(
            "  - name: courier\n",
            "  - name: courier\n"
            "    faults: {duplicate: 0.3, reorder: 0.3, jitter: 200ms}\n"
            "    seed: 7\n",
        )
    )
    trace = record(sc_path, "courier", tmp_path / "faulty.jsonl")
    kinds = [json.loads(line)["kind"] for line in trace.read_text().splitlines()]
    assert "dropped" in kinds  # duplicates were received and dropped
    assert replay(trace).same


def test_a_changed_scenario_fails_at_the_first_differing_interaction(
    kiosk_copy: Path, tmp_path: Path
):
    trace = record(kiosk_copy, "courier", tmp_path / "courier.jsonl")
    kiosk_copy.write_text(
        kiosk_copy.read_text().replace('respond: "I have a delivery."', 'respond: "A parcel."')
    )
    result = replay(trace, kiosk_copy)
    assert not result.same
    d = result.divergence
    assert d.index == 3  # overwrite, respond, append, then this respond
    assert d.expected == {
        "event_type": "conversation.respond",
        "properties": {"text": "I have a delivery."},
    }
    assert d.actual == {"event_type": "conversation.respond", "properties": {"text": "A parcel."}}
    sent_at = [
        r["t"] for r in map(json.loads, trace.read_text().splitlines()) if r["kind"] == "sent"
    ]
    assert d.describe() == (
        f"interaction #4 differs: conversation.respond (recorded at {sent_at[3]:.3f}s)"
        " has other text"
    )
    assert (
        '-{"event_type": "conversation.respond", "properties": {"text": "I have a delivery."}}'
        in d.diff
    )
    assert '+{"event_type": "conversation.respond", "properties": {"text": "A parcel."}}' in d.diff

    res = CliRunner().invoke(cli, ["replay", str(trace), str(kiosk_copy)])
    assert res.exit_code == 1
    sent_at = [
        r["t"] for r in map(json.loads, trace.read_text().splitlines()) if r["kind"] == "sent"
    ]
    at = f"{sent_at[3]:.3f}s"
    assert f"FAIL interaction #4 differs: conversation.respond (recorded at {at})" in res.output
    assert (
        'recorded: {"event_type": "conversation.respond", "properties": {"text": "I have a delivery."}}'
        in res.output
    )
    assert "+++ replayed" in res.output
    assert f'>{at:>10}  → respond "A parcel."' in res.output


def test_a_scenario_that_sends_less_or_takes_another_path(kiosk_copy: Path, tmp_path: Path):
    trace = record(kiosk_copy, "courier", tmp_path / "courier.jsonl")
    # delivery no longer responds: the next interaction is missing, then everything shifts
    kiosk_copy.write_text(
        kiosk_copy.read_text().replace('      - respond: "I have a delivery."\n', "")
    )
    d = replay(trace, kiosk_copy).divergence
    assert d.index == 3
    assert d.expected["event_type"] == "conversation.respond"
    assert d.actual is None or d.actual["event_type"] != "conversation.respond"


def test_a_scenario_that_no_longer_finishes_ends_in_error_not_as_recorded(
    kiosk_copy: Path, tmp_path: Path
):
    trace = record(kiosk_copy, "visitor leaves early", tmp_path / "early.jsonl")
    kiosk_copy.write_text(
        kiosk_copy.read_text().replace(
            "    final: true\n", "    on:\n      - after: 1h\n        goto: welcome\n"
        )
    )
    result = replay(trace, kiosk_copy)
    assert result.divergence is None  # the same interactions ...
    assert not result.outcome_matches  # ... but the run did not complete
    assert result.conversation.result.outcome == "error"
    assert "the recording ended first" in result.conversation.result.reason
    res = CliRunner().invoke(cli, ["replay", str(trace), str(kiosk_copy)])
    assert res.exit_code == 1
    assert (
        "FAIL the run ended error" in res.output and "the recording ended completed" in res.output
    )


def test_a_live_recording_with_wall_times_and_senders_replays(tmp_path: Path):
    sc_path = tmp_path / "live.yaml"
    sc_path.write_text(
        """\
cviscript: 1
name: live-greeter
initial: greet
states:
  greet:
    enter: [{echo: "Hello!"}]
    on:
      - utterance: "(?i)price"
        goto: price
      - after: 20s
        goto: bye
  price:
    enter: [{respond: "What are the prices?"}]
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    enter: [{echo: "Bye!"}]
    final: true
"""
    )
    sc = load_scenario(sc_path)
    clock = VirtualClock(start=1000.123)  # a live clock does not start at zero
    session = ScriptedSession(clock)
    out = tmp_path / "live.jsonl"
    with TranscriptWriter(out) as writer:
        conv = Conversation(sc, session, clock, mode="live")
        conv.trace.subscribe(writer)
        conv.start()
        script = [
            (1000.9, started(1)),
            (1000.9, replica_says("Hello!", 2)),
            (1001.7, stopped(3)),
            (1004.25, user_says("what's the price?", 4)),
            (1005.4, started(5)),
            (1005.4, replica_says("Ten dollars.", 6)),
            (1006.61, stopped(7)),
            (1006.9, started(8)),
            (1007.3, stopped(9)),
        ]
        for at, message in script:
            clock.call_later(at - clock.now(), session.sink.on_message, message, "replica-peer-id")
        clock.run(stop=lambda: conv.done)
    assert conv.result.outcome == "completed"
    header = json.loads(out.read_text().splitlines()[0])
    assert header["mode"] == "live" and header["conversation_id"] == "c123"
    result = replay(out, sc_path)
    assert result.same, result.divergence
    assert result.conversation.result.path == ["greet", "price", "bye"]


def test_a_transcript_cut_short_replays_to_its_end(kiosk_copy: Path, tmp_path: Path):
    trace = record(kiosk_copy, "courier", tmp_path / "courier.jsonl")
    lines = trace.read_text().splitlines()
    third_send = [i for i, line in enumerate(lines) if json.loads(line)["kind"] == "sent"][2]
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:third_send]) + "\n")
    result = replay(cut, kiosk_copy)
    assert result.recorded_outcome is None
    assert result.divergence is None
    assert result.same
    assert result.conversation.result.outcome == "error"
    assert len(result.replayed) > len(result.recorded)  # sent after the cut: not checked
    # what was recorded before the cut is still checked
    kiosk_copy.write_text(kiosk_copy.read_text().replace('respond: "Hello!"', 'respond: "Hi!"'))
    assert replay(cut, kiosk_copy).divergence.index == 1


def test_audio_inference_ids_and_conversation_ids_are_not_compared():
    a = {
        "message_type": "conversation",
        "event_type": "conversation.echo",
        "conversation_id": "c1",
        "properties": {"modality": "audio", "audio": "AAA=", "inference_id": "x", "done": True},
    }
    b = {**a, "conversation_id": "c2", "properties": {**a["properties"], "inference_id": "y"}}
    assert comparable(a) == comparable(b)
    c = {**a, "properties": {**a["properties"], "done": False}}
    assert comparable(a) != comparable(c)


def test_a_rehearsal_case_can_replay_a_recording(kiosk_copy: Path, tmp_path: Path):
    rec_dir = tmp_path / "recordings"
    trace = record(kiosk_copy, "courier", rec_dir / "courier.jsonl")
    sent_at = [
        r["t"] for r in map(json.loads, trace.read_text().splitlines()) if r["kind"] == "sent"
    ]
    kiosk_copy.write_text(
        kiosk_copy.read_text()
        + "\n  - name: recorded courier\n    replay: recordings/courier.jsonl\n"
        + "    expect: {path: [welcome, delivery, farewell]}\n"
    )
    run = run_case(str(kiosk_copy), "recorded courier")
    assert run.passed, run.failures
    assert run.said[-1] == "Have a great day at Acme HQ!"

    kiosk_copy.write_text(
        kiosk_copy.read_text().replace("Have a great day at", "Enjoy your day at")
    )
    run = run_case(str(kiosk_copy), "recorded courier")
    assert not run.passed
    # first the divergence; the final state then waits for its new line, which the recording
    # never speaks, until the recording ends
    f = run.failures[0]
    assert [x.code for x in run.failures] in (
        ["replay-diverged"],
        ["replay-diverged", "outcome-mismatch"],
    )
    assert f.code == "replay-diverged"
    assert f.message == (
        f"interaction #5 differs: conversation.echo (recorded at {sent_at[4]:.3f}s) has other text"
    )
    assert f.expected["properties"]["text"] == "Have a great day at Acme HQ!"
    assert f.actual["properties"]["text"] == "Enjoy your day at Acme HQ!"
    assert "+++ replayed" in f.diff
    assert any(line.startswith(">") and "Enjoy your day" in line for line in f.context)


def test_replay_cli_pass_and_usage_errors(kiosk_copy: Path, tmp_path: Path):
    trace = record(kiosk_copy, "courier", tmp_path / "courier.jsonl")
    res = CliRunner().invoke(cli, ["replay", str(trace)])
    assert res.exit_code == 0, res.output
    assert (
        "PASS the same 5 interactions were sent; the run ended completed as recorded" in res.output
    )
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text('{"kind": "state"}\n')
    res = CliRunner().invoke(cli, ["replay", str(bogus)])
    assert res.exit_code == 2 and "not a cviscript transcript" in res.output
    header = json.loads(trace.read_text().splitlines()[0])
    lines = trace.read_text().splitlines()
    header["file"] = str(tmp_path / "gone.yaml")
    moved = tmp_path / "moved.jsonl"
    moved.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    res = CliRunner().invoke(cli, ["replay", str(moved)])
    assert res.exit_code == 2 and "was not found" in res.output


def test_a_case_whose_recording_cannot_be_read_fails_with_replay_invalid(
    kiosk_copy: Path, tmp_path: Path
):
    rec = record(kiosk_copy, "courier", tmp_path / "recordings" / "courier.jsonl")
    kiosk_copy.write_text(
        kiosk_copy.read_text() + "\n  - name: recorded\n    replay: recordings/courier.jsonl\n"
    )
    rec.write_text("not json\n")  # damaged after the scenario was written
    run = run_case(str(kiosk_copy), "recorded")
    assert not run.passed
    (f,) = run.failures
    assert f.code == "replay-invalid"
    assert "not a JSON line" in f.message


def test_a_transcript_with_odd_wire_numbers_replays_without_a_traceback(
    kiosk_copy: Path, tmp_path: Path
):
    # seq "²" (a digit to str.isdigit, not to int) and 5,000-digit seq/turn_idx/content_index
    trace = record(kiosk_copy, "courier", tmp_path / "courier.jsonl")
    lines, odd = [], 0
    for line in trace.read_text().splitlines():
        rec = json.loads(line)
        if rec["kind"] == "received" and odd < 3:
            message = rec["message"]
            message["seq"] = "²" if odd == 0 else "HUGE"
            message["turn_idx"] = "HUGE"
            message.setdefault("properties", {})["content_index"] = "HUGE"
            line = json.dumps(rec, ensure_ascii=False).replace('"HUGE"', "9" * 5000)
            odd += 1
        lines.append(line)
    odd_trace = tmp_path / "odd.jsonl"
    odd_trace.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(cli, ["replay", str(odd_trace), str(kiosk_copy)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    assert res.exit_code == 0, res.output


# ------------------------------------------------ hostile transcripts (hardening round three)


def _hostile(kiosk_copy: Path, tmp_path: Path, line: str) -> Path:
    trace = record(kiosk_copy, "courier", tmp_path / "courier.jsonl")
    lines = trace.read_text().splitlines()
    lines.insert(2, line)
    trace.write_text("\n".join(lines) + "\n")
    return trace


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"kind": "received", "t": "soon", "message": {}}', "t must be a number of seconds"),
        ('{"kind": "received", "t": [1, 2], "message": {}}', "t must be a number of seconds"),
        ('{"kind": "received", "t": -3, "message": {}}', "t must be a number of seconds"),
        ('{"kind": "received", "t": 1, "message": ' + "[" * 100_000 + "]" * 100_000 + "}",
         "nested deeper than 64"),
        ('{"kind": "received", "t": 1, "message": {"a": ' + "[" * 80 + "]" * 80 + "}}",
         "nested deeper than 64"),
    ],
)  # fmt: skip
def test_a_hostile_line_is_a_clear_error_naming_it(kiosk_copy, tmp_path, line, message):
    trace = _hostile(kiosk_copy, tmp_path, line)
    result = CliRunner().invoke(cli, ["replay", str(trace), str(kiosk_copy)])
    assert result.exit_code == 2, result.output
    assert "courier.jsonl:3: " in result.output and message in result.output
    assert "Traceback" not in result.output


def test_deeply_nested_header_vars_are_refused(kiosk_copy, tmp_path):
    trace = record(kiosk_copy, "courier", tmp_path / "courier.jsonl")
    lines = trace.read_text().splitlines()
    header = json.loads(lines[0])
    deep: dict = {}
    for _ in range(500):
        deep = {"x": deep}
    header["vars"] = {"deep": deep}
    lines[0] = json.dumps(header)
    trace.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["replay", str(trace), str(kiosk_copy)])
    assert result.exit_code == 2 and "courier.jsonl:1: JSON nested deeper" in result.output


def test_huge_files_devices_and_long_lines_are_refused_before_reading(tmp_path, monkeypatch):
    import os

    from cviscript import transcript

    big = tmp_path / "big.jsonl"
    with open(big, "wb") as f:
        f.truncate(transcript.MAX_BYTES + 1)  # sparse: nothing to read, only its size
    for path, message in ((big, "MiB, over the"), (Path("/dev/zero"), "not a regular file")):
        result = CliRunner().invoke(cli, ["replay", str(path), str(KIOSK)])
        assert result.exit_code == 2 and message in result.output, result.output
    os.mkfifo(tmp_path / "fifo.jsonl")
    result = CliRunner().invoke(cli, ["replay", str(tmp_path / "fifo.jsonl"), str(KIOSK)])
    assert result.exit_code == 2 and "not a regular file" in result.output
    monkeypatch.setattr(transcript, "MAX_LINE", 1000)
    (tmp_path / "long.jsonl").write_text('{"kind": "header", "x": "' + "a" * 5000 + '"}\n')
    result = CliRunner().invoke(cli, ["replay", str(tmp_path / "long.jsonl"), str(KIOSK)])
    assert result.exit_code == 2 and "long.jsonl:1: a line over" in result.output
