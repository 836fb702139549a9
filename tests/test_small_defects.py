"""The smaller defects of issue 20 item 10, each checked the way a user meets it: colour forced
into a pipe, report paths that do not leak one machine's checkout, `run --seed`, the simulated
transcript's order at the start, and a tool result rendered as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cviscript.language.validate import load_scenario
from cviscript.sessions.simulated.runner import run_simulated

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "cviscript"]


def _run(*args: str, cwd: Path | str = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


def test_color_forces_colour_into_a_pipe_and_no_color_or_default_do_not():
    kiosk = str(REPO / "scenarios" / "kiosk.yaml")
    assert "\x1b[" in _run("run", kiosk, "--color").stdout
    assert "\x1b[" in _run("rehearse", kiosk, "--color").stdout
    assert "\x1b[" not in _run("run", kiosk).stdout  # a pipe: plain by default
    assert "\x1b[" not in _run("rehearse", kiosk, "--no-color").stdout


def test_reports_name_a_replay_recording_by_a_relative_path(tmp_path):
    """JUnit and HTML reports are archived and shared: no absolute path of this checkout."""
    greeter = "examples/replay/greeter.yaml"
    for cwd, scenario in ((REPO, greeter), (tmp_path, str(REPO / greeter))):
        junit, html = tmp_path / "r.xml", tmp_path / "r.html"
        done = _run("rehearse", scenario, "--junit", str(junit), "--html", str(html), cwd=cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        import re

        xml = junit.read_text()
        (shown,) = re.findall(r'name="replay" value="([^"]*)"', xml)
        assert shown.endswith("recordings/visitor-asks-hours.jsonl") and not os.path.isabs(shown)
        recording = str(REPO / "examples" / "replay" / "recordings")
        assert recording not in xml and recording not in html.read_text()


JITTER = """\
cviscript: 1
name: jitter
initial: a
states:
  a:
    enter: [{echo: "Hello there, how are you today?"}]
    on:
      - event: replica.stopped_speaking
        goto: b
  b: {final: true}
rehearsals:
  - name: r
    seed: 5
    faults: {jitter: 2s}
"""


def test_run_seed_reproduces_a_seeded_run_and_changes_with_the_seed(tmp_path):
    path = tmp_path / "jitter.yaml"
    path.write_text(JITTER)
    outs = {seed: _run("run", str(path), "--seed", seed).stdout for seed in ("1", "2", "5")}
    assert outs["1"] == _run("run", str(path), "--seed", "1").stdout  # reproducible
    assert outs["1"] != outs["2"]  # the seed is used
    assert outs["5"] == _run("run", str(path)).stdout  # default: the rehearsal's seed
    refused = _run("run", str(path), "--seed", "1", "--url", "https://tavus.daily.co/c1")
    assert refused.returncode == 2 and "--seed applies to simulated runs only" in refused.stderr


def test_the_simulated_transcript_shows_the_replica_join_before_anything_is_sent():
    conv = run_simulated(load_scenario(REPO / "scenarios" / "kiosk.yaml"))
    kinds = []
    for r in conv.trace.records:
        if r.kind == "received" and r.data["message"]["event_type"] == "system.replica_joined":
            kinds.append("joined")
        elif r.kind == "sent":
            kinds.append("sent")
    assert kinds[0] == "joined" and "sent" in kinds
    text = _run("run", str(REPO / "scenarios" / "kiosk.yaml")).stdout
    assert text.index("← replica joined") < text.index("→ overwrite_llm_context")


RESULT = """\
cviscript: 1
name: res
conversation:
  persona_file: persona.json    # the stock tool speaks its result (Tavus's default does not)
initial: a
states:
  a:
    on:
      - tool_call: stock
        do:
          - tool_result: {output: {count: 0, items: [1, 2]}}
      - utterance: {role: replica, contains: "stock"}
        goto: b
  b: {final: true}
rehearsals:
  - name: r
    user:
      - at: 1s
        say: "stock please"
    persona:
      - match: "stock please"
        tool_call: {name: stock, arguments: {}}
        say: "stock is {{ result }} with {{ result.count }}"
"""


def test_a_structured_tool_result_renders_as_json_in_a_persona_reply(tmp_path):
    path = tmp_path / "res.yaml"
    path.write_text(RESULT)
    persona = {"tools": [{"name": "stock", "on_call": "none", "on_resolve": "generate_response"}]}
    (tmp_path / "persona.json").write_text(json.dumps(persona))
    conv = run_simulated(load_scenario(path), rehearsal="r")
    said = [
        r.data["message"]["properties"]["speech"]
        for r in conv.trace.records
        if r.kind == "received"
        and r.data["message"]["event_type"] == "conversation.utterance"
        and r.data["message"]["properties"].get("role") == "replica"
    ]
    assert 'stock is {"count": 0, "items": [1, 2]} with 0' in said
    json.loads(said[-1][len("stock is ") : -len(" with 0")])  # valid JSON, not Python's repr
