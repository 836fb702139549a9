"""Created conversations are always ended: a loopback HTTP server stands in for Tavus.

In-process runs cover completion, failure, exceptions and REST errors; subprocesses cover the
command line with SIGINT and SIGTERM (the fake Daily room is injected with CVISCRIPT_FAKE_DAILY),
and the real daily-python offline. The API key must never show in any output.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import tools
from click.testing import CliRunner
from conftest import REPO

from cviscript import errors
from cviscript.cli.main import cli
from cviscript.language.validate import load_scenario
from cviscript.sessions.fake.daily_room import FakeDaily
from cviscript.sessions.fake.replica import FakeReplica
from cviscript.sessions.live import daily_replica
from cviscript.sessions.live.options import Connection, LiveOptions
from cviscript.sessions.live.runner import Interrupted, LiveRun
from cviscript.sessions.live.target import LiveTarget
from cviscript.sessions.live.tavus_api import TavusClient

KEY = "tvs-SECRET-key-4f1d2c9e"

SCENARIO = """\
cviscript: 1
name: created
vars: {who: Ava}
conversation:
  create:
    persona_id: p123
    replica_id: r456
    conversation_name: "run with {{ vars.who }}"
initial: greet
states:
  greet:
    enter:
      - echo: "Hello"
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    enter:
      - echo: "Bye"
    final: true
"""

WAITING = SCENARIO.replace(
    """      - event: replica.stopped_speaking
        goto: bye""",
    """      - after: 30s
        goto: bye""",
)


class TavusStub:
    """POST /v2/conversations creates c1, c2...; POST /v2/conversations/{id}/end ends it.

    Every create request creates a conversation (`created`), whatever status the stand-in then
    answers (`create_status`): a real server can create one and still fail to say so, so
    `created` minus `ended` is what a run left running. `create_answer` replaces the usual answer
    (a dict, or a function of the new id)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.created: list[str] = []
        self.ended: list[str] = []
        self.create_status = 200
        self.create_answer: dict[str, Any] | None = None  # replaces the usual answer
        self.create_delay = 0.0
        self.end_status = 200
        self.end_delay = 0.0
        self.create_seen = threading.Event()
        self.end_seen = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                stub.requests.append(
                    {"path": self.path, "key": self.headers.get("x-api-key"), "body": body}
                )
                if self.path == "/v2/conversations":
                    stub.create_seen.set()
                    time.sleep(stub.create_delay)
                    cid = f"c{len(stub.created) + 1}"
                    stub.created.append(cid)
                    if stub.create_status != 200:
                        return self._answer(stub.create_status, {"message": "create refused"})
                    url = f"https://tavus.daily.co/{cid}"
                    answer = {"conversation_id": cid, "conversation_url": url, "status": "active"}
                    given = stub.create_answer
                    return self._answer(200, (given(cid) if callable(given) else given) or answer)
                m = re.fullmatch(r"/v2/conversations/([^/]+)/end", self.path)
                if m:
                    stub.end_seen.set()
                    time.sleep(stub.end_delay)
                    if stub.end_status == 200:
                        stub.ended.append(m.group(1))
                    return self._answer(stub.end_status, {})
                self._answer(404, {"message": "no such route"})

            def do_GET(self) -> None:  # noqa: N802
                stub.requests.append({"path": self.path, "key": self.headers.get("x-api-key")})
                if self.path.startswith("/v2/personas/"):
                    return self._answer(200, {"persona_id": "p123", "persona_name": "Anna"})
                m = re.fullmatch(r"/v2/conversations/([^/?]+)", self.path)
                if m:
                    return self._answer(200, {"conversation_id": m.group(1), "persona_id": "p9"})
                self._answer(404, {"message": "no such route"})

            def _answer(self, status: int, payload: Any) -> None:
                raw = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tavus():
    stub = TavusStub()
    yield stub
    stub.close()


def client(stub: TavusStub) -> TavusClient:
    return TavusClient(KEY, base_url=stub.url, retries=0, timeout=3.0)


def scenario(text: str = SCENARIO):
    return load_scenario("created.yaml", source=text)


def fake_room(**kw: Any) -> FakeDaily:
    fake = FakeDaily()
    FakeReplica(fake, **kw)
    return fake


def creating(tavus: Any, daily: Any) -> LiveOptions:
    """Options for a run that creates its conversation through the stand-in API."""
    return LiveOptions(
        Connection(LiveTarget(create=create_body()), client=client(tavus), daily=daily)
    )


def create_body() -> dict[str, Any]:
    return {"persona_id": "p123", "replica_id": "r456", "conversation_name": "run with Ava"}


# ---------------------------------------------------------------------------- in-process


def test_created_conversation_is_ended_after_a_completed_run(tavus):
    fake = fake_room()
    live = LiveRun(scenario(), creating(tavus, fake))
    conv = live.run_sync()
    assert conv.result.outcome == "completed"
    assert tavus.created == ["c1"] and tavus.ended == ["c1"] and live.ended
    assert tavus.requests[0]["body"] == create_body()
    assert all(r["key"] == KEY for r in tavus.requests)
    assert fake.join_calls[0]["url"] == "https://tavus.daily.co/c1"
    assert {m["conversation_id"] for m in fake.sent} == {"c1"}


def test_created_conversation_is_ended_when_the_scenario_fails(tavus):
    failing = SCENARIO.replace('      - echo: "Bye"', '      - fail: "no luck"')
    conv = LiveRun(scenario(failing), creating(tavus, fake_room())).run_sync()
    assert conv.result.outcome == "failed" and conv.result.reason == "no luck"
    assert tavus.ended == ["c1"]


def test_created_conversation_is_ended_when_a_template_fails(tavus):
    broken = SCENARIO.replace('echo: "Bye"', 'echo: "Bye {{ event.name }}"')
    conv = LiveRun(scenario(broken), creating(tavus, fake_room())).run_sync()
    assert conv.result.outcome == "error" and "undefined" in conv.result.reason
    assert tavus.ended == ["c1"]


def test_created_conversation_is_ended_when_the_sink_raises(tavus):
    def boom(record):
        if record.kind == "received":
            raise ValueError("broken subscriber")

    conv = LiveRun(scenario(WAITING), creating(tavus, fake_room()), subscribers=[boom]).run_sync()
    assert conv.result.outcome == "error" and "broken subscriber" in conv.result.reason
    assert tavus.ended == ["c1"]


def test_created_conversation_is_ended_when_the_room_cannot_be_joined(tavus):
    fake = fake_room()
    fake.fail_join("RoomInfoFetchFailed")
    live = LiveRun(scenario(), creating(tavus, fake))
    with pytest.raises(errors.ConnectError, match="could not reach Daily"):
        live.run_sync()
    assert tavus.ended == ["c1"]


def test_the_persona_name_recognises_a_replica_without_a_known_user_id(tavus, monkeypatch):
    monkeypatch.setattr(daily_replica, "NAME_GRACE", 0.2)  # no Tavus user id will come
    fake = FakeDaily(replica_user_id="pal-form-nobody-documented", replica_name="Anna")
    FakeReplica(fake)
    live = LiveRun(scenario(), creating(tavus, fake))
    conv = live.run_sync()
    assert conv.result.outcome == "completed"
    assert live.session.replica_id == fake.replica_id
    assert {"path": "/v2/personas/p123", "key": KEY} in tavus.requests
    assert tavus.ended == ["c1"]


def test_a_url_run_looks_the_persona_up_through_the_conversation(tavus, monkeypatch):
    monkeypatch.setattr(daily_replica, "NAME_GRACE", 0.2)
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    fake = FakeDaily(replica_user_id="pal-form-nobody-documented", replica_name="Anna")
    FakeReplica(fake)
    live = LiveRun(
        scenario(),
        LiveOptions(
            Connection(LiveTarget(url="https://tavus.daily.co/c42"), api_url=tavus.url, daily=fake)
        ),
    )
    assert live.run_sync().result.outcome == "completed"
    assert [r["path"] for r in tavus.requests] == ["/v2/conversations/c42", "/v2/personas/p9"]


def test_a_refused_create_is_a_connect_error_and_nothing_is_ended(tavus):
    tavus.create_status = 500
    live = LiveRun(scenario(), creating(tavus, fake_room()))
    with pytest.raises(errors.ConnectError, match="server error") as info:
        live.run_sync()
    assert "not retried" in str(info.value) and "check the Tavus dashboard" in str(info.value)
    assert tavus.ended == [] and len(tavus.requests) == 1


def test_a_failed_end_is_reported_without_the_key(tavus):
    tavus.end_status = 500
    live = LiveRun(scenario(), creating(tavus, fake_room()))
    conv = live.run_sync()
    assert conv.result.ok and not live.ended
    assert "could not end conversation c1" in live.end_error
    assert "dashboard" in live.end_error and KEY not in live.end_error


def test_stopping_during_a_slow_create_still_ends_what_it_created(tavus):
    import asyncio

    tavus.create_delay = 0.4
    live = LiveRun(scenario(), creating(tavus, fake_room()))

    async def main():
        task = asyncio.ensure_future(live.run())
        await asyncio.to_thread(tavus.create_seen.wait, 2)
        live.interrupt("SIGINT")
        return await task

    with pytest.raises(Interrupted, match="while creating the conversation"):
        asyncio.run(main())
    assert tavus.created == ["c1"] and tavus.ended == ["c1"]
    assert live.session is None  # never joined


def test_the_end_call_does_not_depend_on_closing_the_conversation(tavus, monkeypatch):
    from cviscript.engine.conversation import Conversation

    def broken_close(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Conversation, "close", broken_close)
    live = LiveRun(scenario(), creating(tavus, fake_room()))
    with pytest.raises(OSError):
        live.run_sync()
    assert tavus.ended == ["c1"] and live.ended


def test_the_end_call_does_not_depend_on_leaving_the_room(tavus, monkeypatch):
    from cviscript.sessions.live.daily_session import DailySession

    async def broken_aclose(self, timeout=10.0):
        raise RuntimeError("release exploded")

    monkeypatch.setattr(DailySession, "aclose", broken_aclose)
    live = LiveRun(scenario(), creating(tavus, fake_room()))
    with pytest.raises(RuntimeError, match="release exploded"):
        live.run_sync()
    assert tavus.ended == ["c1"]


def test_a_failing_transcript_ends_the_run_as_error_and_still_ends_the_conversation(tavus):
    class FullDisk:
        path = "/mnt/full/run.jsonl"

        def __call__(self, record):
            raise OSError(28, "No space left on device")

    live = LiveRun(scenario(WAITING), creating(tavus, fake_room()), subscribers=[FullDisk()])
    conv = live.run_sync()
    assert conv.result.outcome == "error"
    assert "cannot write the transcript /mnt/full/run.jsonl: No space left" in conv.result.reason
    assert tavus.ended == ["c1"]


# -------------------------------------------------------------------------- command line


@pytest.fixture
def scenario_file(tmp_path):
    def write(text: str = SCENARIO) -> Path:
        path = tmp_path / "created.yaml"
        path.write_text(text)
        return path

    return write


def test_cli_create_runs_and_ends_and_never_shows_the_key(
    tavus, scenario_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", "1")
    out = tmp_path / "t.jsonl"
    res = CliRunner().invoke(
        cli,
        ["run", str(scenario_file()), "--create", "--api-url", tavus.url, "--transcript", str(out)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    assert "created conversation c1: https://tavus.daily.co/c1" in res.output
    assert "✔ completed" in res.output and "conversation c1 ended" in res.output
    assert tavus.ended == ["c1"]
    assert KEY not in res.output and KEY not in out.read_text()
    assert json.loads(out.read_text().splitlines()[0])["created"] is True


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_cli_transcript_on_a_full_device_is_an_error_and_the_conversation_is_ended(
    tavus, scenario_file, monkeypatch
):
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", "1")
    res = CliRunner().invoke(
        cli,
        ["run", str(scenario_file()), "--create", "--api-url", tavus.url,
         "--transcript", "/dev/full"],
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "cannot write the transcript /dev/full: No space left on device" in res.output
    assert "Traceback" not in res.output
    assert tavus.ended == ["c1"]


def test_cli_unwritable_transcript_is_refused_before_creating_anything(
    tavus, scenario_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", "1")
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = CliRunner().invoke(
        cli,
        ["run", str(scenario_file()), "--create", "--api-url", tavus.url,
         "--transcript", str(blocker / "t.jsonl")],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert f"cannot write the transcript {blocker / 't.jsonl'}" in res.output
    assert tavus.requests == []


@pytest.mark.parametrize("text", [SCENARIO, SCENARIO.replace('echo: "Bye"', 'fail: "no luck"')])
def test_cli_a_conversation_left_running_exits_3_and_json_says_so(
    tavus, scenario_file, monkeypatch, text
):
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", "1")
    tavus.end_status = 500
    res = CliRunner().invoke(
        cli, ["run", str(scenario_file(text)), "--create", "--api-url", tavus.url, "--json"]
    )
    assert res.exit_code == 3, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["conversation_left_running"] is True
    assert result["conversation_id"] == "c1"
    assert result["conversation_url"] == "https://tavus.daily.co/c1"
    assert "could not end conversation c1" in result["end_error"]
    assert KEY not in res.output


def test_cli_json_says_when_nothing_is_left_running(tavus, scenario_file, monkeypatch):
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", "1")
    res = CliRunner().invoke(
        cli, ["run", str(scenario_file()), "--create", "--api-url", tavus.url, "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["conversation_left_running"] is False


def test_cli_json_after_a_failed_join_reports_the_conversation_left_running(
    tavus, scenario_file, monkeypatch
):
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", '{"present": false}')
    tavus.end_status = 500
    res = CliRunner().invoke(
        cli,
        ["run", str(scenario_file()), "--create", "--api-url", tavus.url, "--json",
         "--replica-timeout", "0.2"],
    )  # fmt: skip
    assert res.exit_code == 3, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["outcome"] == "error" and "did not join" in result["reason"]
    assert result["conversation_left_running"] is True


def test_cli_create_answer_without_url_echoing_the_key_is_redacted_and_ended(
    tavus, scenario_file, monkeypatch
):
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", "1")
    tavus.create_answer = {"conversation_id": "c1", "status": "active", "you_sent": KEY}
    res = CliRunner().invoke(
        cli, ["run", str(scenario_file()), "--create", "--api-url", tavus.url, "--json"]
    )
    assert res.exit_code == 3, res.output
    assert "without a usable conversation_url (conversation c1 was created)" in res.output
    assert tavus.ended == ["c1"]
    assert KEY not in res.output and "Traceback" not in res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["conversation_left_running"] is False


def test_cli_key_with_a_newline_is_refused_without_a_traceback_or_the_key(
    tavus, scenario_file, monkeypatch
):
    monkeypatch.setenv("TAVUS_API_KEY", KEY[:8] + "\n" + KEY[8:])
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", "1")
    res = CliRunner().invoke(cli, ["run", str(scenario_file()), "--create", "--api-url", tavus.url])
    assert res.exit_code == 3, res.output
    assert "malformed: it holds a line break at position 9" in res.output
    assert KEY[:8] not in res.output and KEY[8:] not in res.output
    assert "Traceback" not in res.output and tavus.requests == []


def test_cli_plain_run_of_a_file_with_create_stays_simulated(tavus, scenario_file, monkeypatch):
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    monkeypatch.setenv("TAVUS_API_URL", tavus.url)
    res = CliRunner().invoke(cli, ["run", str(scenario_file())], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "simulated replica" in res.output and "--live" in res.output
    assert tavus.requests == []


def test_cli_live_uses_the_file_and_env_api_url(tavus, scenario_file, monkeypatch):
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    monkeypatch.setenv("TAVUS_API_URL", tavus.url)
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", "1")
    res = CliRunner().invoke(
        cli, ["run", str(scenario_file()), "--live", "--json"], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["outcome"] == "completed" and result["conversation_id"] == "c1"
    assert tavus.ended == ["c1"]


@pytest.mark.parametrize(
    "key, status, message",
    [
        (None, 200, "no Tavus API key: set TAVUS_API_KEY"),
        (KEY, 401, "Tavus rejected the API key (HTTP 401)"),
        (KEY, 500, "Tavus had a server error (HTTP 500)"),
    ],
)
def test_cli_tavus_failures_exit_3(tavus, scenario_file, monkeypatch, key, status, message):
    if key:
        monkeypatch.setenv("TAVUS_API_KEY", key)
    else:
        monkeypatch.delenv("TAVUS_API_KEY", raising=False)
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", "1")
    tavus.create_status = status
    res = CliRunner().invoke(cli, ["run", str(scenario_file()), "--create", "--api-url", tavus.url])
    assert res.exit_code == 3, res.output
    assert message in res.output
    assert KEY not in res.output
    if key is None:  # what works from the command line: it has no api_key option
        assert "api_key" not in res.output and "export TAVUS_API_KEY=" in res.output


def test_cli_test_mode_creates_and_ends_without_running(tavus, scenario_file, monkeypatch):
    monkeypatch.setenv("TAVUS_API_KEY", KEY)
    res = CliRunner().invoke(
        cli, ["run", str(scenario_file()), "--create", "--test-mode", "--api-url", tavus.url]
    )
    assert res.exit_code == 0, res.output
    assert "test mode" in res.output
    assert tavus.requests[0]["body"]["test_mode"] is True and tavus.ended == ["c1"]


def test_cli_usage_errors_exit_2(scenario_file):
    path = str(scenario_file())
    for args, message in [
        (["--simulate", "--url", "https://tavus.daily.co/c1"], "--simulate"),
        (["--url", "https://tavus.daily.co/c1", "--create"], "give one"),
        (["--url", "https://tavus.daily.co/c1", "-r", "x"], "simulated runs only"),
    ]:
        res = CliRunner().invoke(cli, ["run", path, *args])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output


# ---------------------------------------------------------------------------- subprocesses


class Proc:
    """`python -m cviscript ...` with stderr collected line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.started = time.monotonic()
        self.p = subprocess.Popen(
            [sys.executable, "-m", "cviscript", *args],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err_lines: list[str] = []
        self.out_lines: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.p.stderr, self.err_lines), daemon=True),
            threading.Thread(target=self._read, args=(self.p.stdout, self.out_lines), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def wait_for(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.err_lines):
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise AssertionError(f"never saw {text!r}; stderr: {''.join(self.err_lines)}")
            time.sleep(0.01)

    def finish(self, timeout: float = 20.0) -> tuple[int, str, str]:
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise
        for reader in self._readers:
            reader.join(2)
        return self.p.returncode, "".join(self.out_lines), "".join(self.err_lines)


def live_env(**extra: str) -> dict[str, str]:
    return {"TAVUS_API_KEY": KEY, "CVISCRIPT_FAKE_DAILY": "1", "PYTHONUNBUFFERED": "1", **extra}


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_run_ends_the_conversation(tavus, scenario_file, tmp_path, sig, status):
    out = tmp_path / "t.jsonl"
    proc = Proc(
        ["run", str(scenario_file(WAITING)), "--create", "--api-url", tavus.url,
         "--transcript", str(out)],
        live_env(),
    )  # fmt: skip
    proc.wait_for("; running")
    time.sleep(0.1)
    proc.p.send_signal(sig)
    code, stdout, stderr = proc.finish()
    assert code == status, stderr
    assert tavus.ended == ["c1"]
    last = json.loads(out.read_text().splitlines()[-1])
    assert last["kind"] == "outcome" and last["outcome"] == "failed"
    assert last["reason"] == f"interrupted by {sig.name}"
    assert f"interrupted by {sig.name}" in stdout
    for text in (stdout, stderr, out.read_text()):
        assert KEY not in text
    assert "Traceback" not in stderr


def test_sigint_during_a_slow_create_still_ends_it(tavus, scenario_file):
    tavus.create_delay = 0.5
    proc = Proc(["run", str(scenario_file()), "--create", "--api-url", tavus.url], live_env())
    assert tavus.create_seen.wait(10)
    proc.p.send_signal(signal.SIGINT)
    code, _, stderr = proc.finish()
    assert code == 130, stderr
    assert "interrupted by SIGINT while creating the conversation" in stderr
    assert tavus.created == ["c1"] and tavus.ended == ["c1"]


# A second or third signal: tests/test_signals.py (one signal, copies included, is one clean stop).


def test_real_daily_bad_url_exits_3_quickly_and_cleanly(scenario_file):
    tools.module("daily", install="daily-python")
    env = {"CVISCRIPT_FAKE_DAILY": "", "TAVUS_API_KEY": KEY}
    # (a URL the SDK cannot parse although it has the shape: 'not a url' is refused before)
    url = "https://exa mple.daily.co/c1"
    proc = Proc(["run", str(scenario_file()), "--url", url, "--quiet-sdk"], env)
    code, stdout, stderr = proc.finish(timeout=20)
    assert code == 3, stderr
    assert "could not reach Daily: Failed to parse url" in stderr
    assert '"level":"ERROR"' not in stderr  # the SDK's own fd-2 lines are hidden
    assert time.monotonic() - proc.started < 20
    assert "Traceback" not in stderr and "Aborted" not in stderr
    assert KEY not in stdout + stderr


def test_an_unreachable_tavus_is_said_once(scenario_file):
    # the failure came as a 'warning: POST /v2/conversations: … refused' line and then the
    # error saying the same; and a create refused at the door cannot have created anything
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"CVISCRIPT_FAKE_DAILY": "1", "TAVUS_API_KEY": KEY}
    args = ["run", str(scenario_file()), "--create", "--api-url", f"http://127.0.0.1:{port}"]
    code, _, stderr = Proc(args, env).finish(timeout=20)
    assert code == 3, stderr
    assert stderr.count("Connection refused") == 1, stderr
    assert "nothing was created" in stderr and "may have been created" not in stderr


def test_a_url_that_is_no_url_is_refused_before_joining(scenario_file):
    # it reached daily-python, which logged raw JSON and the run said 'could not reach Daily'
    # (exit 3: a network problem); listen, send and rehearse --live --url took it the same way
    env = {"CVISCRIPT_FAKE_DAILY": "1"}
    for args in (
        ["run", str(scenario_file()), "--url", "notaurl"],
        ["listen", "--url", "notaurl"],
        ["send", "--url", "ftp://x/c1", "echo", "hi"],
        ["rehearse", str(scenario_file()), "--live", "--url", "notaurl"],
    ):
        code, _, stderr = Proc(args, env).finish(timeout=20)
        assert code == 2, (args, stderr)
        assert "is not an https:// URL" in stderr and "could not reach" not in stderr


def test_real_daily_pending_join_exits_3_without_lingering_or_aborting(scenario_file):
    tools.module("daily", install="daily-python")
    # offline the join stays pending ~19 s and the SDK will not release the client before:
    # the run must give up after --join-timeout and leave at once (os._exit), not abort later
    proc = Proc(
        ["run", str(scenario_file()), "--url", "https://cviscript-offline-test.daily.co/room",
         "--join-timeout", "0.5", "--quiet-sdk"],
        {"CVISCRIPT_FAKE_DAILY": ""},
    )  # fmt: skip
    code, _, stderr = proc.finish(timeout=20)
    assert code == 3, stderr
    assert time.monotonic() - proc.started < 6
    assert "could not reach Daily" in stderr and "Traceback" not in stderr


def test_real_daily_sigint_while_joining_exits_130_at_once(scenario_file):
    tools.module("daily", install="daily-python")
    proc = Proc(
        ["run", str(scenario_file()), "--url", "https://cviscript-offline-test.daily.co/room",
         "--quiet-sdk"],
        {"CVISCRIPT_FAKE_DAILY": ""},
    )  # fmt: skip
    proc.wait_for("waiting for the replica")
    time.sleep(0.2)
    asked = time.monotonic()
    proc.p.send_signal(signal.SIGINT)
    code, _, stderr = proc.finish(timeout=20)
    if "could not reach Daily" in stderr:  # the join failed first (online: no such room)
        assert code == 3
        return
    assert code == 130, stderr
    assert time.monotonic() - asked < 3
    assert "interrupted by SIGINT while connecting" in stderr


def test_the_persona_files_name_recognises_the_replica_without_asking_tavus(
    tavus, monkeypatch, tmp_path
):
    monkeypatch.setattr(daily_replica, "NAME_GRACE", 0.2)  # no Tavus user id will come
    (tmp_path / "persona.json").write_text(json.dumps({"persona_name": "Anna"}))
    path = tmp_path / "created.yaml"
    path.write_text(
        SCENARIO.replace("conversation:\n", "conversation:\n  persona_file: persona.json\n")
    )
    fake = FakeDaily(replica_user_id="pal-form-nobody-documented", replica_name="Anna")
    FakeReplica(fake)
    live = LiveRun(load_scenario(path), creating(tavus, fake))
    conv = live.run_sync()
    assert conv.result.outcome == "completed"
    assert live.session.replica_id == fake.replica_id
    assert not [r for r in tavus.requests if r["path"].startswith("/v2/personas/")]
    assert tavus.ended == ["c1"]
