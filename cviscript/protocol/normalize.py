"""Received messages to `Event`s: liberal in what it accepts, and never raising.

Servers disagree, so every known variant is folded into one `Event`: role ``pal`` is the replica,
text is ``speech`` / ``content`` / ``text``, tool arguments arrive as a JSON string or an object,
``inference_id`` sits at the top level or in ``properties``, a ``timestamp`` is Unix seconds or an
ISO 8601 string. Numbers are read by the bounded readers of `values` (at most 18 ASCII digits,
finite floats), so no value makes the normaliser raise. Anything malformed or from another
conversation is skipped with a reason.

**Copies.** Today's servers send one fact several times: a role-specific event and its role-agnostic
copy (``conversation.replica.started_speaking`` + ``conversation.started_speaking`` with role ``pal``,
sometimes again with role ``replica``), a replica ``utterance`` with role ``pal`` and again with
``replica``; a flaky network may deliver one message twice. A copy carries its own ``seq`` or
shares one, and ``inference_id`` only "when present". The rule: a message is a copy of an earlier
one when both have the same canonical content — type, role (``pal`` = ``replica``), text,
inference id, turn, tool name/id/arguments, streaming index and flags, perception text — and

* it has the *same* ``seq`` (the one message delivered again), or
* it arrived within the next `COPY_WINDOW` messages (and, when both carry timestamps, within
  `COPY_SECONDS`) in a *different spelling*: another raw ``event_type`` or another raw role.

So two genuine events of the same kind (two ``user.started_speaking`` of one inference, each with
its own ``seq`` and spelled alike) both pass, while every spelling of one event reaches the engine
once. A folded copy is reported as ``duplicate: ...``; `last_seq` still tells the caller its
``seq``, so a reorder buffer counts it as received and never waits for it.

**Presence.** ``system.replica_joined`` / ``system.pal_joined`` is ``replica.joined``, once.
``system.replica_present`` / ``system.pal_present`` are ready signals that some servers repeat as a
heartbeat: the first is the join when no joined message came before it (it also answers to
``replica.present``), later ones are ``replica.present``.

**Interruptions.** An interruption arrives as ``replica.stopped_speaking {interrupted: true}`` and,
from older servers, also as ``conversation.replica_interrupted``: ``replica.interrupted`` fires once.

**Perception during the call** is the user's ``utterance`` carrying ``user_visual_analysis`` /
``user_audio_analysis`` (their texts, joined by a newline, become `Event.perception`) and
``conversation.perception_tool_call`` (`Event.perception` is the tool's name, then a space and the
arguments as compact JSON when it has any: ``"gesture_detected {"gesture":"wave"}"``).
``conversation.perception_analysis`` (``conversation.perception-analysis`` in Tavus's own app) is
the end-of-call summary: its text is `Event.text`, and it has no `perception`. An older server's
``visual_context`` on a user utterance is in-call perception too.

**Interruptions of one turn.** `turn_idx` moves when a ``conversation.respond`` (or the visitor's
turn) comes in, not on every echo, so two echoes cut off one after the other share a `turn_idx`:
a repeat of an interruption is one with the same ``inference_id``, or (when either lacks one) one
with no replica speech started between the two.

**A message as a JSON string.** Two Tavus clients parse an app message whose data is a string
(Tavus's InteractionBus and tavus-cli's daily transport both ``JSON.parse``/``json.loads`` it), so a
string of at most `MAX_JSON_TEXT` characters holding a JSON object is read as that object.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from .events import (
    CANONICAL,
    JOIN_EVENT_TYPES,
    KNOWN_EVENT_TYPES,
    NO_ALIASES,
    PRESENCE_EVENT_TYPES,
    ROLE_AGNOSTIC,
    Event,
)
from .values import as_float, as_int, as_str, as_timestamp, first_str, truthy

COPY_WINDOW = 8  # messages: a copy in another spelling arrives among the next few messages
COPY_SECONDS = 2.0  # and, when both carry a timestamp, this close to the first
_MEMORY = 256  # recent events and seqs remembered for recognising copies
_INTERRUPT_MEMORY = 32  # interruptions remembered
_MAX_ARGUMENTS_TEXT = 8192  # characters of tool arguments kept in a perception text
# In-call perception on an utterance; an older server's `visual_context` only on the visitor's.
_PERCEPTION_KEYS = ("user_visual_analysis", "user_audio_analysis")
_USER_PERCEPTION = (*_PERCEPTION_KEYS, "visual_context")
MAX_JSON_TEXT = 1_000_000  # characters: a longer string message is dropped unparsed
_ROLES = {"replica": "replica", "pal": "replica", "user": "user"}
_PRESENT_ALIASES = frozenset({"replica.present"})
_INTERRUPTED_ALIASES = frozenset({"replica.interrupted"})


def _arguments(value: Any) -> Any:
    """Tool arguments: a JSON string in the docs, an object in some examples; a dict when it can be."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


def _arguments_text(value: Any) -> str:
    """Tool arguments as one bounded line of text (compact JSON unless they came as a string)."""
    if isinstance(value, str):
        return value[:_MAX_ARGUMENTS_TEXT]
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (ValueError, TypeError, RecursionError):
        text = ""
    return text[:_MAX_ARGUMENTS_TEXT]


def _role(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return _ROLES.get(value.strip().lower(), value)


@dataclass(slots=True)
class _Interruption:
    turn_idx: int | None
    inference_id: str | None
    speaking_turn: int


@dataclass(slots=True)
class _Seen:
    """One event and the spellings it has arrived under so far (a tuple: there are a handful,
    and one is remembered per recent event)."""

    key: tuple[Any, ...]  # its content (`_content`), shared by the seqs it arrived under
    forms: tuple[tuple[str, Any], ...]
    arrival: int  # the arrival count of its latest spelling
    timestamp: float | None


def _bounded_put(memory: dict, key: Any, value: Any, limit: int) -> None:
    """Put `key` last in `memory` (a plain dict keeps insertion order at half an OrderedDict's
    memory), forgetting the oldest entry past `limit`."""
    memory.pop(key, None)
    memory[key] = value
    if len(memory) > limit:
        del memory[next(iter(memory))]


class Normalizer:
    """Turns raw received messages into `Event`s, liberally, and says why it skips the others.

    One per conversation: it remembers recent events to fold copies and repeated interruptions
    (see the module docstring), and whether the replica has joined.
    """

    def __init__(self, conversation_id: str | None = None, *, memory: int = _MEMORY):
        """`memory`: recent events remembered; a sender known to repeat nothing needs only the
        copy window (the simulated visitor's view of a model whose copies it skips)."""
        self.conversation_id = conversation_id
        self._memory = max(memory, COPY_WINDOW + 1)
        # The readable seq of the last message fed (None when it had none, or was not a message
        # of this conversation), also when it was dropped.
        self.last_seq: int | None = None
        self._recent: dict[tuple[Any, ...], _Seen] = {}
        self._seqs: dict[int, tuple[Any, ...]] = {}
        self._arrivals = 0
        self._interruptions: deque[_Interruption] = deque(maxlen=_INTERRUPT_MEMORY)
        self._speaking_turn = 0  # counts replica.started_speaking
        self.joined = False  # a join (or the first presence) was accepted

    def feed(self, message: Any) -> tuple[Event | None, str | None]:
        """(event, None) for an accepted message; (None, reason) for one to skip (never raises)."""
        self.last_seq = None
        if isinstance(message, str | bytes | bytearray):
            message, why = _parse_text(message)
            if why:
                return None, why
        if not isinstance(message, dict):
            return None, f"malformed: not a JSON object ({type(message).__name__})"
        event_type = message.get("event_type")
        conversation_id = message.get("conversation_id")
        if type(conversation_id) is not str:
            conversation_id = as_str(conversation_id)
        if self.conversation_id and conversation_id and conversation_id != self.conversation_id:
            return None, (
                f"other conversation: {_short(event_type)} for {_short(conversation_id)}, "
                f"not {self.conversation_id}"
            )
        seq = message.get("seq")
        if seq is not None:
            seq = self.last_seq = as_int(seq)
        if type(event_type) is not str or not event_type:
            if event_type is None:
                return None, "malformed: no event_type"
            return None, f"malformed: event_type is not a string ({_short(event_type)})"
        properties = message.get("properties")
        if properties is None:
            properties = {}
        elif not isinstance(properties, dict):
            return None, (
                f"malformed: {_short(event_type)} properties is a "
                f"{type(properties).__name__}, not an object"
            )
        event = self._build(message, event_type, properties, conversation_id, seq)
        self._arrivals += 1
        reason = self._presence(event)
        if reason:
            return None, reason
        key = self._content(event)  # once: checking for a copy and remembering both need it
        reason = self._copy(event, key) or self._repeated_interruption(event)
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
        seq: int | None,
    ) -> Event:
        # The usual forms are read inline (a function call per field was most of the cost);
        # anything else goes through the liberal readers of `values`.
        raw_role = properties.get("role")
        role = _ROLES.get(raw_role) if type(raw_role) is str else None
        if role is None and raw_role is not None:
            role = _role(raw_role)
        type_ = CANONICAL.get(event_type)
        if type_ is None and event_type in ROLE_AGNOSTIC and role in ("replica", "user"):
            type_ = f"{role}.{ROLE_AGNOSTIC[event_type]}"
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
                inference_id = as_str(inference_id)
        else:
            inference_id = as_str(inference_id) or as_str(properties.get("inference_id"))
        text = properties.get("speech")
        if not isinstance(text, str):
            text = first_str(properties, "content", "text")
        turn_idx = message.get("turn_idx")
        if turn_idx is not None:
            turn_idx = as_int(turn_idx)
        timestamp = message.get("timestamp")
        if timestamp is not None:
            timestamp = as_timestamp(timestamp)
        # Positional, in field order (`EVENT_FIELD_ORDER`): half the cost of passing them by name.
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
            NO_ALIASES,
            message,
            None,  # perception
        )
        if type_ in ("tool_call", "perception_tool_call") or "tool_call_id" in properties:
            event.name = first_str(properties, "name", "tool_name")
            event.arguments = _arguments(properties.get("arguments"))
            event.tool_call_id = as_str(properties.get("tool_call_id"))
            if type_ == "perception_tool_call":
                raw = properties.get("arguments")
                args = "" if raw is None or raw == {} else _arguments_text(raw)
                event.perception = " ".join(filter(None, (event.name or "", args)))
        elif "arguments" in properties:
            event.arguments = _arguments(properties.get("arguments"))
        if type_ == "utterance":
            keys = _USER_PERCEPTION if role == "user" else _PERCEPTION_KEYS
            analyses = [
                value for key in keys if isinstance(value := properties.get(key), str) and value
            ]
            if analyses:
                event.perception = "\n".join(analyses)
        elif type_ == "perception_analysis":
            event.text = first_str(properties, "analysis", "text")
        elif type_ == "shutdown":
            event.text = first_str(properties, "shutdown_reason", "reason")
        if type_.endswith("stopped_speaking") or type_ == "replica.interrupted":
            event.interrupted = type_ == "replica.interrupted" or truthy(
                properties.get("interrupted")
            )
            event.duration = as_float(properties.get("duration"))
        elif type_ == "utterance.streaming":
            event.interrupted = truthy(properties.get("is_interrupted"))
        return event

    # -- presence

    def _presence(self, event: Event) -> str | None:
        """Resolve the ready events: one join, then heartbeats. A reason when `event` is dropped."""
        event_type = event.event_type
        if event_type in JOIN_EVENT_TYPES:
            if self.joined:
                return f"duplicate: {event_type}, the replica already joined"
            self.joined = True
        elif event_type in PRESENCE_EVENT_TYPES and not self.joined:
            self.joined = True
            event.type = "replica.joined"  # the first ready signal is the join
            event.aliases = _PRESENT_ALIASES
        return None

    # -- copies

    def _content(self, event: Event) -> tuple[Any, ...]:
        """What two spellings of one event have in common (see the module docstring)."""
        p = event.properties
        arguments = event.arguments
        if arguments is not None and not isinstance(arguments, str):
            arguments = _arguments_text(arguments)
        return (
            event.type,
            event.role,
            event.text,
            event.inference_id,
            event.turn_idx,
            event.name,
            event.tool_call_id,
            arguments,
            as_int(p.get("content_index")),
            truthy(p.get("final")),
            event.interrupted,
            event.perception,
        )

    def _copy(self, event: Event, key: tuple[Any, ...]) -> str | None:
        seq = event.seq
        seen = self._recent.get(key)
        if seq is not None and self._seqs.get(seq) == key:
            if seen is not None and (form := _form(event)) not in seen.forms:
                seen.forms += (form,)
            return f"duplicate: {event.event_type} seq {seq} already received"
        if seen is None or self._arrivals - seen.arrival > COPY_WINDOW:
            return None
        if (
            seen.timestamp is not None
            and event.timestamp is not None
            and abs(event.timestamp - seen.timestamp) > COPY_SECONDS
        ):
            return None
        form = _form(event)
        if form in seen.forms:
            return None  # spelled alike with another seq: a new event of the same kind
        seen.forms += (form,)
        seen.arrival = self._arrivals
        if seq is not None:
            _bounded_put(self._seqs, seq, seen.key, self._memory)
        return (
            f"duplicate: {event.event_type} (role {event.role}) repeats an event "
            "already received in another spelling"
        )

    def _repeated_interruption(self, event: Event) -> str | None:
        if event.type == "replica.interrupted" and self._matching_interruption(event):
            return f"duplicate: {event.event_type} repeats an interruption already reported"
        return None

    def _matching_interruption(self, event: Event) -> bool:
        """An interruption already reported for the same speech: the same inference id, or, when
        either lacks one, no replica speech started since (and no other turn_idx). A turn_idx
        alone says nothing: echoes share one (it moves on respond), so the visitor cutting off
        two echoes of one turn is two interruptions."""
        for rec in self._interruptions:
            if event.inference_id is not None and rec.inference_id is not None:
                if event.inference_id == rec.inference_id:
                    return True
            elif rec.speaking_turn == self._speaking_turn and (
                event.turn_idx is None or rec.turn_idx is None or event.turn_idx == rec.turn_idx
            ):
                return True
        return False

    def _remember(self, event: Event, key: tuple[Any, ...]) -> None:
        seen = _Seen(key, (_form(event),), self._arrivals, event.timestamp)
        _bounded_put(self._recent, key, seen, self._memory)
        if event.seq is not None:
            _bounded_put(self._seqs, event.seq, key, self._memory)
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
                event.aliases = _INTERRUPTED_ALIASES
            self._interruptions.append(
                _Interruption(event.turn_idx, event.inference_id, self._speaking_turn)
            )


def _form(event: Event) -> tuple[str, str | None]:
    """How an event was spelled: its raw event_type and raw role."""
    role = event.properties.get("role")
    form = (event.event_type, role if isinstance(role, str) else None)
    return _FORMS.get(form, form)


# The known spellings as one shared tuple each (one is remembered per recent event).
_FORMS = {
    (event_type, role): (event_type, role)
    for event_type in KNOWN_EVENT_TYPES
    for role in (None, "pal", "replica", "user")
}


def as_message(value: Any) -> dict[str, Any] | None:
    """A received app message as the object it is: itself, or the object a JSON string of at most
    `MAX_JSON_TEXT` characters holds (as Tavus's own clients read one); None otherwise."""
    if isinstance(value, str | bytes | bytearray):
        value, _why = _parse_text(value)
    return value if isinstance(value, dict) else None


def _parse_text(message: str | bytes | bytearray) -> tuple[Any, str | None]:
    """An app message whose data is JSON text: (the parsed value, None) or (None, why not)."""
    if len(message) > MAX_JSON_TEXT:
        return (
            None,
            f"malformed: a text message of {len(message)} characters (over {MAX_JSON_TEXT})",
        )
    try:
        return json.loads(message), None
    except (ValueError, RecursionError):
        return None, "malformed: not a JSON object (a text message that is not JSON)"


def _short(value: Any) -> str:
    """A bounded, printable description of a value from the wire, for a reason."""
    if isinstance(value, str):
        return value[:80]
    return f"a {type(value).__name__}"
