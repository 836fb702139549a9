"""The other end of the control interface (`cviscript fire NAME --control URL`).

Only loopback URLs are accepted (the server listens nowhere else), the answer is read with a
size bound and one overall deadline (`TIMEOUT`, from connecting to the last byte: a per-read
timeout never fires on a server that trickles a byte every few seconds), and what it says is
returned as plain values for the caller to print.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
import threading
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from ..errors import ConnectError, UsageError
from .server import TOKEN_HEADER

MAX_ANSWER = 64 * 1024
TIMEOUT = 10.0


def split_control_url(url: str, token: str | None) -> tuple[str, str]:
    """(base URL, token) from ``http://127.0.0.1:PORT/?token=T`` (or `token` given apart)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback or parts.port is None:
        raise UsageError(
            "--control takes the URL the run printed, http://127.0.0.1:PORT/?token=... "
            "(loopback addresses only)"
        )
    token = token or (parse_qs(parts.query).get("token") or [None])[0]
    if not token:
        raise UsageError("no token: pass the URL the run printed (with ?token=) or --token")
    return f"http://{parts.netloc}", token


def call(base: str, token: str, method: str, path: str) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT)
    outcome: dict[str, Any] = {}

    def ask() -> None:  # in a thread, so the whole exchange has one deadline
        try:
            conn.request(method, path, headers={TOKEN_HEADER: token})
            response = conn.getresponse()
            outcome["answer"] = response.status, response.read(MAX_ANSWER + 1)
        except (OSError, http.client.HTTPException) as err:
            outcome["error"] = err

    worker = threading.Thread(target=ask, name="cviscript-fire", daemon=True)
    worker.start()
    worker.join(TIMEOUT)
    if worker.is_alive():
        if conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)  # the worker's read ends
        conn.close()
        raise ConnectError(
            f"the control interface at {base} did not answer within {TIMEOUT:g} s"
        ) from None
    conn.close()
    if "error" in outcome:
        err = outcome["error"]
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise ConnectError(f"cannot reach the control interface at {base}: {reason}") from None
    code, raw = outcome["answer"]
    if len(raw) > MAX_ANSWER:
        raise ConnectError("the control interface answered with too much data")
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ConnectError(f"the control interface answered {code} without a JSON object")
    return code, body


def fire(url: str, name: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    base, token = split_control_url(url, token)
    return call(base, token, "POST", "/fire/" + quote(name[:200], safe=""))


def status(url: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    base, token = split_control_url(url, token)
    return call(base, token, "GET", "/status")
