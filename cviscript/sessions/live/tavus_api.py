"""The Tavus REST calls a live run needs: create, end and read a conversation.

Facts behind it (docs/protocol.md): base ``https://tavusapi.com``, header ``x-api-key``,
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
a log line: its form is checked before any request (printable ASCII, no spaces, no control
characters — a newline in a header would otherwise raise an error holding the whole key), it is
kept in a `_Secret`, and every server text is redacted before it reaches a message (`redact`: the
key, values of fields named like a key, token or secret, JWTs and long token-like strings).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ... import __version__, errors
from .fd_reserve import RESERVE

DEFAULT_BASE_URL = "https://tavusapi.com"
API_KEY_ENV = "TAVUS_API_KEY"
MAX_RETRY_AFTER = 30.0  # seconds: the most a 429's Retry-After may make us wait
MAX_BODY_SHOWN = 10_000  # characters of a server body looked at for an error message
MAX_KEY_LENGTH = 512  # Tavus keys are 32 hex characters; anything this long is not a key

_KEY_FORM = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space: what a header value can hold
# What server text may hold that is secret: a field named like a credential, a JWT, a long
# unbroken run of letters and digits (API keys, meeting tokens). UUIDs and ids stay readable.
_SECRET_FIELD = re.compile(
    r"""(["']?[\w-]*(?:key|token|secret|password|authorization)[\w-]*["']?\s*[:=]\s*)"""
    r"""("[^"]*"|'[^']*'|[^\s,}&]+)""",
    re.IGNORECASE,
)
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
_LONG_TOKEN = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{32,}(?![\w-])")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

_log = logging.getLogger("cviscript.sessions.live.tavus")


class TavusError(errors.ConnectError):
    """A Tavus API call failed. `status` is the HTTP status, None for network failures."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class TavusAuthError(TavusError):
    """No API key, a malformed one, or Tavus rejected it (401/403)."""


class TavusIncompleteCreate(TavusError):
    """Tavus answered a create without a usable conversation_url. `conversation_id` is the id it
    did return (None if none): that conversation exists and is billed until it is ended."""

    def __init__(self, message: str, *, conversation_id: str | None):
        super().__init__(message)
        self.conversation_id = conversation_id


def check_api_key(key: str, source: str = API_KEY_ENV) -> str:
    """The key, stripped, if it has the form of one; else `TavusAuthError` saying what is wrong
    with it (where, how long) without ever showing it."""
    key = key.strip()
    if not key:
        raise TavusAuthError(
            f"no Tavus API key: set {API_KEY_ENV} in the environment (export {API_KEY_ENV}=...)"
            " to create or end conversations"
        )
    if len(key) > MAX_KEY_LENGTH:
        raise TavusAuthError(
            f"the Tavus API key in {source} is not a key: it is {len(key)} characters long"
        )
    if not _KEY_FORM.fullmatch(key):
        bad = next(i for i, ch in enumerate(key) if not _KEY_FORM.fullmatch(ch))
        what = _char_kind(key[bad])
        raise TavusAuthError(
            f"the Tavus API key in {source} is malformed: it holds {what} at position {bad + 1}"
            f" of {len(key)} (a key is printable ASCII without spaces; check how it was pasted)"
        )
    return key


def _char_kind(ch: str) -> str:
    if ch in "\r\n":
        return "a line break"
    if ch.isspace():
        return "a space"
    if ord(ch) < 32 or ord(ch) == 127:
        return "a control character"
    return "a non-ASCII character"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` (server answers, error messages) with the given secrets, credential-named fields,
    JWTs and long token-like strings replaced by ``***``."""
    for secret in secrets:
        text = hide_secret(text, secret)
    text = _SECRET_FIELD.sub(lambda m: m.group(1) + _masked(m.group(2)), text)
    text = _JWT.sub("***", text)
    return _LONG_TOKEN.sub(lambda m: m.group(0) if _UUID.fullmatch(m.group(0)) else "***", text)


SHORT_SECRET = 16  # a Tavus key is 32 hex characters; a shorter one is a stand-in's


def hide_secret(text: str, secret: str) -> str:
    """`text` with `secret` replaced by ``***``: everywhere, or, for a short one (a test key
    such as ``k`` or ``test``), where it stands as a token of its own, so that an error reads
    'Name or service not known', not 'not ***nown', and ``--test-mode`` stays readable."""
    if not secret:
        return text
    if len(secret) >= SHORT_SECRET:
        return text.replace(secret, "***")
    return re.sub(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", "***", text)


def _masked(value: str) -> str:
    if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) >= 2:
        return value[0] + "***" + value[0]
    return "***"


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
        if api_key is not None:
            key = check_api_key(api_key, "api_key")
        else:
            key = check_api_key(os.environ.get(API_KEY_ENV, ""))
        self._key = _Secret(key)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.log = logger or _log
        RESERVE.take()  # descriptors kept for the end call (fd_reserve)

    def __repr__(self) -> str:
        return f"TavusClient(base_url={self.base_url!r}, api_key=***)"

    # ------------------------------------------------------------------------------- calls
    def create_conversation(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v2/conversations. Returns Tavus's answer (conversation_id, conversation_url,
        status, meeting_token when require_auth...). Not retried once it may have reached Tavus."""
        data = self._request(
            "POST", "/v2/conversations", body, idempotent=False, what="creating a conversation"
        )
        url = data.get("conversation_url") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            cid = data.get("conversation_id") if isinstance(data, dict) else None
            cid = cid if isinstance(cid, str) and cid.strip() else None
            shown = self._redact(json.dumps(data, default=str))[:300]
            raise TavusIncompleteCreate(
                "Tavus answered the create without a usable conversation_url"
                + (f" (conversation {cid} was created)" if cid else "")
                + f": {shown}",
                conversation_id=cid,
            )
        if not data.get("conversation_id"):
            data["conversation_id"] = conversation_id_from_url(data["conversation_url"])
        return data

    def end_conversation(self, conversation_id: str) -> None:
        """POST /v2/conversations/{id}/end (retried: ending twice is harmless). Runs on the
        descriptors held back for it (`fd_reserve`), so a full descriptor table cannot stop it."""
        cid = _path_id(conversation_id)
        with RESERVE.released():
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
            shown = self._redact(json.dumps(data, default=str))[:300]
            raise TavusError(f"Tavus sent an unexpected answer reading {conversation_id}: {shown}")
        return data

    def get_persona(self, persona_id: str) -> dict[str, Any]:
        """GET /v2/personas/{id}: the persona (``persona_name`` is the replica's Daily user
        name)."""
        pid = _path_id(persona_id)
        data = self._request(
            "GET",
            f"/v2/personas/{pid}",
            None,
            idempotent=True,
            what=f"reading persona {persona_id}",
        )
        if not isinstance(data, dict):
            raise TavusError(f"Tavus sent an unexpected answer reading persona {persona_id}")
        return data

    def without_key(self, text: str) -> str:
        """`text` with the API key this client uses replaced by ``***``."""
        return hide_secret(text, self._key.value)

    def get_json(self, path: str, what: str) -> Any:
        """GET `path` (a read, retried like every read): Tavus's JSON answer. Used for the
        persona, PAL, tool and objective reads of `cviscript persona pull`."""
        return self._request("GET", path, None, idempotent=True, what=what)

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
                self.log.info("%s %s: timed out (%s)", method, path, type(exc).__name__)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, TimeoutError | socket.timeout):
                    msg = f"Tavus did not answer within {self.timeout:g} s {what}"
                else:
                    msg = f"could not reach Tavus at {self.base_url} {what}: {reason}"
                if _never_sent(reason):  # refused or not resolved: Tavus never saw the request
                    failure = TavusError(
                        self._redact(msg) + " (nothing was sent, so nothing was created)"
                    )
                else:
                    failure = TavusError(self._redact(msg) + _maybe_created(method, idempotent))
                retryable = idempotent
                # info: the error raised (or the retry warning below) says it to the user once
                self.log.info("%s %s: %s", method, path, self._redact(str(reason)))
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
                f"Tavus answered {what} with something that is not JSON:"
                f" {self._redact(text[:MAX_BODY_SHOWN])[:200]}"
            ) from None

    def _http_error(
        self, status: int, raw: bytes, what: str, method: str, idempotent: bool
    ) -> TavusError:
        detail = _server_message(raw, self._redact)
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
        return redact(text, (self._key.value,))


def conversation_id_from_url(url: str) -> str:
    """The conversation id in a conversation URL: the last path segment of
    ``https://tavus.daily.co/<id>``."""
    parts = [p for p in urllib.parse.urlsplit(str(url).strip()).path.split("/") if p]
    if not parts:
        raise errors.UsageError(
            f"no conversation id in the URL {url!r} (expected https://tavus.daily.co/<id>)"
        )
    return urllib.parse.unquote(parts[-1])


def path_id(value: str) -> str:
    """An id made safe for a URL path (quoted; a UsageError when empty)."""
    return _path_id(value)


def _path_id(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not conversation_id.strip():
        raise errors.UsageError(f"a conversation id is required, got {conversation_id!r}")
    return urllib.parse.quote(conversation_id.strip(), safe="")


def _server_message(raw: bytes, clean: Any = redact) -> str:
    """What a server's error body says, redacted before it is cut to 300 characters (cutting
    first could leave half a secret that no longer matches)."""
    text = raw[:MAX_BODY_SHOWN].decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return clean(text)[:300]
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "errors"):
            value = data.get(key)
            if value:
                return clean(value if isinstance(value, str) else json.dumps(value))[:300]
    return clean(text)[:300]


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _never_sent(reason: object) -> bool:
    """A failure before the request left this machine: the connection was refused or the host
    name did not resolve (a create that failed so cannot have created anything)."""
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


def _maybe_created(method: str, idempotent: bool) -> str:
    if method == "POST" and not idempotent:
        return (
            " (not retried: the conversation may have been created anyway and is billed until"
            " it ends; check the Tavus dashboard)"
        )
    return ""
