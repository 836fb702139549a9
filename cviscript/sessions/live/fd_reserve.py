"""A few file descriptors held back so the end call always has one.

The end call (`TavusClient.end_conversation`) is what stops a conversation from being billed; it
needs a socket, and resolving the host may need a file or two more. Anything that fills the
process's descriptor table — a flood of connections to the control server, a leaking SDK, a low
``ulimit -n`` — would make it fail with "Too many open files" exactly when it matters. So while
a client that can create conversations exists, `RESERVE` keeps `COUNT` descriptors open on
``/dev/null`` and closes them just before an end call (`released`), taking them back after.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

COUNT = 8


class DescriptorReserve:
    def __init__(self, count: int = COUNT):
        self.count = count
        self._fds: list[int] = []
        self._lock = threading.Lock()

    def take(self) -> None:
        """Hold up to `count` descriptors (as many as can be had)."""
        with self._lock:
            while len(self._fds) < self.count:
                try:
                    self._fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
                except OSError:
                    return

    @property
    def held(self) -> int:
        return len(self._fds)

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """The held descriptors are free for the body of the `with`, then taken back."""
        with self._lock:
            fds, self._fds = self._fds, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            yield
        finally:
            self.take()


RESERVE = DescriptorReserve()
