"""`cviscript run FILE` — run a scenario: simulated replica by default, live when asked.

The live path is taken only with `--url` (join an existing conversation), `--create` (create one
from the file's ``conversation.create``) or `--live` (whatever the file's ``conversation:`` says):
a file's ``conversation:`` section alone never makes a plain `cviscript run` create a billed
conversation. The live work is `cviscript.sessions.live.runner.LiveRun`; this module maps its outcome to
exit codes and prints it.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

import click

from ..errors import ConnectError, CviscriptError, TemplateRenderError, UsageError
from .common import (
    EXIT_CONNECT,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    exit_code_for,
    fail,
    include_root_option,
    load_or_exit,
    parse_vars,
)
from .live_common import (
    cli_logging,
    connection_options,
    fake_daily,
    sdk_stderr_hidden,
    status_printer,
)

EPILOG = """\b
Examples:
  cviscript run scenarios/product-demo.yaml
  cviscript run scenarios/kiosk.yaml --rehearsal "visitor leaves early"
  cviscript run demo.yaml --var product="Acme Cloud" --transcript out/run.jsonl
  cviscript run demo.yaml --url https://tavus.daily.co/c123456     # join a live conversation
  TAVUS_API_KEY=... cviscript run demo.yaml --create               # create one, end it after
  TAVUS_API_KEY=... cviscript run demo.yaml --live                 # use the file's conversation:
  cviscript run demo.yaml --speed 1                                # watch it at human pace
  cviscript run demo.yaml --interactive                            # play the visitor yourself
  cviscript run demo.yaml --live --control 127.0.0.1:8377          # steer it from a browser

\b
Live runs: a file's conversation: section is used only with --live (or --create); a plain
`cviscript run FILE` always rehearses against the simulated replica, so it never creates a
billed conversation by accident. A conversation the run created is ended on every exit path
(completed, failed, error, Ctrl-C, SIGTERM). Ctrl-C or SIGTERM stop the run cleanly (outcome
failed, "interrupted by SIGINT"); a second one exits at once. --create needs TAVUS_API_KEY in
the environment (TAVUS_API_URL or --api-url point it at another base URL).

\b
Exit codes: 0 completed, 1 failed or timed out (or an error during the run),
2 invalid scenario or usage, 3 cannot reach Tavus, Daily or the replica, 4 stopped at the
--interactive prompt (/quit: outcome stopped), 130 stopped by SIGINT
(Ctrl-C), 143 stopped by SIGTERM; 3 also, whatever else happened, when a conversation the run
created could not be ended (--json then says "conversation_left_running": true)."""


@click.command("run", epilog=EPILOG)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--rehearsal",
    "-r",
    metavar="NAME",
    help="Take the simulated user, persona and replica settings from this rehearsal "
    "(default: the scenario's first rehearsal; none: a silent user and default settings). "
    "With --interactive only its persona and replica settings: you are the visitor.",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a variable of `vars:` (repeatable). Numbers and true/false are parsed.",
)
@click.option(
    "--transcript",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE.jsonl",
    help="Write every message sent and received, and every state change, as JSON lines "
    "(replayable with `cviscript replay`).",
)
@click.option(
    "--context-spelling",
    type=click.Choice(["llm_context", "context"]),
    help="Send conversation.*_llm_context (official, default) or the older "
    "conversation.*_context names.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the outcome.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as one JSON object at the end."
)
@click.option(
    "--color/--no-color", default=None, help="Colour the transcript (default: when a terminal)."
)
@click.option(
    "--url",
    metavar="URL",
    help="Run live: join this existing conversation (https://tavus.daily.co/<id>).",
)
@click.option(
    "--create",
    is_flag=True,
    help="Run live: create a conversation from the file's conversation.create (needs "
    "TAVUS_API_KEY) and end it when the run ends.",
)
@click.option(
    "--live",
    is_flag=True,
    help="Run live against the file's conversation: settings (url, or create).",
)
@click.option(
    "--simulate",
    is_flag=True,
    help="Run against the simulated replica (the default; refuses live options).",
)
@click.option(
    "--test-mode",
    is_flag=True,
    help="Create the conversation with test_mode (no replica joins, no cost) and end it: checks "
    "the API key and the create fields without running the scenario.",
)
@click.option(
    "--api-url",
    envvar="TAVUS_API_URL",
    metavar="URL",
    help="Tavus API base URL [default: https://tavusapi.com; env TAVUS_API_URL].",
)
@connection_options
@click.option(
    "--audio-chunk-ms",
    type=click.IntRange(1, 59),
    metavar="MS",
    help="Audio echo chunk length (default 40; at most 59 keeps a chunk under 4 KB at 24 kHz).",
)
@click.option(
    "--audio-speed",
    type=click.FloatRange(0.5, 20.0),
    metavar="X",
    help="Send audio echo this many times faster than real time, after a 200 ms burst (default 2).",
)
@click.option(
    "--speed",
    type=float,
    metavar="X",
    help="Play a simulated run at X times real time (1 = human pace) instead of instantly.",
)
@click.option(
    "--interactive",
    "-i",
    is_flag=True,
    help="Play the visitor: type what they say (or /fire NAME, /see TEXT, /barge, /help); "
    "simulated runs go at human pace (--speed 1 unless given) with the rehearsal's persona and "
    "replica but not its scripted visitor. /quit ends the run as `stopped` (exit 4).",
)
@click.option(
    "--with-script",
    is_flag=True,
    help="With --interactive on a simulated run: the rehearsal's scripted user: and operator: "
    "rules play too (what you type still comes first).",
)
@click.option(
    "--control",
    metavar="HOST:PORT",
    help="Serve a local control page and API (loopback only, with a token printed at start) to "
    "fire manual: transitions from a browser or `cviscript fire`; port 0 picks a free one.",
)
@include_root_option
def command(
    file,
    rehearsal,
    variables,
    transcript,
    context_spelling,
    quiet,
    as_json,
    color,
    url,
    create,
    live,
    simulate,
    test_mode,
    api_url,
    conversation_id,
    token,
    join_timeout,
    replica_timeout,
    replica_user_id,
    replica_name,
    quiet_sdk,
    verbose,
    audio_chunk_ms,
    audio_speed,
    speed,
    interactive,
    with_script,
    control,
):
    """Run the scenario FILE and print a readable transcript as it goes.

    With no live conversation given, FILE runs against the built-in simulated replica on a virtual
    clock: minutes of conversation take milliseconds, and the same file gives the same transcript
    every time. With --url, --create or --live it drives a real Tavus conversation.
    """
    from ..sessions.live.target import resolve_target

    scenario = load_or_exit(file, show_warnings=not quiet)
    vars_override = parse_vars(variables)
    from ..language.overrides import check_overrides

    if problems := check_overrides(scenario, vars_override):
        fail("\n".join(problems), EXIT_INVALID)
    try:
        target = resolve_target(
            scenario,
            url=url,
            conversation_id=conversation_id,
            token=token,
            create=create,
            live=live,
            simulate=simulate,
            test_mode=test_mode,
            vars_override=vars_override,
        )
    except (UsageError, TemplateRenderError) as err:
        fail(str(err), EXIT_INVALID)
    use_color = sys.stdout.isatty() if color is None else color
    audio = {"chunk_ms": audio_chunk_ms, "speed": audio_speed}
    from .steering import check_options

    address = check_options(
        speed=speed, interactive=interactive, control=control, live=target is not None
    )
    if with_script and not (interactive and target is None):
        fail("--with-script applies to simulated runs with --interactive only", EXIT_INVALID)
    steer = {"interactive": interactive, "control": address, "speed": speed, "script": with_script}
    if target is None:
        _run_simulated(
            scenario,
            rehearsal,
            vars_override,
            transcript,
            context_spelling,
            quiet,
            as_json,
            use_color,
            audio,
            steer,
        )
        return
    if rehearsal is not None:
        fail("--rehearsal applies to simulated runs only, not to live ones", EXIT_INVALID)
    with cli_logging(verbose), sdk_stderr_hidden(quiet_sdk):
        code, released = _run_live(
            scenario,
            target,
            vars_override=vars_override,
            transcript=transcript,
            context_spelling=context_spelling,
            quiet=quiet,
            as_json=as_json,
            use_color=use_color,
            api_url=api_url,
            join_timeout=join_timeout,
            replica_timeout=replica_timeout,
            replica_user_id=replica_user_id,
            replica_name=replica_name,
            audio=audio,
            steer=steer,
        )
    if not released:
        # daily-python still holds a pending join: a normal interpreter exit would linger and
        # then abort. Everything of ours is flushed and closed: leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


# ----------------------------------------------------------------------------- simulated


def _run_simulated(
    scenario,
    rehearsal,
    vars_override,
    transcript,
    context_spelling,
    quiet,
    as_json,
    use_color,
    audio,
    steer,
):
    from ..clock import VirtualClock
    from ..sessions.simulated.runner import (
        drive,
        pick_rehearsal,
        simulated_conversation,
        without_script,
    )

    try:
        case = pick_rehearsal(scenario, rehearsal)
    except UsageError as err:
        fail(str(err), EXIT_INVALID)
    who = f"rehearsal {case.name!r}" if case else "a silent simulated user"
    if steer["interactive"] and not steer.get("script"):
        case = without_script(case)  # the person at the prompt is the visitor
        who = "you are the visitor" + (
            f" (persona and replica of rehearsal {case.name!r}; --with-script adds its visitor)"
            if case
            else ""
        )
    paced = steer["interactive"] or steer["speed"] is not None or steer["control"] is not None
    from .steering import make_terminal

    terminal = make_terminal(steer["interactive"])
    subscribers, writer = _outputs(
        f"{scenario.name}: simulated replica, {who}", quiet, as_json, use_color, transcript,
        echo=terminal.echo if terminal.tty else None,
    )  # fmt: skip
    safe = None
    if writer:
        safe = _SafeTranscript(writer)
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
        )
        try:
            conv.engine.actions.set_audio_pacing(audio["chunk_ms"], audio["speed"])
        except UsageError as err:
            fail(str(err), EXIT_INVALID)
        if paced:
            _run_paced(conv, clock, steer, terminal)
        else:
            drive(conv, clock)
    finally:
        closed = _close_quietly(writer) if writer else None
    result = conv.result
    _print_result(scenario, result, as_json, use_color, transcript)
    problem = (safe.error if safe else None) or closed
    if problem:
        click.echo(f"cviscript: {problem}", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(exit_code_for(result))


def _run_paced(conv, clock, steer, terminal):
    """A simulated run at `--speed` (1 when only --interactive/--control), steerable."""
    from ..control.steer import SimulatedSteering
    from ..sessions.realtime import RealtimeDriver
    from .steering import Operator, terminal_kept

    driver = RealtimeDriver(conv, clock, steer["speed"] or 1.0)
    operator = Operator(
        interactive=steer["interactive"], control=steer["control"], terminal=terminal
    )
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


def _outputs(headline, quiet, as_json, use_color, transcript, echo=None):
    """(trace subscribers, transcript writer or None): the console transcript unless quiet or
    --json (printing `headline` first), and the JSONL file when asked. Close the writer."""
    from ..report.console import ConsolePrinter
    from ..transcript import TranscriptWriter

    writer = None
    if transcript:
        _check_transcript(transcript)
        try:
            writer = TranscriptWriter(transcript)
        except OSError as err:
            fail(f"cannot write the transcript {transcript}: {err.strerror or err}", EXIT_INVALID)
    subscribers = []
    if not quiet and not as_json:
        click.echo(headline)
        printer = ConsolePrinter(color=use_color)
        if echo is not None:
            printer.echo = echo
        subscribers.append(printer)
    if writer:
        subscribers.append(writer)
    return subscribers, writer


def _check_transcript(path: str) -> None:
    """Refuse, before anything runs (or is created), a transcript that cannot be written: a
    missing permission, a read-only or full file system. A regular file gets a one-byte probe
    (then emptied); a device or pipe is only opened, since a probe would show in it."""
    from pathlib import Path

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as fh:
            if target.is_file():
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
                fh.seek(0)
                fh.truncate()
    except OSError as err:
        fail(f"cannot write the transcript {path}: {err.strerror or err}", EXIT_INVALID)


def _close_quietly(writer) -> str | None:
    """Close the transcript; a failure (the last line could not be flushed) is returned."""
    try:
        writer.close()
    except OSError as err:
        return f"cannot write the transcript {writer.path}: {err.strerror or err}"
    return None


class _SafeTranscript:
    """The transcript writer for simulated runs: a write failure is kept, not raised into the
    engine; the run reports it at the end."""

    def __init__(self, writer):
        self.writer = writer
        self.path = writer.path
        self.error: str | None = None

    def __call__(self, record) -> None:
        if self.error is None:
            try:
                self.writer(record)
            except OSError as err:
                self.error = f"cannot write the transcript {self.path}: {err.strerror or err}"


def _print_result(scenario, result, as_json, use_color, transcript, **extra: Any) -> None:
    from ..report.console import format_result

    if as_json:
        click.echo(json.dumps(_result_json(scenario, result, **extra), default=str))
        return
    click.echo(format_result(result, color=use_color))
    if extra.get("fidelity") is not None:
        from ..report.console import format_fidelity

        click.echo(format_fidelity(extra["fidelity"], color=use_color))
    if transcript:
        click.echo(f"  transcript: {transcript}")


def _left_running(live) -> dict[str, Any]:
    """The --json fields about a conversation this run created and could not end."""
    from ..sessions.live.target import public_url

    if live.created is None or live.ended:
        return {"conversation_left_running": False} if live.created is not None else {}
    return {
        "conversation_left_running": True,
        "conversation_url": public_url(live.url) if live.url else None,
        "end_error": live.end_error,
    }


def _result_json(scenario, result, **extra: Any) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "outcome": result.outcome,
        "reason": result.reason,
        "state": result.state,
        "path": result.path,
        "vars": result.vars,
        "duration": round(result.duration, 6),
        "sent": result.sent,
        **extra,
    }


# ---------------------------------------------------------------------------------- live


def _run_live(
    scenario,
    target,
    *,
    vars_override,
    transcript,
    context_spelling,
    quiet,
    as_json,
    use_color,
    api_url,
    join_timeout,
    replica_timeout,
    replica_user_id,
    replica_name,
    audio,
    steer,
) -> tuple[int, bool]:
    """Run live; returns (exit code, whether the Daily client was released)."""
    from ..sessions.live.runner import Interrupted, LiveRun
    from ..sessions.live.target import public_url

    try:
        daily = fake_daily()
    except UsageError as err:
        fail(str(err), EXIT_INVALID)
    where = f"joining {public_url(target.url)}" if target.url else "creating a Tavus conversation"
    from .steering import LiveHook, make_terminal

    terminal = make_terminal(steer["interactive"])
    subscribers, writer = _outputs(
        f"{scenario.name}: live, {where}", quiet, as_json, use_color, transcript,
        echo=terminal.echo if terminal.tty else None,
    )  # fmt: skip
    hook = LiveHook(steer, terminal)
    subscribers.append(hook)
    from ..fidelity import Monitor
    from ..fidelity.assumptions import for_scenario

    monitor = Monitor(for_scenario(scenario))
    live = LiveRun(
        scenario,
        url=target.url,
        conversation_id=target.conversation_id,
        token=target.token,
        create=target.create,
        api_url=api_url,
        daily=daily,
        vars_override=vars_override,
        context_spelling=context_spelling,
        subscribers=subscribers,
        join_timeout=join_timeout,
        replica_timeout=replica_timeout,
        audio_chunk_ms=audio["chunk_ms"],
        audio_speed=audio["speed"],
        on_status=status_printer(quiet),
        replica_user_id=replica_user_id,
        replica_name=replica_name,
        fidelity=monitor,
    )
    conv = None
    code = EXIT_FAILED
    failure: str | None = None
    hook.live = live
    try:
        with hook.kept():
            conv = live.run_sync()
    except ConnectError as err:
        failure, code = str(err), EXIT_CONNECT
    except Interrupted as err:
        failure, code = str(err), err.exit_status
    except UsageError as err:
        failure, code = str(err), EXIT_INVALID
    except CviscriptError as err:
        failure = str(err)
    except Exception:  # a bug: say so, but still exit through the cleanup below
        failure = "internal error:\n" + traceback.format_exc()
    finally:
        hook.close()
        closed = _close_quietly(writer) if writer else None
    if failure is not None:
        click.echo(f"cviscript: {failure}", err=True)
    if closed and not live.subscriber_errors:
        click.echo(f"cviscript: {closed}", err=True)
    left = _left_running(live)
    if conv is not None:
        result = conv.result
        monitor.finish()
        _print_result(
            scenario, result, as_json, use_color, transcript,
            mode="live", conversation_id=live.conversation_id, **left,
            fidelity=monitor.summary(),
        )  # fmt: skip
        if live.interrupted:
            from ..sessions.live.loop import signal_exit_status

            code = signal_exit_status(live.interrupted)
        else:
            code = exit_code_for(result) if not closed else EXIT_FAILED
    elif live.test_mode:
        code = EXIT_OK
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "scenario": scenario.name,
                        "mode": "test_mode",
                        "conversation_id": live.conversation_id,
                        "ended": live.ended,
                        **left,
                    }
                )
            )
    elif as_json:  # never started: still one object, saying what is left behind
        click.echo(
            json.dumps(
                {
                    "scenario": scenario.name,
                    "mode": "live",
                    "outcome": "error",
                    "reason": failure,
                    "conversation_id": live.conversation_id,
                    **left,
                }
            )
        )
    if left.get("conversation_left_running"):
        # Billing goes on: this outranks every other outcome, a signal's included.
        code = EXIT_CONNECT
    return code, live.released
