"""The other end of the control interface (`cviscript fire NAME --control URL`).

Only loopback URLs are accepted (the server listens nowhere else), the answer is read with a
size bound and a timeout, and what it says is returned as plain values for the caller to print.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
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
    request = urllib.request.Request(
        base + path, method=method, headers={TOKEN_HEADER: token}, data=None
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - loopback only
            code, raw = response.status, response.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as err:
        code, raw = err.code, err.read(MAX_ANSWER + 1)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ConnectError(f"cannot reach the control interface at {base}: {reason}") from None
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
