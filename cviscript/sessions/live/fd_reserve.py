"""A few file descriptors held back so the end call always has one.

The end call (`TavusClient.end_conversation`) is what stops a conversation from being billed; it
needs a socket, and resolving the host may need a file or two more. Anything that fills the
process's descriptor table — a flood of connections to the control server, a leaking SDK, a low
``ulimit -n`` — would make it fail with "Too many open files" exactly when it matters. So while
a client that can create conversations exists, `RESERVE` keeps `COUNT` descriptors open on
``/dev/null`` and closes them just before an end call (`released`), taking them back after.

A full table has a second trap: glibc loads ``libgcc_s.so.1`` the first time a thread is unwound
(``pthread_exit``, which CPython calls for a daemon thread still running at interpreter exit),
and when that load finds no descriptor free glibc aborts the process ("libgcc_s.so.1 must be
installed for pthread_exit to work", SIGABRT) — after the conversation was ended, but with exit
status 134 instead of the run's own. So the first `take` loads it while descriptors are free.
"""

from __future__ import annotations

import contextlib
import os
import sys
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
        _load_unwinder()
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


_unwinder_loaded = False


def _load_unwinder() -> None:
    """Load glibc's thread unwinder (libgcc_s) now, once: later it may find no descriptor."""
    global _unwinder_loaded
    if _unwinder_loaded or not sys.platform.startswith("linux"):
        return
    _unwinder_loaded = True
    try:
        import ctypes

        ctypes.CDLL("libgcc_s.so.1")
    except (ImportError, OSError):  # not glibc, no libgcc_s, or the table is already full
        pass


RESERVE = DescriptorReserve()
