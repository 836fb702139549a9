"""What a client sends: the interaction builders and the message size limit.

Sent messages follow the documented envelope ``{message_type: "conversation", event_type,
conversation_id, properties}`` exactly: the official context names unless the older
``conversation.*_context`` spelling is selected, one `conversation.sensitivity` per key, a text echo
with ``done: true`` and an audio chunk's ``done`` as JSON booleans, ``conversation.interrupt``
without ``properties`` (as the docs and every maintained client send it), and a
``conversation.tool_result`` only with the ``tool_call_id`` Tavus requires. A message over 4096
characters of JSON (daily-js refuses those) is never built: every builder raises `ProtocolError`.
"""

from __future__ import annotations

import json
from typing import Any

from .. import errors

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
_ECHO_TEXT_SIZE = len(_COMPACT.encode({"modality": "text", "text": "", "done": True})) - 2
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
        return self._message(ECHO, {"modality": "text", "text": text, "done": True}, size)

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
        """`conversation.interrupt` carries no `properties` at all (docs, maintained clients)."""
        message = self._message(INTERRUPT, {})
        del message["properties"]
        return message

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
        self, tool_call_id: str, output: Any, status: str = "success"
    ) -> dict[str, Any]:
        """Answer a `conversation.tool_call`. `tool_call_id` is required (Tavus marks it so): a
        call that came without one cannot be answered with a `tool_result` (`ProtocolError`; Tavus's
        own example answers such a call with a text echo). `output` travels as a string or an
        object (Tavus accepts both); other values are sent as their JSON text."""
        if not isinstance(tool_call_id, str) or not tool_call_id:
            raise ProtocolError(
                "conversation.tool_result needs the tool_call_id of the tool call it answers, "
                "and this tool call came without one; answer it with an echo instead"
            )
        if status not in TOOL_RESULT_STATUSES:
            raise ProtocolError(
                f"tool_result status must be one of {', '.join(TOOL_RESULT_STATUSES)}, not {status!r}"
            )
        if output is None:
            output = ""
        elif not isinstance(output, str | dict):
            output = json.dumps(output, ensure_ascii=False)
        properties = {"tool_call_id": tool_call_id, "output": output, "status": status}
        return self._message(TOOL_RESULT, properties)

    def custom(self, event_type: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """Any other interaction (`send:`), envelope and `conversation_id` filled in."""
        return self._message(event_type, dict(properties or {}))
