"""One signal is one clean stop, however many copies of it arrive (hardening round three).

GNU `timeout` — how CI bounds and cancels a step — sends its signal to the command and to the
command's process group, so the command receives it twice; a CI runner's cancel signals the
process group (and often the process itself). Each test here stops a real `cviscript` process
the way CI does — through a real `timeout` wrapper, or a process-group kill — while a local
stand-in for the Tavus API counts the conversations created and ended: every one created must be
ended, and the run exits as a stopped run (130/143), never as one that skipped ending.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO
from test_live_http import KEY, WAITING, TavusStub, live_env

if shutil.which("timeout") is None:  # coreutils: in every CI image; required, never skipped
    raise RuntimeError("GNU timeout is required by tests/test_signals.py")

PY = [sys.executable, "-m", "cviscript"]

CASES = """\
cviscript: 1
name: waits
conversation:
  create: {persona_id: p1, replica_id: r1}
initial: hello
states:
  hello:
    enter: [{echo: "Hi!"}]
    on:
      - after: 60s
        goto: bye
  bye:
    final: true
rehearsals:
""" + "".join(f"  - name: case {i}\n    expect: {{outcome: completed}}\n" for i in range(4))


@pytest.fixture
def tavus():
    stub = TavusStub()
    yield stub
    stub.close()


def _start(args: list[str], env: dict[str, str], cwd=REPO, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _wait_for(cond, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _finish(proc: subprocess.Popen, limit: float = 40.0) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, out, err


def _all_ended(stub: TavusStub, at_least: int = 1) -> None:
    assert len(stub.created) >= at_least, stub.requests
    assert sorted(stub.ended) == sorted(stub.created), (stub.created, stub.ended)


@pytest.mark.parametrize("sig, status", [("INT", 130), ("TERM", 143)])
def test_run_create_under_gnu_timeout_ends_its_conversation(tavus, tmp_path, sig, status):
    tavus.end_delay = 1.0  # an end call takes time: the second copy arrives while it is out
    scenario = tmp_path / "waiting.yaml"
    scenario.write_text(WAITING)
    args = ["timeout", "--preserve-status", "-s", sig, "4", *PY, "run", str(scenario), "--create"]
    proc = _start([*args, "--api-url", tavus.url], live_env())
    code, _out, err = _finish(proc)
    assert code == status, err
    _all_ended(tavus)
    assert "again: exiting now" not in err and "Traceback" not in err and KEY not in err


def test_run_create_under_a_process_group_kill_ends_its_conversation(tavus, tmp_path):
    tavus.end_delay = 1.0
    scenario = tmp_path / "waiting.yaml"
    scenario.write_text(WAITING)
    proc = _start(
        [*PY, "run", str(scenario), "--create", "--api-url", tavus.url],
        live_env(),
        start_new_session=True,
    )
    _wait_for(lambda: tavus.created)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)  # the runner's cancel: the whole group ...
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)  # ... and the process itself
    code, _out, err = _finish(proc)
    assert code == 143, err
    _all_ended(tavus)


@pytest.mark.parametrize("how", ["timeout", "killpg"])
def test_rehearse_live_in_parallel_ends_every_conversation(tavus, tmp_path, how):
    tavus.end_delay = 1.0
    (tmp_path / "waits.yaml").write_text(CASES)
    env = live_env(TAVUS_API_URL=tavus.url)
    args = [*PY, "rehearse", "--live", "-j", "2", "waits.yaml", "--max-duration", "50"]
    if how == "timeout":
        proc = _start(["timeout", "--preserve-status", "-s", "TERM", "5", *args], env, tmp_path)
    else:
        proc = _start(args, env, tmp_path, start_new_session=True)
        _wait_for(lambda: len(tavus.created) >= 2)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)
    code, out, err = _finish(proc)
    assert code == (143 if how == "timeout" else 130), out + err
    _all_ended(tavus, at_least=2)
    assert "NOT ENDED" not in out + err and "Traceback" not in err


def test_a_second_ctrl_c_while_creating_still_ends_what_was_created(tavus, tmp_path):
    tavus.create_delay = 3.5
    scenario = tmp_path / "waiting.yaml"
    scenario.write_text(WAITING)
    proc = _start([*PY, "run", str(scenario), "--create", "--api-url", tavus.url], live_env())
    assert tavus.create_seen.wait(20)
    proc.send_signal(signal.SIGINT)
    time.sleep(2.3)  # past the grace period: a second, separate Ctrl-C
    proc.send_signal(signal.SIGINT)
    code, _out, err = _finish(proc)
    assert code == 130, err
    assert "still creating the conversation" in err
    assert tavus.created == ["c1"] and tavus.ended == ["c1"]


def test_rehearse_live_a_second_ctrl_c_while_creating_ends_what_was_created(tavus, tmp_path):
    tavus.create_delay = 3.5
    (tmp_path / "waits.yaml").write_text(CASES)
    env = live_env(TAVUS_API_URL=tavus.url)
    args = [*PY, "rehearse", "--live", "-j", "2", "waits.yaml", "--max-duration", "50"]
    proc = _start(args, env, tmp_path)
    assert tavus.create_seen.wait(20)
    proc.send_signal(signal.SIGINT)
    time.sleep(2.3)
    proc.send_signal(signal.SIGINT)  # while the creates are out: held ("not ended: none" before)
    code, out, err = _finish(proc)
    assert code == 130, out + err
    assert "still creating or ending conversations" in err
    _all_ended(tavus, at_least=1)


def test_a_third_signal_exits_at_once_naming_what_was_left_running(tavus, tmp_path):
    tavus.end_delay = 15.0  # the end call hangs
    scenario = tmp_path / "waiting.yaml"
    scenario.write_text(WAITING)
    proc = _start([*PY, "run", str(scenario), "--create", "--api-url", tavus.url], live_env())
    _wait_for(lambda: tavus.created)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert tavus.end_seen.wait(20)
    proc.send_signal(signal.SIGINT)  # a copy (within the grace period): ignored
    time.sleep(2.3)
    proc.send_signal(signal.SIGINT)  # the second: held, the end call is in flight
    time.sleep(2.3)
    asked = time.monotonic()
    proc.send_signal(signal.SIGINT)  # the third: out now
    code, _out, err = _finish(proc, limit=10)
    assert time.monotonic() - asked < 3
    assert code == 3, err
    assert "still ending it" in err
    assert "NOT ENDED: conversation c1" in err


# ------------------------------------------------------------------- the rule, on a fake clock


def test_signal_bursts_copies_held_seconds_and_thirds():
    from cviscript.sessions.live.loop import SignalBursts

    now = [100.0]
    busy = [False]
    calls: list[str] = []
    bursts = SignalBursts(
        lambda n: calls.append(f"stop {n}"),
        lambda n: calls.append(f"exit {n}"),
        busy=lambda: busy[0],
        on_held=lambda n: calls.append(f"held {n}"),
        grace=2.0,
        now=lambda: now[0],
    )
    bursts.handle("SIGTERM")  # timeout's first copy
    bursts.handle("SIGTERM")  # ... and its second: the same signal
    now[0] += 1.9
    bursts.handle("SIGINT")  # still within the grace period of the first
    assert calls == ["stop SIGTERM"] and bursts.copies == 2
    busy[0] = True  # the end call is out
    now[0] += 0.2
    bursts.handle("SIGINT")
    bursts.handle("SIGINT")  # its copy
    assert calls == ["stop SIGTERM", "held SIGINT"]
    now[0] += 2.5
    bursts.handle("SIGINT")  # a third: out, even while busy
    assert calls == ["stop SIGTERM", "held SIGINT", "exit SIGINT"]
    # not busy: the second signal after the grace period exits
    calls.clear()
    fresh = SignalBursts(calls.append, lambda n: calls.append("exit"), grace=2.0,
                         now=lambda: now[0], busy=lambda: False)  # fmt: skip
    fresh.handle("SIGINT")
    now[0] += 2.1
    fresh.handle("SIGINT")
    assert calls == ["SIGINT", "exit"]
