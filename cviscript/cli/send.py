"""`cviscript send --url URL INTERACTION ...` — send one interaction to a live conversation.

Joins, waits for the replica (bounded), sends, waits until Daily confirms, leaves. The messages
are built exactly as a scenario's actions build them (`cviscript.protocol.Interactions`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import click

from ..errors import ConnectError, CviscriptError, UsageError
from ..sessions.live.options import LiveOptions
from .common import EXIT_CONNECT, EXIT_FAILED, EXIT_INVALID, EXIT_OK, conversation_url, fail
from .live_common import (
    ConnectionFlags,
    cli_logging,
    connection_options,
    exit_with,
    fake_daily,
    sdk_stderr_hidden,
    status_printer,
)

LEVELS = click.Choice(["low", "medium", "high"])


@click.group(
    "send",
    epilog="""\b
Examples:
  cviscript send --url https://tavus.daily.co/c123 echo "Hello, I'm Ava."
  cviscript send --url https://tavus.daily.co/c123 respond "What do you offer?"
  cviscript send --url https://tavus.daily.co/c123 interrupt
  cviscript send --url https://tavus.daily.co/c123 context "The visitor is a developer."
  cviscript send --url https://tavus.daily.co/c123 context --overwrite "Start over."
  cviscript send --url https://tavus.daily.co/c123 sensitivity --pause high --interrupt low

\b
Exit codes: 0 sent, 1 Daily did not take it, 2 wrong usage (e.g. a message over 4 KB),
3 cannot reach Daily or the replica.""",
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
    "--context-spelling",
    type=click.Choice(["llm_context", "context"]),
    default="llm_context",
    show_default=True,
    help="conversation.*_llm_context (official) or the older conversation.*_context names.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the messages sent as JSON lines.")
@click.option(
    "--confirm-timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for Daily to confirm the message went out.",
)
@click.pass_context
def command(ctx, url, flags, context_spelling, as_json, confirm_timeout):
    """Join the conversation at URL, send one interaction, and leave."""
    ctx.obj = SendRequest(url, flags, context_spelling, as_json, confirm_timeout)


@dataclass(frozen=True, slots=True)
class SendRequest:
    """What the group's options said, for the interaction subcommand that runs next."""

    url: str
    flags: ConnectionFlags
    context_spelling: str
    as_json: bool
    confirm_timeout: float

    def options(self, daily: Any) -> LiveOptions:
        flags = self.flags
        return LiveOptions(
            flags.connection(flags.target(self.url), daily=daily),
            flags.identity,
            context_spelling=self.context_spelling,
            on_status=status_printer(quiet=self.as_json),
        )


def _send(build) -> None:
    from ..sessions.live.tools import Sender

    request: SendRequest = click.get_current_context().obj
    try:
        daily = fake_daily()
    except UsageError as err:
        fail(str(err), EXIT_INVALID)
    code = EXIT_OK
    sender = None
    with cli_logging(request.flags.verbose), sdk_stderr_hidden(request.flags.quiet_sdk):
        try:
            sender = Sender(request.options(daily), build, confirm_timeout=request.confirm_timeout)
        except (CviscriptError, ValueError) as err:  # a message that cannot travel
            fail(str(err), EXIT_INVALID)
        try:
            for message in sender.run_sync():
                if request.as_json:
                    click.echo(json.dumps(message, ensure_ascii=False))
                else:
                    click.echo(f"sent {message['event_type']} to {sender.conversation_id}")
        except ConnectError as err:
            click.echo(f"cviscript: {err}", err=True)
            code = EXIT_CONNECT
        except CviscriptError as err:
            click.echo(f"cviscript: {err}", err=True)
            code = EXIT_FAILED
    exit_with(code, sender is None or sender.released)


@command.command("echo")
@click.argument("text")
def echo(text):
    """The replica says exactly TEXT (conversation.echo, bypassing the LLM)."""
    _send(lambda ia: [ia.echo(text)])


@command.command("respond")
@click.argument("text")
def respond(text):
    """TEXT goes to the LLM as if the user said it (conversation.respond)."""
    _send(lambda ia: [ia.respond(text)])


@command.command("interrupt")
def interrupt():
    """The replica stops speaking (conversation.interrupt)."""
    _send(lambda ia: [ia.interrupt()])


@command.command("context")
@click.argument("text")
@click.option(
    "--append/--overwrite",
    default=True,
    help="Add TEXT to the conversational context (default), or replace the context with it.",
)
def context(text, append):
    """Change the LLM's conversational context."""
    _send(lambda ia: [ia.append_context(text) if append else ia.overwrite_context(text)])


@command.command("sensitivity")
@click.option("--pause", type=LEVELS, help="participant_pause_sensitivity")
@click.option("--interrupt", "interrupt_", type=LEVELS, help="participant_interrupt_sensitivity")
def sensitivity(pause, interrupt_):
    """Change turn-taking sensitivity (one message per setting given)."""
    if pause is None and interrupt_ is None:
        raise click.UsageError("give --pause, --interrupt or both")
    _send(lambda ia: ia.sensitivity(pause=pause, interrupt=interrupt_))
