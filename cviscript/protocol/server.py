"""The other side of the wire, for the simulated replica: events as a server sends them, and
interactions read the way a replica reads them.

`server_event` builds an event in the envelope today's servers use (``seq``, ``turn_idx``,
``inference_id`` and ``timestamp`` at the top level when given). `parse_interaction` reads what a
client sent liberally (both context spellings, ``done: "true"``, a missing ``properties``), so the
simulated replica accepts what a real one accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .interactions import CONTEXT_EVENT_TYPES, ECHO, INTERRUPT, RESPOND, SENSITIVITY, TOOL_RESULT
from .values import as_int, truthy


def server_event(
    event_type: str,
    conversation_id: str,
    properties: dict[str, Any] | None = None,
    *,
    seq: int | None = None,
    turn_idx: int | None = None,
    inference_id: str | None = None,
    timestamp: float | None = None,
    message_type: str | None = None,
) -> dict[str, Any]:
    """An event as a current Tavus server sends it (the simulated replica speaks through this)."""
    if message_type is None:
        message_type = "system" if event_type.startswith("system.") else "conversation"
    message: dict[str, Any] = {
        "message_type": message_type,
        "event_type": event_type,
        "conversation_id": conversation_id,
        "properties": dict(properties or {}),
    }
    if inference_id is not None:
        message["inference_id"] = inference_id
    if seq is not None:
        message["seq"] = seq
    if turn_idx is not None:
        message["turn_idx"] = turn_idx
    if timestamp is not None:
        message["timestamp"] = timestamp
    return message


_INTERACTION_KINDS: dict[str, str] = {
    RESPOND: "respond",
    INTERRUPT: "interrupt",
    SENSITIVITY: "sensitivity",
    TOOL_RESULT: "tool_result",
}
for _overwrite, _append in CONTEXT_EVENT_TYPES.values():
    _INTERACTION_KINDS[_overwrite] = "overwrite_context"
    _INTERACTION_KINDS[_append] = "append_context"

DEFAULT_ECHO_SAMPLE_RATE = 16000  # what Tavus assumes when an audio echo has no sample_rate


@dataclass(slots=True)
class Interaction:
    """A received interaction, read liberally (both context spellings, `done: "true"`).

    For `echo_audio`, `properties` is a normalised copy: `done` is a bool and `sample_rate` an int
    (16000 when absent, as Tavus assumes).
    """

    kind: str
    event_type: str
    properties: dict[str, Any]
    conversation_id: str | None
    message: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str | None:
        value = self.properties.get("text", self.properties.get("context"))
        return value if isinstance(value, str) else None


def parse_interaction(message: Any) -> Interaction | None:
    """Read an interaction the way a replica would; None when it is not one."""
    if not isinstance(message, dict):
        return None
    event_type = message.get("event_type")
    if not isinstance(event_type, str):
        return None
    properties = message.get("properties")
    properties = dict(properties) if isinstance(properties, dict) else {}
    conversation_id = message.get("conversation_id")
    conversation_id = conversation_id if isinstance(conversation_id, str) else None
    if event_type == ECHO:
        if properties.get("modality") == "audio" or (
            "audio" in properties and properties.get("modality") != "text"
        ):
            kind = "echo_audio"
            properties["done"] = truthy(properties.get("done", False))
            properties["sample_rate"] = (
                as_int(properties.get("sample_rate")) or DEFAULT_ECHO_SAMPLE_RATE
            )
        else:
            kind = "echo"
    else:
        kind = _INTERACTION_KINDS.get(event_type, event_type)
    return Interaction(kind, event_type, properties, conversation_id, message)
