"""Steering a live run end to end, in the fake Daily room (CVISCRIPT_FAKE_DAILY).

`cviscript run --url URL --control 127.0.0.1:0` runs in a subprocess; a second process fires
with `cviscript fire`, plain HTTP without the token is refused, and the transcript shows the
transition taken. `run --interactive --create` is fed from a pipe against the local stand-in for
the Tavus API: plain text goes out as conversation.respond, /fire fires, /quit ends the run and
the created conversation is ended.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import tools
from conftest import REPO
from test_live_http import KEY, TavusStub

from cviscript.sessions.replay import replay

LIMIT = 30.0  # generous: a loaded two-core machine starts Python slowly

STEERED = """\
cviscript: 1
name: steered
conversation:
  create:
    persona_id: p123
    replica_id: r456
initial: tour
states:
  tour:
    enter:
      - echo: "Welcome to the tour"
    on:
      - manual: skip
        goto: bye
      - manual: next
        goto: pricing
      - after: 120s
        goto: bye
  pricing:
    enter:
      - echo: "Plans start at ten dollars"
    on:
      - after: 120s
        goto: bye
  bye:
    enter:
      - echo: "Bye"
    final: true
"""


class Proc:
    """`python -m cviscript ...` with a stdin pipe, its output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.p = subprocess.Popen(
            [sys.executable, "-m", "cviscript", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdin = self.p.stdin
        self.out_lines: list[str] = []
        self.err_lines: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(s, lines), daemon=True)
            for s, lines in ((self.p.stdout, self.out_lines), (self.p.stderr, self.err_lines))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def send(self, text: str) -> None:
        self.stdin.write(text)
        self.stdin.flush()

    def finish(self, timeout: float = LIMIT) -> tuple[int, str, str]:
        self.p.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(5)
        return self.p.returncode, "".join(self.out_lines), "".join(self.err_lines)

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)


@pytest.fixture
def tavus():
    stub = TavusStub()
    yield stub
    stub.close()


def _wait_out(proc: Proc, pattern: str, limit: float = LIMIT) -> re.Match:
    """The first stdout line matching `pattern`, polled for (never a fixed sleep)."""
    deadline = time.monotonic() + limit
    regex = re.compile(pattern)
    while True:
        for line in list(proc.out_lines):
            if m := regex.search(line):
                return m
        if time.monotonic() > deadline or proc.p.poll() is not None:
            time.sleep(0.2)  # let the readers catch the last lines
            raise AssertionError(
                f"never saw {pattern!r}; stdout: {''.join(proc.out_lines)}"
                f"stderr: {''.join(proc.err_lines)}"
            )
        time.sleep(0.02)


def _fire(name: str, control: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cviscript", "fire", name, "--control", control],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )


def _http(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=LIMIT) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _env() -> dict[str, str]:
    """The fake room, and no API key: joining by --url then asks Tavus nothing."""
    env = {k: v for k, v in os.environ.items() if k not in ("TAVUS_API_KEY", "TAVUS_API_URL")}
    return {**env, "CVISCRIPT_FAKE_DAILY": "1", "PYTHONUNBUFFERED": "1"}


def _scenario(tmp_path):
    path = tmp_path / "steered.yaml"
    path.write_text(STEERED)
    return path


def _records(path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_fire_from_a_second_process_steers_a_live_run(tmp_path):
    path = _scenario(tmp_path)
    transcript = tmp_path / "t.jsonl"
    proc = Proc(
        ["run", str(path), "--url", "https://tavus.daily.co/c1", "--control", "127.0.0.1:0",
         "--transcript", str(transcript)],
        _env(),
    )  # fmt: skip
    try:
        control = _wait_out(proc, r"control: (http://127\.0\.0\.1:\d+/\?token=\S+)").group(1)
        base, token = control.split("/?token=")
        _wait_out(proc, r"── tour")

        # plain HTTP without the token (or with a wrong one) is refused and fires nothing
        assert _http(f"{base}/fire/skip", "POST")[0] == 403
        assert _http(f"{base}/fire/skip", "POST", **{"X-Cviscript-Token": "x" + token})[0] == 403
        assert _http(f"{base}/status")[0] == 403
        code, status = _http(f"{base}/status", **{"X-Cviscript-Token": token})
        assert code == 200 and status["state"] == "tour" and not status["done"]
        assert status["answers"] == ["skip", "next"] and status["names"] == ["skip", "next"]

        unknown = _fire("skp", control)
        assert unknown.returncode == 2 and unknown.stderr == (
            'cviscript: no such manual name: skp (did you mean "skip"?) (its names: skip, next)\n'
        )

        fired = _fire("skip", control)
        assert fired.returncode == 0, fired.stderr
        assert fired.stdout.strip() == "fired tour.on[0]: tour → bye"
        code, stdout, stderr = proc.finish()
    finally:
        proc.kill()
    assert code == 0, stderr
    assert "⚑ operator fired skip (tour.on[0])" in stdout
    assert "✔ completed: reached final state 'bye'" in stdout and "path: tour → bye" in stdout
    records = _records(transcript)
    operator = [r for r in records if r["kind"] == "operator"]
    assert [(r["name"], r["fired"], r["state"]) for r in operator] == [
        ("skip", "tour.on[0]", "tour")
    ]
    assert records[-1]["kind"] == "outcome" and records[-1]["path"] == ["tour", "bye"]
    # the steered live run replays like any other: the fire comes back at the same moment
    again = replay(transcript, path)
    assert again.divergence is None and again.conversation.result.path == ["tour", "bye"]
    # the run is over: its control interface is gone
    assert _fire("skip", control).returncode == 3


def test_interactive_live_from_a_pipe_with_create(tavus, tmp_path):
    path = _scenario(tmp_path)
    transcript = tmp_path / "t.jsonl"
    proc = Proc(
        ["run", str(path), "--create", "--api-url", tavus.url, "-i",
         "--transcript", str(transcript)],
        {**_env(), "TAVUS_API_KEY": KEY},
    )  # fmt: skip
    try:
        _wait_out(proc, r"── tour")
        proc.send("what is the price?\n")
        _wait_out(proc, r"✎ sent as conversation\.respond")
        # the fake replica's persona answers what it was sent
        _wait_out(proc, r'replica: "I heard: what is the price\?"')
        # over the 4,096-byte message limit: refused with a message, the prompt goes on
        proc.send("a" * 5000 + "\n")
        _wait_out(proc, r"that line is 5,000 bytes; one message carries at most 4,096")
        proc.send('"' * 2500 + "\n")  # under 4,096 bytes, over 4,096 characters of JSON
        _wait_out(proc, r"not sent: conversation\.respond message is \d+ characters of JSON")
        proc.send("/fire nope\n/fire next\n")
        _wait_out(proc, r"── pricing")
        proc.send("/fire skip\n/quit\n")
        code, stdout, stderr = proc.finish()
    finally:
        proc.kill()
    assert code == 4, stderr  # /quit ends the run before its final state: stopped
    assert "no manual: 'nope'" in stdout
    assert "⚑ fired tour.on[1]: tour → pricing" in stdout
    assert "'skip' fired nothing in state 'pricing'" in stdout
    assert "■ stopped: ended at the prompt (/quit)" in stdout and "path: tour → pricing" in stdout
    assert tavus.created == ["c1"] and tavus.ended == ["c1"]
    for text in (stdout, stderr, transcript.read_text()):
        assert KEY not in text
    assert "Traceback" not in stderr
    records = _records(transcript)
    operator = [
        {k: v for k, v in r.items() if k not in ("t", "ts", "kind")}
        for r in records
        if r["kind"] == "operator"
    ]
    assert operator == [
        {"say": "what is the price?"},
        {"name": "next", "fired": "tour.on[1]", "state": "tour"},
        {"name": "skip", "fired": None, "state": "pricing"},
    ]
    assert records[-1]["kind"] == "outcome"
    assert records[-1]["reason"] == "ended at the prompt (/quit)"
    assert records[-1]["outcome"] == "stopped"


def test_number_keys_steer_a_live_run_in_a_real_terminal(tmp_path):
    """`run --url` in a terminal (tmux), no other option: keys 1-9 fire the manual names."""
    tools.program("tmux", install="tmux")
    path = _scenario(tmp_path)
    transcript = tmp_path / "t.jsonl"
    rc = tmp_path / "rc"
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    session = f"cviscript-live-keys-{os.getpid()}"
    args = [sys.executable, "-m", "cviscript", "run", str(path), "--no-color",
            "--url", "https://tavus.daily.co/c1", "--transcript", str(transcript)]  # fmt: skip
    stty = tmp_path / "stty"
    cmd = " ".join(shlex.quote(a) for a in args) + f"; echo EXIT=$? > {rc}; stty -a > {stty}"
    cmd += "; sleep 30"
    env = {**_env(), "TERM": "xterm"}
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "150", "-y", "50", cmd],
        check=True,
        env=env,
        cwd=REPO,
    )

    def screen() -> str:
        return subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", session, "-S", "-200"],
            capture_output=True,
            text=True,
        ).stdout

    def wait_for(cond) -> None:
        deadline = time.monotonic() + LIMIT
        while not cond():
            assert time.monotonic() < deadline, f"timed out; screen:\n{screen()}"
            time.sleep(0.05)

    try:
        wait_for(lambda: "keys: 1 skip, 2 next" in screen() and "── tour" in screen())
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", "2"], check=True)
        wait_for(lambda: "── pricing" in screen())
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", "1"], check=True)
        wait_for(lambda: "fired nothing" in screen())
        subprocess.run([*tmux, "send-keys", "-t", session, "C-c"], check=True)
        wait_for(lambda: stty.exists() and stty.stat().st_size > 0)
        text = screen()
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert "EXIT=130" in rc.read_text(), text
    modes = stty.read_text().split()
    assert "icanon" in modes and "echo" in modes  # the key reader's cbreak mode is undone
    assert "⚑ [2] fired tour.on[1]: tour → pricing" in text
    assert "⚑ [1] 'skip' fired nothing in state 'pricing'" in text
    assert "Traceback" not in text


# ---------------------------------------------- --control bound first, --json kept pure (issue 19)


def test_a_taken_control_port_stops_the_run_before_anything_is_created(tavus, tmp_path):
    import socket

    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        proc = Proc(
            ["run", str(_scenario(tmp_path)), "--create", "--api-url", tavus.url,
             "--control", f"127.0.0.1:{port}"],
            {**_env(), "TAVUS_API_KEY": KEY},
        )  # fmt: skip
        code, _stdout, stderr = proc.finish()
    finally:
        taken.close()
    assert code == 2, stderr
    assert f"cannot serve --control on 127.0.0.1:{port}" in stderr
    assert "nothing was created" in stderr
    assert tavus.requests == []  # no create: nothing to end, nothing billed


def test_json_with_control_keeps_stdout_one_json_object(tmp_path):
    from test_live_http import SCENARIO

    path = tmp_path / "created.yaml"
    path.write_text(SCENARIO)
    proc = Proc(
        ["run", str(path), "--url", "https://tavus.daily.co/c1", "--control", "127.0.0.1:0",
         "--json"],
        _env(),
    )  # fmt: skip
    code, stdout, stderr = proc.finish()
    assert code == 0, stderr
    result = json.loads(stdout)  # the whole of stdout: one object, nothing else
    assert result["outcome"] == "completed"
    assert "token=" not in stdout
    assert re.search(r"control: http://127\.0\.0\.1:\d+/\?token=\S+", stderr)
