"""The two triggers only a rehearsal's user and operator rules take: `state: NAME` (the scenario
entered that state) and `at: DURATION` (this long after the run started). The simulated user
schedules them itself; no event matches them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import Location
from ..durations import fmt_seconds
from ..loader import Node
from ..spec_types import Duration, Text
from .base import Reader, TriggerKind


@dataclass(slots=True)
class StateTrigger:
    """Rehearsal-only (`user.on`): the scenario entered this state."""

    state: str
    loc: Location | None = None


@dataclass(slots=True)
class AtTrigger:
    """Rehearsal-only (`user.on`): this long after the run started."""

    seconds: float
    loc: Location | None = None


class State(TriggerKind):
    key = "state"
    model = StateTrigger
    spec = Text("The scenario entered this state.", nonempty=True)
    summary = "Rehearsal rules only: the scenario entered this state."
    in_transitions = False
    matches_events = False

    def parse(
        self, r: Reader, node: Node, what: str, loc: Location, parent: Node, *, templates: bool
    ) -> StateTrigger | None:
        state = r.state_ref(node, f"{what} state")
        return None if state is None else StateTrigger(state=state, loc=loc)

    def describe(self, trigger: StateTrigger) -> str:
        return f"state {trigger.state}"

    def template_fields(self, trigger: Any) -> frozenset[str] | None:
        return frozenset({"type", "state"})  # what the simulated visitor's rule sees

    def word(self, trigger: Any) -> str:
        return "entering a state"


class At(TriggerKind):
    key = "at"
    model = AtTrigger
    spec = Duration("This long after the run started.")
    summary = "Rehearsal rules only: this long after the run started."
    in_transitions = False
    matches_events = False

    def parse(
        self, r: Reader, node: Node, what: str, loc: Location, parent: Node, *, templates: bool
    ) -> AtTrigger | None:
        seconds = r.duration(node, f"{what} at")
        return None if seconds is None else AtTrigger(seconds=seconds, loc=loc)

    def describe(self, trigger: AtTrigger) -> str:
        return f"at {fmt_seconds(trigger.seconds)}"

    def template_fields(self, trigger: Any) -> frozenset[str] | None:
        return frozenset()  # no event fired it: `event` is empty

    def word(self, trigger: Any) -> str:
        return "a time since the start"
