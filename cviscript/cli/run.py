"""`cviscript run FILE` — run a scenario (simulated replica unless a live conversation is given)."""

from __future__ import annotations

import json
import sys

import click

from ..errors import UsageError
from .common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, fail, load_or_exit, parse_vars


@click.command(
    "run",
    epilog="""\b
Examples:
  cviscript run scenarios/product-demo.yaml
  cviscript run scenarios/kiosk.yaml --rehearsal "visitor leaves early"
  cviscript run demo.yaml --var product="Acme Cloud" --transcript out/run.jsonl

\b
Exit codes: 0 completed, 1 failed or timed out, 2 invalid scenario or usage,
3 cannot connect.""",
)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--rehearsal",
    "-r",
    metavar="NAME",
    help="Take the simulated user, persona and replica settings from this rehearsal "
    "(default: the scenario's first rehearsal; none: a silent user).",
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
def command(file, rehearsal, variables, transcript, context_spelling, quiet, as_json, color):
    """Run the scenario FILE and print a readable transcript as it goes.

    With no live conversation given, FILE runs against the built-in simulated replica on a virtual
    clock: minutes of conversation take milliseconds, and the same file gives the same transcript
    every time.
    """
    from ..report.console import ConsolePrinter, format_result
    from ..runner import pick_rehearsal, run_simulated
    from ..transcript import TranscriptWriter

    scenario = load_or_exit(file)
    vars_override = parse_vars(variables)
    try:
        case = pick_rehearsal(scenario, rehearsal)
    except UsageError as err:
        fail(str(err), EXIT_INVALID)
    use_color = sys.stdout.isatty() if color is None else color
    subscribers = []
    if not quiet and not as_json:
        who = f"rehearsal {case.name!r}" if case else "a silent simulated user"
        click.echo(f"{scenario.name}: simulated replica, {who}")
        subscribers.append(ConsolePrinter(color=use_color))
    writer = TranscriptWriter(transcript) if transcript else None
    if writer:
        subscribers.append(writer)
    try:
        conv = run_simulated(
            scenario,
            rehearsal=case,
            vars_override=vars_override,
            context_spelling=context_spelling,
            subscribers=subscribers,
        )
    finally:
        if writer:
            writer.close()
    result = conv.result
    if as_json:
        click.echo(
            json.dumps(
                {
                    "scenario": scenario.name,
                    "outcome": result.outcome,
                    "reason": result.reason,
                    "state": result.state,
                    "path": result.path,
                    "vars": result.vars,
                    "duration": round(result.duration, 6),
                    "sent": result.sent,
                },
                default=str,
            )
        )
    else:
        click.echo(format_result(result, color=use_color))
    if transcript and not as_json:
        click.echo(f"  transcript: {transcript}")
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)
