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
@click.option(
    "--against-model",
    is_flag=True,
    help="Would rehearsal have caught it? Also rehearse SCENARIO against the replica model set up "
    "from the recording (settings calibrated from it, its visitor lines at their times, its "
    "replies) and print the first state, event or spoken text where the two runs differ.",
)
@click.option(
    "--show-rehearsal",
    is_flag=True,
    help="With --against-model: print the rehearsal built from the recording (YAML).",
)
@include_root_option
def command(trace, scenario, variables, transcript, quiet, against_model, show_rehearsal):
    """Feed the received events of the transcript TRACE (recorded live or simulated) to SCENARIO
    (default: the file its header names) at their recorded times on a virtual clock, and check it
    sends the same interactions. When it does not, print the first differing interaction and a
    diff of the two sequences.
    """
    from ..sessions.replay import replay
    from ..transcript import TranscriptWriter

    vars_override = parse_vars(variables)
    if show_rehearsal and not against_model:
        fail("--show-rehearsal goes with --against-model", EXIT_INVALID)
    if against_model:
        if transcript:
            fail("--transcript is not used with --against-model", EXIT_INVALID)
        _against_model(trace, scenario, vars_override, quiet, show_rehearsal)
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


def _against_model(trace, scenario, vars_override, quiet, show_rehearsal) -> None:
    from ..fidelity.against_model import against_model

    try:
        result = against_model(trace, scenario, vars_override=vars_override)
    except ScenarioError as err:
        print_diagnostics(err)
        fail(f"{scenario or 'the scenario'}: invalid, not replayed", EXIT_INVALID)
    except CviscriptError as err:
        fail(str(err), EXIT_INVALID)
    settings = result.rehearsal.get("replica") or {}
    if not quiet:
        shown = ", ".join(f"{k} {v}" for k, v in settings.items() if k != "greeting") or "defaults"
        click.echo(
            printable(
                f"replayed {result.transcript} and rehearsed {result.scenario_path} against the "
                f"model set up from it (replica: {shown}; "
                f"{len(result.rehearsal.get('user') or [])} visitor lines, "
                f"{len(result.rehearsal.get('persona') or [])} persona replies)"
            )
        )
    if show_rehearsal:
        import yaml

        click.echo(yaml.safe_dump([result.rehearsal], sort_keys=False, allow_unicode=True))
    d = result.divergence
    r, m = result.recorded, result.model
    if d is None:
        click.echo(
            f"PASS no divergence: rehearsal sees what live saw ({len(r.states)} states, "
            f"{len(r.events) + len(r.visitor) + len(r.spoken)} events)"
        )
        sys.exit(EXIT_OK)
    click.echo(printable(f"FAIL {d.describe()}"))
    if not quiet:
        for name, line in (("live", r), ("model", m)):
            states = " → ".join(p.label for p in line.states)
            click.echo(printable(f"  {name} path: {states}"))
    sys.exit(EXIT_FAILED)
