"""Tavus CVI wire format: the one module that knows it.

Everything about how interactions are spelled and how events arrive lives here (see
``../shared/protocol.md``). The rest of cviscript speaks in `Event` (received, normalised) and in the
interaction builders (sent). Be strict in what you send and liberal in what you accept.

Sent (`Interactions`): the documented envelope ``{message_type: "conversation", event_type,
conversation_id, properties}``, the official context names unless the older
``conversation.*_context`` spelling is selected, one `conversation.sensitivity` per key, `done` as a
JSON boolean, and never a message over 4096 characters of JSON (daily-js refuses those).

Received (`Normalizer`): servers disagree, so every known variant is folded into one `Event`: role
``pal`` is the replica, text is ``speech`` / ``content`` / ``text``, tool arguments arrive as a JSON
string or an object, ``inference_id`` sits at the top level or in ``properties``. Newer servers send
some replica events twice (``pal`` and ``replica``) and an interruption both as
``replica.stopped_speaking {interrupted: true}`` and, on older ones, ``conversation.replica_interrupted``:
each reaches the engine once. Anything malformed or foreign is skipped with a reason, never raised.

`server_event` and `parse_interaction` are the other side of the same wire, for the simulated replica.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from dataclasses import dataclass, field, fields
from typing import Any

from . import errors

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
    "shutdown",
)


@dataclass(slots=True)
class Event:
    """A received event after normalisation.

    `type` is the canonical name (one of EVENT_NAMES) or, for event types cviscript does not know,
    the raw `event_type`. `aliases` are further names this event answers to: a
    `replica.stopped_speaking` with `interrupted: true` also answers to `replica.interrupted`.
    """

    type: str
    event_type: str
    properties: dict[str, Any] = field(default_factory=dict)
    role: str | None = None  # "user" / "replica" ("pal" is folded into "replica")
    text: str | None = None  # utterance speech, perception analysis
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

    def answers_to(self, name: str) -> bool:
        return name == self.type or name == self.event_type or name in self.aliases


_NO_ALIASES: frozenset[str] = frozenset()
# `Normalizer._build` constructs events positionally, in this order.
_EVENT_FIELDS = (
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
)
if tuple(f.name for f in fields(Event)) != _EVENT_FIELDS:  # pragma: no cover - a guard for edits
    raise RuntimeError(
        "protocol.Event's fields changed: update _EVENT_FIELDS and Normalizer._build"
    )


# ------------------------------------------------------------------------------------ message size

MAX_MESSAGE_CHARS = 4096  # daily-js refuses app-messages over 4096 characters of JSON by default


class ProtocolError(errors.CviscriptError):
    """An interaction cviscript was asked to send would break the wire format (too big, bad value)."""


# One encoder, made once: `json.dumps` with non-default options builds a new encoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# How that encoder writes a string (quotes and escapes; non-ASCII as is): the C function it uses.
_json_string = json.encoder.encode_basestring


def message_size(message: dict[str, Any]) -> int:
    """Characters of `message` as compact JSON, the way it travels."""
    size = _flat_size(message, True)
    return size if size >= 0 else len(_COMPACT.encode(message))


def _flat_size(obj: dict[str, Any], nested: bool) -> int:
    """Characters of `obj` as compact JSON, counted without building the text, for the shape
    interactions have (string keys; strings, booleans, None, ints and, when `nested`, one level
    of such dicts as values); -1 for anything else, which the caller encodes. Compact JSON of a
    value is the same alone or inside a container, so the count is exact: `{` `}`, a `,` between
    items, and per item the key's JSON, a `:` and the value's JSON."""
    size = len(obj) + 1 if obj else 2
    for key, value in obj.items():
        if type(key) is not str:
            return -1
        kind = type(value)
        if kind is str:
            size += len(_json_string(value))
        elif value is None or value is True:
            size += 4
        elif value is False:
            size += 5
        elif kind is int:
            size += len(int.__repr__(value))
        elif kind is dict and nested:
            inner = _flat_size(value, False)
            if inner < 0:
                return -1
            size += inner
        else:
            return -1
        size += len(_json_string(key)) + 1
    return size


def _too_big(event_type: Any, size: int) -> ProtocolError:
    return ProtocolError(
        f"{event_type} message is {size} characters of JSON, "
        f"over the {MAX_MESSAGE_CHARS}-character limit of a Daily app-message; shorten it"
    )


def check_size(message: dict[str, Any]) -> None:
    """Raise `ProtocolError` when `message` is over `MAX_MESSAGE_CHARS`."""
    size = message_size(message)
    if size > MAX_MESSAGE_CHARS:
        raise _too_big(message.get("event_type", "<no event_type>"), size)


# ------------------------------------------------------------------------------ interactions sent

ECHO = "conversation.echo"
RESPOND = "conversation.respond"
INTERRUPT = "conversation.interrupt"
SENSITIVITY = "conversation.sensitivity"
TOOL_RESULT = "conversation.tool_result"

# The official context names, and the older spelling some documents use (selectable, see protocol.md).
CONTEXT_EVENT_TYPES: dict[str, tuple[str, str]] = {
    "llm_context": ("conversation.overwrite_llm_context", "conversation.append_llm_context"),
    "context": ("conversation.overwrite_context", "conversation.append_context"),
}
# A text echo's properties as JSON, but for the text's own JSON string.
_ECHO_TEXT_SIZE = len(_COMPACT.encode({"modality": "text", "text": ""})) - 2
SENSITIVITY_LEVELS = ("low", "medium", "high")
TOOL_RESULT_STATUSES = ("success", "error")


class Interactions:
    """Builds the interactions a client sends, exactly as Tavus documents them.

    Every builder returns a complete message (envelope and `conversation_id` filled in) and refuses,
    with `ProtocolError`, one that could not travel (over the size limit, an unknown level).
    """

    def __init__(self, conversation_id: str, context_spelling: str = "llm_context"):
        if context_spelling not in CONTEXT_EVENT_TYPES:
            raise ProtocolError(
                f"unknown context spelling {context_spelling!r}; "
                f"use one of {', '.join(CONTEXT_EVENT_TYPES)}"
            )
        self.conversation_id = conversation_id
        self.context_spelling = context_spelling
        # Characters of each envelope's JSON without its `properties` value (computed once per
        # event type): a message's size is that plus its properties' (see `_flat_size`).
        self._envelopes: dict[str, int] = {}
        self._envelopes_for = conversation_id

    def _message(
        self, event_type: str, properties: dict[str, Any], properties_size: int = -1
    ) -> dict[str, Any]:
        message = {
            "message_type": "conversation",
            "event_type": event_type,
            "conversation_id": self.conversation_id,
            "properties": properties,
        }
        if self._envelopes_for is not self.conversation_id:  # reassigned: sizes changed
            self._envelopes, self._envelopes_for = {}, self.conversation_id
        envelope = self._envelopes.get(event_type)
        if envelope is None:
            envelope = self._envelopes[event_type] = message_size({**message, "properties": {}}) - 2
        if properties_size < 0:
            properties_size = _flat_size(properties, True)
        if properties_size < 0:
            check_size(message)
        elif envelope + properties_size > MAX_MESSAGE_CHARS:
            raise _too_big(event_type, envelope + properties_size)
        return message

    def echo(self, text: str) -> dict[str, Any]:
        size = _ECHO_TEXT_SIZE + len(_json_string(text)) if type(text) is str else -1
        return self._message(ECHO, {"modality": "text", "text": text}, size)

    def echo_audio(
        self, audio_b64: str, *, sample_rate: int, inference_id: str, done: bool
    ) -> dict[str, Any]:
        """One chunk of an audio echo: base64 of 16-bit mono PCM; `done` is a JSON boolean."""
        return self._message(
            ECHO,
            {
                "modality": "audio",
                "audio": audio_b64,
                "sample_rate": int(sample_rate),
                "inference_id": inference_id,
                "done": bool(done),
            },
        )

    def respond(self, text: str) -> dict[str, Any]:
        return self._message(RESPOND, {"text": text})

    def interrupt(self) -> dict[str, Any]:
        return self._message(INTERRUPT, {})

    def overwrite_context(self, context: str) -> dict[str, Any]:
        return self._message(CONTEXT_EVENT_TYPES[self.context_spelling][0], {"context": context})

    def append_context(self, context: str) -> dict[str, Any]:
        return self._message(CONTEXT_EVENT_TYPES[self.context_spelling][1], {"context": context})

    def sensitivity(self, pause: str | None = None, interrupt: str | None = None) -> list[dict]:
        """One message per key given (current docs: one key per `conversation.sensitivity`)."""
        messages = []
        for key, level in (
            ("participant_pause_sensitivity", pause),
            ("participant_interrupt_sensitivity", interrupt),
        ):
            if level is None:
                continue
            if level not in SENSITIVITY_LEVELS:
                raise ProtocolError(
                    f"{key} must be one of {', '.join(SENSITIVITY_LEVELS)}, not {level!r}"
                )
            messages.append(self._message(SENSITIVITY, {key: level}))
        return messages

    def tool_result(
        self, tool_call_id: str | None, output: Any, status: str = "success"
    ) -> dict[str, Any]:
        """Answer a `conversation.tool_call`. `output` travels as a string or an object (Tavus
        accepts both); other values are sent as their JSON text. A call without an id is answered
        without one."""
        if status not in TOOL_RESULT_STATUSES:
            raise ProtocolError(
                f"tool_result status must be one of {', '.join(TOOL_RESULT_STATUSES)}, not {status!r}"
            )
        if output is None:
            output = ""
        elif not isinstance(output, str | dict):
            output = json.dumps(output, ensure_ascii=False)
        properties: dict[str, Any] = {}
        if tool_call_id is not None:
            properties["tool_call_id"] = tool_call_id
        properties["output"] = output
        properties["status"] = status
        return self._message(TOOL_RESULT, properties)

    def custom(self, event_type: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """Any other interaction (`send:`), envelope and `conversation_id` filled in."""
        return self._message(event_type, dict(properties or {}))


# ------------------------------------------------------------- what a replica sends (simulation)


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


# ------------------------------------------------------ what a replica makes of an interaction


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


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True or (isinstance(value, int | float) and value == 1)


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
            properties["done"] = _truthy(properties.get("done", False))
            properties["sample_rate"] = (
                _int(properties.get("sample_rate")) or DEFAULT_ECHO_SAMPLE_RATE
            )
        else:
            kind = "echo"
    else:
        kind = _INTERACTION_KINDS.get(event_type, event_type)
    return Interaction(kind, event_type, properties, conversation_id, message)


# ---------------------------------------------------------------------------- received: normalise

_CANONICAL: dict[str, str] = {
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
    "conversation.replica_interrupted": "replica.interrupted",
    "conversation.replica.interrupted": "replica.interrupted",
    "conversation.pal_interrupted": "replica.interrupted",
    "system.replica_joined": "replica.joined",
    "system.pal_joined": "replica.joined",
    "system.replica_present": "replica.joined",
    "system.shutdown": "shutdown",
}
# Role-agnostic copies of the speaking events: the name depends on `properties.role`.
_ROLE_AGNOSTIC = {
    "conversation.started_speaking": "started_speaking",
    "conversation.stopped_speaking": "stopped_speaking",
}

# Every raw event_type a Tavus server is known to send (the linter flags others as likely typos).
KNOWN_EVENT_TYPES: frozenset[str] = frozenset(_CANONICAL) | frozenset(_ROLE_AGNOSTIC)
_ROLES = {"replica": "replica", "pal": "replica", "user": "user"}

_DEDUP_MEMORY = 256  # keys remembered for de-duplication
_INTERRUPT_MEMORY = 32  # interruptions remembered


def _int(value: Any) -> int | None:
    if type(value) is int:  # the common case first (bool is a subclass of int, not int itself)
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if type(value) is float:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _first_str(properties: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = properties.get(key)
        if isinstance(value, str):
            return value
    return None


def _arguments(value: Any) -> Any:
    """Tool arguments: a JSON string in the docs, an object in some examples; a dict when it can be."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


def _role(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return _ROLES.get(value.strip().lower(), value)


@dataclass(slots=True)
class _Interruption:
    turn_idx: int | None
    inference_id: str | None
    speaking_turn: int


class _RecentKeys:
    """A bounded set remembering the most recent keys (an OrderedDict drops its oldest in O(1);
    a dict's oldest is found by scanning past the holes earlier deletions left)."""

    def __init__(self, size: int):
        self._keys: OrderedDict[Any, None] = OrderedDict()
        self._size = size

    def __contains__(self, key: Any) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Any) -> None:
        keys = self._keys
        if key in keys:
            keys.move_to_end(key)  # now the most recent
            return
        keys[key] = None
        if len(keys) > self._size:
            keys.popitem(last=False)


class Normalizer:
    """Turns raw received messages into `Event`s, liberally, and says why it skips the others.

    One per conversation: it remembers recent events to drop the duplicates newer servers send
    (the same event once with role `pal`, once with `replica`) and the legacy `replica_interrupted`
    message that repeats an interruption already reported by `replica.stopped_speaking`.
    """

    def __init__(self, conversation_id: str | None = None):
        self.conversation_id = conversation_id
        self._seqs = _RecentKeys(_DEDUP_MEMORY)
        self._contents = _RecentKeys(_DEDUP_MEMORY)
        self._interruptions: deque[_Interruption] = deque(maxlen=_INTERRUPT_MEMORY)
        self._speaking_turn = 0  # counts replica.started_speaking

    def feed(self, message: Any) -> tuple[Event | None, str | None]:
        """(event, None) for an accepted message; (None, reason) for one to skip (never raises)."""
        if not isinstance(message, dict):
            return None, f"malformed: not a JSON object ({type(message).__name__})"
        event_type = message.get("event_type")
        if type(event_type) is not str or not event_type:
            if event_type is None:
                return None, "malformed: no event_type"
            if not isinstance(event_type, str) or not event_type:
                return None, f"malformed: event_type is not a string ({event_type!r:.40})"
        properties = message.get("properties")
        if properties is None:
            properties = {}
        elif not isinstance(properties, dict):
            return None, (
                f"malformed: {event_type} properties is a {type(properties).__name__}, not an object"
            )
        conversation_id = message.get("conversation_id")
        if type(conversation_id) is not str:
            conversation_id = _str(conversation_id)
        if self.conversation_id and conversation_id and conversation_id != self.conversation_id:
            return None, (
                f"other conversation: {event_type} for {conversation_id}, "
                f"not {self.conversation_id}"
            )

        event = self._build(message, event_type, properties, conversation_id)
        key = None if event.inference_id is None else self._content_key(event)
        reason = self._duplicate(event, key)
        if reason:
            return None, reason
        self._remember(event, key)
        return event, None

    # -- building

    def _build(
        self,
        message: dict[str, Any],
        event_type: str,
        properties: dict[str, Any],
        conversation_id: str | None,
    ) -> Event:
        # The usual forms are read inline (a function call per field was most of the cost);
        # anything else goes through the liberal readers (`_role`, `_str`, `_int` ...).
        raw_role = properties.get("role")
        role = _ROLES.get(raw_role) if type(raw_role) is str else None
        if role is None and raw_role is not None:
            role = _role(raw_role)
        type_ = _CANONICAL.get(event_type)
        if type_ is None and event_type in _ROLE_AGNOSTIC and role in ("replica", "user"):
            type_ = f"{role}.{_ROLE_AGNOSTIC[event_type]}"
        if type_ is None:
            type_ = event_type
        if type_.startswith("replica."):
            role = "replica"
        elif type_.startswith("user."):
            role = "user"

        inference_id = message.get("inference_id")
        if inference_id is None:
            inference_id = properties.get("inference_id")
            if inference_id is not None and type(inference_id) is not str:
                inference_id = _str(inference_id)
        else:
            inference_id = _str(inference_id) or _str(properties.get("inference_id"))
        text = properties.get("speech")
        if not isinstance(text, str):
            text = _first_str(properties, "content", "text")
        seq = message.get("seq")
        if seq is not None and type(seq) is not int:
            seq = _int(seq)
        turn_idx = message.get("turn_idx")
        if turn_idx is not None and type(turn_idx) is not int:
            turn_idx = _int(turn_idx)
        timestamp = message.get("timestamp")
        if timestamp is not None and type(timestamp) is not float:
            timestamp = _float(timestamp)
        # Positional, in field order (`_EVENT_FIELDS`): half the cost of passing them by name.
        event = Event(
            type_,
            event_type,
            properties,
            role,
            text,
            None,  # name
            None,  # arguments
            None,  # tool_call_id
            inference_id,
            seq,
            turn_idx,
            timestamp,
            False,  # interrupted
            None,  # duration
            conversation_id,
            _NO_ALIASES,
            message,
        )
        if type_ in ("tool_call", "perception_tool_call") or "tool_call_id" in properties:
            event.name = _first_str(properties, "name", "tool_name")
            event.arguments = _arguments(properties.get("arguments"))
            event.tool_call_id = _str(properties.get("tool_call_id"))
        elif "arguments" in properties:
            event.arguments = _arguments(properties.get("arguments"))
        if type_ == "perception_analysis":
            event.text = _first_str(properties, "analysis", "text")
        elif type_ == "shutdown":
            event.text = _first_str(properties, "shutdown_reason", "reason")
        if type_.endswith("stopped_speaking") or type_ == "replica.interrupted":
            event.interrupted = type_ == "replica.interrupted" or _truthy(
                properties.get("interrupted")
            )
            event.duration = _float(properties.get("duration"))
        elif type_ == "utterance.streaming":
            event.interrupted = _truthy(properties.get("is_interrupted"))
        return event

    # -- de-duplication

    def _content_key(self, event: Event) -> tuple[Any, ...] | None:
        """What identifies an event re-sent under another role; None when it cannot be told."""
        if event.inference_id is None:
            return None
        p = event.properties
        return (
            event.type,
            event.role,
            event.inference_id,
            _int(p.get("content_index")),
            event.text,
            _truthy(p.get("final")),
            event.interrupted,
            event.name,
            event.tool_call_id,
        )

    def _matching_interruption(self, event: Event) -> bool:
        for rec in self._interruptions:
            if event.turn_idx is not None and rec.turn_idx is not None:
                if event.turn_idx == rec.turn_idx:
                    return True
            elif event.inference_id is not None and rec.inference_id is not None:
                if event.inference_id == rec.inference_id:
                    return True
            elif rec.speaking_turn == self._speaking_turn:
                return True
        return False

    def _duplicate(self, event: Event, key: tuple[Any, ...] | None) -> str | None:
        """Why `event` is a duplicate, or None; `key` is its `_content_key`."""
        if event.seq is not None and event.seq in self._seqs._keys:
            return f"duplicate: {event.event_type} seq {event.seq} already received"
        if key is not None and key in self._contents:
            return (
                f"duplicate: {event.event_type} (role {event.role}) for inference "
                f"{event.inference_id} already received"
            )
        if event.type == "replica.interrupted" and self._matching_interruption(event):
            return f"duplicate: {event.event_type} repeats an interruption already reported"
        return None

    def _remember(self, event: Event, key: tuple[Any, ...] | None) -> None:
        if event.seq is not None:
            self._seqs.add(event.seq)
        if key is not None:
            self._contents.add(key)
        if event.type == "replica.started_speaking" or (
            event.type == "utterance" and event.role == "replica"
        ):
            self._speaking_turn += 1  # a replica utterance arrives as it starts speaking
        elif event.type == "replica.interrupted" or (
            event.type == "replica.stopped_speaking" and event.interrupted
        ):
            if event.type == "replica.stopped_speaking" and not self._matching_interruption(event):
                # Today's form of "the replica was interrupted"; a legacy message for the same
                # turn (before or after) must not make `replica.interrupted` fire twice.
                event.aliases = frozenset({"replica.interrupted"})
            self._interruptions.append(
                _Interruption(event.turn_idx, event.inference_id, self._speaking_turn)
            )
