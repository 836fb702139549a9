"""`cviscript persona pull` against a local HTTP server standing in for the Tavus REST API.

The stand-in answers the documented shapes: ``GET /v2/pals/{id}`` (a PAL object),
``GET /v2/pals/{id}/tools`` (``{"data": [tool objects]}``), ``GET /v2/personas/{id}`` (a legacy
persona), ``GET /v2/objectives/{id}`` (``{"data": {objective}}``); anything else is a 404.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from cviscript.cli.main import cli
from cviscript.language.persona_file import read_persona_file

KEY = "tvs0123456789abcdef0123456789abcd"

PAL = {
    "pal_id": "pcb7a34da5fe",
    "pal_name": "Anna",
    "pipeline_mode": "full",
    "system_prompt": "You are Anna.",
    "objectives_id": "o12345",
    "layers": {
        "llm": {"model": "custom", "base_url": "https://llm.example", "api_key": "sk-live-abc"},
        "perception": {"perception_model": "raven-1"},
    },
}
PAL_TOOLS = {
    "data": [
        {
            "tool_id": "tabc123def456",
            "name": "get_weather",
            "origin": "llm",
            "on_call": "static_filler",
            "on_resolve": "generate_response",
            "static_filler": "Sure, let me grab that for you.",
            "delivery": {"app_message": True, "api": {"auth": {"token": "tok-secret"}}},
        }
    ]
}
PERSONA = {
    "persona_id": "p_echo",
    "persona_name": "Echo Sign",
    "pipeline_mode": "echo",
    "layers": {"llm": {"tools": [{"type": "function", "function": {"name": "old_tool"}}]}},
}
OBJECTIVE = {
    "data": {
        "objective_name": "budget_check",
        "objective_prompt": "Ask about the budget",
        "output_variables": ["budget"],
    }
}


class TavusStandIn:
    def __init__(self, routes: dict[str, tuple[int, Any]]):
        self.routes = routes
        self.requests: list[dict[str, Any]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                stand_in.requests.append({"path": self.path, "key": self.headers.get("x-api-key")})
                status, payload = stand_in.routes.get(self.path, (404, {"error": "Not found"}))
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in():
    s = TavusStandIn(
        {
            "/v2/pals/pcb7a34da5fe": (200, PAL),
            "/v2/pals/pcb7a34da5fe/tools": (200, PAL_TOOLS),
            "/v2/personas/p_echo": (200, PERSONA),
            "/v2/objectives/o12345": (200, OBJECTIVE),
            "/v2/pals/p_bad_key": (401, {"message": "Invalid access token"}),
        }
    )
    yield s
    s.close()


def pull(stand_in, persona_id, out, key=KEY):
    env = {"TAVUS_API_KEY": key, "TAVUS_API_URL": stand_in.url}
    return CliRunner().invoke(cli, ["persona", "pull", persona_id, "-o", str(out)], env=env)


def test_a_pal_is_pulled_with_its_tools_and_objectives_and_no_secret(stand_in, tmp_path):
    out = tmp_path / "anna.json"
    result = pull(stand_in, "pcb7a34da5fe", out)
    assert result.exit_code == 0, result.output
    assert [r["path"] for r in stand_in.requests] == [
        "/v2/pals/pcb7a34da5fe",
        "/v2/pals/pcb7a34da5fe/tools",
        "/v2/objectives/o12345",
    ]
    assert {r["key"] for r in stand_in.requests} == {KEY}
    text = out.read_text()
    for secret in (KEY, "sk-live-abc", "tok-secret"):
        assert secret not in text and secret not in result.output
    data = json.loads(text)
    assert data["layers"]["llm"]["api_key"] == "***" and data["layers"]["llm"]["model"] == "custom"
    pf = read_persona_file(out)
    assert pf.kind == "pal" and pf.name == "Anna" and pf.has_perception
    weather = pf.tools["get_weather"]
    assert (weather.on_call, weather.on_resolve) == ("static_filler", "generate_response")
    assert list(pf.objectives) == ["budget_check"]
    assert "pal 'Anna', pipeline full, 1 tool (get_weather)" in result.output
    assert "objectives: budget_check" in result.output


def test_a_legacy_persona_is_pulled_when_tavus_has_no_pal_of_that_id(stand_in, tmp_path):
    out = tmp_path / "echo.json"
    result = pull(stand_in, "p_echo", out)
    assert result.exit_code == 0, result.output
    assert [r["path"] for r in stand_in.requests] == ["/v2/pals/p_echo", "/v2/personas/p_echo"]
    pf = read_persona_file(out)
    assert pf.echo and pf.name == "Echo Sign" and list(pf.tools) == ["old_tool"]


def test_without_a_key_nothing_is_asked_and_the_message_says_what_to_set(stand_in, tmp_path):
    result = pull(stand_in, "pcb7a34da5fe", tmp_path / "x.json", key="")
    assert result.exit_code == 2 and "TAVUS_API_KEY" in result.output
    assert stand_in.requests == [] and not (tmp_path / "x.json").exists()


def test_a_rejected_key_is_a_connect_error_that_never_shows_the_key(stand_in, tmp_path):
    result = pull(stand_in, "p_bad_key", tmp_path / "x.json")
    assert result.exit_code == 3 and "rejected the API key" in result.output
    assert KEY not in result.output and not (tmp_path / "x.json").exists()


def test_an_unknown_id_is_a_clear_error(stand_in, tmp_path):
    result = pull(stand_in, "p_nobody", tmp_path / "x.json")
    assert result.exit_code == 3 and "reading persona p_nobody" in result.output


def test_a_list_tavus_cannot_give_is_left_out_with_a_warning(stand_in, tmp_path):
    stand_in.routes["/v2/pals/pcb7a34da5fe/tools"] = (404, {"error": "Not found"})
    out = tmp_path / "anna.json"
    result = pull(stand_in, "pcb7a34da5fe", out)
    assert result.exit_code == 0, result.output
    assert "warning: left out: Tavus refused reading the tools of PAL" in result.output
    pf = read_persona_file(out)
    assert pf.kind == "pal" and not pf.tools and list(pf.objectives) == ["budget_check"]
