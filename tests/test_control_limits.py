"""The control server (`run --control`) cannot cost the run its descriptors or flood its stderr.

Hardening round three: idle connections are bounded in number and time (the rest get a 503), a
connection that trickles is cut, a reset costs one log line not a traceback, a chunked body is
refused like any body, and the end call runs on descriptors held back for it (`fd_reserve`).
"""

from __future__ import annotations

import http.client
import logging
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from cviscript.control import server as server_mod
from cviscript.control.server import ControlServer


class FixedSteering:
    names = ["skip"]

    def status(self) -> dict[str, Any]:
        return {"state": "intro", "done": False, "answers": ["skip"]}

    def fire(self, name: str) -> tuple[bool, str]:
        return True, f"fired {name}"


@pytest.fixture
def fast_limits(monkeypatch):
    # idle connections are dropped after 1.5 s: all 60 of the flood below must be accepted (the
    # first 16 held, the rest refused) before the first is dropped, on a loaded machine too
    monkeypatch.setattr(server_mod._Handler, "timeout", 1.5)
    monkeypatch.setattr(server_mod, "MAX_CONNECTION_SECONDS", 1.5, raising=False)


@pytest.fixture
def control(fast_limits):
    server = ControlServer(FixedSteering()).start()
    yield server
    server.close()


def _status(server: ControlServer) -> int:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("GET", "/status", headers={server_mod.TOKEN_HEADER: server.token})
        return conn.getresponse().status
    finally:
        conn.close()


def _wait_for(cond, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_idle_connections_are_bounded_and_the_rest_answered_503(control):
    idle = [socket.create_connection((control.host, control.port)) for _ in range(60)]
    try:
        _wait_for(lambda: control.httpd.refused >= 60 - server_mod.MAX_CONNECTIONS)
        assert control.httpd.open_connections == server_mod.MAX_CONNECTIONS
        for sock in idle[server_mod.MAX_CONNECTIONS :]:
            sock.settimeout(5)
            assert sock.recv(100).startswith(b"HTTP/1.0 503")
        # the idle ones are dropped after the idle timeout; the operator gets through again
        _wait_for(lambda: control.httpd.open_connections == 0)
        assert _status(control) == 200
    finally:
        for sock in idle:
            sock.close()


def test_a_connection_that_trickles_is_cut_after_its_time(control):
    sock = socket.create_connection((control.host, control.port))
    started = time.monotonic()
    sock.settimeout(0.3)
    try:
        for byte in b"GET /status HTTP/1.0\r\nX-Padding: " + b"a" * 200:
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.25)  # under the idle timeout each time
            try:
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                pass
            assert time.monotonic() - started < 6, "a trickling connection was never cut"
    finally:
        sock.close()
    assert time.monotonic() - started < 6
    _wait_for(lambda: control.httpd.open_connections == 0)


def test_reset_connections_cost_one_log_line_not_tracebacks(control, caplog, capfd):
    caplog.set_level(logging.WARNING, logger="cviscript.control.server")
    for _ in range(100):
        sock = socket.create_connection((control.host, control.port))
        sock.send(b"GET /status HTTP/1.1\r\nHost: x")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST
    _wait_for(lambda: control.httpd.open_connections == 0)
    time.sleep(0.2)
    lines = [r for r in caplog.records if r.name == "cviscript.control.server"]
    assert len(lines) <= 1
    assert "Traceback" not in capfd.readouterr().err
    assert _status(control) == 200


def test_a_chunked_body_is_refused_like_any_body(control):
    conn = http.client.HTTPConnection(control.host, control.port, timeout=5)
    conn.putrequest("POST", "/fire/skip")
    conn.putheader(server_mod.TOKEN_HEADER, control.token)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"5\r\nhello\r\n0\r\n\r\n")
    assert conn.getresponse().status == 413
    conn.close()


def test_a_server_bound_before_the_run_answers_503_until_attached(fast_limits):
    server = ControlServer(None).start()
    try:
        assert _status(server) == 503
        server.attach(FixedSteering())
        assert _status(server) == 200
    finally:
        server.close()


def test_the_end_call_works_with_every_other_descriptor_taken(tmp_path):
    # in a child process: fill the descriptor table, then end a conversation through a stand-in;
    # the process then exits cleanly with its table still full, though a daemon thread is unwound
    # at exit (glibc's first unwind loads libgcc_s, which aborted the process when no descriptor
    # was left: exit -6, seen whenever the stand-in's handler thread outlived the main thread)
    script = textwrap.dedent(
        """
        import os, resource, sys, threading, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        sys.path.insert(0, "tests")
        ended = []
        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                ended.append(self.path)
                self.send_response(200); self.send_header("Content-Length", "2")
                self.end_headers(); self.wfile.write(b"{}")
            def log_message(self, *a): pass
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        from cviscript.sessions.live.tavus_api import TavusClient
        client = TavusClient("tvs-key-0123456789", base_url=f"http://127.0.0.1:{httpd.server_address[1]}", retries=0, timeout=5)
        def tick():
            while True:
                time.sleep(0.001)
        threading.Thread(target=tick, daemon=True).start()  # still running at exit
        hog = []
        try:
            while True:
                hog.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        client.end_conversation("c1")
        print("ended", ended)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ended ['/v2/conversations/c1/end']" in result.stdout


def test_fire_gives_up_on_a_server_that_trickles_within_its_deadline(monkeypatch):
    from cviscript.control import client
    from cviscript.errors import ConnectError

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:  # a whole answer, one byte every 0.2 s (about 9 s)
        conn, _ = listener.accept()
        with conn:
            for byte in b"HTTP/1.0 200 OK\r\nX-Slow: " + b"a" * 20 + b"\r\n\r\n{}":
                if stop.wait(0.2):
                    return
                conn.send(bytes([byte]))

    threading.Thread(target=trickle, daemon=True).start()
    monkeypatch.setattr(client, "TIMEOUT", 1.5)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectError, match="did not answer within 1.5 s"):
            client.fire(f"http://127.0.0.1:{port}/?token=t", "skip")
        assert time.monotonic() - started < 4
    finally:
        stop.set()
        listener.close()


def test_an_idle_connection_flood_on_control_cannot_stop_the_end_call(tmp_path):
    """End to end: `run --create --control` under a low descriptor limit, 300 idle connections
    to the control port, then Ctrl-C — the conversation is still ended, stderr stays short."""
    import os
    import re
    import resource
    import signal

    from conftest import REPO
    from test_live_http import WAITING, TavusStub, live_env

    stub = TavusStub()
    scenario = tmp_path / "waiting.yaml"
    scenario.write_text(WAITING)

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    proc = subprocess.Popen(
        [sys.executable, "-m", "cviscript", "run", str(scenario), "--create",
         "--api-url", stub.url, "--control", "127.0.0.1:0"],
        cwd=REPO, env={**os.environ, **live_env()}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=low_limit,
    )  # fmt: skip
    idle: list[socket.socket] = []
    try:
        url = None
        while url is None:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            m = re.search(r"control: http://127\.0\.0\.1:(\d+)/", line)
            url = m and int(m.group(1))
        _wait_for(lambda: stub.created, 30)
        for _ in range(300):
            try:
                idle.append(socket.create_connection(("127.0.0.1", url), timeout=5))
            except OSError:
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=40)
    finally:
        for sock in idle:
            sock.close()
        if proc.poll() is None:
            proc.kill()
        stub.close()
    assert proc.returncode == 130, err
    assert stub.created == ["c1"] and stub.ended == ["c1"]
    assert "Too many open files" not in err and "Traceback" not in err
    assert len(err.splitlines()) < 40
