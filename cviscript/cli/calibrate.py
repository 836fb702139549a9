"""`cviscript calibrate TRANSCRIPT... -o replica.yaml` — replica settings measured from live runs."""

from __future__ import annotations

import json
import sys

import click

from ..errors import CviscriptError
from ..printable import printable
from .common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, fail

EPILOG = """\b
Examples:
  cviscript run demo.yaml --live --transcript live/run1.jsonl
  cviscript rehearse --live demo.yaml --transcripts live/
  cviscript calibrate live/*.jsonl -o replica.yaml
  cviscript calibrate live/*.jsonl --json                # the figures, for a script

\b
Then rehearse against it: `replica: {profile: replica.yaml}` in a rehearsal, or
`conversation.replica_profile: replica.yaml` for every rehearsal of the file. Re-calibrate
when the persona changes (docs: "Record, calibrate, rehearse").

\b
Exit codes: 0 settings written, 1 nothing could be measured (every figure rests on too
little), 2 a file is not a cviscript transcript, or wrong usage."""


@click.command("calibrate", epilog=EPILOG)
@click.argument("transcripts", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE.yaml",
    help="Write the replica profile here (default: print it).",
)
@click.option(
    "--min-samples",
    type=click.IntRange(1, 1000),
    default=3,
    show_default=True,
    help="Samples a number (latency, speaking rate, heartbeat) needs before it is written.",
)
@click.option(
    "--min-cases",
    type=click.IntRange(1, 1000),
    default=2,
    show_default=True,
    help="Cases a yes/no fact (respond echo, greeting streaming, fillers) needs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead.")
def command(transcripts, output, min_samples, min_cases, as_json):
    """Measure the replica settings that make the simulated replica behave like the live
    conversations recorded in TRANSCRIPT... (from `run --transcript` or `rehearse --live
    --transcripts`): the server's vintage and copy pattern, whether a respond comes back as a
    user utterance, whether the greeting streams, the time from a visitor's last word to the
    replica's first (median and spread), echo latency, speaking rate, heartbeat, tool fillers,
    the folding window the stream needs. Each figure says how many turns it rests on; one with
    too few is left out, not guessed.
    """
    from ..fidelity.calibrate import CalibrationError, calibrate
    from ..fidelity.profile import profile_yaml
    from ..transcript import read_transcript

    loaded = []
    for path in transcripts:
        try:
            header, records = read_transcript(path)
        except CviscriptError as err:
            fail(str(err), EXIT_INVALID)
        loaded.append((path, header, records))
    try:
        cal = calibrate(loaded, min_numbers=min_samples, min_facts=min_cases)
    except CalibrationError as err:
        fail(str(err), EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(cal.to_json(), default=str))
        sys.exit(EXIT_OK)
    text = profile_yaml(cal)
    if output is None:
        click.echo(text, nl=False)
        sys.exit(EXIT_OK)
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        fail(f"cannot write {output}: {err.strerror or err}", EXIT_INVALID)
    for fig in cal.figures:
        mark = "✔" if fig.known else "·"
        value = json.dumps(fig.value) if fig.known else "not measured"
        click.echo(printable(f"  {mark} {fig.key}: {value}  ({fig.samples} / {fig.needed})"))
    click.echo(f"wrote {output} from {len(loaded)} transcript(s)")
    sys.exit(EXIT_OK)
