"""`cviscript replay --against-model`: a recording replayed and re-enacted against the model; a
faithful recording shows no divergence, a misbehaving replica's names the first one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from cviscript.fidelity.against_model import Point, Timeline, against_model, first_divergence
from cviscript.rehearsal.live import LiveSuiteOptions, run_live_suite

PROBE = str(Path(__file__).parent / "data" / "fidelity" / "probe.yaml")


@pytest.fixture(autouse=True)
def steady_room(monkeypatch):
    """The fake room at 5x real time, not 20x: on a loaded CI machine a few milliseconds of
    thread scheduling are then too little to reorder a turn, which a re-enactment would show."""
    monkeypatch.setattr("cviscript.rehearsal.live.FAKE_SPEED", 5.0)


def recordings(tmp_path, paths, misbehave=None) -> list[str]:
    spec = json.dumps({"misbehave": misbehave or {}})
    options = LiveSuiteOptions(fake=spec, transcripts=str(tmp_path / "t"), jobs=6, max_concurrent=6)
    _, summary = run_live_suite(paths, options)
    return summary.transcripts


def test_faithful_recordings_of_every_shipped_case_show_no_divergence(tmp_path, monkeypatch):
    """Every case of scenarios/ and examples/, recorded in the fake room (the model as its
    replica), re-enacts without a divergence: a respond answered by the LLM, objectives, tools,
    echo personas. (This once covered two scenarios, neither sending a respond to a replica
    already in the room, and missed the respond's answer being taken for the greeting.)"""
    monkeypatch.chdir(REPO)
    files = sorted(str(p.relative_to(REPO)) for p in REPO.glob("scenarios/*.yaml"))
    files += sorted(str(p.relative_to(REPO)) for p in REPO.glob("examples/*/*.yaml"))
    paths = recordings(tmp_path, files)
    assert len(paths) >= 20
    for path in paths:
        result = against_model(path)
        assert result.divergence is None, (path, result.divergence.describe())
        assert result.recorded.states and result.model.states


def run_in_fake_room(tmp_path, scenario, fake):
    out = tmp_path / "live.jsonl"
    env = {**os.environ, "CVISCRIPT_FAKE_DAILY": json.dumps(fake)}
    args = ["run", scenario, "--url", "https://tavus.daily.co/c1", "--transcript", str(out), "-q"]
    done = subprocess.run([sys.executable, "-m", "cviscript", *args], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return str(out)


RESPOND_LATER = str(Path(__file__).parent / "data" / "fidelity" / "respond-later.yaml")
ANSWERS = {"(?i)their name": "Hello! What is your name?", "(?i)goodbye": "Bye now."}


def test_the_replicas_answer_to_a_respond_becomes_the_personas_reply(tmp_path):
    """`run --url` in the fake room (replies 0.02 s after the input): the answer to the first
    respond, sent to a replica already in the room, was taken for the greeting — 0 persona
    replies, and the model's run waited in `ask` until its timeout."""
    path = run_in_fake_room(tmp_path, RESPOND_LATER, {"persona": ANSWERS})
    result = against_model(path)
    assert result.divergence is None, result.divergence.describe()
    assert result.rehearsal["replica"]["greeting"] == ""
    says = [rule["say"] for rule in result.rehearsal["persona"]]
    assert says == ["Hello! What is your name?", "Bye now."]
    assert [p.label for p in result.model.states] == ["intro", "ask", "bye", "done"]


def test_a_greeting_before_the_respond_is_still_the_greeting(tmp_path):
    path = run_in_fake_room(tmp_path, RESPOND_LATER, {"persona": ANSWERS, "greeting": "Hi there."})
    result = against_model(path)
    assert result.divergence is None, result.divergence.describe()
    assert result.rehearsal["replica"]["greeting"] == "Hi there."
    assert len(result.rehearsal["persona"]) == 2


TWICE = """\
cviscript: 1
name: twice
initial: one
states:
  one:
    enter: [{respond: "Next step."}]
    on: [{event: replica.stopped_speaking, goto: two}, {after: 20s, goto: done}]
  two:
    enter: [{respond: "Next step."}]
    on: [{event: replica.stopped_speaking, goto: done}, {after: 20s, goto: done}]
  done: {final: true}
"""


def test_an_input_said_twice_is_answered_as_live_answered_it_each_time(tmp_path):
    """The same respond, answered differently the second time live (an LLM does): the
    re-enactment answers it in order, not with the first answer twice."""
    scenario = tmp_path / "twice.yaml"
    scenario.write_text(TWICE)
    path = run_in_fake_room(tmp_path, str(scenario), {"persona": {"(?i)next": "Step one."}})
    lines = Path(path).read_text().splitlines()
    second = max(i for i, line in enumerate(lines) if '"conversation.respond"' in line)
    lines[second:] = [line.replace("Step one.", "Step two.") for line in lines[second:]]
    Path(path).write_text("\n".join(lines) + "\n")
    result = against_model(path)
    assert result.divergence is None, result.divergence.describe()
    assert [p.label for p in result.model.spoken] == [
        'replica utterance "Step one."',
        'replica utterance "Step two."',
    ]


@pytest.mark.parametrize(
    "misbehave, kind, live_has",
    [
        ({"tool_filler": "Hmm, one moment."}, "spoken", '"Hmm, one moment."'),
        ({"utterances": False}, "spoken", "nothing"),
        ({"tool_result_silent": True}, "spoken", '"Goodbye."'),
        (
            {"rename": {"conversation.tool_call": "conversation.tool_call_v2"}},
            "event",
            "tool_call_v2",
        ),
    ],
)
def test_a_misbehaving_replica_gives_the_first_divergence(tmp_path, misbehave, kind, live_has):
    (path,) = recordings(tmp_path, [PROBE], misbehave)
    d = against_model(path).divergence
    assert d is not None and d.kind == kind, d
    assert live_has in (d.recorded or "nothing")


def test_timelines_compare_each_sequence_and_ignore_what_happens_after_the_end():
    live = Timeline(states=[Point(0, "s")], spoken=[Point(1, "x"), Point(9, "y")], end=10)
    model = Timeline(states=[Point(0, "s")], spoken=[Point(1, "x")], end=5)
    assert first_divergence(live, model) is None  # the model's run had ended by then
    model.end = 10
    d = first_divergence(live, model)
    assert d is not None and d.kind == "spoken" and d.t == 9
    assert d.recorded == "y" and d.model is None
    model.states.append(Point(3, "other"))  # the earliest difference wins
    assert first_divergence(live, model).kind == "state"


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cviscript", "replay", *args], cwd=cwd,
                          env={**os.environ}, capture_output=True, text=True, timeout=60)  # fmt: skip


def test_what_the_recordings_profile_models_is_no_divergence(tmp_path):
    """The re-enactment runs with the settings calibrated from the recording: a respond echo
    either way is modelled by respond_echo, so only what no setting models diverges."""
    from cviscript.sessions.replica_model import ModelSettings

    echoes = not bool(getattr(ModelSettings(), "respond_echo", False))
    (path,) = recordings(tmp_path, [PROBE], {"respond_echo": echoes})
    result = against_model(path)
    if "respond_echo" in __import__("cviscript.fidelity.profile", fromlist=["x"]).replica_keys():
        assert result.rehearsal["replica"]["respond_echo"] is echoes
        assert result.divergence is None, result.divergence.describe()
    else:
        assert result.divergence is not None and result.divergence.kind == "visitor"


def test_the_command(tmp_path):
    (good,) = recordings(tmp_path / "good", [PROBE])
    out = cli("--against-model", good, "--show-rehearsal", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS no divergence" in out.stdout and "re-enacted against the model" in out.stdout
    (bad,) = recordings(tmp_path / "bad", [PROBE], {"tool_filler": "Hmm."})
    out = cli("--against-model", bad, cwd=tmp_path)
    assert out.returncode == 1
    assert "FAIL first divergence" in out.stdout and '"Hmm."' in out.stdout
    assert cli("--show-rehearsal", bad, cwd=tmp_path).returncode == 2
