"""Tavus CVI wire format: the one package that knows it.

Everything about how interactions are spelled and how events arrive lives here. The rest of
cviscript speaks in `Event` (received, normalised) and in the interaction builders (sent). Be strict
in what you send and liberal in what you accept.

* `events` — `Event`, the canonical event names, and `event_fields` (the `where:` keys per event);
* `normalize` — `Normalizer`: raw messages to events, copies folded, never raising;
* `values` — bounded readers for numbers, timestamps and flags from the wire;
* `interactions` — `Interactions`, what a client sends, and the 4096-character size limit;
* `server` — the replica's side (`server_event`, `parse_interaction`), for the simulated replica.
"""

from .events import (
    CANONICAL,
    EVENT_NAMES,
    KNOWN_EVENT_TYPES,
    OBJECTIVE_EVENTS,
    PRESENCE_EVENT_TYPES,
    ROLE_AGNOSTIC,
    Event,
    event_fields,
    view_fields,
)
from .interactions import (
    CONTEXT_EVENT_TYPES,
    ECHO,
    INTERRUPT,
    MAX_MESSAGE_CHARS,
    RESPOND,
    SENSITIVITY,
    SENSITIVITY_LEVELS,
    TOOL_RESULT,
    TOOL_RESULT_STATUSES,
    Interactions,
    ProtocolError,
    check_size,
    message_size,
)
from .normalize import COPY_WINDOW, Normalizer
from .server import DEFAULT_ECHO_SAMPLE_RATE, Interaction, parse_interaction, server_event

__all__ = [
    "CANONICAL",
    "CONTEXT_EVENT_TYPES",
    "COPY_WINDOW",
    "DEFAULT_ECHO_SAMPLE_RATE",
    "ECHO",
    "EVENT_NAMES",
    "INTERRUPT",
    "KNOWN_EVENT_TYPES",
    "MAX_MESSAGE_CHARS",
    "OBJECTIVE_EVENTS",
    "PRESENCE_EVENT_TYPES",
    "RESPOND",
    "ROLE_AGNOSTIC",
    "SENSITIVITY",
    "SENSITIVITY_LEVELS",
    "TOOL_RESULT",
    "TOOL_RESULT_STATUSES",
    "Event",
    "Interaction",
    "Interactions",
    "Normalizer",
    "ProtocolError",
    "check_size",
    "event_fields",
    "message_size",
    "parse_interaction",
    "server_event",
    "view_fields",
]
