"""Live rehearsal (`rehearse --live`) and the live session's presence report, in the fake room.

The fake Daily room runs the one replica model; a local HTTP server stands in for the Tavus API.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from helpers import once_joined

from cviscript.language.validate import load_scenario
from cviscript.sessions.fake.daily_room import FakeDaily
from cviscript.sessions.fake.replica import FakeReplica
from cviscript.sessions.live.daily_session import DailySession
from cviscript.sessions.live.options import Connection, LiveOptions
from cviscript.sessions.live.runner import LiveRun
from cviscript.sessions.live.target import LiveTarget

URL = "https://tavus.daily.co/c42"

GREETING = """\
cviscript: 1
name: greets
initial: hello
states:
  hello:
    enter:
      - echo: "Welcome to the show"
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    final: true
"""


# ------------------------------------------------------------------------- presence (live)


class PresenceSink:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_message(self, message: Any, sender: str | None = None) -> None:
        self.calls.append(f"message:{message.get('event_type')}")

    def on_closed(self, reason: str) -> None:
        self.calls.append("closed")

    def on_present(self) -> None:
        self.calls.append("present")


def test_the_daily_session_reports_presence_once_after_what_it_held_back():
    fake = FakeDaily()
    joined = {"message_type": "system", "event_type": "system.replica_joined"}

    async def main() -> PresenceSink:
        def room() -> None:
            fake.replica_says(joined, after=0.02)  # held: the replica is not known yet
            fake.replica_joins(after=0.05)

        once_joined(fake, room)
        session = DailySession(
            LiveOptions(
                Connection(
                    LiveTarget(url=URL, conversation_id="c42"),
                    daily=fake,
                    join_timeout=1,
                    replica_timeout=1,
                )
            )
        )
        await session.connect()
        sink = PresenceSink()
        session.start(sink)
        await asyncio.sleep(0.05)
        fake.replica_joins()  # seen again (a participant update): not a second presence
        await asyncio.sleep(0.05)
        await session.aclose()
        return sink

    assert DailySession.reports_presence
    sink = asyncio.run(main())
    assert sink.calls == ["message:system.replica_joined", "present"]


def test_a_live_greeting_is_sent_only_once_the_replica_is_in_the_room():
    fake = FakeDaily()
    replica = FakeReplica(fake, join_after=0.15, announce=False)
    started = time.monotonic()
    run = LiveRun(
        load_scenario("greets.yaml", source=GREETING),
        LiveOptions(Connection(LiveTarget(url=URL), daily=fake)),
    )
    conv = run.run_sync(hard_exit=False)
    assert conv.result.outcome == "completed"
    assert conv.waiting_for_replica is False
    sent = [r for r in conv.trace.records if r.kind == "sent"]
    assert sent and sent[0].data["message"]["event_type"] == "conversation.echo"
    # the model only exists once the replica participant is in; it heard the greeting
    assert [i.kind for i in replica.heard][:1] == ["echo"]
    assert time.monotonic() - started >= 0.15


# ------------------------------------------------------------------- rehearse --live (fake)

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402
from conftest import REPO  # noqa: E402
from test_live_http import KEY, TavusStub  # noqa: E402

from cviscript.rehearsal.live import LiveSuiteOptions, run_live_suite  # noqa: E402
from cviscript.rehearsal.suite import run_suite  # noqa: E402


def verdicts_of(case):
    return [(r.passed, r.outcome) for r in case.runs]


def verdicts(suite):
    return {(c.file, c.case): verdicts_of(c) for c in suite.cases}


def test_live_rehearsal_in_the_fake_room_gives_the_simulated_verdicts(tmp_path, monkeypatch):
    monkeypatch.delenv("TAVUS_API_KEY", raising=False)
    monkeypatch.chdir(REPO)
    # 5x real time, not the usual 20x: what the room and the client take in real time (a thread
    # hop, ~30 ms unloaded, several times that on a loaded CI machine) is that many times longer
    # on the scenario's clock, and at 20x it was enough to open a gap after the kiosk's greeting
    # that the visitor spoke into (10x still flipped a verdict about once in 12 loaded runs).
    # The runs are idle waits, so 12 at once cost no CPU to speak of; the test takes ~30 s.
    monkeypatch.setattr("cviscript.rehearsal.live.FAKE_SPEED", 5.0)
    paths = ["scenarios", "examples"]
    simulated = run_suite(paths, case_timeout=None)
    options = LiveSuiteOptions(fake="1", jobs=12, max_concurrent=12, transcripts=str(tmp_path))
    live, summary = run_live_suite(paths, options)
    assert len(live.cases) == len(simulated.cases) >= 12
    expected = verdicts(simulated)
    differ = {  # what went differently live, for the failure message
        (c.file, c.case): [f"{f.code}: {f.message}" for r in c.runs for f in r.failures]
        for c in live.cases
        if verdicts_of(c) != expected.get((c.file, c.case))
    }
    assert verdicts(live) == expected, differ
    assert all(c.passed for c in live.cases)
    # the live self-check stays quiet when the room's replica is the model (no false alarm)
    checked = [r for c in live.cases for r in c.runs if r.fidelity is not None]
    assert len(checked) == len(live.cases) - 1
    assert [f for r in checked for f in r.fidelity] == []
    assert len(summary.transcripts) == len(live.cases) - 1  # the replay case needs no room
    assert summary.minutes > 0


CREATED = """\
cviscript: 1
name: priced
conversation:
  create: {persona_id: p1, replica_id: r1}
initial: hello
states:
  hello:
    enter: [{echo: "Hi! Ask me about pricing."}]
    on:
      - utterance: {role: user, contains: price}
        goto: pricing
      - after: 30s
        goto: bye
  pricing:
    enter: [{echo: "Ten dollars a month."}]
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    final: true
rehearsals:
  - name: asks
    user:
      - on: {event: replica.stopped_speaking}
        say: "What is the price?"
    expect: {path: [hello, pricing, bye], outcome: completed}
  - name: waits too long
    expect: {outcome: completed}
"""


def _cli(tmp_path, env_extra, *args, timeout=60):
    env = {**os.environ, "CVISCRIPT_FAKE_DAILY": "1", **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "cviscript", "rehearse", "--live", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_every_case_gets_a_created_conversation_that_is_ended(tmp_path):
    (tmp_path / "priced.yaml").write_text(CREATED)
    stub = TavusStub()
    try:
        done = _cli(
            tmp_path,
            {"TAVUS_API_KEY": KEY, "TAVUS_API_URL": stub.url},
            "priced.yaml",
            "--max-duration",
            "10",
            "--json",
            "out.json",
        )
    finally:
        stub.close()
    out = done.stdout + done.stderr
    assert KEY not in out
    assert sorted(stub.created) == ["c1", "c2"] and sorted(stub.ended) == ["c1", "c2"]
    bodies = [r["body"] for r in stub.requests if r["path"] == "/v2/conversations"]
    assert all(b["properties"]["max_call_duration"] == 70 for b in bodies)  # cost bound
    report = json.loads((tmp_path / "out.json").read_text())
    by_case = {c["case"]: c["runs"][0] for c in report["cases"]}
    assert by_case["asks"]["passed"]
    stopped = by_case["waits too long"]  # `after: 30s` is past --max-duration 10
    assert not stopped["passed"] and "--max-duration" in stopped["reason"]
    assert "2 conversation(s) created, 2 ended" in done.stdout
    assert done.returncode == 1
    assert len(list((tmp_path / "live-transcripts").glob("*.jsonl"))) == 2


def test_a_refused_create_fails_the_case_and_says_it_may_be_billed(tmp_path):
    """A 500 after the server created the conversation: the run cannot know its id, so it must
    not retry (a second bill) and must say where to look."""
    (tmp_path / "priced.yaml").write_text(CREATED)
    stub = TavusStub()
    stub.create_status = 500
    try:
        done = _cli(tmp_path, {"TAVUS_API_KEY": KEY, "TAVUS_API_URL": stub.url}, "priced.yaml")
    finally:
        stub.close()
    out = done.stdout + done.stderr
    assert done.returncode == 1 and KEY not in out
    assert len(stub.created) == 2  # one create per case, never retried
    assert out.count("live-error") == 2 and "HTTP 500" in out
    assert "may have been created anyway" in out and "check the Tavus dashboard" in out


def test_a_create_answer_without_a_url_fails_the_case_and_nothing_is_left_running(tmp_path):
    (tmp_path / "priced.yaml").write_text(CREATED)
    stub = TavusStub()
    stub.create_answer = lambda cid: {"conversation_id": cid, "status": "active"}  # no URL
    try:
        done = _cli(tmp_path, {"TAVUS_API_KEY": KEY, "TAVUS_API_URL": stub.url}, "priced.yaml")
    finally:
        stub.close()
    out = done.stdout + done.stderr
    assert done.returncode == 1 and KEY not in out
    assert out.count("live-error") == 2 and "without a usable conversation_url" in out
    assert sorted(stub.created) == ["c1", "c2"]
    assert sorted(stub.ended) == sorted(stub.created)  # nothing left running


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_ends_every_created_conversation(tmp_path, signame):
    import signal
    import time as _time

    slow = CREATED.replace("after: 30s", "after: 3000s").replace("--max", "")
    (tmp_path / "priced.yaml").write_text(slow)
    stub = TavusStub()
    try:
        env = {
            **os.environ,
            "CVISCRIPT_FAKE_DAILY": "1",
            "TAVUS_API_KEY": KEY,
            "TAVUS_API_URL": stub.url,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "cviscript", "rehearse", "--live", "priced.yaml", "-j", "2",
             "-k", "waits", "--repeat", "2", "--max-duration", "5000"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = _time.monotonic() + 20
        while len(stub.created) < 2 and _time.monotonic() < deadline:
            _time.sleep(0.05)
        _time.sleep(0.3)
        proc.send_signal(getattr(signal, signame))
        out, err = proc.communicate(timeout=30)
    finally:
        stub.close()
    assert sorted(stub.created) == ["c1", "c2"] and sorted(stub.ended) == ["c1", "c2"]
    assert proc.returncode == 128 + getattr(signal, signame)
    assert KEY not in out + err


def test_concurrency_never_exceeds_max_concurrent(monkeypatch, tmp_path):
    from cviscript.sessions.live import runner

    (tmp_path / "priced.yaml").write_text(CREATED)
    active, peak = [0], [0]
    original = runner.LiveRun.run

    async def counting(self):
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        try:
            return await original(self)
        finally:
            active[0] -= 1

    monkeypatch.setattr(runner.LiveRun, "run", counting)
    monkeypatch.delenv("TAVUS_API_KEY", raising=False)
    options = LiveSuiteOptions(fake="1", jobs=8, max_concurrent=2, transcripts=None)
    suite, _ = run_live_suite([str(tmp_path / "priced.yaml")], options, repeat=3)
    assert sum(len(c.runs) for c in suite.cases) == 6
    assert peak[0] == 2


MIXED = CREATED.replace(
    "  - name: waits too long\n    expect: {outcome: completed}\n",
    "  - name: looks around\n"
    "    user:\n"
    "      - at: 1s\n"
    "        perceive: a visitor holding a parcel\n"
    "    expect: {outcome: completed}\n",
)


def _fake_cli(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if k != "TAVUS_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "cviscript", "rehearse", "--live", *args],
        cwd=tmp_path,
        env={**env, "CVISCRIPT_FAKE_DAILY": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_case_that_cannot_run_live_is_skipped_not_failed(tmp_path):
    (tmp_path / "mixed.yaml").write_text(MIXED)
    done = _fake_cli(
        tmp_path, "mixed.yaml", "--junit", "out.xml", "--json", "out.json", "--html", "out.html"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SKIP mixed.yaml::looks around" in done.stdout
    assert "a live participant cannot play perceive: (mixed.yaml:" in done.stdout
    assert "1 passed, 0 failed, 1 skipped" in done.stdout
    xml = (tmp_path / "out.xml").read_text()
    assert 'skipped="1"' in xml and "<skipped" in xml
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["skipped"] == 1 and report["failed"] == 0
    (skipped,) = [c for c in report["cases"] if c["skipped"]]
    assert skipped["case"] == "looks around" and skipped["runs"] == []
    html = (tmp_path / "out.html").read_text()
    assert '<span class="badge skip">SKIP</span>' in html and "1 skipped" in html
    assert "This case did not run: skipped live: a live participant cannot play" in html
    # no conversation for the skipped case: one transcript, the other case's
    assert len(list((tmp_path / "live-transcripts").glob("*.jsonl"))) == 1


def test_live_coverage_and_fail_under_apply(tmp_path):
    (tmp_path / "priced.yaml").write_text(MIXED)
    done = _fake_cli(tmp_path, "priced.yaml", "-k", "asks", "--fail-under", "100")
    out = done.stdout + done.stderr
    assert "coverage:" in done.stdout and "transitions never taken:" in done.stdout
    assert "is under --fail-under 100%" in done.stdout
    assert done.returncode == 1, out
    done = _fake_cli(tmp_path, "priced.yaml", "-k", "asks", "--coverage")
    assert "coverage:" in done.stdout and done.returncode == 0, done.stdout + done.stderr


def test_live_shards_split_the_cases(tmp_path):
    (tmp_path / "priced.yaml").write_text(CREATED)
    ran = []
    for shard in ("1/2", "2/2"):
        done = _fake_cli(tmp_path, "priced.yaml", "--shard", shard, "--max-duration", "10")
        ran.append({m for m in re.findall(r"(?:PASS|FAIL) priced\.yaml::(.+?) \(", done.stdout)})
    assert ran[0].isdisjoint(ran[1])
    assert ran[0] | ran[1] == {"asks", "waits too long"}


@pytest.mark.parametrize(
    "option, says",
    [
        (["--seed-from", "7"], "--seed-from applies to simulated rehearsal only"),
        (["--case-timeout", "5"], "--max-duration SECONDS stops a case"),
    ],
)
def test_live_refuses_what_only_simulated_rehearsal_means(tmp_path, option, says):
    (tmp_path / "priced.yaml").write_text(CREATED)
    done = _fake_cli(tmp_path, "priced.yaml", *option)
    assert done.returncode == 2 and says in done.stderr
    assert not (tmp_path / "live-transcripts").exists()


def test_live_says_where_its_transcripts_go(tmp_path):
    (tmp_path / "priced.yaml").write_text(CREATED)
    done = _fake_cli(tmp_path, "priced.yaml", "-k", "asks")
    where = str(tmp_path / "live-transcripts")
    assert f"live transcripts go to {where}/" in done.stderr
    assert f"transcripts: {where}/" in done.stdout


def test_cases_whose_names_slug_alike_get_their_own_transcripts(tmp_path, monkeypatch):
    from cviscript.rehearsal.live import LiveSuiteOptions, run_live_suite, transcript_name

    monkeypatch.delenv("TAVUS_API_KEY", raising=False)
    twins = GREETING + (
        "rehearsals:\n"
        "  - name: price?\n    expect: {outcome: completed}\n"
        "  - name: price!\n    expect: {outcome: completed}\n"
    )
    (tmp_path / "greets.yaml").write_text(twins)
    folder = tmp_path / "t"
    suite, summary = run_live_suite(
        [str(tmp_path / "greets.yaml")], LiveSuiteOptions(fake="1", transcripts=str(folder))
    )
    assert [c.passed for c in suite.cases] == [True, True]
    assert len(set(summary.transcripts)) == 2 and len(list(folder.glob("*.jsonl"))) == 2
    # the scenario's folder counts too: a/demo.yaml and b/demo.yaml
    assert transcript_name("a/demo.yaml", "x") != transcript_name("b/demo.yaml", "x")


ECHO_PERSONA_SCENARIO = """\
cviscript: 1
name: echo-kiosk
conversation:
  persona_file: persona.json
initial: idle
states:
  idle:
    enter:
      - echo: "Welcome."
    on:
      - utterance: "(?i)hello"
        goto: done
      - after: 5s
        goto: done
  done:
    final: true
rehearsals:
  - name: waits
    expect: {path: [idle, done]}
"""


def test_live_persona_findings_are_warnings_and_errors_with_strict(tmp_path):
    """An echo persona never hears the visitor: a warning, the case runs live; with --strict an
    error, the file is invalid (exit 2), no conversation is made and the reports say so."""
    (tmp_path / "persona.json").write_text(
        json.dumps({"persona_name": "Sign", "pipeline_mode": "echo"})
    )
    (tmp_path / "echo.yaml").write_text(ECHO_PERSONA_SCENARIO)
    finding = "echo.yaml:11:9: {}: this utterance: trigger waits for the visitor"
    done = _fake_cli(tmp_path, "echo.yaml", "--max-duration", "30")
    assert finding.format("warning") in done.stderr, done.stderr
    assert done.returncode == 0 and "PASS echo.yaml::waits" in done.stdout, done.stdout
    assert len(list((tmp_path / "live-transcripts").glob("*.jsonl"))) == 1

    strict = tmp_path / "strict"
    strict.mkdir()
    for name in ("persona.json", "echo.yaml"):
        (strict / name).write_text((tmp_path / name).read_text())
    done = _fake_cli(strict, "--strict", "echo.yaml", "--junit", "out.xml", "--json", "out.json")
    assert finding.format("error") in done.stderr and "warning" not in done.stderr, done.stderr
    assert "INVALID echo.yaml (its cases did not run)" in done.stderr
    assert done.returncode == 2, done.stdout + done.stderr
    assert "PASS" not in done.stdout and "1 invalid file" in done.stdout
    assert "0 conversation(s) created" in done.stdout
    assert not list((strict / "live-transcripts").glob("*.jsonl"))
    report = json.loads((strict / "out.json").read_text())
    assert [f["file"] for f in report["invalid"]] == ["echo.yaml"], report["invalid"]
    assert "persona field: pipeline_mode" in (strict / "out.xml").read_text()
