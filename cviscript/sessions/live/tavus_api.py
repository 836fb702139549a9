"""The Tavus REST calls a live run needs: create, end and read a conversation.

Facts behind it (``shared/protocol.md``): base ``https://tavusapi.com``, header ``x-api-key``,
JSON bodies; ``POST /v2/conversations`` answers ``conversation_id``, ``conversation_url``,
``status`` (and ``meeting_token`` with ``require_auth``); ``POST /v2/conversations/{id}/end`` ends
one; ``GET /v2/conversations/{id}`` reads one (``?verbose=true`` adds transcript and shutdown
reason). Billing runs from creation until the end call, so the runner ends what it created on
every exit path.

Retries follow from that billing rule. Reads and ends are idempotent (ending twice is harmless), so
they are retried with exponential backoff on 5xx, 429, timeouts and connection errors. A create is
never retried after it may have reached Tavus (5xx, timeout, dropped connection): a retry could
create a second billed conversation. Only a 429 — refused before any work — is retried for it.

Only the standard library (urllib) is used. The API key never appears in an exception, a repr or
a log line: it is kept in a `_Secret`, and any server text that echoes it is redacted.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ... import __version__, errors

DEFAULT_BASE_URL = "https://tavusapi.com"
API_KEY_ENV = "TAVUS_API_KEY"
MAX_RETRY_AFTER = 30.0  # seconds: the most a 429's Retry-After may make us wait

_log = logging.getLogger("cviscript.sessions.live.tavus")


class TavusError(errors.ConnectError):
    """A Tavus API call failed. `status` is the HTTP status, None for network failures."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class TavusAuthError(TavusError):
    """No API key, or Tavus rejected it (401/403)."""


class _Secret:
    """Holds the API key; shows as *** in reprs, tracebacks with locals, and debuggers."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__


class TavusClient:
    """A small synchronous client; call it through `asyncio.to_thread` from a loop."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 15.0,
        retries: int = 3,
        backoff: float = 0.5,
        logger: logging.Logger | None = None,
    ):
        key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")).strip()
        if not key:
            raise TavusAuthError(
                f"no Tavus API key: set {API_KEY_ENV} (or pass api_key) to create or end"
                " conversations"
            )
        self._key = _Secret(key)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.log = logger or _log

    def __repr__(self) -> str:
        return f"TavusClient(base_url={self.base_url!r}, api_key=***)"

    # ------------------------------------------------------------------------------- calls
    def create_conversation(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v2/conversations. Returns Tavus's answer (conversation_id, conversation_url,
        status, meeting_token when require_auth...). Not retried once it may have reached Tavus."""
        data = self._request(
            "POST", "/v2/conversations", body, idempotent=False, what="creating a conversation"
        )
        if not isinstance(data, dict) or not isinstance(data.get("conversation_url"), str):
            raise TavusError(f"Tavus created a conversation but sent no conversation_url: {data!r}")
        if not data.get("conversation_id"):
            data["conversation_id"] = conversation_id_from_url(data["conversation_url"])
        return data

    def end_conversation(self, conversation_id: str) -> None:
        """POST /v2/conversations/{id}/end (retried: ending twice is harmless)."""
        cid = _path_id(conversation_id)
        self._request(
            "POST",
            f"/v2/conversations/{cid}/end",
            None,
            idempotent=True,
            what=f"ending conversation {conversation_id}",
            want_json=False,
        )

    def get_conversation(self, conversation_id: str, verbose: bool = False) -> dict[str, Any]:
        """GET /v2/conversations/{id} (with verbose: transcript and shutdown reason)."""
        cid = _path_id(conversation_id)
        path = f"/v2/conversations/{cid}" + ("?verbose=true" if verbose else "")
        data = self._request(
            "GET", path, None, idempotent=True, what=f"reading conversation {conversation_id}"
        )
        if not isinstance(data, dict):
            raise TavusError(f"Tavus sent an unexpected answer reading {conversation_id}: {data!r}")
        return data

    # ---------------------------------------------------------------------------- plumbing
    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        idempotent: bool,
        what: str,
        want_json: bool = True,
    ) -> Any:
        payload = None if body is None else json.dumps(body).encode()
        attempts = 1 + self.retries
        for attempt in range(attempts):
            started = time.monotonic()
            retry_after: float | None = None
            try:
                status, raw, retry_after = self._once(method, path, payload)
            except TimeoutError as exc:  # noqa: B014 - alias on some versions
                failure = TavusError(
                    self._redact(f"Tavus did not answer within {self.timeout:g} s {what}")
                    + _maybe_created(method, idempotent)
                )
                retryable = idempotent
                self.log.warning("%s %s: timed out (%s)", method, path, type(exc).__name__)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, TimeoutError | socket.timeout):
                    msg = f"Tavus did not answer within {self.timeout:g} s {what}"
                else:
                    msg = f"could not reach Tavus at {self.base_url} {what}: {reason}"
                failure = TavusError(self._redact(msg) + _maybe_created(method, idempotent))
                retryable = idempotent
                self.log.warning("%s %s: %s", method, path, self._redact(str(reason)))
            else:
                took = time.monotonic() - started
                self.log.info("%s %s -> %d (%.2f s)", method, path, status, took)
                if 200 <= status < 300:
                    return self._parse(raw, what, want_json)
                failure = self._http_error(status, raw, what, method, idempotent)
                retryable = status == 429 or (idempotent and (status >= 500 or status == 408))
            if not retryable or attempt == attempts - 1:
                raise failure
            delay = self.backoff * (2**attempt)
            if retry_after is not None:
                delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
            self.log.warning(
                "%s; retrying in %.2f s (%d/%d)", failure, delay, attempt + 1, attempts - 1
            )
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self, method: str, path: str, payload: bytes | None
    ) -> tuple[int, bytes, float | None]:
        headers = {
            "x-api-key": self._key.value,
            "Accept": "application/json",
            "User-Agent": f"cviscript/{__version__}",
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(
            self.base_url + path, data=payload, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read(), None
        except urllib.error.HTTPError as exc:
            try:
                raw = exc.read()
            except Exception:  # a broken error body is still an HTTP error
                raw = b""
            finally:
                exc.close()
            return (
                exc.code,
                raw,
                _retry_after(exc.headers.get("Retry-After") if exc.headers else None),
            )

    def _parse(self, raw: bytes, what: str, want_json: bool) -> Any:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError:
            if not want_json:
                return {}
            raise TavusError(
                self._redact(f"Tavus answered {what} with something that is not JSON: {text[:200]}")
            ) from None

    def _http_error(
        self, status: int, raw: bytes, what: str, method: str, idempotent: bool
    ) -> TavusError:
        detail = _server_message(raw)
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            return TavusAuthError(
                self._redact(f"Tavus rejected the API key (HTTP {status}) {what}{suffix};")
                + f" check {API_KEY_ENV}",
                status=status,
            )
        if status >= 500:
            msg = f"Tavus had a server error (HTTP {status}) {what}{suffix}"
            return TavusError(self._redact(msg) + _maybe_created(method, idempotent), status=status)
        return TavusError(
            self._redact(f"Tavus refused {what} (HTTP {status}){suffix}"), status=status
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._key.value, "***") if self._key.value else text


def conversation_id_from_url(url: str) -> str:
    """The conversation id in a conversation URL: the last path segment of
    ``https://tavus.daily.co/<id>``."""
    parts = [p for p in urllib.parse.urlsplit(str(url).strip()).path.split("/") if p]
    if not parts:
        raise errors.UsageError(
            f"no conversation id in the URL {url!r} (expected https://tavus.daily.co/<id>)"
        )
    return urllib.parse.unquote(parts[-1])


def _path_id(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not conversation_id.strip():
        raise errors.UsageError(f"a conversation id is required, got {conversation_id!r}")
    return urllib.parse.quote(conversation_id.strip(), safe="")


def _server_message(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "errors"):
            value = data.get(key)
            if value:
                return value if isinstance(value, str) else json.dumps(value)[:300]
    return text[:300]


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _maybe_created(method: str, idempotent: bool) -> str:
    if method == "POST" and not idempotent:
        return (
            " (not retried: the conversation may have been created anyway and is billed until"
            " it ends; check the Tavus dashboard)"
        )
    return ""
