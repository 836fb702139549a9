"""An asyncio loop owned by a live command, with SIGINT and SIGTERM routed into it.

A live run must clean up on Ctrl-C and on SIGTERM (leave the Daily room, end the billed
conversation), so neither may kill the process mid-way: both are turned into a call of
`on_signal(name)` on the loop's thread, and the run decides how to stop.

One signal is one clean stop, however many copies of it arrive. GNU `timeout` (how CI bounds and
cancels a step) sends its signal to the command *and* to the command's process group, so the
command receives it twice; a terminal's Ctrl-C under `timeout` arrives three times. So:

* copies arriving within `GRACE` seconds of the signal that started a burst are that signal
  again, and ignored;
* a second signal after the grace period, while the run is `busy` (a create request or an end
  call is in flight: skipping it would leave a conversation running, or one created and never
  ended), is held: the run goes on ending, and `on_held(name)` says so;
* otherwise a second signal — or a third, even while busy — means the person wants out now:
  `on_again(name)` runs (by default: exit at once with 128 + the signal number, the shell
  convention — 130 for SIGINT, 143 for SIGTERM; a run that leaves a conversation running exits
  3 naming it instead).

Handlers are installed only on the main thread and the previous ones are put back afterwards, so
embedding code and test runners keep theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

EXIT_LEFT_RUNNING = 3  # a hard exit left a conversation running (as when an end call fails)
GRACE = 2.0  # seconds: copies of one signal (timeout sends each twice) arrive well within this
SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s)


def signal_exit_status(name: str) -> int:
    """The exit status a shell expects after a signal: 128 + its number (SIGINT 130)."""
    return 128 + int(getattr(signal, name, signal.SIGINT))


def exit_now(name: str, message: str | None = None, *, status: int | None = None) -> None:
    """Leave the process at once (no interpreter shutdown, which could wait on the SDK), with
    `status` (default: 128 + the signal's number)."""
    try:
        if message:
            sys.stderr.write(message + "\n")
        sys.stderr.flush()
        sys.stdout.flush()
    except Exception:  # a closed pipe must not stop the exit
        pass
    os._exit(signal_exit_status(name) if status is None else status)


class SignalBursts:
    """Decides what each SIGINT/SIGTERM means (see the module docstring); `handle` is called on
    the loop's thread for every signal that arrives."""

    def __init__(
        self,
        on_signal: Callable[[str], None],
        on_again: Callable[[str], None] | None = None,
        *,
        busy: Callable[[], bool] | None = None,
        on_held: Callable[[str], None] | None = None,
        grace: float = GRACE,
        now: Callable[[], float] = time.monotonic,
    ):
        self.on_signal = on_signal
        self.on_again = on_again or exit_now
        self.busy = busy
        self.on_held = on_held
        self.grace = grace
        self.now = now
        self.bursts = 0
        self.burst_started: float | None = None
        self.copies = 0  # signals ignored as copies of the one before

    def handle(self, name: str) -> None:
        now = self.now()
        if self.burst_started is not None and now - self.burst_started < self.grace:
            self.copies += 1
            return  # the same signal again (timeout's second copy): one signal, one stop
        self.bursts += 1
        self.burst_started = now
        if self.bursts == 1:
            self.on_signal(name)
        elif self.bursts == 2 and self.busy is not None and self.busy():
            if self.on_held is not None:
                self.on_held(name)
        else:
            self.on_again(name)


def run_with_signals(
    main: Coroutine[Any, Any, T],
    on_signal: Callable[[str], None],
    on_again: Callable[[str], None] | None = None,
    *,
    busy: Callable[[], bool] | None = None,
    on_held: Callable[[str], None] | None = None,
    grace: float = GRACE,
) -> T:
    """Run `main` on a new loop; SIGINT/SIGTERM are read by `SignalBursts`: the first calls
    `on_signal`, copies within `grace` seconds are ignored, a second while `busy()` calls
    `on_held`, and a later one `on_again` (default: `exit_now`)."""
    loop = asyncio.new_event_loop()
    handle = SignalBursts(on_signal, on_again, busy=busy, on_held=on_held, grace=grace).handle

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            previous[sig] = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, handle, sig.name)
            except (NotImplementedError, RuntimeError, ValueError):  # e.g. Windows
                signal.signal(
                    sig, lambda _n, _f, name=sig.name: loop.call_soon_threadsafe(handle, name)
                )
    try:
        return loop.run_until_complete(main)
    finally:
        for sig, old in previous.items():
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


class Stopped(Exception):
    """`until_stopped` gave up: the stop event was set first."""


async def until_stopped(aw: Awaitable[T], stop: asyncio.Event) -> T:
    """Await `aw` unless `stop` is set first: then cancel it (waiting for its own cleanup) and
    raise `Stopped`. An exception `aw` raises meanwhile is re-raised as is."""
    task = asyncio.ensure_future(aw)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if task.cancelled():
        raise Stopped
    exc = task.exception()
    if exc is not None:
        if stop.is_set() and isinstance(exc, asyncio.CancelledError):
            raise Stopped
        raise exc
    return task.result()
