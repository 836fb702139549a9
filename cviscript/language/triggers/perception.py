"""`perception: REGEX` or `{match}` — in-call perception: what the replica observed while the
call runs.

It fires on a visitor `utterance` that carries a visual or audio analysis, and on a
`perception_tool_call` (a perception tool the persona defines fired). The observation is
`Event.perception` (see `protocol.normalize`): the analysis text, or the tool's name and its
arguments in words (``gesture_detected {"gesture":"wave"}``). Under this trigger `event.text`
is that observation. The end-of-call summary (`perception_analysis`, sent after the call ends)
is reachable as `event: perception_analysis`, not here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ...errors import Location
from ...protocol import Event
from ..loader import Node
from ..patterns import Pattern
from ..spec_types import Obj, OneOf, Ref, Str, Text, f
from .base import NO_GROUPS, Groups, Reader, TriggerKind, match_text, same_pattern


@dataclass(slots=True)
class PerceptionTrigger:
    """`perception: {match}` — in-call perception whose observation matches."""

    match: Pattern | None = None
    loc: Location | None = None


PERCEPTION = Obj(
    {
        "match": f(
            Text(
                "A regular expression searched in the observation: the visitor's visual or "
                "audio analysis, or a perception tool's name and arguments."
            )
        )
    },
    "In-call perception (any, or one whose observation matches): a visitor utterance carrying "
    "an analysis, or a perception tool call. event.text is the observation.",
)


class Perception(TriggerKind):
    key = "perception"
    model = PerceptionTrigger
    spec = OneOf(
        (Str("Shorthand: a regular expression the observation must match."), Ref("perception")),
        "Fires on in-call perception: a visitor utterance with a visual or audio analysis, or a "
        "perception tool call.",
    )
    defs = {"perception": PERCEPTION}
    summary = (
        "In-call perception: a visitor utterance carrying an analysis, or a perception tool "
        "call; `event.text` is the observation."
    )
    events = ("utterance", "perception_tool_call")
    adapts = True

    def answers_tool_calls(self, trigger: Any) -> bool:
        """A perception tool call may be answered with `tool_result` (a visitor utterance
        carrying an analysis cannot: the engine says so when it has no tool_call_id)."""
        return True

    def parse(
        self, r: Reader, node: Node, what: str, loc: Location, parent: Node, *, templates: bool
    ) -> PerceptionTrigger | None:
        what = f"{what} perception"
        if node.is_scalar and isinstance(node.value, str):
            pattern = r.regex(node, what)
            return None if pattern is None else PerceptionTrigger(match=pattern, loc=loc)
        if not node.is_map:
            r.error(
                node.loc,
                "wrong-type",
                f"{what} must be a regex string or a mapping {{match}}, got {node.describe()}",
            )
            return None
        r.shape(node, what, PERCEPTION)
        trig = PerceptionTrigger(loc=loc)
        if (n := node.get("match")) is not None:
            trig.match = r.regex(n, f"{what} match")
            if trig.match is None:
                return None
        return trig

    def match(self, trigger: PerceptionTrigger, event: Event) -> Groups | None:
        text = event.perception
        if text is None:
            return None
        if trigger.match is None:
            return NO_GROUPS
        return match_text(trigger.match, text)

    def view(self, event: Event) -> Event:
        if event.perception is None or event.text == event.perception:
            return event
        return dataclasses.replace(event, text=event.perception)

    def fields_of(self, names: tuple[str, ...] | None) -> frozenset[str] | None:
        found = super().fields_of(names)
        return None if found is None else found | {"text"}  # the observation (`view`)

    def describe(self, trigger: PerceptionTrigger) -> str:
        return "perception" + (f" /{trigger.match.pattern}/" if trigger.match else "")

    def word(self, trigger: Any) -> str:
        return "a perception"

    def covers(self, a: PerceptionTrigger, b: PerceptionTrigger) -> bool:
        return a.match is None or same_pattern(a.match, b.match)
