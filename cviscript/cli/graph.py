"""`cviscript graph FILE` — draw the scenario's state machine (Mermaid, DOT, SVG, PNG)."""

from __future__ import annotations

import sys

import click

from .common import EXIT_INVALID, fail, include_root_option, load_or_exit


@click.command(
    "graph",
    epilog="""\b
Examples:
  cviscript graph scenarios/kiosk.yaml                      # Mermaid, paste into Markdown
  cviscript graph demo.yaml --format dot | dot -Tsvg > demo.svg
  cviscript graph demo.yaml --format svg -o demo.svg
  cviscript run demo.yaml -q --transcript run.jsonl
  cviscript graph demo.yaml --highlight run.jsonl           # the path that run took

\b
dot needs the graphviz Python package: pip install 'cviscript[graph]';
svg and png also need Graphviz itself: apt-get install graphviz (or brew install graphviz).""",
)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg", "png"]),
    default="mermaid",
    show_default=True,
    help="mermaid and dot print text; svg and png are images.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write to FILE instead of standard output (required for png on a terminal).",
)
@click.option(
    "--highlight",
    type=click.Path(dir_okay=False, exists=True),
    metavar="TRANSCRIPT",
    help="Mark the states a run entered and the transitions it took (a JSONL transcript from "
    "`cviscript run --transcript`).",
)
@include_root_option
def command(file, fmt, output, highlight):
    """Draw the state machine of scenario FILE.

    Edges are labelled with the trigger and its `when` guard; `any:` transitions start from an
    "(any state)" node; a transition without goto is a loop marked (stay).
    """
    from ..errors import CviscriptError
    from ..report.graph import Highlight, draw

    scenario = load_or_exit(file)
    marks = None
    if highlight is not None:
        try:
            marks = Highlight.from_transcript(highlight)
            for warning in marks.check(scenario):
                click.echo(f"cviscript: warning: {warning}", err=True)
        except CviscriptError as err:
            fail(str(err), EXIT_INVALID)
    if fmt == "png" and output is None and sys.stdout.isatty():
        fail("png is binary: write it with --output FILE (or pipe it)", EXIT_INVALID)
    try:
        result = draw(scenario, fmt, marks)
    except CviscriptError as err:
        fail(str(err), EXIT_INVALID)
    if output is None:
        click.echo(result, nl=False)  # click writes bytes to the binary stream
        return
    with open(output, "wb") as fh:
        fh.write(result.encode("utf-8") if isinstance(result, str) else result)
    click.echo(f"wrote {output}", err=True)
