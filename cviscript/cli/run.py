"""`cviscript run FILE` — run a scenario: simulated replica by default, live when asked.

The live path is taken only with `--url` (join an existing conversation), `--create` (create one
from the file's ``conversation.create``) or `--live` (whatever the file's ``conversation:`` says):
a file's ``conversation:`` section alone never makes a plain `cviscript run` create a billed
conversation. This module only parses: the flags become one `LiveOptions` (built here, once) or
a simulated run's settings; `run_simulated` and `run_live` run and print.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from ..errors import TemplateRenderError, UsageError
from ..sessions.live.options import Audio, LiveOptions, Steering
from ..sessions.live.target import LiveTarget
from .common import (
    EXIT_INVALID,
    collect,
    fail,
    include_root_option,
    load_or_exit,
    parse_vars,
)
from .live_common import (
    ConnectionFlags,
    cli_logging,
    connection_options,
    exit_with,
    fake_daily,
    sdk_stderr_hidden,
    status_printer,
)
from .run_live import run_live
from .run_output import RunOutput
from .run_simulated import run_simulated
from .steering import steering_from_flags

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


def _audio(audio_chunk_ms: int | None, audio_speed: float | None) -> Audio:
    return Audio(chunk_ms=audio_chunk_ms, speed=audio_speed)


def _checked_vars(scenario, variables: tuple[str, ...]) -> dict[str, Any]:
    """The --var overrides, refused (exit 2) where the scenario has no such variable or type."""
    from ..language.overrides import check_overrides

    vars_override = parse_vars(variables)
    if problems := check_overrides(scenario, vars_override):
        fail("\n".join(problems), EXIT_INVALID)
    return vars_override


@dataclass(frozen=True, slots=True)
class TargetFlags:
    """--url / --create / --live / --simulate / --test-mode / --api-url."""

    url: str | None
    create: bool
    live: bool
    simulate: bool
    test_mode: bool
    api_url: str | None

    def resolve(self, scenario, flags: ConnectionFlags, vars_override) -> LiveTarget | None:
        """The live conversation asked for, or None for a simulated run (exit 2 if unusable)."""
        from ..sessions.live.target import resolve_target

        try:
            return resolve_target(
                scenario,
                url=self.url,
                conversation_id=flags.conversation_id,
                token=flags.token,
                create=self.create,
                live=self.live,
                simulate=self.simulate,
                test_mode=self.test_mode,
                vars_override=vars_override,
            )
        except (UsageError, TemplateRenderError) as err:
            fail(str(err), EXIT_INVALID)


@dataclass(frozen=True, slots=True)
class SteerFlags:
    """--speed / --interactive / --with-script / --control, checked once it is known whether the
    run is live."""

    speed: float | None
    interactive: bool
    with_script: bool
    control: str | None

    def steering(self, *, live: bool) -> Steering:
        return steering_from_flags(
            speed=self.speed,
            interactive=self.interactive,
            with_script=self.with_script,
            control=self.control,
            live=live,
        )


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
    "--seed",
    type=int,
    metavar="N",
    help="Seed of the simulated replica's randomness (default: the rehearsal's seed:, else 0); "
    "`rehearse --repeat` names failing seeds to reproduce here. Simulated runs only.",
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
@click.option(
    "--strict",
    is_flag=True,
    help="A persona finding (the scenario checked against its persona file) is an error: "
    "nothing runs.",
)
@include_root_option
@collect("output", RunOutput.from_flags, "transcript", "quiet", "as_json", "color")
@collect("where", TargetFlags, "url", "create", "live", "simulate", "test_mode", "api_url")
@collect("audio", _audio, "audio_chunk_ms", "audio_speed")
@collect("steer", SteerFlags, "speed", "interactive", "with_script", "control")
def command(
    file, rehearsal, variables, context_spelling, seed, strict, output, where, flags, audio, steer
):
    """Run the scenario FILE and print a readable transcript as it goes.

    With no live conversation given, FILE runs against the built-in simulated replica on a virtual
    clock: minutes of conversation take milliseconds, and the same file gives the same transcript
    every time. With --url, --create or --live it drives a real Tavus conversation.
    """
    scenario = load_or_exit(file, show_warnings=not output.quiet, strict=strict)
    vars_override = _checked_vars(scenario, variables)
    target = where.resolve(scenario, flags, vars_override)
    steering = steer.steering(live=target is not None)
    if target is None:
        run_simulated(
            scenario, rehearsal, vars_override, context_spelling, output, audio, steering, seed=seed
        )
        return
    if rehearsal is not None:
        fail("--rehearsal applies to simulated runs only, not to live ones", EXIT_INVALID)
    if seed is not None:
        fail("--seed applies to simulated runs only (a live replica is not seeded)", EXIT_INVALID)
    from ..language.hooks_lookup import missing_hooks

    if missing := missing_hooks(scenario):  # before a conversation is created, not after
        fail("a hook cannot be found: " + "; ".join(missing), EXIT_INVALID)
    try:
        daily = fake_daily()
    except UsageError as err:
        fail(str(err), EXIT_INVALID)
    options = LiveOptions(
        flags.connection(target, api_url=where.api_url, daily=daily),
        flags.identity,
        audio=audio,
        steering=steering,
        context_spelling=context_spelling,
        on_status=status_printer(output.quiet),
    )
    with cli_logging(flags.verbose), sdk_stderr_hidden(flags.quiet_sdk):
        code, released = run_live(scenario, options, vars_override, output)
    exit_with(code, released)
