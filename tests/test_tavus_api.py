"""TavusClient against a real local HTTP server standing in for tavusapi.com."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cviscript import errors
from cviscript.sessions.live.tavus_api import (
    TavusAuthError,
    TavusClient,
    TavusError,
    TavusIncompleteCreate,
    conversation_id_from_url,
    redact,
)

KEY = "tvs-secret-0123456789abcdef"
CREATED = {
    "conversation_id": "c123",
    "conversation_url": "https://tavus.daily.co/c123",
    "status": "active",
}


class FakeTavus:
    """Serves queued responses in order (default: 200 {}), records every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._responses: deque[tuple[int, Any, float, dict[str, str]]] = deque()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": json.loads(body) if body else None,
                    }
                )
                status, payload, delay, headers = (
                    fake._responses.popleft() if fake._responses else (200, {}, 0.0, {})
                )
                if delay:
                    time.sleep(delay)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:  # the client gave up (timeout tests)
                    pass

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def queue(
        self,
        status: int,
        body: Any = None,
        *,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._responses.append((status, {} if body is None else body, delay, headers or {}))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tavus():
    fake = FakeTavus()
    yield fake
    fake.close()


def client(tavus: FakeTavus, **kw: Any) -> TavusClient:
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 2.0)
    return TavusClient(KEY, base_url=tavus.url, **kw)


# ------------------------------------------------------------------------------------ success


def test_create_sends_key_and_json_body(tavus):
    tavus.queue(200, {**CREATED, "meeting_token": "mt-1"})
    body = {"persona_id": "p1", "replica_id": "r1", "conversation_name": "demo", "test_mode": True}
    got = client(tavus).create_conversation(body)
    assert got["conversation_id"] == "c123"
    assert got["conversation_url"] == "https://tavus.daily.co/c123"
    assert got["meeting_token"] == "mt-1"
    (req,) = tavus.requests
    assert req["method"] == "POST"
    assert req["path"] == "/v2/conversations"
    assert req["headers"]["x-api-key"] == KEY
    assert req["headers"]["content-type"] == "application/json"
    assert req["body"] == body


def test_create_derives_the_id_from_the_url_when_missing(tavus):
    tavus.queue(200, {"conversation_url": "https://tavus.daily.co/cabc", "status": "active"})
    assert client(tavus).create_conversation({"persona_id": "p"})["conversation_id"] == "cabc"


def test_create_without_url_in_answer_is_an_error(tavus):
    tavus.queue(200, {"status": "active"})
    with pytest.raises(TavusError, match="without a usable conversation_url") as info:
        client(tavus).create_conversation({"persona_id": "p"})
    assert info.value.conversation_id is None


def test_end_posts_to_the_end_endpoint(tavus):
    tavus.queue(200, b"")
    assert client(tavus).end_conversation("c123") is None
    (req,) = tavus.requests
    assert (req["method"], req["path"]) == ("POST", "/v2/conversations/c123/end")
    assert req["headers"]["x-api-key"] == KEY


def test_get_reads_the_conversation_verbose(tavus):
    tavus.queue(200, {**CREATED, "status": "ended", "events": []})
    got = client(tavus).get_conversation("c123", verbose=True)
    assert got["status"] == "ended"
    (req,) = tavus.requests
    assert (req["method"], req["path"]) == ("GET", "/v2/conversations/c123?verbose=true")


def test_conversation_id_is_quoted_into_the_path(tavus):
    tavus.queue(200, {})
    client(tavus).get_conversation("a/../b")
    assert tavus.requests[0]["path"] == "/v2/conversations/a%2F..%2Fb"


def test_empty_conversation_id_is_a_usage_error(tavus):
    with pytest.raises(errors.UsageError):
        client(tavus).end_conversation("  ")
    assert tavus.requests == []


# ------------------------------------------------------------------------------------- errors


def test_401_is_an_auth_error(tavus):
    tavus.queue(401, {"message": "Invalid access token"})
    with pytest.raises(TavusAuthError, match="Tavus rejected the API key") as exc:
        client(tavus).get_conversation("c123")
    assert exc.value.status == 401
    assert isinstance(exc.value, errors.ConnectError)
    assert len(tavus.requests) == 1  # never retried


def test_403_is_an_auth_error(tavus):
    tavus.queue(403, {"error": "forbidden"})
    with pytest.raises(TavusAuthError, match="HTTP 403"):
        client(tavus).create_conversation({"persona_id": "p"})


def test_400_carries_the_server_message(tavus):
    tavus.queue(400, {"message": "Invalid persona_id"})
    with pytest.raises(TavusError, match="Invalid persona_id") as exc:
        client(tavus).create_conversation({"persona_id": "nope"})
    assert exc.value.status == 400
    assert len(tavus.requests) == 1


def test_4xx_error_field_and_plain_text_bodies(tavus):
    tavus.queue(404, {"error": "Invalid conversation_id"})
    with pytest.raises(TavusError, match="HTTP 404.*Invalid conversation_id"):
        client(tavus).end_conversation("zzz")
    tavus.queue(422, b"not json at all")
    with pytest.raises(TavusError, match="not json at all"):
        client(tavus).get_conversation("zzz")


def test_missing_key_says_how_to_set_it(monkeypatch):
    monkeypatch.delenv("TAVUS_API_KEY", raising=False)
    with pytest.raises(TavusAuthError, match="set TAVUS_API_KEY"):
        TavusClient()


def test_key_is_read_from_the_environment(monkeypatch, tavus):
    monkeypatch.setenv("TAVUS_API_KEY", "env-key-42")
    tavus.queue(200, {})
    TavusClient(base_url=tavus.url).get_conversation("c1")
    assert tavus.requests[0]["headers"]["x-api-key"] == "env-key-42"


# ------------------------------------------------------------------------------------ retries


@pytest.mark.parametrize("call", ["get", "end"])
def test_idempotent_calls_retry_after_5xx(tavus, call):
    tavus.queue(500, {"message": "boom"})
    tavus.queue(503, {"message": "busy"})
    tavus.queue(200, CREATED)
    c = client(tavus)
    if call == "get":
        assert c.get_conversation("c123")["conversation_id"] == "c123"
    else:
        c.end_conversation("c123")
    assert len(tavus.requests) == 3


def test_retries_are_bounded(tavus):
    for _ in range(5):
        tavus.queue(500, {"message": "down"})
    with pytest.raises(TavusError, match="server error.*down") as exc:
        client(tavus, retries=2).get_conversation("c123")
    assert exc.value.status == 500
    assert len(tavus.requests) == 3


def test_create_is_not_retried_after_5xx(tavus):
    tavus.queue(500, {"message": "boom"})
    tavus.queue(200, CREATED)
    with pytest.raises(TavusError, match="not retried") as exc:
        client(tavus).create_conversation({"persona_id": "p"})
    assert exc.value.status == 500
    assert len(tavus.requests) == 1  # a retry could have created a second billed conversation


def test_create_is_retried_after_429(tavus):
    tavus.queue(429, {"message": "slow down"}, headers={"Retry-After": "0"})
    tavus.queue(200, CREATED)
    assert client(tavus).create_conversation({"persona_id": "p"})["conversation_id"] == "c123"
    assert len(tavus.requests) == 2


def test_slow_answer_hits_the_timeout(tavus):
    tavus.queue(200, CREATED, delay=3.0)
    started = time.monotonic()
    with pytest.raises(TavusError, match="did not answer within 0.2 s") as exc:
        client(tavus, timeout=0.2).create_conversation({"persona_id": "p"})
    assert time.monotonic() - started < 2.0  # not the 3 s answer
    assert "may have been created" in str(exc.value)
    assert len(tavus.requests) == 1  # create is not retried on timeout


def test_get_retries_after_a_timeout(tavus):
    tavus.queue(200, {}, delay=1.0)
    tavus.queue(200, CREATED)
    got = client(tavus, timeout=0.2).get_conversation("c123")
    assert got["conversation_id"] == "c123"
    assert len(tavus.requests) == 2


def test_connection_refused_is_a_connect_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = TavusClient(KEY, base_url=f"http://127.0.0.1:{port}", retries=1, backoff=0.01)
    with pytest.raises(TavusError, match="could not reach Tavus") as exc:
        c.end_conversation("c123")
    assert exc.value.status is None
    # a create refused at the door cannot have created anything: no "check the dashboard" scare
    with pytest.raises(TavusError, match="could not reach Tavus") as exc:
        c.create_conversation({"persona_id": "p"})
    assert "may have been created" not in str(exc.value)
    assert "nothing was created" in str(exc.value)


# -------------------------------------------------------------------------------- secrecy


def test_the_key_never_leaks(tavus, caplog):
    caplog.set_level(logging.DEBUG)
    echo = {"message": f"bad key {KEY}"}
    failures = []
    tavus.queue(401, echo)
    tavus.queue(400, echo)
    for _ in range(4):
        tavus.queue(500, echo)
    tavus.queue(200, b"garbage " + KEY.encode())
    c = client(tavus)
    for call in (
        lambda: c.get_conversation("c1"),
        lambda: c.create_conversation({"persona_id": "p"}),
        lambda: c.get_conversation("c1"),
        lambda: c.get_conversation("c1"),
    ):
        with pytest.raises(TavusError) as exc:
            call()
        failures.append(exc.value)
    assert len(failures) == 4
    for exc in failures:
        assert KEY not in str(exc) and KEY not in repr(exc)
        assert "***" in str(exc)
    assert KEY not in repr(c) and KEY not in str(vars(c))
    assert KEY not in caplog.text
    assert caplog.text  # requests and retries were logged


def test_a_create_answer_without_url_echoing_the_key_is_redacted_and_names_the_id(tavus):
    tavus.queue(200, {"conversation_id": "c9", "echo": KEY, "meeting_token": "tok-abc"})
    with pytest.raises(TavusIncompleteCreate) as info:
        client(tavus).create_conversation({"persona_id": "p"})
    message = str(info.value)
    assert info.value.conversation_id == "c9" and "conversation c9 was created" in message
    assert KEY not in message and "tok-abc" not in message and "***" in message


@pytest.mark.parametrize(
    "bad, says",
    [
        (KEY[:10] + "\n" + KEY[10:], "a line break at position 11"),
        (KEY[:5] + " " + KEY[5:], "a space at position 6"),
        (KEY[:3] + "\x1b" + KEY[3:], "a control character at position 4"),
        (KEY[:3] + "é" + KEY[3:], "a non-ASCII character at position 4"),
        ("k" * 600, "600 characters long"),
    ],
)
def test_a_malformed_key_is_refused_up_front_without_showing_it(monkeypatch, bad, says):
    monkeypatch.setenv("TAVUS_API_KEY", bad)
    with pytest.raises(TavusAuthError) as info:
        TavusClient(base_url="http://127.0.0.1:9")
    assert says in str(info.value) and "TAVUS_API_KEY" in str(info.value)
    for part in (KEY[:10], KEY[10:], "k" * 40):
        assert part not in str(info.value)


def test_a_trailing_newline_is_not_part_of_the_key(monkeypatch, tavus):
    monkeypatch.setenv("TAVUS_API_KEY", KEY + "\n")
    TavusClient(base_url=tavus.url).get_conversation("c1")
    assert tavus.requests[0]["headers"]["x-api-key"] == KEY


@pytest.mark.parametrize(
    "body",
    [
        {"message": "bad token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl here"},
        {"message": "meeting_token=0123456789abcdef0123456789abcdef01 refused"},
        {"error": {"api_key": "another-secret", "detail": "nope"}},
        {"message": "key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
    ],
)
def test_token_like_text_in_server_bodies_is_redacted(tavus, body):
    tavus.queue(400, body)
    with pytest.raises(TavusError) as info:
        client(tavus).get_conversation("c1")
    message = str(info.value)
    assert "***" in message
    for secret in ("eyJhbGci", "0123456789abcdef0123", "another-secret", "9f86d0818"):
        assert secret not in message


def test_a_short_stand_in_key_is_hidden_as_a_token_not_inside_words():
    # with TAVUS_API_KEY=k (a stand-in's key) an error read 'Name or service not ***nown'
    assert redact("Name or service not known; key k sent", ("k",)) == (
        "Name or service not known; key *** sent"
    )
    assert redact("--test-mode refused: 'test'", ("test",)) == "--test-mode refused: '***'"
    long_key = "0f" * 16  # a real key's length: hidden wherever it stands, even inside a word
    assert long_key not in redact(f"x{long_key}y", (long_key,))


def test_redaction_keeps_ids_and_uuids_readable():
    text = "conversation c123456 inference 83294d9f-8306-491b-a284-791f56c8383f failed"
    assert redact(text) == text


# ------------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("url", "cid"),
    [
        ("https://tavus.daily.co/c123", "c123"),
        ("https://tavus.daily.co/c123/", "c123"),
        ("https://tavus.daily.co/c123?t=abc", "c123"),
        (" https://tavus.daily.co/rooms/c9 ", "c9"),
    ],
)
def test_conversation_id_from_url(url, cid):
    assert conversation_id_from_url(url) == cid


def test_conversation_id_from_url_without_path():
    with pytest.raises(errors.UsageError, match="no conversation id"):
        conversation_id_from_url("https://tavus.daily.co/")
