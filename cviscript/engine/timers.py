"""What the engine schedules on its clock for `after:` transitions, and the run's timeout.

Timers (`after:`) are not `transitions`' thread-based Timeout: they are scheduled on the engine's
clock when a state is entered and cancelled on exit; an expired timer sends a `Tick` that only its
own transition matches, and only in the state entry (epoch) that armed it. The same code therefore
runs on wall time live and on virtual time in rehearsal.

`Timers` owns that state: the epoch (one count of state entries, compound states included), the
handles armed for the current state and for each compound state around it, and the deadline. The
engine tells it when a state is entered or left and asks `due(tick)` — the one place a tick is
checked against the epoch — which transition an expired timer fires, if any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..clock import Clock
from ..errors import CviscriptError
from ..language.durations import fmt_seconds, parse_duration
from ..language.model import Scenario, Transition
from ..language.templates import render
from .hierarchy import Hierarchy
from .matchers import Tick

# More `after:` timers firing than this within one second of the run's clock is a loop, not a
# conversation (typically `after: 0s` back into the same state): on a virtual clock time would
# never pass again, and live it would flood the call with the state's `enter` actions. The run
# ends as an error. (Entries caused by events need the room to send them, so they are not counted.)
MAX_TICKS_PER_SECOND = 1000


class Timers:
    def __init__(
        self,
        clock: Clock,
        scenario: Scenario,
        hierarchy: Hierarchy,
        *,
        fire: Callable[[Tick], None],
        finish: Callable[[str, str], None],
        context: Callable[[], dict[str, Any]],
    ):
        """`fire` takes an expired timer's `Tick` (the engine queues it like an event);
        `finish(outcome, reason)` ends the run (timeout, a timer loop); `context()` is what a
        template `after:` renders with."""
        self.clock = clock
        self.scenario = scenario
        self.hierarchy = hierarchy
        self._fire = fire
        self._finish = finish
        self._context = context
        self.epoch = 0  # bumped on every state entry (compound ones too); stale ticks are ignored
        self.outer_epoch: dict[str, int] = {}  # compound state -> the epoch of its entry
        self.leaf: list[Any] = []  # the current leaf state's armed timers
        self.outer: dict[str, list[Any]] = {}  # compound state -> its armed timers
        self.deadline: Any = None
        self.state: str | None = None  # the leaf entered last (for messages)
        self.held = False  # a final state, or the run is over: no timer fires any more
        self._window_start = float("-inf")  # loop guard: timer firings within a second
        self._window_ticks = 0

    # ---------------------------------------------------------------------------------- arming

    def start(self) -> None:
        self.deadline = self.clock.call_later(self.scenario.timeout, self._on_deadline)

    def enter(self, name: str) -> None:
        """Leaf state `name` was entered: a new epoch, and its `after:` timers armed."""
        self.epoch += 1
        self.state = name
        self._arm(name, self.leaf)

    def enter_outer(self, name: str) -> None:
        """Compound state `name` was entered: a new epoch, and its own `after:` timers armed
        (they run while any state inside it is active)."""
        self.epoch += 1
        self.outer_epoch[name] = self.epoch
        self._arm(name, self.outer.setdefault(name, []))

    def leave(self) -> None:
        """The current leaf state is left: its timers are cancelled."""
        leaf = self.leaf
        if leaf:
            for handle in leaf:
                handle.cancel()
            leaf.clear()

    def leave_outer(self, name: str) -> None:
        for handle in self.outer.pop(name, ()):
            handle.cancel()

    def hold(self) -> None:
        """A final state was entered: the state timers are cancelled and none fires again
        (the deadline still runs)."""
        self.held = True
        self.leave()
        for name in list(self.outer):
            self.leave_outer(name)

    def stop(self) -> None:
        """The run is over: everything is cancelled."""
        self.hold()
        if self.deadline is not None:
            self.deadline.cancel()

    def _arm(self, name: str, handles: list[Any]) -> None:
        timed = self.hierarchy.timed.get(name)
        if timed is None:
            timed = self.hierarchy.timed_of(name)
        epoch = self.epoch
        for t in timed:
            trigger = t.trigger
            seconds = trigger.seconds if trigger.template is None else self._seconds(t, name)
            # The `Tick` is made when the timer fires: most are cancelled first.
            handles.append(self.clock.call_later(seconds, self._on_tick, t.id, epoch))

    def _seconds(self, t: Transition, state: str) -> float:
        """A template `after:` (``"{{ vars.wait }}"``), rendered as its state is entered."""
        template = t.trigger.template  # type: ignore[union-attr]
        text = render(template, self._context(), state)
        try:
            return parse_duration(text.strip())
        except ValueError as e:
            raise CviscriptError(
                f"{template.loc}: after: '{template.source}' gives {text!r} in state {state!r}: {e}"
            ) from None

    # ---------------------------------------------------------------------------------- firing

    def due(self, tick: Tick) -> Transition | None:
        """The transition an expired timer fires: None when the state entry that armed it is
        over (the one place a tick's epoch is checked)."""
        owner = self.hierarchy.owner.get(tick.transition_id)
        current = self.epoch if owner is None else self.outer_epoch.get(owner)
        if tick.epoch != current:
            return None
        return self.hierarchy.timer_by_id.get(tick.transition_id)

    def _on_tick(self, transition_id: str, epoch: int) -> None:
        if self.held:
            return
        now = self.clock.now()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_ticks = now, 0
        self._window_ticks += 1
        if self._window_ticks > MAX_TICKS_PER_SECOND:
            self._finish(
                "error",
                f"`after:` timers fired more than {MAX_TICKS_PER_SECOND} times within a second "
                f"(in state {self.state!r}): the scenario loops without waiting (an `after` of "
                f"zero back into the same state?)",
            )
            return
        self._fire(Tick(transition_id, epoch))

    def _on_deadline(self) -> None:
        self._finish(
            "timed_out", f"the run reached its timeout of {fmt_seconds(self.scenario.timeout)}"
        )
