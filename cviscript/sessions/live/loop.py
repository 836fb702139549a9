"""An asyncio loop owned by a live command, with SIGINT and SIGTERM routed into it.

A live run must clean up on Ctrl-C and on SIGTERM (leave the Daily room, end the billed
conversation), so neither may kill the process mid-way: both are turned into a call of
`on_signal(name)` on the loop's thread, and the run decides how to stop. A second signal means
the person wants out now: `on_again(name)` runs (by default: exit at once with 128 + the signal
number, the shell convention — 130 for SIGINT, 143 for SIGTERM). Handlers are installed only on
the main thread and the previous ones are put back afterwards, so embedding code and test
runners keep theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s)


def signal_exit_status(name: str) -> int:
    """The exit status a shell expects after a signal: 128 + its number (SIGINT 130)."""
    return 128 + int(getattr(signal, name, signal.SIGINT))


def exit_now(name: str, message: str | None = None) -> None:
    """Leave the process at once (no interpreter shutdown, which could wait on the SDK)."""
    try:
        if message:
            sys.stderr.write(message + "\n")
        sys.stderr.flush()
        sys.stdout.flush()
    except Exception:  # a closed pipe must not stop the exit
        pass
    os._exit(signal_exit_status(name))


def run_with_signals(
    main: Coroutine[Any, Any, T],
    on_signal: Callable[[str], None],
    on_again: Callable[[str], None] | None = None,
) -> T:
    """Run `main` on a new loop; the first SIGINT/SIGTERM calls `on_signal`, later ones
    `on_again` (default: `exit_now`)."""
    loop = asyncio.new_event_loop()
    seen: list[str] = []

    def handle(name: str) -> None:
        if seen:
            (on_again or exit_now)(name)
            return
        seen.append(name)
        on_signal(name)

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
