"""Everything the engine schedules on its clock: `after:` timers, the run's timeout and the wait
in a final state.

Timers (`after:`) are not `transitions`' thread-based Timeout: they are scheduled on the engine's
clock when a state is entered and cancelled on exit; an expired timer sends a `Tick` that only its
own transition matches, and only in the state entry (epoch) that armed it. The same code therefore
runs on wall time live and on virtual time in rehearsal.

A final state ends the run once the replica is silent and no speech it was asked for can still be
expected to start, bounded by the scenario's `final_wait`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import CviscriptError
from ..language.durations import parse_duration
from ..language.model import Transition
from ..language.templates import render
from . import matchers
from .describe import fmt_seconds

if TYPE_CHECKING:
    from .engine import Engine

# More `after:` timers firing than this within one second of the run's clock is a loop, not a
# conversation (typically `after: 0s` back into the same state): on a virtual clock time would
# never pass again, and live it would flood the call with the state's `enter` actions. The run
# ends as an error. (Entries caused by events need the room to send them, so they are not counted.)
MAX_TICKS_PER_SECOND = 1000
# A final state waits for speech it asked for only this long to *start* (a text echo starts in
# well under a second, an LLM reply to `respond` in a few): a persona or LLM that never answers
# must not hold the run for the whole `final_wait`, which bounds speech that did start.
REPLY_GRACE = 5.0


class Timers:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.clock = engine.clock
        self.hierarchy = engine.hierarchy
        self.leaf: list[Any] = []  # the current leaf state's armed timers
        self.outer: dict[str, list[Any]] = {}  # compound state -> its armed timers
        self.deadline: Any = None
        self.final_wait: Any = None  # set in a final state: the run only waits to end
        self.final_expired = False  # `final_wait` is over, but a hook was still running
        self.grace: Any = None  # final state: waits for requested speech to start
        self._window_start = float("-inf")  # loop guard: timer firings within a second
        self._window_ticks = 0

    # ---------------------------------------------------------------------------------- arming

    def start(self) -> None:
        self.deadline = self.clock.call_later(self.engine.scenario.timeout, self.on_deadline)

    def arm(self, name: str, into: list[Any] | None = None) -> None:
        """Schedule the `after:` transitions of state `name`, for the current epoch."""
        timed = self.hierarchy.timed.get(name)
        if timed is None:
            timed = self.hierarchy.timed_of(name)
        epoch = self.engine._epoch
        handles = self.leaf if into is None else into
        for t in timed:
            trigger = t.trigger
            seconds = trigger.seconds if trigger.template is None else self.seconds(t, name)
            # The `Tick` is made when the timer fires: most are cancelled first.
            handles.append(self.clock.call_later(seconds, self.on_tick, t.id, epoch))

    def arm_outer(self, name: str) -> None:
        self.arm(name, self.outer.setdefault(name, []))

    def cancel_outer(self, name: str) -> None:
        for handle in self.outer.pop(name, ()):
            handle.cancel()

    def cancel_all(self) -> None:
        for handle in (*self.leaf, self.deadline, self.final_wait, self.grace):
            if handle is not None:
                handle.cancel()
        self.leaf.clear()
        for handles in self.outer.values():
            for handle in handles:
                handle.cancel()
        self.outer.clear()

    def seconds(self, t: Transition, state: str) -> float:
        """A template `after:` (``"{{ vars.wait }}"``), rendered as its state is entered."""
        eng = self.engine
        template = t.trigger.template
        text = render(template, eng.template_context(eng.event, eng.groups), state)
        try:
            return parse_duration(text.strip())
        except ValueError as e:
            raise CviscriptError(
                f"{template.loc}: after: '{template.source}' gives {text!r} in state {state!r}: {e}"
            ) from None

    # ---------------------------------------------------------------------------------- firing

    def on_tick(self, transition_id: str, epoch: int) -> None:
        eng = self.engine
        if eng.done or self.final_wait is not None:
            return
        owner = self.hierarchy.owner.get(transition_id)
        if epoch != (eng._epoch if owner is None else self.hierarchy.state_epoch.get(owner)):
            return
        now = self.clock.now()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_ticks = now, 0
        self._window_ticks += 1
        if self._window_ticks > MAX_TICKS_PER_SECOND:
            eng.finish(
                "error",
                f"`after:` timers fired more than {MAX_TICKS_PER_SECOND} times within a second "
                f"(in state {eng.state!r}): the scenario loops without waiting (an `after` of "
                f"zero back into the same state?)",
            )
            return
        eng._feed(matchers.Tick(transition_id, epoch))

    def on_deadline(self) -> None:
        self.engine.finish(
            "timed_out",
            f"the run reached its timeout of {fmt_seconds(self.engine.scenario.timeout)}",
        )

    # ----------------------------------------------------------------------------- final state

    def enter_final(self) -> None:
        self.final_wait = self.clock.call_later(self.engine.scenario.final_wait, self.final_timeout)
        self.check_final()

    def check_final(self) -> None:
        """In a final state: end the run once the replica is silent and no speech it was asked
        for can still be expected to start (see `REPLY_GRACE`)."""
        eng = self.engine
        if eng.done or eng.replica_speaking:
            return  # stopped_speaking calls again; `final_wait` bounds it
        if eng.hooks.pending:
            return  # a hook's failure still ends the run as an error: its delivery calls again
        if self.final_expired:
            self.final_timeout()
            return
        if eng.pending_speech == 0:
            eng.finish("completed", f"reached final state {eng.state!r}")
            return
        grace = min(REPLY_GRACE, eng.scenario.final_wait)
        left = eng._speech_asked_at + grace - self.clock.now()
        if left <= 1e-9:
            eng.finish(
                "completed",
                f"reached final state {eng.state!r} (the replica did not start speaking within "
                f"{fmt_seconds(grace)} of the last echo/respond; not waiting for it)",
            )
        elif self.grace is None:
            self.grace = self.clock.call_later(left, self.grace_over)

    def grace_over(self) -> None:
        self.grace = None
        self.check_final()

    def final_timeout(self) -> None:
        eng = self.engine
        if eng.hooks.pending:  # bounded by the hooks' own `timeout:`
            self.final_expired = True
            return
        eng.finish(
            "completed",
            f"reached final state {eng.state!r} (stopped waiting for the replica to finish "
            f"speaking after {fmt_seconds(eng.scenario.final_wait)})",
        )
