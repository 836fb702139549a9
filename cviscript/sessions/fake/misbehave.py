"""The fake room's replica misbehaving like a real one: every way the live self-check detects.

The replica model is what rehearsal assumes; a real Tavus server may differ from it. These
settings make the fake room's replica differ in exactly those ways, so each detector of
`cviscript.fidelity` is tested end to end through the real live path (Daily session, runner,
trace, transcript) — and, with none set, the room is the model and the self-check must stay quiet.

``CVISCRIPT_FAKE_DAILY='{"misbehave": {...}}'`` (also inside a live rehearsal's fake rooms):

===================  ================================================================================
key                  the fake replica then ...
===================  ================================================================================
utterances: false    sends no ``conversation.utterance`` at all (closed captions off)
respond_echo: B      sends a client's ``conversation.respond`` back as a user utterance (true) or
                     never (false), whatever the model's ``respond_echo`` says
tool_filler: TEXT    speaks TEXT as soon as it calls a tool (before the result)
tool_result_silent   never speaks after a ``tool_result`` (``on_resolve: fire_and_forget``)
rename: {OLD: NEW}   sends event type OLD spelt NEW (a spelling the normaliser does not know)
copy_lag: N          holds every copy (a 2026 stream's second spelling) back behind N messages
replica_first: true  is in the room before the client joins, and never says system.replica_joined
shutdown_reason: R   ends with shutdown_reason R (with ``shutdown_after``)
===================  ================================================================================

It acts on the model's output (`out`) and on what the client sends (`hear`), never inside the
model: the model stays the one thing rehearsal runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..replica_model.settings import speaking_time
from ..replica_model.speech import Speech

COPY_FLUSH = 2.5  # room seconds a held copy waits at most when no further messages come


@dataclass(slots=True)
class Misbehaviour:
    utterances: bool = True
    respond_echo: bool | None = None  # None: as the model does
    tool_filler: str | None = None
    tool_result_silent: bool = False
    rename: dict[str, str] = field(default_factory=dict)
    copy_lag: int = 0
    replica_first: bool = False
    shutdown_reason: str | None = None

    @classmethod
    def from_spec(cls, spec: Any, where: str = "misbehave") -> Misbehaviour:
        """From the JSON object of ``CVISCRIPT_FAKE_DAILY``'s ``misbehave`` key; ValueError
        naming the key for anything else."""
        if not isinstance(spec, dict):
            raise ValueError(f"{where} must be a JSON object")
        out = cls()
        for key, value in spec.items():
            if key in ("utterances", "respond_echo", "tool_result_silent", "replica_first"):
                if not isinstance(value, bool):
                    raise ValueError(f"{where}.{key} must be true or false")
                setattr(out, key, value)
            elif key in ("tool_filler", "shutdown_reason"):
                if not isinstance(value, str) or not value:
                    raise ValueError(f"{where}.{key} must be a non-empty string")
                setattr(out, key, value)
            elif key == "rename":
                if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
                ):
                    raise ValueError(f"{where}.rename must map event types to event types")
                out.rename = dict(value)
            elif key == "copy_lag":
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000:
                    raise ValueError(f"{where}.copy_lag must be a number of messages (0-1000)")
                out.copy_lag = value
            else:
                raise ValueError(f"{where}: unknown setting {key!r}")
        return out

    @property
    def any(self) -> bool:
        return self != Misbehaviour()


class Misbehaving:
    """Between the model and the room: `out` filters what the model emits, `hear` what the
    client sends. `model` is set once the replica is in the room."""

    def __init__(self, how: Misbehaviour, deliver: Callable[[dict[str, Any]], None]):
        self.how = how
        self._deliver = deliver
        self.model: Any = None
        # the model cannot echo a respond itself (a model without the respond_echo setting)
        self.emulate_echo = False
        self._held: deque[list[Any]] = deque()  # [messages still to pass, message, held at]

    # the model's output
    def out(self, message: dict[str, Any]) -> None:
        how = self.how
        event_type = message.get("event_type")
        if not how.utterances and event_type == "conversation.utterance":
            return
        if event_type in how.rename:
            message["event_type"] = how.rename[event_type]
        copy = self.model is not None and self.model.wire.copy
        if how.copy_lag and copy:
            self._held.append([how.copy_lag, message, self.model.clock.now()])
            self.model.later(COPY_FLUSH, self._flush_one, message)
            return
        self._deliver(message)
        self._count_down()
        if event_type == "conversation.tool_call" and how.tool_filler and self.model is not None:
            self._filler(message)

    def _count_down(self) -> None:
        for held in self._held:
            held[0] -= 1
        while self._held and self._held[0][0] <= 0:
            self._late(self._held.popleft())

    def _flush_one(self, message: dict[str, Any]) -> None:
        for held in list(self._held):
            if held[1] is message:
                self._held.remove(held)
                self._late(held)

    def _late(self, held: list[Any]) -> None:
        """A held copy goes out, stamped as late as it is (room seconds since it was held)."""
        _, message, since = held
        stamp = message.get("timestamp")
        if isinstance(stamp, int | float):
            message["timestamp"] = round(stamp + self.model.clock.now() - since, 6)
        self._deliver(message)

    def _filler(self, call: dict[str, Any]) -> None:
        model, text = self.model, self.how.tool_filler or ""
        s = model.settings
        inference_id = call.get("inference_id") or model.next_id("inf")
        speech = Speech(text, speaking_time(text, s.words_per_minute, s.min_speech), inference_id)
        model.speaker.request(speech, 0.0)

    # the client's interactions; False: the model does not hear it
    def hear(self, message: Any) -> bool:
        if not isinstance(message, dict) or self.model is None:
            return True
        event_type = message.get("event_type")
        props = message.get("properties") if isinstance(message.get("properties"), dict) else {}
        if event_type == "conversation.respond" and self.emulate_echo:
            text = props.get("text")
            if isinstance(text, str) and self.model.joined and self.model.ended is None:
                self.model.wire.send(
                    "conversation.utterance",
                    {"role": "user", "speech": text},
                    turn_idx=self.model.wire.turn + 1,
                    inference_id=self.model.next_id("echo"),
                )
        return not (event_type == "conversation.tool_result" and self.how.tool_result_silent)
