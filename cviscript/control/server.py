"""The local control interface of a running `cviscript run`: a page and a tiny HTTP API.

``cviscript run demo.yaml --live --control 127.0.0.1:8377`` serves, on the loopback interface
only, a page with one button per `manual:` name (open the printed URL in a browser on the same
machine) and an API that `cviscript fire NAME --control URL` (a second terminal) uses:

* ``GET /?token=T`` — the page;
* ``GET /status`` — ``{"state", "done", "answers", "names"}``;
* ``POST /fire/NAME`` — fire `manual: NAME`: ``{"fired": bool, "message": ...}`` (404 when the
  scenario has no such name).

Everything from a client is untrusted. The server binds loopback addresses only; every request
needs the run's random token (printed once at start): in the ``X-Cviscript-Token`` header, or as
``?token=`` for the page itself; a wrong one is refused, compared in constant time. The `Host`
header must name the loopback address (a web page elsewhere cannot rebind a name to it), and a
custom header on the API means a cross-site page cannot post to it. Request bodies are refused
(the API takes none) — a ``Content-Length`` over 0 and any ``Transfer-Encoding`` (a chunked body)
alike —, paths and names are bounded, responses are JSON built here, and nothing a client sent is
printed raw.

The server must never cost the run what it needs to end its conversation (a socket for the end
call). So it holds at most `MAX_CONNECTIONS` connections at once and answers the rest with a
fixed 503 before closing them; a connection idle for `IDLE_TIMEOUT` seconds, or still open after
`MAX_CONNECTION_SECONDS` however slowly it trickles, is closed. A connection that fails (a reset,
a broken pipe) costs one log line for the first and a count for the rest, never a traceback.
The server is bound (`ControlServer(...)`, port taken or not) before the run creates anything,
and given its steering once the conversation exists (`attach`); until then it answers 503.
"""

from __future__ import annotations

import contextlib
import hmac
import html
import ipaddress
import json
import logging
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import UsageError
from .steer import MANUAL_NAME, Steering

TOKEN_HEADER = "X-Cviscript-Token"
MAX_PATH = 512
MAX_CONNECTIONS = 16  # a browser opens up to 6 per host; `cviscript fire` one at a time
IDLE_TIMEOUT = 5.0  # seconds a connection may send nothing
MAX_CONNECTION_SECONDS = 15.0  # seconds a connection may stay open, however it trickles
_BUSY_BODY = b'{"error": "too many connections, try again"}'
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s"
) % (len(_BUSY_BODY), _BUSY_BODY)

_log = logging.getLogger(__name__)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``PORT``) on a loopback address; port 0 picks a free one."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", text.strip()
    host = host.strip("[]") or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    try:
        port = int(port_text)
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise UsageError(
            f"--control takes HOST:PORT on a loopback address, got {text[:80]!r}"
        ) from None
    if not loopback:
        raise UsageError(
            f"--control must listen on a loopback address (127.0.0.1 or ::1), not {host!r}: the "
            "control interface fires transitions in a live demo and has no other protection "
            "than its token"
        )
    if not 0 <= port <= 65535:
        raise UsageError(f"--control port must be 0..65535, got {port}")
    return host, port


class _BoundedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer holding at most MAX_CONNECTIONS connections, each for a bounded time,
    logging a failed connection in one line."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: Any):
        self._open: dict[Any, float] = {}  # socket -> when it must be closed
        self._lock = threading.Lock()
        self.refused = 0  # connections answered 503
        self.failed = 0  # connections that broke (reset, broken pipe, ...)
        super().__init__(address, handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self._lock:
            if len(self._open) < MAX_CONNECTIONS:
                self._open[request] = time.monotonic() + MAX_CONNECTION_SECONDS
                return True
            self.refused += 1
        with contextlib.suppress(OSError):  # a small fixed answer: never blocks the accept loop
            request.setblocking(False)
            request.send(_BUSY)
        return False

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def service_actions(self) -> None:
        """Between accepts (every poll interval): cut connections past their time."""
        now = time.monotonic()
        with self._lock:
            late = [sock for sock, deadline in self._open.items() if deadline < now]
        for sock in late:
            with contextlib.suppress(OSError):  # the handler's read ends; it closes the socket
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.failed += 1
        if self.failed == 1:
            kind = type(sys.exc_info()[1]).__name__
            _log.warning(
                "control: a client connection failed (%s); further failures are only counted",
                kind,
            )

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)


class ControlServer:
    """Serves the control page and API for `steering` until `close()`. Built (and so bound)
    without steering, it answers 503 until `attach` gives it one."""

    def __init__(self, steering: Steering | None = None, host: str = "127.0.0.1", port: int = 0):
        self.steering = steering
        self.token = secrets.token_urlsafe(18)
        handler = type("Handler", (_Handler,), {"control": self})
        server_class = _BoundedServer
        if ":" in host:
            server_class = type("Server6", (_BoundedServer,), {"address_family": 10})
        self.httpd = server_class((host, port), handler)
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.25},
            name="cviscript-control",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def page_url(self) -> str:
        return f"{self.url}?token={self.token}"

    def attach(self, steering: Steering) -> ControlServer:
        self.steering = steering
        return self

    def start(self) -> ControlServer:
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    control: ControlServer
    server_version = "cviscript-control"
    sys_version = ""
    timeout = IDLE_TIMEOUT  # socket timeout: an idle client is dropped

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # nothing a client sent is printed

    # ------------------------------------------------------------------------------- checks

    def _allowed(self, query_token: str | None) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        c = self.control
        hosts = {f"{c.host}:{c.port}", f"[{c.host}]:{c.port}"}
        if c.host == "127.0.0.1":
            hosts.add(f"localhost:{c.port}")
        if host not in hosts:
            self._json(421, {"error": "wrong Host header"})
            return False
        given = self.headers.get(TOKEN_HEADER) or query_token or ""
        if not hmac.compare_digest(given.encode()[:200], c.token.encode()):
            self._json(403, {"error": "a valid token is required"})
            return False
        length = self.headers.get("Content-Length")
        if length not in (None, "0") or self.headers.get("Transfer-Encoding") is not None:
            self._json(413, {"error": "no request body is accepted"})
            return False
        if self.control.steering is None:
            self._json(503, {"error": "the run has not started yet"})
            return False
        return True

    def _json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=True).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    # ------------------------------------------------------------------------------ routes

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if len(self.path) > MAX_PATH:
            self._json(414, {"error": "path too long"})
            return
        parts = urlsplit(self.path)
        token = (parse_qs(parts.query).get("token") or [None])[0]
        if not self._allowed(token):
            return
        steering = self.control.steering
        assert steering is not None  # `_allowed` answered 503 without it
        if parts.path == "/status":
            self._json(200, {**steering.status(), "names": steering.names})
        elif parts.path == "/":
            self._page()
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if len(self.path) > MAX_PATH:
            self._json(414, {"error": "path too long"})
            return
        parts = urlsplit(self.path)
        if not self._allowed(None):  # the API takes the token in the header only
            return
        if not parts.path.startswith("/fire/"):
            self._json(404, {"error": "not found"})
            return
        name = unquote(parts.path[len("/fire/") :])
        steering = self.control.steering
        assert steering is not None
        if not MANUAL_NAME.match(name) or name not in steering.names:
            self._json(
                404, {"fired": False, "error": "no such manual name", "names": steering.names}
            )
            return
        fired, message = steering.fire(name)
        self._json(200, {"fired": fired, "message": message})

    def _page(self) -> None:
        names = self.control.steering.names if self.control.steering else []
        buttons = "\n".join(
            f'<button data-name="{html.escape(n)}">{html.escape(n)}</button>' for n in names
        )
        page = _PAGE.replace("{{buttons}}", buttons or "<p>This scenario has no manual: names.</p>")
        page = page.replace("{{token}}", json.dumps(self.control.token))
        data = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        )
        self.end_headers()
        self.wfile.write(data)


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cviscript control</title>
<style>body{font:16px sans-serif;margin:2em}button{font-size:1.2em;margin:.3em;padding:.5em 1em}
#state{font-weight:bold}#log{white-space:pre-wrap;color:#444}</style></head>
<body><h1>cviscript control</h1><p>state: <span id="state">?</span></p>
<div id="buttons">{{buttons}}</div><div id="log"></div>
<script>
const token = {{token}};
const h = {"X-Cviscript-Token": token};
function log(t){const d=document.getElementById("log");d.textContent=t+"\\n"+d.textContent;}
async function status(){try{const r=await fetch("/status",{headers:h});const s=await r.json();
document.getElementById("state").textContent=(s.state||"-")+(s.done?" (ended)":"");
for(const b of document.querySelectorAll("button")){b.disabled=!s.answers.includes(b.dataset.name);}
}catch(e){document.getElementById("state").textContent="(not running)";}}
for(const b of document.querySelectorAll("button")){b.onclick=async()=>{
const r=await fetch("/fire/"+encodeURIComponent(b.dataset.name),{method:"POST",headers:h});
const a=await r.json();log(a.message||a.error);status();};}
status();setInterval(status,1000);
</script></body></html>
"""
