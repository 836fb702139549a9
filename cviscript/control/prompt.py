"""The interactive prompt of `cviscript run --interactive`: a person plays the visitor.

Each line typed is one command (`parse`): plain text is what the visitor says; lines starting
with ``/`` are commands — ``/fire NAME``, ``/see TEXT``, ``/barge`` (cut the replica off),
``/barge TEXT`` (say it, cutting the replica off), ``/state``, ``/help``, ``/quit``. Lines are
read on a thread of their own and handed to the running conversation through `steer.Steering`.

In a terminal the prompt stays usable while the transcript streams: each transcript line is
printed above the prompt and the line being typed is drawn again after it (readline keeps it).
When standard input is not a terminal (a pipe, a file) the same commands are read as plain lines
and nothing is redrawn. End of input stops reading; the run goes on to its own end.

A line is refused, with a message, when it is over `MAX_LINE_BYTES` (what one Daily app-message
carries: the words could never be sent), and whatever a command meets — a message the wire
refuses, a run that just ended — is answered with a line: the prompt thread never dies, so
the commands typed after it still work.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from ..printable import printable

PROMPT = "visitor> "
MAX_LINE = 4000  # characters of one typed line that are looked at
MAX_LINE_BYTES = 4096  # a Daily app-message carries at most this much: a longer line is refused
HELP = """\
  TEXT          the visitor says TEXT
  /fire NAME    fire the operator transition manual: NAME
  /see TEXT     perception reports TEXT (simulated runs)
  /barge [TEXT] cut the replica off (and say TEXT)
  /state        the current state and the manual names it answers
  /quit         end the run (Ctrl-C too)
  /help         this list"""
COMMANDS = ("fire", "see", "barge", "state", "quit", "help")


def parse(line: str) -> tuple[str, str]:
    """(command, argument): ("say", text), ("fire", name) ..., or ("error", why)."""
    size = len(line.rstrip("\r\n").encode("utf-8", "surrogatepass"))
    if size > MAX_LINE_BYTES:
        return "error", (
            f"that line is {size:,} bytes; one message carries at most {MAX_LINE_BYTES:,}, so "
            "nothing was sent: say it in shorter lines"
        )
    line = line[:MAX_LINE].strip()
    if not line:
        return "nothing", ""
    if not line.startswith("/"):
        return "say", line
    word, _, rest = line[1:].partition(" ")
    word, rest = word.lower(), rest.strip()
    if word not in COMMANDS:
        return (
            "error",
            f"unknown command /{printable(word[:40], keep_newlines=False)}; /help lists them",
        )
    if word in ("fire", "see") and not rest:
        return "error", f"/{word} needs {'a name' if word == 'fire' else 'a text'}"
    return word, rest


class Terminal:
    """Prints transcript and answer lines; in a terminal, above the prompt and what is typed."""

    def __init__(self, out: TextIO, *, tty: bool):
        self.out = out
        self.tty = tty
        self._lock = threading.Lock()
        self._readline: Any = None
        if tty:
            try:
                import readline

                self._readline = readline
            except ImportError:  # pragma: no cover - no readline on this platform
                self._readline = None

    def echo(self, line: str) -> None:
        with self._lock:
            if self.tty:
                typed = self._readline.get_line_buffer() if self._readline else ""
                self.out.write(f"\r\x1b[K{line}\n{PROMPT}{typed}")
            else:
                self.out.write(line + "\n")
            self.out.flush()


class Prompt:
    """Reads commands from `stdin` and carries them out on `steering`."""

    def __init__(
        self,
        steering: Any,
        terminal: Terminal,
        *,
        stdin: TextIO | None = None,
        on_quit: Callable[[], None] | None = None,
    ):
        self.steering = steering
        self.terminal = terminal
        self.stdin = stdin or sys.stdin
        self.on_quit = on_quit
        self.quit = False

    def handle(self, line: str) -> bool:
        """Carry out one line; False once the person asked to quit."""
        command, arg = parse(line)
        say = self.terminal.echo
        s = self.steering
        if command == "nothing":
            return True
        if command == "error":
            say(f"  ? {arg}")
        elif command == "help":
            say(HELP)
        elif command == "say":
            say(f"  ✎ {s.say(arg)}")
        elif command == "fire":
            _fired, answer = s.fire(arg)
            say(f"  ⚑ {printable(answer, keep_newlines=False)}")
        elif command == "see":
            say(f"  ✎ {s.see(arg)}")
        elif command == "barge":
            say(f"  ✎ {s.say(arg, barge_in=True) if arg else s.barge()}")
        elif command == "state":
            st = s.status()
            answers = ", ".join(st["answers"]) or "none"
            say(f"  state: {st['state']} (manual names here: {answers})")
        elif command == "quit":
            self.quit = True
            if self.on_quit is not None:
                self.on_quit()
            return False
        return True

    def read(self) -> None:
        """Read and carry out lines until end of input or /quit (run it on its own thread)."""
        tty = self.terminal.tty
        while not self.quit:
            try:
                line = input(PROMPT) if tty else self.stdin.readline()
            except (EOFError, OSError, ValueError):
                return
            if not tty and line == "":
                return  # end of input
            try:
                if not self.handle(line):
                    return
            except Exception as exc:  # answered, never the end of the prompt
                why = printable(str(exc)[:300], keep_newlines=False)
                self.terminal.echo(f"  ? could not do that: {why}")

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.read, name="cviscript-prompt", daemon=True)
        thread.start()
        return thread
