"""`cviscript replay TRACE.jsonl [SCENARIO]` — replay a recorded session and diff what is sent."""

from __future__ import annotations

import sys

import click

from ..errors import CviscriptError, ScenarioError
from ..printable import printable
from .common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    fail,
    include_root_option,
    parse_vars,
    print_diagnostics,
)


@click.command(
    "replay",
    epilog="""\b
Examples:
  cviscript run scenarios/kiosk.yaml --transcript out/kiosk.jsonl
  cviscript replay out/kiosk.jsonl                       # the scenario the header names
  cviscript replay out/kiosk.jsonl scenarios/kiosk-v2.yaml

\b
In a rehearsal case, `replay: recordings/session.jsonl` keeps a recorded session in the suite.

\b
Exit codes: 0 the same interactions were sent and the run ended as recorded,
1 it differs, 2 an invalid scenario or transcript, or wrong usage.""",
)
@click.argument("trace", type=click.Path(dir_okay=False))
@click.argument("scenario", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a variable (as the recorded run was given with `run --var`).",
)
@click.option(
    "--transcript",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE.jsonl",
    help="Write the replay's own transcript.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the verdict (and the diff).")
@include_root_option
def command(trace, scenario, variables, transcript, quiet):
    """Feed the received events of the transcript TRACE (recorded live or simulated) to SCENARIO
    (default: the file its header names) at their recorded times on a virtual clock, and check it
    sends the same interactions. When it does not, print the first differing interaction and a
    diff of the two sequences.
    """
    from ..sessions.replay import replay
    from ..transcript import TranscriptWriter

    vars_override = parse_vars(variables)
    writer = TranscriptWriter(transcript) if transcript else None
    try:
        result = replay(
            trace, scenario, vars_override=vars_override, subscribers=[writer] if writer else ()
        )
    except ScenarioError as err:
        print_diagnostics(err)
        fail(f"{scenario or 'the scenario'}: invalid, not replayed", EXIT_INVALID)
    except CviscriptError as err:
        fail(str(err), EXIT_INVALID)
    finally:
        if writer:
            writer.close()

    run = result.conversation.result
    assert run is not None
    if not quiet:
        click.echo(
            f"replayed {result.transcript} against {result.scenario.path}: "
            f"{len(result.recorded)} interactions recorded, {len(result.replayed)} sent"
        )
    d = result.divergence
    if d is None and result.outcome_matches:
        click.echo(
            f"PASS the same {len(result.replayed)} interactions were sent; "
            f"the run ended {run.outcome}"
            + (" as recorded" if result.recorded_outcome is not None else "")
        )
        sys.exit(EXIT_OK)
    if d is not None:
        _print_divergence(result, quiet)
    if not result.outcome_matches:
        click.echo(
            printable(
                f"FAIL the run ended {run.outcome} ({run.reason}); the recording ended "
                f"{result.recorded_outcome} ({result.recorded_reason})"
            )
        )
    sys.exit(EXIT_FAILED)


def _print_divergence(result, quiet: bool) -> None:
    """The first interaction that differs, the diff of the two sequences and (unless quiet) the
    replay's transcript around it."""
    from ..rehearsal.excerpt import excerpt
    from ..sessions.replay import as_line

    d = result.divergence
    click.echo(printable(f"FAIL {d.describe()}"))
    click.echo(printable(f"  recorded: {as_line(d.expected)}"))
    click.echo(printable(f"  replayed: {as_line(d.actual)}"))
    if d.diff:
        for line in d.diff.rstrip("\n").splitlines():
            click.echo(printable(f"  {line}"))
    sent = [i for i, r in enumerate(result.records) if r.kind == "sent"]
    focus = sent[d.index] if d.index < len(sent) else None
    if not quiet:
        click.echo("  replay transcript:")
        for line in excerpt(result.records, focus):
            click.echo(printable(f"    {line}"))
