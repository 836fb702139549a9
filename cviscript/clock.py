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
    __slots__ = ("when", "callback", "args", "cancelled", "_clock")

    def __init__(
        self,
        when: float,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        clock: VirtualClock | None = None,
    ):
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False
        self._clock = clock  # set while the handle waits in that clock's queue

    def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        self.callback, self.args = _cancelled, ()  # let go of what the callback holds
        clock, self._clock = self._clock, None
        if clock is not None:
            clock._cancelled_one(self)


def _cancelled() -> None:
    """What a cancelled handle would run (it never does)."""


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
    """Discrete-event virtual time. Nothing happens until `run()` is called.

    Cancelling only marks a handle; it leaves the queue when it reaches the head. Every state
    entry arms its `after:` timers and every exit cancels them, so a long conversation cancels
    far more timers than it fires: once cancelled handles are most of the queue (and more than
    `PURGE_MIN`), the queue is rebuilt without them, so it stays as small as what is pending.
    The commonest case, cancelling the timer armed last (a state left before its `after:`),
    usually finds it still the heap's last leaf: it is removed at once, which keeps the heap
    valid, frees it while it is young (less work for the garbage collector) and spares the purge.
    """

    PURGE_MIN = 100

    def __init__(self, start: float = 0.0, epoch: float = VIRTUAL_EPOCH):
        self._now = start
        self._epoch = epoch
        self._queue: list[tuple[float, int, TimerHandle]] = []
        self._counter = itertools.count()
        self._cancelled = 0  # cancelled handles still in the queue

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._epoch + self._now

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        handle = TimerHandle(self._now + max(0.0, delay), callback, args, self)
        heapq.heappush(self._queue, (handle.when, next(self._counter), handle))
        return handle

    def _cancelled_one(self, handle: TimerHandle) -> None:
        queue = self._queue
        if queue and queue[-1][2] is handle:  # a leaf: removing it keeps the heap invariant
            queue.pop()
            return
        self._cancelled += 1
        if self._cancelled > self.PURGE_MIN and self._cancelled * 2 > len(self._queue):
            self._queue = [entry for entry in self._queue if not entry[2].cancelled]
            heapq.heapify(self._queue)
            self._cancelled = 0

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        return self.call_later(0.0, callback, *args)

    def pending(self) -> int:
        return len(self._queue) - self._cancelled

    def queued(self) -> int:
        """Entries in the queue, cancelled ones included (bounded by the purge)."""
        return len(self._queue)

    def next_time(self) -> float | None:
        queue = self._queue
        while queue and queue[0][2].cancelled:
            heapq.heappop(queue)
            self._cancelled -= 1
        return queue[0][0] if queue else None

    def step(self) -> bool:
        """Run the next due callback (advancing time to it). False when nothing is scheduled."""
        queue = self._queue
        while queue:
            when, _, handle = heapq.heappop(queue)
            if handle.cancelled:
                self._cancelled -= 1
                continue
            handle._clock = None
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
