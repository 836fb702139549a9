"""`event: NAME` (+ `where:`) — any event by its canonical name or raw `event_type`, its fields
compared for equality."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ...errors import Location, did_you_mean
from ...protocol import CANONICAL, EVENT_NAMES, ROLE_AGNOSTIC, Event, event_fields
from ...protocol.events import FIELD_TYPES, ROLE_VALUES
from ..loader import Node
from ..spec_types import AnyValue, EventName, Field, MapOf
from .base import NO_GROUPS, Groups, Reader, TriggerKind, field_value, same, subset

# A `tool_result` answers the call that fired the transition: an LLM tool call, or a perception
# tool call (its tool_call_id "must match the tool_call_id from the original
# conversation.tool_call (or conversation.perception_tool_call) event":
# https://docs.tavus.io/sections/event-schemas/conversation-tool-result).
TOOL_CALL_EVENTS = (
    "tool_call",
    "conversation.tool_call",
    "perception_tool_call",
    "conversation.perception_tool_call",
)
WHERE = Field(
    MapOf(AnyValue(), "With an event trigger: event fields that must be equal."), nullable=True
)
_BOOL_WORDS = {"true": True, "false": False}
_YAML11 = {"yes": "true", "y": "true", "on": "true", "no": "false", "n": "false", "off": "false"}


@dataclass(slots=True)
class EventTrigger:
    """`event: NAME` (+ `where:`). `name` is canonical (see protocol.EVENT_NAMES) or a raw event_type."""

    name: str
    where: dict[str, Any] = field(default_factory=dict)
    loc: Location | None = None


def canonical(name: str) -> tuple[str, ...] | None:
    """The canonical events `event: name` may fire on (None: a raw type cviscript does not know)."""
    if name in EVENT_NAMES:
        return (name,)
    if name in CANONICAL:
        return (CANONICAL[name],)
    if name in ROLE_AGNOSTIC:
        return (f"replica.{ROLE_AGNOSTIC[name]}", f"user.{ROLE_AGNOSTIC[name]}")
    return None


def never_equal(key: str, value: Any) -> str | None:
    """Why a `where:` value can never equal field `key` (as `base.same` compares), or None."""
    if key == "role":
        if isinstance(value, str) and value.strip().lower() in ROLE_VALUES:
            return None
        return f"a role is {' or '.join(ROLE_VALUES)} (a pal's role is read as replica)"
    kind = FIELD_TYPES.get(key)
    if kind is None:
        return None
    if kind is bool:
        if isinstance(value, bool) or (
            isinstance(value, str) and value.strip().lower() in _BOOL_WORDS
        ):
            return None
        word = _YAML11.get(str(value).strip().lower()) if isinstance(value, str) else None
        return "it is true or false" + (f" (write {key}: {word})" if word else "")
    if isinstance(value, bool) or value is None:
        return "it is a number"
    if isinstance(value, int | float):
        ok = kind is float or float(value).is_integer()
        return None if ok else "it is a whole number"
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return "it is a number"
        if kind is int and not (number.is_integer() and text.lstrip("+-").isdigit()):
            return "it is a whole number, written as one"
        return None
    return "it is a number"


class EventKind(TriggerKind):
    key = "event"
    model = EventTrigger
    spec = EventName("Fires on an event by name, or any raw event_type.")
    extra_keys = {"where": WHERE}
    summary = "Any event by name (or raw `event_type`); `where:` compares its fields."

    def parse(
        self, r: Reader, node: Node, what: str, loc: Location, parent: Node, *, templates: bool
    ) -> EventTrigger | None:
        name = r.event_name(node, f"{what} event")
        fields: dict[str, Any] = {}
        where = parent.get("where")
        if where is not None and not where.is_null:
            fields = r.plain_map(where, f"{what} where") or {}
            if name is not None and where.is_map:
                self.where_ok(r, where, name, what)
        return None if name is None else EventTrigger(name=name, where=fields, loc=loc)

    def where_ok(self, r: Reader, where: Node, event: str, what: str) -> bool:
        """Each `where:` key must be a field the event has, and its value one that field can
        equal: otherwise the transition silently never fires."""
        allowed = event_fields(event)
        if allowed is None:  # an event cviscript does not know: its fields are not known either
            return True
        ok = True
        for key, value in where.value.items():
            if key not in allowed:
                hint = (
                    did_you_mean(key, sorted(allowed))
                    or f"; its fields are: {', '.join(sorted(allowed))}"
                )
                r.error(
                    where.key_loc(key),
                    "unknown-field",
                    f"{what} where: event '{event}' has no field '{key}', so this transition "
                    f"could never fire{hint}",
                )
                ok = False
                continue
            why = never_equal(key, value.plain())
            if why is not None:
                r.error(
                    value.loc,
                    "wrong-type",
                    f"{what} where: {key}: {str(value.plain())[:80]!r} can never match on event "
                    f"'{event}': {why}",
                )
                ok = False
        return ok

    def fires_on(self, trigger: EventTrigger) -> tuple[str, ...] | None:
        return canonical(trigger.name)

    def match(self, trigger: EventTrigger, event: Event) -> Groups | None:
        if not event.answers_to(trigger.name):
            return None
        for key, expected in trigger.where.items():
            if not same(expected, field_value(event, key)):
                return None
        return NO_GROUPS

    def answers_tool_calls(self, trigger: EventTrigger) -> bool:
        return trigger.name in TOOL_CALL_EVENTS

    def describe(self, trigger: EventTrigger) -> str:
        if not trigger.where:
            return trigger.name
        # as the author wrote it (`where: {interrupted: false}`), not Python's {'interrupted': False}
        fields = ", ".join(
            f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in trigger.where.items()
        )
        return f"{trigger.name} where {{{fields}}}"

    def word(self, trigger: EventTrigger) -> str:
        return f"a '{trigger.name}' event"

    def covers(self, a: EventTrigger, b: EventTrigger) -> bool:
        return a.name == b.name and subset(a.where, b.where)

    def covers_events(self, a: EventTrigger, names: tuple[str, ...] | None) -> bool:
        """Does `a` match every event of another kind's trigger that fires on `names`?"""
        mine = canonical(a.name)
        return not a.where and bool(names) and mine is not None and set(names or ()) <= set(mine)
