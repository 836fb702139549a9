"""The one clock the engine is given: virtual time in rehearsal, the asyncio loop's time live.

The engine never reads time or sleeps by itself: it asks its clock for `now()` and schedules its
`after:` timers and deadlines with `call_later`. The simulated replica schedules its events on the
same clock. So the same engine code runs live and in rehearsal, and a rehearsal with ten minutes
of conversation takes only the milliseconds its callbacks cost.

`VirtualClock` is a discrete-event scheduler: callbacks run in (time, insertion) order, and time
jumps straight to the next due callback. Ties run in the order they were scheduled, which makes a
rehearsal reproducible byte for byte.
"""

from __future__ import annotations

import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

VIRTUAL_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the wall time a virtual run "starts" at


class TimerHandle:
    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]):
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock(ABC):
    @abstractmethod
    def now(self) -> float:
        """Monotonic seconds on this clock."""

    @abstractmethod
    def wall(self) -> float:
        """Unix time (seconds) for timestamps in transcripts and events."""

    @abstractmethod
    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Any:
        """Run `callback(*args)` after `delay` seconds; returns a handle with `.cancel()`."""


class VirtualClock(Clock):
    """Discrete-event virtual time. Nothing happens until `run()` is called."""

    def __init__(self, start: float = 0.0, epoch: float = VIRTUAL_EPOCH):
        self._now = start
        self._epoch = epoch
        self._queue: list[tuple[float, int, TimerHandle]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._epoch + self._now

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        handle = TimerHandle(self._now + max(0.0, delay), callback, args)
        heapq.heappush(self._queue, (handle.when, next(self._counter), handle))
        return handle

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        return self.call_later(0.0, callback, *args)

    def pending(self) -> int:
        return sum(1 for _, _, h in self._queue if not h.cancelled)

    def next_time(self) -> float | None:
        while self._queue and self._queue[0][2].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    def step(self) -> bool:
        """Run the next due callback (advancing time to it). False when nothing is scheduled."""
        while self._queue:
            when, _, handle = heapq.heappop(self._queue)
            if handle.cancelled:
                continue
            self._now = max(self._now, when)
            handle.callback(*handle.args)
            return True
        return False

    def run(self, until: float | None = None, stop: Callable[[], bool] | None = None) -> None:
        """Run callbacks in time order until `stop()` is true, time would pass `until`, or idle."""
        while not (stop and stop()):
            nxt = self.next_time()
            if nxt is None:
                return
            if until is not None and nxt > until:
                self._now = max(self._now, until)
                return
            self.step()


class AsyncioClock(Clock):
    """Wall time from a running asyncio loop (live runs). Callbacks run on the loop's thread."""

    def __init__(self, loop: Any):
        self._loop = loop
        self._offset = time.time() - loop.time()

    def now(self) -> float:
        return self._loop.time()

    def wall(self) -> float:
        return self._offset + self._loop.time()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Any:
        return self._loop.call_later(max(0.0, delay), callback, *args)
