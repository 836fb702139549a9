"""The rehearsed operator (`operator:` rules): when something happens, fire a `manual:` name.

A `manual:` transition fires only when the person running a demo fires its name (a key, the
control interface, the interactive prompt). A rehearsal stands in for that person with rules like
the simulated visitor's — ``{on: TRIGGER, fire: NAME}`` — so manual paths are rehearsed and
covered like every other.

The operator sits where a person running the demo sits: in front of cviscript's transcript, not
in the room. So it reacts to what the run records — the states it enters (`{state: NAME}`, or the
shorthand `on: NAME`) and the events the client received (after any network fault), matched by
`cviscript.engine.matchers` exactly as the engine matches them — and `at: DURATION` after the run
started. `after: DURATION` means *nothing was received for this long* (restarted by every received
event), as for the visitor.

Each rule fires at most `times` times (0: no limit), counted when it triggers; it fires `delay`
seconds later, always from the clock, never inside the record that triggered it, so the engine
is never in the middle of a transition when the fire arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...clock import Clock
from ...engine.matchers import match
from ...language.model import AfterTrigger, AtTrigger, OperatorRule, StateTrigger
from ...trace import Trace, TraceRecord


class SimulatedOperator:
    def __init__(self, rules: list[OperatorRule], clock: Clock, fire: Callable[[str], Any]):
        self.rules = list(rules)
        self.clock = clock
        self._fire = fire
        self.fired = [0] * len(self.rules)
        self._idle: dict[int, Any] = {}
        self._stopped = False

    def attach(self, trace: Trace) -> None:
        """Watch `trace` and arm the `at:` and `after:` rules (call before the run starts)."""
        trace.subscribe(self.observe)
        for i, rule in enumerate(self.rules):
            if isinstance(rule.on, AtTrigger):
                self.clock.call_later(rule.on.seconds, self._trigger, i)
        self._arm_idle()

    def observe(self, record: TraceRecord) -> None:
        if self._stopped:
            return
        kind = record.kind
        if kind == "state":
            name = record.data.get("state")
            for i, rule in enumerate(self.rules):
                if isinstance(rule.on, StateTrigger) and rule.on.state == name:
                    self._trigger(i)
        elif kind == "received" and record.event is not None:
            for i, rule in enumerate(self.rules):
                if isinstance(rule.on, StateTrigger | AtTrigger | AfterTrigger):
                    continue
                if match(rule.on, record.event) is not None:
                    self._trigger(i)
            self._arm_idle()
        elif kind == "outcome":
            self._stopped = True
            for handle in self._idle.values():
                handle.cancel()
            self._idle.clear()

    def _live(self, i: int) -> bool:
        times = self.rules[i].times
        return times == 0 or self.fired[i] < times

    def _trigger(self, i: int) -> None:
        if self._stopped or not self._live(i):
            return
        self.fired[i] += 1
        self.clock.call_later(self.rules[i].delay, self._act, self.rules[i].fire)

    def _act(self, name: str) -> None:
        if not self._stopped:
            self._fire(name)

    def _arm_idle(self) -> None:
        for i, rule in enumerate(self.rules):
            if not isinstance(rule.on, AfterTrigger):
                continue
            old = self._idle.pop(i, None)
            if old is not None:
                old.cancel()
            if self._live(i):
                self._idle[i] = self.clock.call_later(rule.on.seconds, self._on_idle, i)

    def _on_idle(self, i: int) -> None:
        self._idle.pop(i, None)
        self._trigger(i)
