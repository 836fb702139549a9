"""Does a trigger match an event? The one place the contract's matching rules live.

Used by the engine for transitions and by the simulated user for its `on:` rules, so a rule that
passes rehearsal matches the same way live. Matching returns the regular expression's named groups
(``{}`` when there are none) or ``None`` for no match; the groups become ``event.groups``.

`after:` triggers are not matched here: the engine turns an expired state timer into a `Tick` for
exactly one transition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..language.model import EventTrigger, PerceptionTrigger, ToolCallTrigger, UtteranceTrigger
from ..protocol import Event
from ..protocol.events import ATTRIBUTE_FIELDS

_NO_GROUPS: dict[str, Any] = {}


@dataclass(slots=True, frozen=True)
class Tick:
    """A state timer expired: fires transition `transition_id` if the state entry `epoch` is current."""

    transition_id: str
    epoch: int


@dataclass(slots=True)
class Manual:
    """An operator fired `manual: name`; `fired` is set to the id of the transition it fired."""

    name: str
    fired: str | None = None
    processed: bool = False


def field_value(event: Event, name: str) -> Any:
    """A field for `where:`: the normalised attribute when set, else the raw property."""
    value = getattr(event, name, None) if name in ATTRIBUTE_FIELDS else None
    if value is None:
        value = event.properties.get(name)
    return value


def _same(expected: Any, actual: Any) -> bool:
    if expected == actual:
        return True
    # YAML authors write `where: {interrupted: "true"}` or `turn_idx: "2"` as often as the typed form.
    return actual is not None and str(expected).strip().lower() == str(actual).strip().lower()


def _match_text(pattern, text: str) -> dict[str, Any] | None:
    m = pattern.search(text)
    if m is None:
        return None
    groups = m.groupdict()
    return groups if groups else _NO_GROUPS


def match(trigger: Any, event: Any) -> dict[str, Any] | None:
    """Named groups when `trigger` matches `event`, else None."""
    if isinstance(event, Tick | Manual):
        return None
    fn = _BY_TYPE.get(type(trigger))
    return fn(trigger, event) if fn is not None else None


def matcher_for(trigger: Any) -> Callable[[Any, Event], dict[str, Any] | None]:
    """The function `match` would use for `trigger` (the engine looks it up once per state)."""
    return _BY_TYPE.get(type(trigger), _never)


def _never(trigger: Any, event: Event) -> None:
    return None


def _utterance(trigger: UtteranceTrigger, event: Event) -> dict[str, Any] | None:
    if event.type != "utterance":
        return None
    if trigger.role != "any" and event.role != trigger.role:
        return None
    text = event.text or ""
    groups = _NO_GROUPS
    if trigger.match is not None:
        groups = _match_text(trigger.match, text)
        if groups is None:
            return None
    if trigger.contains:
        lowered = text.lower()
        if not any(c in lowered for c in trigger.contains):
            return None
    if trigger.equals is not None and text.strip().lower() != trigger.equals:
        return None
    return groups


def _event(trigger: EventTrigger, event: Event) -> dict[str, Any] | None:
    if not event.answers_to(trigger.name):
        return None
    for key, expected in trigger.where.items():
        if not _same(expected, field_value(event, key)):
            return None
    return _NO_GROUPS


def _tool_call(trigger: ToolCallTrigger, event: Event) -> dict[str, Any] | None:
    if event.type != "tool_call" or event.name != trigger.name:
        return None
    if trigger.arguments:
        args = event.arguments if isinstance(event.arguments, dict) else {}
        for key, expected in trigger.arguments.items():
            if not _same(expected, args.get(key)):
                return None
    return _NO_GROUPS


def _perception(trigger: PerceptionTrigger, event: Event) -> dict[str, Any] | None:
    """In-call perception: a user utterance's visual/audio analysis, or a perception tool call
    (its text is the tool's name and arguments, see `protocol.normalize`). The end-of-call
    `perception_analysis` summary is reachable as `event: perception_analysis`, not here."""
    text = event.perception
    if text is None:
        return None
    if trigger.match is None:
        return _NO_GROUPS
    return _match_text(trigger.match, text)


# `after:` (AfterTrigger) and the rehearsal-only triggers match no event here.
_BY_TYPE: dict[type, Callable[[Any, Event], dict[str, Any] | None]] = {
    UtteranceTrigger: _utterance,
    EventTrigger: _event,
    ToolCallTrigger: _tool_call,
    PerceptionTrigger: _perception,
}
