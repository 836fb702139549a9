"""`cviscript fire NAME --control URL` — fire an operator transition in a running `cviscript run`.

The run must have been started with ``--control HOST:PORT``; it prints the URL to use (with its
token). This is the second-terminal client of `cviscript.control.server`.
"""

from __future__ import annotations

import sys

import click

from ..control import client
from ..errors import ConnectError, UsageError, did_you_mean
from ..printable import printable
from .common import EXIT_CONNECT, EXIT_FAILED, EXIT_INVALID, EXIT_OK, fail

EPILOG = """\b
Examples:
  cviscript run demo.yaml --live --control 127.0.0.1:8377     # prints the control URL
  cviscript fire pricing --control 'http://127.0.0.1:8377/?token=...'
  CVISCRIPT_CONTROL='http://127.0.0.1:8377/?token=...' cviscript fire pricing

\b
Exit codes: 0 a transition fired, 1 nothing fired (no such transition in the current state, or
the run is over), 2 wrong usage or no such manual name, 3 cannot reach the control interface."""


@click.command("fire", epilog=EPILOG)
@click.argument("name")
@click.option(
    "--control",
    "url",
    envvar="CVISCRIPT_CONTROL",
    required=True,
    metavar="URL",
    help="The control URL the run printed (http://127.0.0.1:PORT/?token=...) "
    "[env CVISCRIPT_CONTROL].",
)
@click.option("--token", envvar="CVISCRIPT_CONTROL_TOKEN", help="The token, if not in the URL.")
def command(name, url, token):
    """Fire the operator transition `manual: NAME` in a running `cviscript run --control`."""
    try:
        code, body = client.fire(url, name, token)
    except UsageError as err:
        fail(str(err), EXIT_INVALID)
    except ConnectError as err:
        fail(str(err), EXIT_CONNECT)
    message = body.get("message") or body.get("error") or ""
    line = printable(str(message)[:500], keep_newlines=False)
    if code == 404:
        names = body.get("names")
        names = [printable(str(n)[:64]) for n in names[:50]] if isinstance(names, list) else []
        fail(
            f"{line}: {printable(name[:64])}{did_you_mean(name, names)}"
            + (f" (its names: {', '.join(names)})" if names else ""),
            EXIT_INVALID,
        )
    if code != 200:
        fail(
            f"the control interface refused it ({code}): {line}",
            EXIT_CONNECT if code != 403 else EXIT_INVALID,
        )
    click.echo(line)
    sys.exit(EXIT_OK if body.get("fired") is True else EXIT_FAILED)
