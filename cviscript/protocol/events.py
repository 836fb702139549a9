"""What a scenario sees of a received message: `Event`, the canonical event names, and which fields
each event type has.

Tavus servers spell the same fact several ways (role ``pal`` or ``replica``, role-specific and
role-agnostic speaking events, ``system.replica_joined`` or ``system.pal_joined``); the normaliser
folds them into one `Event` whose `type` is a canonical name from `EVENT_NAMES`. Scenario files
name events by these (``event: replica.stopped_speaking``) or by any raw ``event_type``.

`event_fields(name)` is the public table of the keys a `where:` may test for each event: the
normalised attributes the event carries plus the raw properties the documentation lists for it.
The validator checks `where:` keys against it, so a misspelt field is an error before a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# Canonical event names a scenario may use in `event:`; the engine matches on these.
EVENT_NAMES: tuple[str, ...] = (
    "replica.started_speaking",
    "replica.stopped_speaking",
    "replica.interrupted",
    "user.started_speaking",
    "user.stopped_speaking",
    "utterance",
    "utterance.streaming",
    "tool_call",
    "perception_tool_call",
    "perception_analysis",
    "replica.joined",
    "replica.present",
    "shutdown",
    "objective.activated",
    "objective.completed",
    "objective.pending",
)

# Raw event_type -> canonical name. The ready/presence events are resolved by the normaliser
# (the first one is the join, later ones are heartbeats): see `PRESENCE_EVENT_TYPES`.
CANONICAL: dict[str, str] = {
    "conversation.utterance": "utterance",
    "conversation.utterance.streaming": "utterance.streaming",
    "conversation.replica.started_speaking": "replica.started_speaking",
    "conversation.replica.stopped_speaking": "replica.stopped_speaking",
    "conversation.pal.started_speaking": "replica.started_speaking",
    "conversation.pal.stopped_speaking": "replica.stopped_speaking",
    "conversation.user.started_speaking": "user.started_speaking",
    "conversation.user.stopped_speaking": "user.stopped_speaking",
    "conversation.tool_call": "tool_call",
    "conversation.perception_tool_call": "perception_tool_call",
    "conversation.perception_analysis": "perception_analysis",
    # Tavus's own app spells the in-call end-of-call analysis with a hyphen (the webhook and the
    # event schema page use the underscore): Tavus-Engineering/tavus-interviewer src/types/events.ts
    "conversation.perception-analysis": "perception_analysis",
    "conversation.replica_interrupted": "replica.interrupted",
    "conversation.replica.interrupted": "replica.interrupted",
    "conversation.pal_interrupted": "replica.interrupted",
    "system.replica_joined": "replica.joined",
    "system.pal_joined": "replica.joined",
    "system.replica_present": "replica.present",
    "system.pal_present": "replica.present",
    "system.shutdown": "shutdown",
    "conversation.objective.activated": "objective.activated",
    "conversation.objective.completed": "objective.completed",
    "conversation.objective.pending": "objective.pending",
}
# A persona objective's status changed: `properties.objective_name`, `properties.output_variables`.
OBJECTIVE_EVENTS: dict[str, str] = {
    "objective.activated": "activated",
    "objective.completed": "completed",
    "objective.pending": "pending",
}
JOIN_EVENT_TYPES = frozenset({"system.replica_joined", "system.pal_joined"})
PRESENCE_EVENT_TYPES = frozenset({"system.replica_present", "system.pal_present"})
# Role-agnostic copies of the speaking events: the name depends on `properties.role`.
ROLE_AGNOSTIC: dict[str, str] = {
    "conversation.started_speaking": "started_speaking",
    "conversation.stopped_speaking": "stopped_speaking",
}
# Every raw event_type a Tavus server is known to send (the linter flags others as likely typos).
KNOWN_EVENT_TYPES: frozenset[str] = frozenset(CANONICAL) | frozenset(ROLE_AGNOSTIC)


@dataclass(slots=True)
class Event:
    """A received event after normalisation.

    `type` is the canonical name (one of EVENT_NAMES) or, for event types cviscript does not know,
    the raw `event_type`. `aliases` are further names this event answers to: a
    `replica.stopped_speaking` with `interrupted: true` also answers to `replica.interrupted`.
    `perception` is the in-call perception text this event carries (see `normalize`), else None.
    """

    type: str
    event_type: str
    properties: dict[str, Any] = field(default_factory=dict)
    role: str | None = None  # "user" / "replica" ("pal" is folded into "replica")
    text: str | None = None  # utterance speech, perception analysis, shutdown reason
    name: str | None = None  # tool name
    arguments: Any = None  # dict when the JSON string parsed, else as received
    tool_call_id: str | None = None
    inference_id: str | None = None
    seq: int | None = None
    turn_idx: int | None = None
    timestamp: float | None = None
    interrupted: bool = False
    duration: float | None = None
    conversation_id: str | None = None
    aliases: frozenset[str] = frozenset()
    message: dict[str, Any] = field(default_factory=dict, repr=False)  # the raw message
    perception: str | None = None

    def answers_to(self, name: str) -> bool:
        return name == self.type or name == self.event_type or name in self.aliases


NO_ALIASES: frozenset[str] = frozenset()
# `Normalizer._build` constructs events positionally, in this order.
EVENT_FIELD_ORDER = (
    "type",
    "event_type",
    "properties",
    "role",
    "text",
    "name",
    "arguments",
    "tool_call_id",
    "inference_id",
    "seq",
    "turn_idx",
    "timestamp",
    "interrupted",
    "duration",
    "conversation_id",
    "aliases",
    "message",
    "perception",
)
if tuple(f.name for f in fields(Event)) != EVENT_FIELD_ORDER:  # pragma: no cover - edit guard
    raise RuntimeError("protocol.Event's fields changed: update EVENT_FIELD_ORDER and _build")

# The normalised attributes `where:` may test (the engine's `field_value` reads these first,
# then the raw property of the same name).
ATTRIBUTE_FIELDS: frozenset[str] = frozenset(
    {"type", "event_type", "role", "text", "name", "arguments", "tool_call_id", "inference_id"}
    | {"seq", "turn_idx", "timestamp", "interrupted", "duration", "conversation_id", "perception"}
)

# Every event has these (envelope fields, and `role` which any event may carry).
_COMMON = frozenset(
    {"type", "event_type", "role", "inference_id", "seq", "turn_idx", "timestamp"}
    | {"conversation_id"}
)
_STOPPED = frozenset({"interrupted", "duration"})
_FIELDS: dict[str, frozenset[str]] = {
    "replica.started_speaking": _COMMON,
    "replica.stopped_speaking": _COMMON | _STOPPED,
    "replica.interrupted": _COMMON | _STOPPED,
    "user.started_speaking": _COMMON,
    "user.stopped_speaking": _COMMON | _STOPPED,
    "utterance": _COMMON
    | {"text", "speech", "content", "perception", "user_visual_analysis", "user_audio_analysis"},
    "utterance.streaming": _COMMON
    | {"text", "speech", "content", "content_index", "final", "is_interrupted", "interrupted"},
    "tool_call": _COMMON | {"name", "tool_name", "arguments", "tool_call_id"},
    "perception_tool_call": _COMMON
    | {"name", "tool_name", "arguments", "tool_call_id", "modality", "frames", "perception"},
    "perception_analysis": _COMMON | {"text", "analysis"},
    "replica.joined": _COMMON,
    "replica.present": _COMMON | {"attempt"},
    "shutdown": _COMMON | {"text", "shutdown_reason", "reason"},
    **dict.fromkeys(OBJECTIVE_EVENTS, _COMMON | {"objective_name", "output_variables"}),
}
for _raw, _canonical in CANONICAL.items():
    _FIELDS.setdefault(_raw, _FIELDS[_canonical])
for _raw in ROLE_AGNOSTIC:  # either role's started/stopped event
    _FIELDS[_raw] = _COMMON | _STOPPED
del _raw, _canonical


def event_fields(name: str) -> frozenset[str] | None:
    """The keys a `where:` may test on event `name` (canonical or a known raw event_type), or None
    when cviscript does not know the event (a raw type it has never seen: anything goes)."""
    return _FIELDS.get(name)


# The value types of the `where:` fields that are not text, so that a value which can never be
# equal (``interrupted: "no"``) is refused at load. A boolean field is also matched by the text
# "true"/"false", a number by its text (``turn_idx: "2"``), as `where:` compares them.
FIELD_TYPES: dict[str, type] = {
    "interrupted": bool,
    "is_interrupted": bool,
    "final": bool,
    "seq": int,
    "turn_idx": int,
    "content_index": int,
    "attempt": int,
    "timestamp": float,
    "duration": float,
}
# What a normalised role can be (``pal`` is folded into ``replica``).
ROLE_VALUES = ("user", "replica")

# What a template's `event` offers on each event (`engine.context.event_view` builds it): always
# the envelope, then what the event type carries. A template reading another `event.*` name under
# a trigger that only fires on these events is refused at load.
_VIEW_COMMON = frozenset(
    {"type", "event_type", "properties", "groups", "role", "inference_id", "seq", "turn_idx"}
)
_VIEW_TOOL = frozenset({"name", "arguments", "tool_call_id"})
_VIEW_STOPPED = frozenset({"interrupted", "duration"})
_VIEW: dict[str, frozenset[str]] = {
    "replica.started_speaking": _VIEW_COMMON,
    "replica.stopped_speaking": _VIEW_COMMON | _VIEW_STOPPED,
    # a `replica.stopped_speaking` with `interrupted: true`, or an older server's own event
    "replica.interrupted": _VIEW_COMMON | _VIEW_STOPPED,
    "user.started_speaking": _VIEW_COMMON,
    "user.stopped_speaking": _VIEW_COMMON,
    "utterance": _VIEW_COMMON | {"text"},
    "utterance.streaming": _VIEW_COMMON | {"text"},
    "tool_call": _VIEW_COMMON | _VIEW_TOOL,
    "perception_tool_call": _VIEW_COMMON | _VIEW_TOOL,
    "perception_analysis": _VIEW_COMMON | {"text"},
    "replica.joined": _VIEW_COMMON,
    "replica.present": _VIEW_COMMON,
    "shutdown": _VIEW_COMMON | {"text"},
    **dict.fromkeys(
        OBJECTIVE_EVENTS, _VIEW_COMMON | {"objective_name", "status", "output_variables"}
    ),
}


def view_fields(name: str) -> frozenset[str] | None:
    """The `event.*` names a template may read on canonical event `name` (None: not known)."""
    found = _VIEW.get(name)
    if found is None and name in CANONICAL:
        found = _VIEW.get(CANONICAL[name])
    return found
