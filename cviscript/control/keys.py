"""Single key presses fire `manual:` names while a run goes on in a terminal.

Keys ``1`` to ``9`` stand for the scenario's first nine manual names (file order, printed at
start); nothing else is read. The terminal is put in cbreak mode (keys arrive without Enter,
Ctrl-C still interrupts) on a thread of its own; the caller restores the terminal at exit
(`cli.steering.terminal_kept`).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any


class KeyReader:
    def __init__(self, steering: Any, echo: Callable[[str], None], *, fd: int | None = None):
        self.steering = steering
        self.echo = echo
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.mapping = {str(i + 1): name for i, name in enumerate(steering.names[:9])}

    def handle(self, key: str) -> None:
        name = self.mapping.get(key)
        if name is not None:
            _fired, answer = self.steering.fire(name)
            self.echo(f"  ⚑ [{key}] {answer}")

    def read(self) -> None:
        try:
            import termios
            import tty

            tty.setcbreak(self.fd, termios.TCSANOW)
        except Exception:  # not a terminal: no keys
            return
        while True:
            try:
                data = os.read(self.fd, 1)
            except OSError:
                return
            if not data:
                return
            self.handle(data.decode("ascii", "replace"))

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.read, name="cviscript-keys", daemon=True)
        thread.start()
        return thread
