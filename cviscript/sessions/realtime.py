"""Run a simulated conversation at a human pace: the virtual clock, driven by wall time.

The simulated replica, visitor and persona run on a `VirtualClock`, which normally jumps straight
to the next thing due, so ten minutes of conversation take milliseconds. To *watch* the timing
(`cviscript run --speed 1`) or to *play the visitor* (`cviscript run --interactive`), the same
clock is advanced no faster than `speed` times the wall clock: everything due up to "now" runs,
then the driver waits until the next thing is due — or until a command arrives from another
thread (a line typed at the prompt, a control request), which runs on the driver's thread at the
current virtual time. The replica model is exactly the one rehearsals use; only the pacing
differs, so what a person sees at `--speed 1` is what a rehearsal checks.

Thread safety: the conversation is only ever touched on the thread calling `run()`; other threads
`submit` callables and get a `Future` back.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..clock import VirtualClock
from ..engine.conversation import Conversation

MAX_WAIT = 0.25  # seconds the driver sleeps at most before looking at the clock again
# Due "now" within this much: wall time scaled into virtual time is a float sum, and a callback
# due a rounding error after "now" must not make the driver wait for a delay too small to pass.
EPSILON = 1e-6


class RealtimeDriver:
    def __init__(
        self,
        conv: Conversation,
        clock: VirtualClock,
        speed: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.conv = conv
        self.clock = clock
        self.speed = float(speed)
        self._monotonic = monotonic
        self._commands: queue.SimpleQueue[tuple[Callable[..., Any], tuple, Future]] = (
            queue.SimpleQueue()
        )
        self._origin: tuple[float, float] | None = None  # (virtual, wall) at the start

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run `fn(*args)` on the driver's thread at the current virtual time."""
        future: Future = Future()
        self._commands.put((fn, args, future))
        return future

    def virtual_now(self) -> float:
        """Where the virtual clock should be now (wall time since the start, times `speed`)."""
        if self._origin is None:
            return self.clock.now()
        v0, w0 = self._origin
        return v0 + (self._monotonic() - w0) * self.speed

    def run(self, *, wait: Callable[[float], Any] | None = None) -> Conversation:
        """Start the conversation and run it at `speed` until it is done; returns it (not closed:
        the caller closes it, also after Ctrl-C). `wait(timeout)` returns the next command or
        None (default: the command queue; tests pass a fake)."""
        conv, clock = self.conv, self.clock
        wait = wait or self._next_command
        self._origin = (clock.now(), self._monotonic())
        conv.start()
        while not conv.done:
            self._catch_up()
            if conv.done:
                break
            nxt = clock.next_time()
            now = self.virtual_now()  # what is due before now + EPSILON has run
            delay = MAX_WAIT if nxt is None else min(MAX_WAIT, max(0.0, (nxt - now) / self.speed))
            item = wait(delay)
            if item is None:
                continue
            self._catch_up()
            fn, args, future = item
            if conv.done:
                future.set_result(None)
                continue
            try:
                future.set_result(fn(*args))
            except Exception as exc:  # the caller reports it; the run goes on
                future.set_exception(exc)
        self._drain_commands()
        return conv

    def _catch_up(self) -> None:
        self.clock.run(until=self.virtual_now() + EPSILON, stop=lambda: self.conv.done)

    def _next_command(self, timeout: float) -> Any:
        try:
            return self._commands.get(timeout=timeout)
        except queue.Empty:
            return None

    def _drain_commands(self) -> None:
        """Commands that arrive after the end get an answer (None) instead of waiting forever."""
        while True:
            try:
                _fn, _args, future = self._commands.get_nowait()
            except queue.Empty:
                return
            future.set_result(None)
