"""`cviscript persona pull ID -o FILE.json` — write the persona file a scenario rehearses against.

The library does the work (`cviscript.sessions.live.persona_pull`); this only parses, writes the
file and prints what it holds (`cviscript.language.persona_file` reads it back, so what is printed
is what a rehearsal will take from it).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ..errors import ConnectError, UsageError
from ..printable import printable
from .common import EXIT_CONNECT, EXIT_INVALID, EXIT_OK, fail

EPILOG = """\b
Examples:
  export TAVUS_API_KEY=...
  cviscript persona pull p_lobby_kiosk -o scenarios/kiosk.persona.json
  cviscript persona pull pcb7a34da5fe -o anna.json --api-url http://127.0.0.1:8080

\b
Then name the file in the scenario (relative to it):
  conversation:
    persona_file: kiosk.persona.json

\b
Exit codes: 0 written, 2 wrong usage (no key, bad path), 3 cannot reach Tavus or Tavus refused."""


@click.group("persona")
def command() -> None:
    """The persona a scenario runs against: pull it from Tavus into a file.

    The simulated replica is configured from the file (tools' on_call / on_resolve, echo mode,
    perception, objectives) and validate/rehearse/run check the scenario against it.
    """


@command.command("pull", epilog=EPILOG)
@click.argument("persona_id", metavar="ID")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="The JSON file to write (its folder must exist).",
)
@click.option(
    "--api-url",
    envvar="TAVUS_API_URL",
    metavar="URL",
    help="Tavus API base URL [default: https://tavusapi.com; env TAVUS_API_URL].",
)
def pull(persona_id: str, output: str, api_url: str | None) -> None:
    """Write PAL or persona ID, with its tools and objectives, to a JSON file.

    The PAL is asked for first, then the legacy persona. The API key comes from TAVUS_API_KEY
    and is never written or printed.
    """
    from ..language.persona_file import persona_from_json
    from ..sessions.live.persona_pull import pull_persona
    from ..sessions.live.tavus_api import DEFAULT_BASE_URL, TavusClient

    target = Path(output)
    if not target.parent.exists():
        fail(f"{output}: the folder {target.parent} does not exist", EXIT_INVALID)
    try:
        client = TavusClient(base_url=api_url or DEFAULT_BASE_URL)
    except ConnectError as err:  # no key, or not the form of one
        fail(f"{err} (set TAVUS_API_KEY)", EXIT_INVALID)
    problems: list[str] = []
    try:
        data = pull_persona(client, persona_id, problems)
    except UsageError as err:
        fail(str(err), EXIT_INVALID)
    except ConnectError as err:
        fail(str(err), EXIT_CONNECT)
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    pf = persona_from_json(data, str(target))
    tools = sorted(pf.tools)
    summary = (
        f"wrote {output}: {pf.kind} {pf.name or persona_id!r}, pipeline {pf.pipeline_mode}, "
        f"{len(tools)} tool{'s' if len(tools) != 1 else ''}"
        + (f" ({', '.join(tools)})" if tools else "")
        + (", a perception layer" if pf.has_perception else ", no perception layer")
        + (
            f", objectives: {', '.join(sorted(pf.objectives))}"
            if pf.objectives
            else ", no objectives"
        )
    )
    click.echo(printable(summary))
    for problem in [*problems, *pf.warnings]:
        click.echo(printable(f"warning: {problem}"), err=True)
    sys.exit(EXIT_OK)
