"""`cviscript run --url/--create/--live`: a live run, its outcome mapped to exit codes and printed.

The live work is `cviscript.sessions.live.runner.LiveRun`, given the `LiveOptions` the command
built; this module adds the console and JSONL transcripts and the steering hook, and turns what
happened into one exit code: 0 completed, 1 failed, 2 usage, 3 cannot connect — and 3, whatever
else happened, when a conversation the run created could not be ended (billing goes on).
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from typing import Any

import click

from ..errors import ConnectError, CviscriptError, UsageError
from ..sessions.live.options import LiveOptions
from .common import EXIT_CONNECT, EXIT_FAILED, EXIT_INVALID, EXIT_OK, exit_code_for
from .run_output import RunOutput, close_quietly


def run_live(
    scenario: Any, options: LiveOptions, vars_override: dict[str, Any], output: RunOutput
) -> tuple[int, bool]:
    """Run live; returns (exit code, whether the Daily client was released)."""
    from ..fidelity import Monitor
    from ..fidelity.assumptions import for_scenario
    from ..sessions.live.runner import LiveRun
    from ..sessions.live.target import public_url
    from .steering import LiveHook, make_terminal

    target = options.connection.target
    where = f"joining {public_url(target.url)}" if target.url else "creating a Tavus conversation"
    terminal = make_terminal(options.steering.interactive)
    # --control is bound first (a taken port stops the run before anything is created); with
    # --json its URL (with the token) goes to stderr: stdout is the one JSON object
    notes = (lambda line: click.echo(line, err=True)) if output.as_json else None
    hook = LiveHook(options.steering, terminal, notes=notes)
    subscribers, writer = output.subscribers(
        f"{scenario.name}: live, {where}", echo=terminal.echo if terminal.tty else None
    )
    subscribers.append(hook)
    monitor = Monitor(for_scenario(scenario))
    live = LiveRun(
        scenario,
        options,
        subscribers=subscribers,
        vars_override=vars_override,
        fidelity=monitor,
    )
    hook.live = live
    conv, code, failure = None, EXIT_FAILED, None
    try:
        with hook.kept():
            conv = live.run_sync()
    except Exception as err:  # a bug included: say so, but still exit through the cleanup below
        failure, code = _failure(err)
    finally:
        hook.close()
        closed = close_quietly(writer) if writer else None
    if failure is not None:
        click.echo(f"cviscript: {failure}", err=True)
    if closed and not live.subscriber_errors:
        click.echo(f"cviscript: {closed}", err=True)
    outcome = _Outcome(live, conv, monitor, code, failure, closed)
    return _report(scenario, outcome, output), live.released


def _failure(err: Exception) -> tuple[str, int]:
    """What a run that raised prints, and its exit code."""
    from ..sessions.live.runner import Interrupted

    if isinstance(err, ConnectError):
        return str(err), EXIT_CONNECT
    if isinstance(err, Interrupted):
        return str(err), err.exit_status
    if isinstance(err, UsageError):
        return str(err), EXIT_INVALID
    if isinstance(err, CviscriptError):
        return str(err), EXIT_FAILED
    return "internal error:\n" + traceback.format_exc(), EXIT_FAILED


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a live run left: the run, its conversation (None if it never started), its
    self-check, the exit code so far, why it failed, a transcript that could not be closed."""

    live: Any
    conv: Any
    monitor: Any
    code: int
    failure: str | None
    closed: str | None


def _report(scenario: Any, outcome: _Outcome, output: RunOutput) -> int:
    """Print the outcome; returns the exit code."""
    live, conv, code, failure, closed = (
        outcome.live, outcome.conv, outcome.code, outcome.failure, outcome.closed,
    )  # fmt: skip
    left = left_running(live)
    if conv is not None:
        result = conv.result
        outcome.monitor.finish()
        output.print_result(
            scenario, result, mode="live", conversation_id=live.conversation_id, **left,
            fidelity=outcome.monitor.summary(),
        )  # fmt: skip
        if live.interrupted:
            from ..sessions.live.loop import signal_exit_status

            code = signal_exit_status(live.interrupted)
        else:
            code = exit_code_for(result) if not closed else EXIT_FAILED
    elif live.test_mode:
        code = EXIT_OK
        if output.as_json:
            fields = {"mode": "test_mode", "conversation_id": live.conversation_id}
            click.echo(
                json.dumps({"scenario": scenario.name, **fields, "ended": live.ended, **left})
            )
    elif output.as_json:  # never started: still one object, saying what is left behind
        fields = {"mode": "live", "outcome": "error", "reason": failure}
        click.echo(
            json.dumps(
                {
                    "scenario": scenario.name,
                    **fields,
                    "conversation_id": live.conversation_id,
                    **left,
                }
            )
        )
    if left.get("conversation_left_running"):
        # Billing goes on: this outranks every other outcome, a signal's included.
        code = EXIT_CONNECT
    return code


def left_running(live: Any) -> dict[str, Any]:
    """The --json fields about a conversation this run created and could not end."""
    from ..sessions.live.target import public_url

    if live.created is None or live.ended:
        return {"conversation_left_running": False} if live.created is not None else {}
    return {
        "conversation_left_running": True,
        "conversation_url": public_url(live.url) if live.url else None,
        "end_error": live.end_error,
    }
