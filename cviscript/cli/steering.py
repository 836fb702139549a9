"""`cviscript run` options for watching and steering a run: --speed, --interactive, --control.

The library does the work (`cviscript.sessions.realtime`, `cviscript.control`); this module
starts the prompt, the key reader and the control server around a run, prints what they say, and
puts the terminal back as it was on every exit path.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import click

from ..errors import UsageError
from ..sessions.live.options import Steering
from .common import EXIT_INVALID, fail


def steering_from_flags(
    *, speed: float | None, interactive: bool, with_script: bool, control: str | None, live: bool
) -> Steering:
    """The steering flags as one `Steering`; refuses combinations that cannot work, before
    anything runs."""
    if speed is not None and live:
        fail("--speed applies to simulated runs only (a live run is real time)", EXIT_INVALID)
    if speed is not None and not 0.01 <= speed <= 1000:
        fail(f"--speed must be between 0.01 and 1000, got {speed:g}", EXIT_INVALID)
    address = None
    if control is not None:
        from ..control.server import parse_address

        try:
            address = parse_address(control)
        except UsageError as err:
            fail(str(err), EXIT_INVALID)
    if with_script and not (interactive and not live):
        fail("--with-script applies to simulated runs with --interactive only", EXIT_INVALID)
    return Steering(interactive=interactive, control=address, speed=speed, script=with_script)


@contextlib.contextmanager
def terminal_kept() -> Iterator[None]:
    """Puts a terminal's modes back on exit (readline or a key reader may change them)."""
    saved = None
    if sys.stdin.isatty():
        try:
            import termios

            saved = termios.tcgetattr(sys.stdin.fileno())
        except Exception:  # not a real terminal after all
            saved = None
    try:
        yield
    finally:
        if saved is not None:
            import termios

            with contextlib.suppress(Exception):
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)


class Operator:
    """What runs beside one conversation: the prompt (--interactive), the key reader (a TTY
    without --interactive), the control server (--control). `bind` takes the control port before
    anything is created (a port already taken stops the run there, exit 2); `attach` starts them
    once the conversation and its steering exist; `close` stops them.

    `notes` prints the operator's own lines (the control URL with its token, the key map): to
    stderr with --json, so stdout stays one JSON object."""

    def __init__(
        self,
        *,
        interactive: bool,
        control: tuple[str, int] | None,
        terminal: Any,
        notes: Any = None,
    ):
        self.interactive = interactive
        self.control = control
        self.terminal = terminal
        self.notes = notes
        self.server: Any = None
        self.steering: Any = None

    def _note(self, line: str) -> None:
        (self.notes or self.terminal.echo)(line)

    def bind(self) -> None:
        """Serve --control now (answering 503 until `attach`); exit 2 when the port is taken."""
        if self.control is None or self.server is not None:
            return
        from ..control.server import ControlServer

        host, port = self.control
        try:
            self.server = ControlServer(None, host, port).start()
        except OSError as err:
            fail(
                f"cannot serve --control on {host}:{port}: {err.strerror or err}; nothing was "
                "created or joined",
                EXIT_INVALID,
            )
        self._note(f"  control: {self.server.page_url}")
        self._note(f"  (second terminal: cviscript fire NAME --control '{self.server.page_url}')")

    def attach(self, steering: Any) -> None:
        from ..control.prompt import Prompt

        self.steering = steering
        echo = self._note
        if self.control is not None:
            self.bind()
            self.server.attach(steering)
        if self.interactive:
            echo("  type what the visitor says; /help lists the commands")
            Prompt(
                steering,
                self.terminal,
                on_quit=lambda: steering.stop("ended at the prompt (/quit)"),
            ).start()
        elif self.terminal.tty and steering.names:
            from ..control.keys import KeyReader

            keys = KeyReader(steering, echo)
            echo("  keys: " + ", ".join(f"{k} {n}" for k, n in keys.mapping.items()))
            keys.start()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


def make_terminal(enabled: bool):
    from ..control.prompt import Terminal

    return Terminal(sys.stdout, tty=enabled and sys.stdin.isatty() and sys.stdout.isatty())


class LiveHook:
    """A trace subscriber of a live run: at its header record (on the run's loop, once the
    conversation exists) it starts the prompt, key reader and control server on it."""

    def __init__(self, steering: Steering, terminal: Any, *, notes: Any = None):
        self.live: Any = None  # the LiveRun, set before it runs
        # keys need only a terminal on stdin (`terminal.tty` is False without --interactive)
        interactive, control = steering.interactive, steering.control
        wanted = interactive or control is not None or sys.stdin.isatty()
        self.operator = (
            Operator(interactive=interactive, control=control, terminal=terminal, notes=notes)
            if wanted
            else None
        )
        if self.operator is not None and not interactive:
            # keys need a terminal: without --interactive, a TTY on stdin is enough
            self.operator.terminal = _KeyTerminal(terminal)
        if self.operator is not None:
            self.operator.bind()  # before the conversation is created: a taken port stops here

    def kept(self):
        return terminal_kept()

    def __call__(self, record: Any) -> None:
        if record.kind != "header" or self.operator is None or self.live is None:
            return
        import asyncio

        from ..control.steer import LiveSteering

        conv = self.live.conversation
        if conv is None or self.operator.steering is not None:
            return
        self.operator.attach(LiveSteering(conv, asyncio.get_running_loop()))

    def close(self) -> None:
        if self.operator is not None:
            self.operator.close()


class _KeyTerminal:
    """Plain echo, but `tty` says whether keys can be read from stdin."""

    def __init__(self, terminal: Any):
        self.echo = terminal.echo if terminal.tty else click.echo
        self.tty = sys.stdin.isatty()
