"""Python hooks (`call:`): results saved and answering tool calls, `then:`, failures with
file:line, timeouts, canned values in rehearsals, live delivery without blocking, validation."""

from __future__ import annotations

import asyncio
import textwrap
import threading

import pytest
from helpers import ScriptedSession, ev, run_script, user_says

from cviscript.clock import AsyncioClock
from cviscript.engine.conversation import Conversation
from cviscript.language.validate import check_file, load_scenario
from cviscript.sessions.simulated.runner import run_simulated

HOOKS = """
import time

def lookup(event, vars):
    return {"who": event.get("text", "nobody"), "seen": vars.get("count", 0) + 1}

def answer(event, vars):
    return "Ada, floor " + str(event["arguments"]["floor"])

def broken(event, vars):
    raise ValueError("the database is down")

def slow(event, vars):
    time.sleep(float(vars.get("sleep", 2)))
    return "late"

def odd(event, vars):
    return object()

async def later(event, vars):
    return "async works"
"""

SCENARIO = """
cviscript: 1
name: hooks
vars: {count: 0}
initial: wait
states:
  wait:
    on:
      - utterance: "look"
        do:
          - call:
              function: myhooks:lookup
              save: found
              then: [{echo: "found {{ vars.found.who }}"}]
      - tool_call: find_host
        do:
          - call: {function: myhooks:answer, answer: true}
      - utterance: "break"
        do: [{call: "myhooks:broken"}]
      - utterance: "slow"
        do: [{call: {function: myhooks:slow, timeout: 200ms}}]
      - utterance: "odd"
        do: [{call: "myhooks:odd"}]
      - utterance: "async"
        do: [{call: {function: myhooks:later, save: a}}]
      - utterance: "done"
        goto: done
  done: {final: true}
"""


@pytest.fixture
def scenario(tmp_path):
    (tmp_path / "myhooks.py").write_text(HOOKS)
    path = tmp_path / "hooks.yaml"
    path.write_text(textwrap.dedent(SCENARIO))
    return load_scenario(path)


def test_result_is_saved_and_then_runs_after_it(scenario):
    conv, session = run_script(scenario, [(1, user_says("look")), (2, user_says("done"))])
    assert conv.engine.vars["found"] == {"who": "look", "seen": 1}
    assert session.sent[0]["properties"]["text"] == "found look"
    assert conv.result.outcome == "completed"


def test_answer_sends_the_tool_result_of_the_call_that_fired(scenario):
    call = ev(
        "conversation.tool_call",
        name="find_host",
        arguments='{"floor": 3}',
        tool_call_id="call-7",
    )
    conv, session = run_script(scenario, [(1, call), (2, user_says("done"))])
    (sent,) = [m for m in session.sent if m["event_type"] == "conversation.tool_result"]
    assert sent["properties"]["tool_call_id"] == "call-7"
    assert sent["properties"]["output"] == "Ada, floor 3"


def test_an_exception_ends_the_run_as_an_error_naming_the_hook_and_its_line(scenario):
    conv, _ = run_script(scenario, [(1, user_says("break"))])
    assert conv.result.outcome == "error"
    assert "hooks.yaml:19:15:" in conv.result.reason
    assert "myhooks:broken raised ValueError: the database is down" in conv.result.reason


def test_a_hook_past_its_timeout_ends_the_run_as_an_error(scenario):
    conv, _ = run_script(scenario, [(1, user_says("slow"))])
    assert conv.result.outcome == "error"
    assert "myhooks:slow did not return within 0.2s" in conv.result.reason


def test_a_result_that_is_not_json_like_is_an_error(scenario):
    conv, _ = run_script(scenario, [(1, user_says("odd"))])
    assert conv.result.outcome == "error" and "not JSON-like" in conv.result.reason


def test_async_hooks_are_awaited(scenario):
    conv, _ = run_script(scenario, [(1, user_says("async")), (2, user_says("done"))])
    assert conv.engine.vars["a"] == "async works"


def test_on_the_virtual_clock_the_result_lands_at_the_instant_it_was_asked_for(scenario):
    conv, _ = run_script(scenario, [(1, user_says("look")), (2, user_says("done"))])
    (log,) = [r for r in conv.trace.records if r.kind == "sent"]
    assert log.t == pytest.approx(1.0)


def test_a_rehearsal_can_replace_a_hook_with_a_canned_value(tmp_path):
    # the other hooks are found (they must be: a hook that cannot be found is an error) but the
    # module is never imported
    (tmp_path / "myhooks.py").write_text("raise RuntimeError('never imported')\n" + HOOKS)
    path = tmp_path / "hooks.yaml"
    path.write_text(
        textwrap.dedent(SCENARIO)
        + textwrap.dedent(
            """
            rehearsals:
              - name: canned
                hooks: {myhooks:lookup: {who: "canned", seen: 9}}
                user:
                  - at: 1s
                    say: look
                  - at: 5s
                    say: done
                expect:
                  vars: {found: {who: canned, seen: 9}}
                  said: ["found canned"]
            """
        )
    )
    sc = load_scenario(path)
    conv = run_simulated(sc, rehearsal="canned")
    assert conv.engine.vars["found"] == {"who": "canned", "seen": 9}
    assert conv.result.outcome == "completed"


def test_rehearsal_hooks_must_name_a_called_hook(tmp_path):
    path = tmp_path / "hooks.yaml"
    (tmp_path / "myhooks.py").write_text(HOOKS)
    path.write_text(
        textwrap.dedent(SCENARIO) + "rehearsals:\n  - name: r\n    hooks: {myhooks:lokup: 1}\n"
    )
    (problem,) = [d for d in check_file(path) if d.code == "unknown-hook"]
    assert 'did you mean "myhooks:lookup"' in problem.message


def test_validation_of_call(tmp_path):
    bad = SCENARIO.replace("function: myhooks:lookup", "function: myhooks.lookup")
    path = tmp_path / "hooks.yaml"
    path.write_text(textwrap.dedent(bad))
    assert any(d.code == "bad-value" and "module:function" in d.message for d in check_file(path))
    misplaced = SCENARIO.replace(
        "          - call: {function: myhooks:answer, answer: true}",
        "          - echo: hi",
    ).replace(
        '    on:\n      - utterance: "look"',
        '    enter: [{call: {function: myhooks:answer, answer: true}}]\n    on:\n      - utterance: "look"',
    )
    path.write_text(textwrap.dedent(misplaced))
    (tmp_path / "myhooks.py").write_text(HOOKS)
    assert any(d.code == "tool-result-without-tool-call" for d in check_file(path))


def test_lint_finds_a_hook_without_importing_it(tmp_path):
    path = tmp_path / "hooks.yaml"
    path.write_text(textwrap.dedent(SCENARIO))
    (tmp_path / "myhooks.py").write_text(
        "raise SystemExit('validate must not run hooks')\n" + HOOKS.replace("def odd", "def od")
    )
    messages = [d.message for d in check_file(path) if d.code == "hook-not-found"]
    assert len(messages) == 1 and "no function 'odd'" in messages[0]
    (tmp_path / "myhooks.py").unlink()
    messages = [d.message for d in check_file(path) if d.code == "hook-not-found"]
    assert "no module 'myhooks'" in messages[0]


def test_live_the_conversation_goes_on_while_a_hook_runs(tmp_path):
    """On a wall clock the hook runs in a worker: events are handled meanwhile, and the result
    arrives on the clock's thread, after them."""
    (tmp_path / "gate.py").write_text(
        "import os, time\n"
        "def wait(event, vars):\n"
        "    for _ in range(500):\n"
        "        if os.path.exists(vars['gate']):\n"
        "            return 'opened'\n"
        "        time.sleep(0.01)\n"
        "    return 'never opened'\n"
    )
    gate = tmp_path / "open"
    path = tmp_path / "live.yaml"
    path.write_text(
        textwrap.dedent(
            """
            cviscript: 1
            name: live
            initial: a
            states:
              a:
                enter: [{call: {function: gate:wait, save: g, then: [{log: "hook {{ vars.g }}"}]}}]
                on:
                  - utterance: "next"
                    goto: b
              b:
                on:
                  - utterance: "done"
                    goto: c
              c: {final: true}
            """
        )
    )
    sc = load_scenario(path)
    sc.vars["gate"] = str(gate)

    async def main():
        loop = asyncio.get_running_loop()
        clock = AsyncioClock(loop)
        session = ScriptedSession(clock)  # type: ignore[arg-type]
        conv = Conversation(sc, session, clock, mode="live")
        conv.start()
        session.sink.on_message(user_says("next"))  # handled at once: the hook is still running
        assert conv.engine.state == "b"
        assert "g" not in conv.engine.vars
        assert any(t.name == "cviscript-hook gate:wait" for t in threading.enumerate())
        gate.write_text("")
        for _ in range(200):
            await asyncio.sleep(0.01)
            if "g" in conv.engine.vars:
                break
        assert conv.engine.vars["g"] == "opened"
        logs = [r.data["text"] for r in conv.trace.records if r.kind == "log"]
        assert logs == ["hook opened"]
        session.sink.on_message(user_says("done"))
        return conv

    conv = asyncio.run(main())
    assert conv.engine.path == ["a", "b", "c"]


# ---------------------------------------------------------------- issue 20.3, 19.5, 19.12, 19.13

SILENT_FINAL = """
cviscript: 1
name: silent
initial: a
states:
  a:
    on:
      - utterance: "go"
        do: [{call: "HOOK"}]
        goto: b
  b: {final: true}
rehearsals:
  - name: r
    user:
      - at: 1s
        say: go
    expect: {final: b}
"""


def _silent(tmp_path, hook: str, extra: str = "") -> object:
    path = tmp_path / "silent.yaml"
    path.write_text(SILENT_FINAL.replace("HOOK", hook) + extra)
    return load_scenario(path)


def test_a_hook_that_cannot_be_found_is_an_error_before_the_run_starts(tmp_path):
    """Even when the next state is final and silent (the call would be dropped unanswered)."""
    conv = run_simulated(_silent(tmp_path, "nohooks:fn"), rehearsal="r")
    assert conv.result.outcome == "error"
    assert "silent.yaml:9:15: call: nohooks:fn: no module 'nohooks'" in conv.result.reason
    assert conv.engine.path == []  # nothing was said or entered
    (tmp_path / "nohooks.py").write_text("def other(event, vars):\n    return 1\n")
    conv = run_simulated(_silent(tmp_path, "nohooks:fn"), rehearsal="r")
    assert conv.result.outcome == "error" and "defines no function 'fn'" in conv.result.reason


def test_a_canned_value_stands_in_for_a_hook_that_cannot_be_found(tmp_path):
    sc = _silent(tmp_path, "nohooks:fn", "    hooks: {nohooks:fn: 1}\n")
    conv = run_simulated(sc, rehearsal="r")
    assert conv.result.outcome == "completed", conv.result.reason


def test_a_failing_hook_ends_the_run_as_an_error_even_when_the_next_state_is_final(tmp_path):
    (tmp_path / "myhooks.py").write_text(HOOKS)
    conv = run_simulated(_silent(tmp_path, "myhooks:broken"), rehearsal="r")
    assert conv.result.outcome == "error"
    assert "myhooks:broken raised ValueError" in conv.result.reason
    conv = run_simulated(_silent(tmp_path, "myhooks:odd"), rehearsal="r")
    assert conv.result.outcome == "error" and "not JSON-like" in conv.result.reason
    conv = run_simulated(_silent(tmp_path, "myhooks:lookup"), rehearsal="r")
    assert conv.result.outcome == "completed"


def test_a_hook_error_names_the_line_inside_the_hook(scenario):
    conv, _ = run_script(scenario, [(1, user_says("break"))])
    line = HOOKS.splitlines().index('    raise ValueError("the database is down")') + 1
    assert f"myhooks.py:{line} in broken)" in conv.result.reason
    assert conv.result.reason.startswith(f"{scenario.path}:19:15:") or "hooks.yaml:19:15" in (
        conv.result.reason
    )


def test_a_hook_module_that_fails_to_import_names_its_line(tmp_path):
    (tmp_path / "myhooks.py").write_text("x = 1\nraise KeyError('top')\n" + HOOKS)
    conv = run_simulated(_silent(tmp_path, "myhooks:lookup"), rehearsal="r")
    assert conv.result.outcome == "error"
    assert "myhooks.py:2 in <module>)" in conv.result.reason


def test_validate_finds_a_dotted_hook_without_importing_its_package(tmp_path, monkeypatch):
    """`importlib.util.find_spec("pkg.mod")` imports `pkg`: its __init__ must not run."""
    site = tmp_path / "site"
    (site / "hookpkg").mkdir(parents=True)
    (site / "hookpkg" / "__init__.py").write_text("raise SystemExit('validate imported hookpkg')\n")
    (site / "hookpkg" / "mod.py").write_text("def fn(event, vars):\n    return 1\n")
    monkeypatch.syspath_prepend(str(site))
    project = tmp_path / "project"
    project.mkdir()
    path = project / "s.yaml"
    path.write_text(SILENT_FINAL.replace("HOOK", "hookpkg.mod:fn"))
    assert [d for d in check_file(path) if d.code == "hook-not-found"] == []
    path.write_text(SILENT_FINAL.replace("HOOK", "hookpkg.mod:nofn"))
    (d,) = [d for d in check_file(path) if d.code == "hook-not-found"]
    assert "defines no function 'nofn'" in d.message
    path.write_text(SILENT_FINAL.replace("HOOK", "hookpkg.other:fn"))
    (d,) = [d for d in check_file(path) if d.code == "hook-not-found"]
    assert "no module 'hookpkg.other'" in d.message
    import sys

    assert "hookpkg" not in sys.modules


def test_graph_does_not_import_hooks(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cviscript.cli.main import cli

    site = tmp_path / "site"
    (site / "hookpkg2").mkdir(parents=True)
    (site / "hookpkg2" / "__init__.py").write_text("raise SystemExit('graph imported it')\n")
    (site / "hookpkg2" / "mod.py").write_text("def fn(event, vars):\n    return 1\n")
    monkeypatch.syspath_prepend(str(site))
    path = tmp_path / "s.yaml"
    path.write_text(SILENT_FINAL.replace("HOOK", "hookpkg2.mod:fn"))
    result = CliRunner().invoke(cli, ["graph", str(path)])
    assert result.exit_code == 0, result.output
    import sys

    assert "hookpkg2" not in sys.modules


DEEP = (
    "def deep(event, vars):\n    v = []\n    for _ in range(500):\n        v = [v]\n    return v\n"
)


def test_a_hook_result_nested_500_deep_ends_the_rehearsal_as_an_error(tmp_path):
    (tmp_path / "deephooks.py").write_text(DEEP)
    conv = run_simulated(_silent(tmp_path, "deephooks:deep"), rehearsal="r")
    assert conv.result.outcome == "error"
    assert "nested more than 64 lists/dicts deep" in conv.result.reason


def test_a_hook_result_nested_500_deep_ends_a_live_run_as_an_error(tmp_path):
    (tmp_path / "deephooks.py").write_text(DEEP)
    sc = _silent(tmp_path, "deephooks:deep")

    async def main():
        clock = AsyncioClock(asyncio.get_running_loop())
        session = ScriptedSession(clock)  # type: ignore[arg-type]
        conv = Conversation(sc, session, clock, mode="live")
        conv.start()
        session.sink.on_message(user_says("go"))
        for _ in range(300):
            await asyncio.sleep(0.01)
            if conv.result is not None:
                break
        return conv

    conv = asyncio.run(main())
    assert conv.result is not None and conv.result.outcome == "error"
    assert "nested more than 64" in conv.result.reason


def test_a_hook_that_leaves_a_thread_running_cannot_keep_run_from_exiting(tmp_path):
    import subprocess
    import sys
    import time

    (tmp_path / "threads.py").write_text(
        "import threading, time\n"
        "def spawn(event, vars):\n"
        "    threading.Thread(target=time.sleep, args=(120,), name='poller', daemon=False).start()\n"
        "    return 'ok'\n"
    )
    path = tmp_path / "silent.yaml"
    path.write_text(SILENT_FINAL.replace("HOOK", "threads:spawn"))
    begun = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cviscript", "run", str(path), "--rehearsal", "r"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - begun < 30
    assert done.returncode == 0, done.stderr
    assert "hook threads:spawn left a thread running ('poller'" in done.stderr


def test_a_hook_thread_cannot_keep_rehearse_live_from_exiting(tmp_path):
    import os
    import subprocess
    import sys
    import time

    (tmp_path / "threads.py").write_text(
        "import threading, time\n"
        "def spawn(event, vars):\n"
        "    threading.Thread(target=time.sleep, args=(120,), name='poller', daemon=False).start()\n"
        "    return 'ok'\n"
    )
    path = tmp_path / "silent.yaml"
    path.write_text(SILENT_FINAL.replace("HOOK", "threads:spawn"))
    env = {k: v for k, v in os.environ.items() if k != "TAVUS_API_KEY"}
    begun = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cviscript", "rehearse", "--live", str(path)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
        env={**env, "CVISCRIPT_FAKE_DAILY": "1"},
    )
    assert time.monotonic() - begun < 60
    assert "1 passed" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 0
    assert "hook threads:spawn left a thread running ('poller'" in done.stderr


def test_live_a_hook_that_cannot_be_found_stops_before_a_conversation_is_created(tmp_path):
    import os
    import subprocess
    import sys

    from test_live_http import KEY, TavusStub

    path = tmp_path / "silent.yaml"
    path.write_text(
        SILENT_FINAL.replace("HOOK", "nohooks:fn").replace(
            "initial: a", "conversation:\n  create: {persona_id: p1}\ninitial: a"
        )
    )
    stub = TavusStub()
    env = {
        **os.environ,
        "TAVUS_API_KEY": KEY,
        "TAVUS_API_URL": stub.url,
        "CVISCRIPT_FAKE_DAILY": "1",
    }
    try:
        run = subprocess.run(
            [sys.executable, "-m", "cviscript", "run", str(path), "--create"],
            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
        )  # fmt: skip
        rehearse = subprocess.run(
            [sys.executable, "-m", "cviscript", "rehearse", "--live", str(path)],
            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
        )  # fmt: skip
    finally:
        stub.close()
    assert run.returncode == 2 and "call: nohooks:fn: no module 'nohooks'" in run.stderr
    assert rehearse.returncode == 1 and "a hook cannot be found" in rehearse.stdout
    assert stub.created == []  # nothing billed for a run that could not work
