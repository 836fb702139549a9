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
(the API takes none), paths and names are bounded, responses are JSON built here, and nothing a
client sent is printed raw.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import UsageError
from .steer import MANUAL_NAME, Steering

TOKEN_HEADER = "X-Cviscript-Token"
MAX_PATH = 512


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


class ControlServer:
    """Serves the control page and API for `steering` until `close()`."""

    def __init__(self, steering: Steering, host: str = "127.0.0.1", port: int = 0):
        self.steering = steering
        self.token = secrets.token_urlsafe(18)
        handler = type("Handler", (_Handler,), {"control": self})
        server_class = ThreadingHTTPServer
        if ":" in host:
            server_class = type("Server6", (ThreadingHTTPServer,), {"address_family": 10})
        self.httpd = server_class((host, port), handler)
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="cviscript-control", daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def page_url(self) -> str:
        return f"{self.url}?token={self.token}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    control: ControlServer
    server_version = "cviscript-control"
    sys_version = ""

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
        if length not in (None, "0"):
            self._json(413, {"error": "no request body is accepted"})
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
        if parts.path == "/status":
            status = self.control.steering.status()
            self._json(200, {**status, "names": self.control.steering.names})
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
        if not MANUAL_NAME.match(name) or name not in steering.names:
            self._json(
                404, {"fired": False, "error": "no such manual name", "names": steering.names}
            )
            return
        fired, message = steering.fire(name)
        self._json(200, {"fired": fired, "message": message})

    def _page(self) -> None:
        names = self.control.steering.names
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
