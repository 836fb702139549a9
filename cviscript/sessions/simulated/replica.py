"""The built-in simulated replica: a `Session` that behaves like a Tavus replica, on a virtual clock.

A rehearsal means something only if a scenario that passes it behaves the same against a real
replica, so this follows protocol.md and the rehearsal contract (scenario-language.md):

* Speech — a text echo after `echo_latency`, a persona reply after `reply_latency`, an audio echo
  once its `done` chunk arrives — goes `replica.started_speaking`, the replica `utterance` holding
  the whole text (Tavus sends it as speaking *starts*), then after a speaking time that follows the
  text's length (`words_per_minute`, at least `MIN_SPEECH`), or the audio's own duration,
  `replica.stopped_speaking` with `duration` and `interrupted: false`. Speech that becomes ready
  while the replica is speaking waits behind it, first ready first spoken.
* `interrupt` while speaking: `replica.stopped_speaking` with `interrupted: true` and the time spoken
  so far, at once; everything not yet spoken (queued, still in its latency, half-received audio) is
  dropped, as Tavus cancels the inference. While silent it drops the same and emits nothing.
* `respond`, and the simulated visitor's speech, go through the persona (full pipeline only: an
  echo-mode persona bypasses the LLM, so `respond` is ignored and user speech gets no answer). A
  persona tool call emits `conversation.tool_call` (arguments as a JSON string, a `tool_call_id`)
  and its reply waits for the matching `tool_result`.
* Context and sensitivity changes are accepted silently and kept in `context`; anything else is kept
  in `ignored` with a reason, never an error. An interaction for another `conversation_id` is
  ignored, as a real conversation would never see it.

Every emitted event is built by `protocol.server_event` and carries `seq` (1, 2, 3, ... in emission
order), `turn_idx` (a new turn for each replica speech, tool call and visitor utterance),
`inference_id` on replica speech and tool calls, and the virtual wall `timestamp`. Delivery to the
sink is always scheduled on the clock, never synchronous inside `send()`, and goes through the
seeded `faults.FaultyLink`. Ids come from counters, so the same rehearsal and seed give the same
messages byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import random
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import protocol
from ...clock import Clock
from ...language.model import Rehearsal
from ...trace import TraceRecord
from ..base import Session, SessionSink
from .faults import FaultyLink
from .persona import Answer, Persona
from .user import MIN_SPEECH, SimulatedUser, speaking_time

__all__ = ["MIN_SPEECH", "SimulatedReplica"]


def _interned(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {sys.intern(k): v for k, v in pairs}


def _wire(message: dict[str, Any]) -> dict[str, Any]:
    """`message` as a JSON channel delivers it (a JSON round trip). Keys are interned: every
    message repeats the same dozen, and a rehearsal keeps every message it exchanged."""
    return json.loads(json.dumps(message), object_pairs_hook=_interned)


class _Timer:
    """A clock handle the replica keeps track of, so `close()` can cancel everything in flight."""

    __slots__ = ("handle", "key", "owner")

    def __init__(self, owner: dict[int, _Timer], key: int):
        self.owner = owner
        self.key = key
        self.handle: Any = None

    def cancel(self) -> None:
        self.owner.pop(self.key, None)
        if self.handle is not None:
            self.handle.cancel()


@dataclass(slots=True)
class _Speech:
    text: str
    length: float  # seconds of speaking
    inference_id: str
    turn_idx: int | None = None  # preset for a reply continuing a tool call's turn
    started_at: float = 0.0
    stop: _Timer | None = None


@dataclass(slots=True)
class _ToolCall:
    answer: Answer
    inference_id: str
    turn_idx: int


class SimulatedReplica(Session):
    def __init__(
        self,
        clock: Clock,
        rehearsal: Rehearsal | None = None,
        *,
        conversation_id: str = "c-sim",
        seed: int | None = None,
    ):
        self.clock = clock
        self.rehearsal = rehearsal or Rehearsal(name="simulated")
        self.settings = self.rehearsal.replica
        self.conversation_id = conversation_id
        self.seed = self.rehearsal.seed if seed is None else seed
        self.persona = Persona(self.rehearsal.persona, self.settings.default_reply)
        self.user = SimulatedUser(self.rehearsal.user, self, self.settings.user_words_per_minute)
        self.link = FaultyLink(
            self.rehearsal.faults, random.Random(self.seed), self.later, self._deliver
        )
        self._normalizer = protocol.Normalizer(conversation_id)
        self._sink: SessionSink | None = None
        self._closed = False
        self._timers: dict[int, _Timer] = {}
        self._timer_keys = itertools.count()
        self._ids: dict[str, itertools.count[int]] = {}
        self._seq = 0
        self._turn = 0
        self._speaking: _Speech | None = None
        self._queue: deque[_Speech] = deque()
        self._pending: dict[int, _Timer] = {}  # speech or tool calls still in their latency
        self._awaiting: dict[str, _ToolCall] = {}  # tool_call_id -> reply waiting for its result
        self._audio: dict[str | None, list[int]] = {}  # inference_id -> [pcm bytes, sample rate]
        # For inspection (tests, debugging): everything that came in and went out.
        self.received: list[Any] = []  # every message given to send()
        self.context: list[protocol.Interaction] = []  # context and sensitivity interactions
        self.tool_results: list[dict[str, Any]] = []
        self.ignored: list[tuple[Any, str]] = []  # (message, reason)
        self.emitted: list[dict[str, Any]] = []  # every event, as emitted (before faults)
        self.closed_reason: str | None = None

    # ------------------------------------------------------------------------ session interface

    def start(self, sink: SessionSink) -> None:
        if self._sink is not None or self._closed:
            return
        self._sink = sink
        self.later(self.settings.join_delay, self.emit, "system.replica_joined")
        if self.rehearsal.faults.disconnect is not None:
            self.later(self.rehearsal.faults.disconnect, self._disconnect)
        self.user.start()

    def send(self, message: dict[str, Any]) -> None:
        if self._closed:
            self.ignored.append((message, "the session is closed"))
            return
        self.received.append(message)
        ia = protocol.parse_interaction(message)
        if ia is None:
            self.ignored.append((message, "not an interaction (no event_type)"))
            return
        if ia.conversation_id is not None and ia.conversation_id != self.conversation_id:
            self.ignored.append((message, f"for conversation {ia.conversation_id}"))
            return
        handler: Callable[[protocol.Interaction], None] | None = {
            "echo": self._on_echo,
            "echo_audio": self._on_echo_audio,
            "respond": self._on_respond,
            "interrupt": lambda _ia: self._interrupt(),
            "overwrite_context": self.context.append,
            "append_context": self.context.append,
            "sensitivity": self.context.append,
            "tool_result": self._on_tool_result,
        }.get(ia.kind)
        if handler is None:
            self.ignored.append((message, f"unknown interaction {ia.event_type}"))
            return
        handler(ia)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.closed_reason = self.closed_reason or "closed"
        for timer in list(self._timers.values()):
            timer.cancel()

    def observe(self, record: TraceRecord) -> None:
        if not self._closed and record.kind == "state":
            name = record.data.get("state")
            if isinstance(name, str):
                self.user.on_state(name)

    # --------------------------------------------------------------------- the stage (for user)

    def later(self, delay: float, callback: Callable[..., Any], *args: Any) -> _Timer:
        """`clock.call_later`, tracked: nothing scheduled here runs after `close()`."""
        timer = _Timer(self._timers, next(self._timer_keys))

        def run() -> None:
            self._timers.pop(timer.key, None)
            if not self._closed:
                callback(*args)

        timer.handle = self.clock.call_later(delay, run)
        self._timers[timer.key] = timer
        return timer

    def next_id(self, prefix: str) -> str:
        counter = self._ids.setdefault(prefix, itertools.count(1))
        return f"{prefix}-{next(counter)}"

    def replica_busy(self) -> bool:
        """Speaking, or something queued or in its latency (the visitor's `say` waits for it)."""
        return self._speaking is not None or bool(self._queue) or bool(self._pending)

    @property
    def speaking(self) -> bool:
        return self._speaking is not None

    def emit(
        self,
        event_type: str,
        properties: dict[str, Any] | None = None,
        *,
        new_turn: bool = False,
        inference_id: str | None = None,
        turn_idx: int | None = None,
    ) -> None:
        """Emit one event: number it, hand it to the faulty link and show it to the visitor."""
        if self._closed:
            return
        if new_turn:
            self._turn += 1
        self._seq += 1
        message = protocol.server_event(
            event_type,
            self.conversation_id,
            properties,
            seq=self._seq,
            turn_idx=self._turn if turn_idx is None else turn_idx,
            inference_id=inference_id,
            timestamp=self.clock.wall(),
        )
        wire = _wire(message)
        self.emitted.append(wire)
        event, _reason = self._normalizer.feed(wire)
        self.link.submit(wire, event)
        if event is not None:
            self.user.on_event(event)

    def cut_off(self) -> None:
        """The visitor talks over the replica."""
        self._interrupt()

    def heard(self, text: str, event: dict[str, Any]) -> None:
        """The visitor finished an utterance: the persona answers it (full pipeline only)."""
        self._think(text, event)

    # ------------------------------------------------------------------------------ delivering

    def _deliver(self, message: dict[str, Any]) -> None:
        if self._sink is not None and not self._closed:
            # `message` is already a JSON round trip of what was emitted, and nothing downstream
            # changes a received message, so it is delivered as it is (copying it again doubled
            # the memory of a rehearsal); a duplicate is a copy of its own (see `faults`).
            self._sink.on_message(message)

    def _disconnect(self) -> None:
        self.closed_reason = "disconnected"
        sink = self._sink
        self.close()
        if sink is not None:
            sink.on_closed("disconnected")

    # -------------------------------------------------------------------------- interactions

    def _on_echo(self, ia: protocol.Interaction) -> None:
        text = ia.properties.get("text")
        text = text if isinstance(text, str) else ""
        length = speaking_time(text, self.settings.words_per_minute)
        self._request(text, length, self.settings.echo_latency)

    def _on_echo_audio(self, ia: protocol.Interaction) -> None:
        props = ia.properties
        inference_id = props.get("inference_id") or ia.message.get("inference_id")
        key = inference_id if isinstance(inference_id, str) else None
        audio = props.get("audio") or ""
        try:
            size = len(base64.b64decode(audio, validate=True)) if isinstance(audio, str) else -1
        except (binascii.Error, ValueError):
            size = -1
        if size < 0:
            self.ignored.append((ia.message, "audio echo chunk is not base64"))
            return
        acc = self._audio.setdefault(key, [0, props["sample_rate"]])
        acc[0] += size
        if props["done"]:
            pcm_bytes, rate = self._audio.pop(key)
            length = pcm_bytes / 2 / rate if rate > 0 else 0.0
            self._request("", length, self.settings.echo_latency, key)

    def _on_respond(self, ia: protocol.Interaction) -> None:
        text = ia.properties.get("text")
        text = text if isinstance(text, str) else ""
        if self.settings.pipeline == "echo":
            self.ignored.append((ia.message, "respond in an echo pipeline (no LLM)"))
            return
        self._think(text, {"type": "respond", "text": text})

    def _on_tool_result(self, ia: protocol.Interaction) -> None:
        call_id = ia.properties.get("tool_call_id")
        record = {
            "tool_call_id": call_id,
            "output": ia.properties.get("output"),
            "status": ia.properties.get("status", "success"),
        }
        self.tool_results.append(record)
        if call_id is None and len(self._awaiting) == 1:
            call_id = next(iter(self._awaiting))  # an answer without an id, to the one open call
        call = self._awaiting.pop(call_id, None) if isinstance(call_id, str) else None
        record["answered"] = call is not None
        if call is None:
            self.ignored.append((ia.message, f"tool_result for unknown tool call {call_id!r}"))
            return
        text = self.persona.after_tool(call.answer, record["output"])
        if text:
            length = speaking_time(text, self.settings.words_per_minute)
            self._request(
                text, length, self.settings.reply_latency, call.inference_id, call.turn_idx
            )

    # ---------------------------------------------------------------------------- the persona

    def _think(self, text: str, event: dict[str, Any]) -> None:
        if self.settings.pipeline == "echo":
            return
        answer = self.persona.answer(text, event)
        if answer is None:
            return
        latency = self.settings.reply_latency
        if answer.tool_name is not None:
            key = next(self._timer_keys)
            self._pending[key] = self.later(latency, self._call_tool, key, answer)
        elif answer.say:
            length = speaking_time(answer.say, self.settings.words_per_minute)
            self._request(answer.say, length, latency)

    def _call_tool(self, key: int, answer: Answer) -> None:
        self._pending.pop(key, None)
        call_id = self.next_id("call")
        inference_id = self.next_id("inf")
        self.emit(
            "conversation.tool_call",
            {
                "name": answer.tool_name,
                "arguments": json.dumps(answer.tool_arguments or {}, sort_keys=True),
                "tool_call_id": call_id,
            },
            new_turn=True,
            inference_id=inference_id,
        )
        self._awaiting[call_id] = _ToolCall(answer, inference_id, self._turn)
        self._settle()

    # ------------------------------------------------------------------------------- speaking

    def _request(
        self,
        text: str,
        length: float,
        latency: float,
        inference_id: str | None = None,
        turn_idx: int | None = None,
    ) -> None:
        speech = _Speech(text, length, inference_id or self.next_id("inf"), turn_idx)
        key = next(self._timer_keys)
        self._pending[key] = self.later(latency, self._ready, key, speech)

    def _ready(self, key: int, speech: _Speech) -> None:
        self._pending.pop(key, None)
        self._queue.append(speech)
        self._settle()

    def _settle(self) -> None:
        """Start the next queued speech if the replica is free; tell the visitor when all is quiet."""
        if self._speaking is None and self._queue:
            self._start(self._queue.popleft())
        if not self.replica_busy():
            self.user.pump()

    def _start(self, speech: _Speech) -> None:
        self._speaking = speech
        speech.started_at = self.clock.now()
        if speech.turn_idx is None:
            self._turn += 1
            speech.turn_idx = self._turn
        ids = {"inference_id": speech.inference_id, "turn_idx": speech.turn_idx}
        self.emit("conversation.replica.started_speaking", **ids)
        self.emit("conversation.utterance", {"role": "replica", "speech": speech.text}, **ids)
        speech.stop = self.later(speech.length, self._finish, speech)

    def _finish(self, speech: _Speech) -> None:
        self._speaking = None
        self.emit(
            "conversation.replica.stopped_speaking",
            {"duration": round(speech.length, 3), "interrupted": False},
            inference_id=speech.inference_id,
            turn_idx=speech.turn_idx,
        )
        self._settle()

    def _interrupt(self) -> None:
        for timer in self._pending.values():
            timer.cancel()
        self._pending.clear()
        self._queue.clear()
        self._audio.clear()
        speech, self._speaking = self._speaking, None
        if speech is not None:
            if speech.stop is not None:
                speech.stop.cancel()
            spoken = self.clock.now() - speech.started_at
            self.emit(
                "conversation.replica.stopped_speaking",
                {"duration": round(spoken, 3), "interrupted": True},
                inference_id=speech.inference_id,
                turn_idx=speech.turn_idx,
            )
        self._settle()
