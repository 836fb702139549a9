"""`cviscript run` against the simulated replica: instantly on a virtual clock, or paced.

The library does the run (`cviscript.sessions.simulated.runner`, `cviscript.sessions.realtime`);
this module prints it, and exits 0 when the scenario completed, 1 otherwise.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import UsageError
from ..sessions.live.options import Audio, Steering
from .common import EXIT_FAILED, EXIT_INVALID, exit_code_for, fail
from .run_output import RunOutput, SafeTranscript, close_quietly


def run_simulated(
    scenario: Any,
    rehearsal: str | None,
    vars_override: dict[str, Any],
    context_spelling: str | None,
    output: RunOutput,
    audio: Audio,
    steering: Steering,
    *,
    seed: int | None = None,
) -> None:
    """Run `scenario` against the simulated replica (the rehearsal named, or the first one; with
    `seed` instead of the rehearsal's) and exit with its outcome."""
    from ..clock import VirtualClock
    from ..sessions.simulated.runner import drive, simulated_conversation
    from .steering import make_terminal

    case, who = _rehearsal(scenario, rehearsal, steering)
    terminal = make_terminal(steering.interactive)
    subscribers, writer = output.subscribers(
        f"{scenario.name}: simulated replica, {who}", echo=terminal.echo if terminal.tty else None
    )
    safe = None
    if writer:
        safe = SafeTranscript(writer)
        subscribers = [safe if fn is writer else fn for fn in subscribers]
    settings = scenario.conversation
    if subscribers and (settings.url is not None or settings.create is not None):
        click.echo(
            "  (the file has conversation: settings; add --live to run against them)", err=True
        )
    try:
        clock = VirtualClock()
        conv = simulated_conversation(
            scenario,
            case,
            vars_override=vars_override,
            context_spelling=context_spelling,
            subscribers=subscribers,
            clock=clock,
            seed=seed,
        )
        try:
            conv.engine.actions.set_audio_pacing(audio.chunk_ms, audio.speed)
        except UsageError as err:
            fail(str(err), EXIT_INVALID)
        if steering.paced:
            run_paced(conv, clock, steering, terminal, as_json=output.as_json)
        else:
            drive(conv, clock)
    finally:
        closed = close_quietly(writer) if writer else None
    _exit_with_result(scenario, conv.result, output, (safe.error if safe else None) or closed)


def _rehearsal(scenario: Any, name: str | None, steering: Steering) -> tuple[Any, str]:
    """The rehearsal to run (without its scripted visitor when the person at the prompt is the
    visitor), and who plays the visitor, for the headline."""
    from ..sessions.simulated.runner import pick_rehearsal, without_script

    try:
        case = pick_rehearsal(scenario, name)
    except UsageError as err:
        fail(str(err), EXIT_INVALID)
    who = f"rehearsal {case.name!r}" if case else "a silent simulated user"
    if steering.interactive and not steering.script:
        case = without_script(case)  # the person at the prompt is the visitor
        who = "you are the visitor" + (
            f" (persona and replica of rehearsal {case.name!r}; --with-script adds its visitor)"
            if case
            else ""
        )
    return case, who


def _exit_with_result(scenario: Any, result: Any, output: RunOutput, problem: str | None) -> None:
    output.print_result(scenario, result)
    if problem:
        click.echo(f"cviscript: {problem}", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(exit_code_for(result))


def run_paced(
    conv: Any, clock: Any, steering: Steering, terminal: Any, *, as_json: bool = False
) -> None:
    """A simulated run at `--speed` (1 when only --interactive/--control), steerable; with
    `as_json` the operator's lines (the control URL) go to stderr."""
    from ..control.steer import SimulatedSteering
    from ..sessions.realtime import RealtimeDriver
    from .steering import Operator, terminal_kept

    driver = RealtimeDriver(conv, clock, steering.speed or 1.0)
    notes = (lambda line: click.echo(line, err=True)) if as_json else None
    operator = Operator(
        interactive=steering.interactive, control=steering.control, terminal=terminal, notes=notes
    )
    operator.bind()
    with terminal_kept():
        operator.attach(SimulatedSteering(conv, driver))
        try:
            driver.run()
        except KeyboardInterrupt:
            conv.abort("failed", "interrupted by SIGINT")
            conv.close()
            operator.close()
            terminal.echo("")
            from ..report.console import format_result

            click.echo(format_result(conv.result, color=False))
            sys.exit(130)
        finally:
            operator.close()
    conv.close()
