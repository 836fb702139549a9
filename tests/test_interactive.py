"""Playing the visitor (`run --interactive`), `run --speed`, and steering a run from outside:
the realtime driver, the prompt's commands, the control server and `cviscript fire`, a real
terminal (tmux), a pipe, and Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import tools
from helpers import scenario_from

from cviscript.clock import VirtualClock
from cviscript.control import client
from cviscript.control.prompt import parse
from cviscript.control.server import ControlServer, parse_address
from cviscript.control.steer import SimulatedSteering
from cviscript.errors import UsageError
from cviscript.sessions.realtime import RealtimeDriver
from cviscript.sessions.replay import replay
from cviscript.sessions.simulated.runner import simulated_conversation

STEER = """\
cviscript: 1
name: steer
initial: intro
timeout: 60s
any:
  - manual: bail
    goto: bye
states:
  intro:
    enter: [{echo: "Welcome. Ask me anything."}]
    on:
      - utterance: "(?i)price"
        goto: pricing
      - manual: skip
        goto: pricing
  pricing:
    enter: [{echo: "Plans start at ten dollars."}]
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    enter: [{echo: "Bye."}]
    final: true
rehearsals:
  - name: quiet
    replica: {join_delay: 0s}
    operator:
      - at: 50s
        fire: skip
"""
CLI = [sys.executable, "-m", "cviscript.cli.main"]


@pytest.fixture
def steer_file(tmp_path: Path) -> Path:
    path = tmp_path / "steer.yaml"
    path.write_text(STEER)
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from cviscript.cli.main import main; main()", *args]


# ---------------------------------------------------------------------------- the driver


class FakeWall:
    """A wall clock that moves only when the driver waits."""

    def __init__(self):
        self.t = 100.0

    def monotonic(self) -> float:
        return self.t

    def wait(self, timeout: float):
        self.t += timeout
        return None


def test_driver_never_runs_ahead_of_the_wall_clock_times_speed():
    sc = scenario_from(STEER)
    clock = VirtualClock()
    conv = simulated_conversation(sc, sc.rehearsals[0], clock=clock)
    wall = FakeWall()
    driver = RealtimeDriver(conv, clock, speed=4.0, monotonic=wall.monotonic)
    ahead = []
    conv.trace.subscribe(lambda r: ahead.append(clock.now() - driver.virtual_now()))
    driver.run(wait=wall.wait)
    assert conv.result.path == ["intro", "pricing", "bye"]  # the operator rule at 50 s
    assert max(ahead) <= 1.1e-6  # nothing happened before its time (within EPSILON)
    # 50 s of conversation and more at 4x: at least 12.5 s of wall time passed
    assert wall.t - 100.0 >= conv.result.duration / 4.0 - 1e-6
    assert wall.t - 100.0 <= conv.result.duration / 4.0 + 0.3


def test_driver_runs_commands_at_the_current_virtual_time():
    sc = scenario_from(STEER)
    clock = VirtualClock()
    conv = simulated_conversation(sc, None, clock=clock)
    wall = FakeWall()
    driver = RealtimeDriver(conv, clock, speed=1.0, monotonic=wall.monotonic)
    steering = SimulatedSteering(conv, driver)
    answers = []

    def wait(timeout):  # a person fires `skip` 7 s into the run
        if wall.t - 100.0 >= 7.0 and not answers:
            answers.append(driver.submit(conv.fire, "skip"))
            return driver._next_command(0.0)
        return wall.wait(timeout)

    driver.run(wait=wait)
    assert answers[0].result() == "intro.on[1]"
    transition = next(r for r in conv.trace.records if r.kind == "transition")
    assert transition.t == pytest.approx(7.0, abs=0.26)
    assert steering.names == ["bail", "skip"]


def test_speed_must_be_positive():
    sc = scenario_from(STEER)
    clock = VirtualClock()
    with pytest.raises(ValueError):
        RealtimeDriver(simulated_conversation(sc, None, clock=clock), clock, speed=0)


# ---------------------------------------------------------------------------- the prompt


@pytest.mark.parametrize(
    "line, parsed",
    [
        ("hello there", ("say", "hello there")),
        ("  /fire  skip ", ("fire", "skip")),
        ("/FIRE skip", ("fire", "skip")),
        ("/see a red mug", ("see", "a red mug")),
        ("/barge", ("barge", "")),
        ("/barge wait!", ("barge", "wait!")),
        ("/quit", ("quit", "")),
        ("", ("nothing", "")),
        ("/fire", ("error", "/fire needs a name")),
    ],
)
def test_prompt_commands(line, parsed):
    assert parse(line) == parsed


def test_unknown_prompt_command_is_shown_safely():
    kind, message = parse("/\x1b[31mboom")
    assert kind == "error" and "\x1b" not in message


# ------------------------------------------------------------------- a pipe (not a TTY)


def test_interactive_from_a_pipe_plays_the_visitor_and_is_replayable(steer_file, tmp_path):
    transcript = tmp_path / "t.jsonl"
    lines = "/help\n/fire nope\nwhat is the price?\n"
    proc = subprocess.run(
        _cli("run", str(steer_file), "-i", "--speed", "50", "--transcript", str(transcript)),
        input=lines,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "/fire NAME" in proc.stdout  # /help
    assert "no manual: 'nope'" in proc.stdout
    assert 'user: "what is the price?"' in proc.stdout
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert {"kind": "operator", "say": "what is the price?", "barge_in": False}.items() <= next(
        r for r in records if r["kind"] == "operator"
    ).items()
    assert records[-1]["kind"] == "outcome" and records[-1]["path"] == ["intro", "pricing", "bye"]
    assert replay(transcript, steer_file).divergence is None


def test_fire_from_a_pipe_is_recorded_and_replayed(steer_file, tmp_path):
    transcript = tmp_path / "t.jsonl"
    proc = subprocess.run(
        _cli("run", str(steer_file), "-i", "--speed", "50", "--transcript", str(transcript)),
        input="/fire skip\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fired intro.on[1]: intro → pricing" in proc.stdout
    result = replay(transcript, steer_file)
    assert result.divergence is None
    assert result.conversation.result.path == ["intro", "pricing", "bye"]


def test_speed_refuses_live_and_bad_values(steer_file):
    proc = subprocess.run(
        _cli("run", str(steer_file), "--speed", "0"), capture_output=True, text=True
    )
    assert proc.returncode == 2 and "--speed" in proc.stderr
    proc = subprocess.run(
        _cli("run", str(steer_file), "--control", "0.0.0.0:0"), capture_output=True, text=True
    )
    assert proc.returncode == 2 and "loopback" in proc.stderr


def test_ctrl_c_ends_cleanly_with_a_complete_transcript(steer_file, tmp_path):
    transcript = tmp_path / "t.jsonl"
    proc = subprocess.Popen(
        _cli("run", str(steer_file), "-i", "-r", "quiet", "--transcript", str(transcript)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: transcript.exists() and "intro" in transcript.read_text())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT" in out
    assert "Traceback" not in err
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert records[-1]["kind"] == "outcome" and records[-1]["reason"] == "interrupted by SIGINT"
    assert replay(transcript, steer_file).divergence is None


def _wait_for(cond, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


# ------------------------------------------------------------------------- control server


@pytest.fixture
def served(steer_file):
    sc = scenario_from(STEER)
    clock = VirtualClock()
    conv = simulated_conversation(sc, None, clock=clock)
    driver = RealtimeDriver(conv, clock, speed=1.0)
    steering = SimulatedSteering(conv, driver)
    server = ControlServer(steering).start()
    thread = threading.Thread(target=driver.run, daemon=True)
    thread.start()
    _wait_for(lambda: conv.engine.state == "intro")
    yield server, conv
    steering.stop("test over")
    thread.join(10)
    server.close()


def test_control_fire_and_status(served):
    server, conv = served
    code, body = client.status(server.page_url)
    assert code == 200 and body["state"] == "intro" and body["answers"] == ["bail", "skip"]
    code, body = client.fire(server.page_url, "skip")
    assert code == 200 and body == {"fired": True, "message": "fired intro.on[1]: intro → pricing"}
    code, body = client.fire(server.page_url, "skip")  # pricing has no `skip`
    assert code == 200 and body["fired"] is False
    code, body = client.fire(server.page_url, "nope")
    assert code == 404 and body["names"] == ["bail", "skip"]


def test_control_refuses_without_token_wrong_host_or_a_body(served):
    server, _conv = served
    base = server.url.rstrip("/")
    assert client.fire(base + "/?token=wrong", "skip")[0] == 403
    assert (
        _raw("POST", base + "/fire/skip", {"Host": f"evil.example:{server.port}"}, server)[0] == 421
    )
    headers = {"Content-Length": "5"}
    assert _raw("POST", base + "/fire/skip", headers, server, body=b"xxxxx")[0] == 413
    assert _raw("GET", base + "/?token=" + server.token, {}, server)[0] == 200
    assert _raw("GET", base + "/", {}, server)[0] == 403
    assert _raw("GET", base + "/" + "x" * 600, {}, server)[0] == 414


def _raw(method, url, headers, server, body=None):
    headers = {"X-Cviscript-Token": server.token, **headers} if "token=" not in url else headers
    if "token=" not in url and url.endswith("/") and method == "GET" and "Host" not in headers:
        headers = {}  # the page without its token
    req = urllib.request.Request(url, method=method, headers=headers, data=body)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_control_page_lists_names_escaped(served):
    server, _conv = served
    code, page = _raw("GET", server.page_url, {}, server)
    assert code == 200 and b'data-name="skip"' in page and b'data-name="bail"' in page


@pytest.mark.parametrize("text", ["0.0.0.0:8000", "192.168.1.2:80", "example.com:80", "x"])
def test_control_listens_on_loopback_only(text):
    with pytest.raises(UsageError):
        parse_address(text)


def test_control_address_forms():
    assert parse_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_address("localhost:8377") == ("127.0.0.1", 8377)
    assert parse_address("[::1]:9") == ("::1", 9)


def test_fire_client_refuses_other_hosts():
    with pytest.raises(UsageError):
        client.split_control_url("http://example.com:80/?token=x", None)
    with pytest.raises(UsageError):
        client.split_control_url("http://127.0.0.1:80/", None)


def test_fire_command_against_a_running_simulated_run(steer_file):
    proc = subprocess.Popen(
        _cli("run", str(steer_file), "--control", "127.0.0.1:0", "-r", "quiet", "--no-color"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        lines = []
        while url is None:
            line = proc.stdout.readline()
            assert line, "".join(lines) + proc.stderr.read()
            lines.append(line)
            m = re.search(r"control: (http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            url = m.group(1) if m else None
        # the unknown name first: once `bail` reaches the final state the run ends and its
        # control server with it, so a fire after it would race the run's exit
        unknown = subprocess.run(
            _cli("fire", "nope", "--control", url), capture_output=True, text=True, timeout=30
        )
        assert unknown.returncode == 2 and "bail, skip" in unknown.stderr
        fired = subprocess.run(
            _cli("fire", "bail", "--control", url), capture_output=True, text=True, timeout=30
        )
        assert fired.returncode == 0, fired.stderr
        assert "fired any[0]: intro → bye" in fired.stdout
        out, _err = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "path: intro → bye" in out
    finally:
        if proc.poll() is None:
            proc.kill()


# ------------------------------------------------------------------------ a real terminal


def _need_tmux():
    tools.program("tmux", install="tmux")


def test_interactive_in_a_real_terminal(steer_file, tmp_path):
    _need_tmux()
    transcript = tmp_path / "t.jsonl"
    session = f"cviscript-test-{os.getpid()}"
    sock = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", sock]
    cmd = " ".join(
        [
            *(f"'{a}'" for a in _cli("run", str(steer_file), "-i", "--no-color", "-r", "quiet")),
            "--transcript",
            str(transcript),
            f"; echo EXIT=$? > {tmp_path / 'rc'}; sleep 30",
        ]
    )
    env = {**os.environ, "TERM": "xterm"}
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "150", "-y", "50", cmd],
        check=True,
        env=env,
    )
    try:

        def screen() -> str:
            return subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", session, "-S", "-200"],
                capture_output=True,
                text=True,
            ).stdout

        _wait_for(lambda: "visitor>" in screen() and "── intro" in screen())
        # type slowly into the prompt while the transcript streams above it
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", "what is the pr"], check=True)
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", "ice?"], check=True)
        subprocess.run([*tmux, "send-keys", "-t", session, "Enter"], check=True)
        _wait_for(lambda: '← user: "what is the price?"' in screen())
        _wait_for(lambda: "── pricing" in screen())
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", "/fire bail"], check=True)
        subprocess.run([*tmux, "send-keys", "-t", session, "Enter"], check=True)
        _wait_for(lambda: (tmp_path / "rc").exists(), limit=30)
        text = screen()
        assert "EXIT=0" in (tmp_path / "rc").read_text()
        assert "path: intro → pricing → bye" in text
        assert "Traceback" not in text
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert replay(transcript, steer_file).divergence is None


def test_ctrl_c_in_a_real_terminal_restores_it(steer_file, tmp_path):
    _need_tmux()
    session = f"cviscript-test-c-{os.getpid()}"
    sock = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", sock]
    cmd = " ".join(
        [
            *(f"'{a}'" for a in _cli("run", str(steer_file), "-i", "--no-color", "-r", "quiet")),
            f"; echo EXIT=$? > {tmp_path / 'rc'}; stty -a > {tmp_path / 'stty'}; sleep 30",
        ]
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd], check=True
    )
    try:

        def screen() -> str:
            return subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout

        _wait_for(lambda: "visitor>" in screen())
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", "half typed"], check=True)
        subprocess.run([*tmux, "send-keys", "-t", session, "C-c"], check=True)
        _wait_for(lambda: (tmp_path / "stty").exists() and (tmp_path / "stty").stat().st_size > 0)
        assert "EXIT=130" in (tmp_path / "rc").read_text()
        modes = (tmp_path / "stty").read_text().split()
        assert "icanon" in modes and "echo" in modes  # the terminal is usable again
        assert "interrupted by SIGINT" in screen()
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


KIOSK = Path(__file__).resolve().parent.parent / "scenarios" / "kiosk.yaml"


def test_in_a_real_terminal_the_person_is_the_visitor_not_the_rehearsal_script(tmp_path):
    """kiosk.yaml's first rehearsal scripts a visitor who is "here to see Ada": at the prompt the
    person is the visitor, what they type is the next utterance, and /quit ends as stopped."""
    _need_tmux()
    session = f"cviscript-test-k-{os.getpid()}"
    sock = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", sock]
    transcript = tmp_path / "t.jsonl"
    args = _cli(
        "run", str(KIOSK), "-i", "--no-color", "--speed", "8", "--transcript", str(transcript)
    )
    cmd = " ".join([*(f"'{a}'" for a in args), f"; echo EXIT=$? > {tmp_path / 'rc'}; sleep 30"])
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "200", "-y", "60", cmd],
        check=True,
        env={**os.environ, "TERM": "xterm"},
    )
    try:

        def screen() -> str:
            return subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", session, "-S", "-300"],
                capture_output=True,
                text=True,
            ).stdout

        _wait_for(lambda: "visitor>" in screen() and "How can I help you today?" in screen())
        words = "I have a delivery for the mail room"
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", words], check=True)
        subprocess.run([*tmux, "send-keys", "-t", session, "Enter"], check=True)
        _wait_for(lambda: f'← user: "{words}"' in screen())
        _wait_for(lambda: "── delivery" in screen())
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", "/quit"], check=True)
        subprocess.run([*tmux, "send-keys", "-t", session, "Enter"], check=True)
        _wait_for(lambda: (tmp_path / "rc").exists(), limit=30)
        text = screen()
        assert "EXIT=4" in (tmp_path / "rc").read_text()
        assert "■ stopped: ended at the prompt (/quit)" in text
        assert "here to see Ada" not in text  # the rehearsal's scripted visitor stayed silent
        assert "you are the visitor" in text
        assert "Traceback" not in text
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    # the scenario's own respond texts come back as user utterances too (respond_echo)
    own = {
        r["message"]["properties"]["text"]
        for r in records
        if r["kind"] == "sent" and r["message"]["event_type"] == "conversation.respond"
    }
    users = [
        r["message"]["properties"]["speech"]
        for r in records
        if r["kind"] == "received"
        and r["message"]["event_type"] == "conversation.utterance"
        and r["message"]["properties"].get("role") == "user"
        and r["message"]["properties"]["speech"] not in own
    ]
    assert users == [words]
    assert records[-1]["kind"] == "outcome" and records[-1]["outcome"] == "stopped"
    replayed = replay(transcript, KIOSK)  # stopped where the person stopped it, not an error
    assert replayed.divergence is None and replayed.conversation.result.outcome == "stopped"


def test_r_none_is_a_silent_user_and_with_script_needs_interactive(steer_file):
    done = subprocess.run(
        _cli("run", str(KIOSK), "-r", "none", "--no-color"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "a silent simulated user" in done.stdout, done.stderr
    assert "path: welcome → farewell" in done.stdout  # nobody spoke: `after: 45s`
    refused = subprocess.run(
        _cli("run", str(steer_file), "--with-script"), capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "--interactive" in refused.stderr


def test_with_script_the_typed_words_still_come_first():
    """The script queued its line while the replica spoke; the person typed after: the typed
    words are the visitor's next utterance."""
    sc = scenario_from(
        STEER.replace(
            "    operator:\n      - at: 50s\n        fire: skip\n",
            "    user:\n      - at: 0.5s\n        say: I am from the script\n",
        ).replace("enter: [{echo: \"Welcome. Ask me anything.\"}]",
                  "enter: [{echo: \"Welcome, welcome, welcome. Ask me anything at all.\"}]")
    )  # fmt: skip
    clock = VirtualClock()
    conv = simulated_conversation(sc, sc.rehearsals[0], clock=clock)
    user = conv.session.user
    conv.start()
    clock.run(until=1.0)  # the scripted line is queued: the replica is still speaking
    assert user.busy() and not user.said
    user.say("what is the price?")
    clock.run(until=30.0)
    assert user.said[:2] == ["what is the price?", "I am from the script"]
    assert conv.engine.path[:2] == ["intro", "pricing"]
