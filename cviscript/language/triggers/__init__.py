"""The trigger kinds, one object each, and the registry everything else asks.

A transition has exactly one trigger: one key of `KINDS` (`utterance:`, `event:`, `tool_call:`,
`perception:`, `after:`, `manual:`, `objective:`); a rehearsal's user and operator rules take
those marked `in_user_rules` plus `state:` and `at:`. What a kind is and owns is described in
`base`; each kind lives in a module of its own.

**Adding a trigger** touches one module: write ``triggers/NAME.py`` with the model dataclass and a
`TriggerKind` subclass (its keys, `parse`, `fires_on`/`match`, `describe`, `covers`), add an
instance to `KINDS` below, and — when it fires on events cviscript does not know yet — add them
to `protocol.events` (names, raw spellings, `where:` fields, template fields). The schema, the
validator, the engine, the simulated user, lint, steering and docs/reference pick it up from
here; tests/test_triggers.py checks that it appears in the schema and the reference pages.
"""

from __future__ import annotations

from typing import Any

from ...protocol import Event
from .after import After, AfterTrigger
from .base import NO_GROUPS, Groups, TriggerKind
from .event import EventKind, EventTrigger
from .manual import MANUAL_NAME_PATTERN, Manual, ManualTrigger
from .objective import Objective, ObjectiveTrigger
from .perception import Perception, PerceptionTrigger
from .rehearsal_only import At, AtTrigger, State, StateTrigger
from .tool_call import ToolCall, ToolCallTrigger
from .utterance import Utterance, UtteranceTrigger

# In the order the schema, the reference and messages list them.
KINDS: dict[str, TriggerKind] = {
    kind.key: kind
    for kind in (
        Utterance(),
        EventKind(),
        ToolCall(),
        Perception(),
        After(),
        Manual(),
        Objective(),
        State(),
        At(),
    )
}
TRANSITION_KINDS: dict[str, TriggerKind] = {k: v for k, v in KINDS.items() if v.in_transitions}
USER_KINDS: dict[str, TriggerKind] = {k: v for k, v in KINDS.items() if v.in_user_rules}
_BY_MODEL: dict[type, TriggerKind] = {kind.model: kind for kind in KINDS.values()}


def kind_of(trigger: Any) -> TriggerKind:
    """The kind of a trigger model (`UtteranceTrigger` -> the `utterance` kind)."""
    return _BY_MODEL[type(trigger)]


def match(trigger: Any, event: Any) -> Groups | None:
    """Named groups (`NO_GROUPS` when none) when `trigger` matches `event`, else None."""
    if not isinstance(event, Event):
        return None
    kind = _BY_MODEL.get(type(trigger))
    return None if kind is None else kind.match(trigger, event)


def covers(a: Any, b: Any) -> bool:
    """Does trigger `a` match every event trigger `b` matches? (A timer or an operator's name
    never covers another kind: its tick or its name fires only its own transitions.)"""
    ka, kb = kind_of(a), kind_of(b)
    if ka is kb:
        return ka.covers(a, b)
    return ka.covers_events(a, kb.fires_on(b))


__all__ = [
    "KINDS",
    "MANUAL_NAME_PATTERN",
    "NO_GROUPS",
    "TRANSITION_KINDS",
    "USER_KINDS",
    "AfterTrigger",
    "AtTrigger",
    "EventTrigger",
    "Groups",
    "ManualTrigger",
    "ObjectiveTrigger",
    "PerceptionTrigger",
    "StateTrigger",
    "ToolCallTrigger",
    "TriggerKind",
    "UtteranceTrigger",
    "covers",
    "kind_of",
    "match",
]
