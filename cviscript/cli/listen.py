"""`cviscript listen --url URL` — join a live conversation and print its events as they come."""

from __future__ import annotations

import json

import click

from ..errors import ConnectError, CviscriptError, UsageError
from ..printable import printable
from .common import (
    EXIT_CONNECT,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    conversation_url,
    fail,
    resolve_color,
)
from .live_common import (
    cli_logging,
    connection_options,
    exit_with,
    fake_daily,
    sdk_stderr_hidden,
    status_printer,
)


@click.command(
    "listen",
    epilog="""\b
Examples:
  cviscript listen --url https://tavus.daily.co/c123456
  cviscript listen --url https://tavus.daily.co/c123456 --json | jq .message.event_type

\b
Exit codes: 0 the conversation ended or you stopped listening (Ctrl-C), 3 cannot reach Daily or
the replica.""",
)
@click.option(
    "--url",
    required=True,
    metavar="URL",
    callback=conversation_url,
    help="The conversation to join.",
)
@connection_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='One JSON object per message: {"ts", "sender", "message"} (+ "ignored": why, for '
    "messages that are not from the replica).",
)
@click.option(
    "--color/--no-color", default=None, help="Colour the lines (default: when a terminal)."
)
def command(url, flags, as_json, color):
    """Join the conversation at URL as a silent participant and print every event it sends
    (speech, turns, tool calls, perception, shutdown) until it ends or Ctrl-C.

    Messages from other participants are shown as dropped: only the replica speaks for Tavus.
    """
    from ..report.console import ConsolePrinter
    from ..sessions.live.options import LiveOptions
    from ..sessions.live.tools import Listener

    try:
        daily = fake_daily()
    except UsageError as err:
        fail(str(err), EXIT_INVALID)
    use_color = resolve_color(color)
    subscribers = [] if as_json else [ConsolePrinter(color=use_color)]

    def raw(record):
        # JSON escapes C0 controls; C1 controls, bidi overrides and lone surrogates it keeps raw.
        click.echo(printable(json.dumps(record, ensure_ascii=False, default=str)))

    code = EXIT_OK
    options = LiveOptions(
        flags.connection(flags.target(url), daily=daily),
        flags.identity,
        on_status=status_printer(quiet=False),
    )
    with cli_logging(flags.verbose), sdk_stderr_hidden(flags.quiet_sdk):
        listener = Listener(options, subscribers=subscribers, on_raw=raw if as_json else None)
        try:
            reason = listener.run_sync()
            click.echo(f"cviscript: {reason} ({listener.received} messages)", err=True)
        except ConnectError as err:
            click.echo(f"cviscript: {err}", err=True)
            code = EXIT_CONNECT
        except CviscriptError as err:
            click.echo(f"cviscript: {err}", err=True)
            code = EXIT_FAILED
    exit_with(code, listener.released)
