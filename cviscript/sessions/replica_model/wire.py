"""Emission: numbering and spelling every event the model sends, as the chosen server vintage does.

One place decides what goes on the wire for a fact ("the replica started speaking"), so the speech,
tool and presence modules state facts and never spell events:

* every message gets the next `seq` (global, increasing), the fact's `turn_idx` and
  `inference_id`, and the clock's wall `timestamp`;
* a 2026 server says a replica fact several times: the role-specific event
  (``conversation.replica.started_speaking``) and the role-agnostic copy
  (``conversation.started_speaking``), and every replica-role message once with role ``pal`` and
  again with the legacy role ``replica``. The docs say a copy "gets the next value in the sequence"
  but clients see both forms, so the legacy copy shares its original's `seq` in odd speeches and
  has its own in even ones: every conversation of two speeches or more shows a normaliser both;
* a 2024 server says each fact once, with role ``replica``.

Every message is a fresh dict of JSON values (str, int, float, bool, None, lists and dicts of them)
that shares no dict or list with the model or with another message, so a receiver may keep it as
it is: a rehearsal records every message it receives, and a JSON round trip or a copy per message
was most of its memory. `copy` tells the receiver that the message being emitted repeats a fact
already emitted (a 2026 copy in another spelling), so a receiver that folds copies anyway (the
simulated visitor's view) can skip it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...clock import Clock

Out = Callable[[dict[str, Any]], None]

# Events whose documented form carries no `properties` at all.
_NO_PROPERTIES = frozenset(
    {
        "conversation.replica.started_speaking",
        "conversation.user.started_speaking",
        "conversation.user.stopped_speaking",
        "conversation.replica_interrupted",
    }
)

# (role, started) -> (the role-specific event_type, the role-agnostic one): one string object
# each, shared by every message rather than formatted anew.
_SPEAKING = {
    (role, started): (
        f"conversation.{role}.{verb}",
        f"conversation.{verb}",
    )
    for role in ("replica", "user")
    for started, verb in ((True, "started_speaking"), (False, "stopped_speaking"))
}


class Wire:
    def __init__(self, conversation_id: str, clock: Clock, modern: bool, out: Out):
        self.conversation_id = conversation_id
        self.clock = clock
        self.modern = modern
        self._out = out
        self.seq = 0
        self.turn = 0
        self.speeches = 0  # replica speeches started: the legacy copy's seq form alternates
        self.closed = False
        self.copy = False  # the message being emitted repeats a fact already emitted
        self._wall = self._timestamp = -1.0

    def next_turn(self) -> int:
        self.turn += 1
        return self.turn

    def send(
        self,
        event_type: str,
        properties: dict[str, Any] | None = None,
        *,
        turn_idx: int | None = None,
        inference_id: str | None = None,
        seq: int | None = None,
        copy: bool = False,
    ) -> int:
        """Emit one message; returns its seq (pass `seq` to repeat one: a copy sharing it).
        The message owns `properties`: pass a dict no one else keeps. `copy`: the message repeats
        a fact already emitted."""
        if self.closed:
            return self.seq
        if seq is None:
            self.seq += 1
            seq = self.seq
        message: dict[str, Any] = {
            "message_type": "system" if event_type.startswith("system.") else "conversation",
            "event_type": event_type,
            "conversation_id": self.conversation_id,
        }
        if properties or event_type not in _NO_PROPERTIES:
            message["properties"] = {} if properties is None else properties
        if inference_id is not None:
            message["inference_id"] = inference_id
        message["seq"] = seq
        message["turn_idx"] = self.turn if turn_idx is None else turn_idx
        wall = self.clock.wall()
        if wall != self._wall:  # messages of one instant share their timestamp object
            self._wall, self._timestamp = wall, round(wall, 6)
        message["timestamp"] = self._timestamp
        self.copy = copy
        try:
            self._out(message)
        finally:
            self.copy = False
        return seq

    # --------------------------------------------------------------------------- by vintage

    def replica_says(
        self,
        event_type: str,
        properties: dict[str, Any],
        turn_idx: int,
        inference_id: str,
        *,
        copy: bool = False,
    ) -> None:
        """A replica-role message (utterance, streaming, role-agnostic speaking): once in 2024,
        as a pal/replica pair in 2026 (the ``replica`` one a copy; both are when `copy`)."""
        if not self.modern:
            self.send(
                event_type,
                {"role": "replica", **properties},
                turn_idx=turn_idx,
                inference_id=inference_id,
            )
            return
        seq = self.send(
            event_type,
            {"role": "pal", **properties},
            turn_idx=turn_idx,
            inference_id=inference_id,
            copy=copy,
        )
        self.send(
            event_type,
            {"role": "replica", **properties},
            turn_idx=turn_idx,
            inference_id=inference_id,
            seq=seq if self.speeches % 2 else None,
            copy=True,
        )

    def speaking(
        self,
        role: str,
        started: bool,
        turn_idx: int,
        inference_id: str,
        properties: dict[str, Any] | None = None,
    ) -> None:
        """`role` ("replica" / "user") started or stopped speaking: the role-specific event, and
        in 2026 the role-agnostic copy (the replica's as a pal/replica pair)."""
        specific_type, agnostic_type = _SPEAKING[role, started]
        props = dict(properties or {})
        specific = props if role == "replica" else {}  # user.*_speaking carry no properties
        self.send(specific_type, specific, turn_idx=turn_idx, inference_id=inference_id)
        if not self.modern:
            return
        if role == "replica":
            self.replica_says(agnostic_type, props, turn_idx, inference_id, copy=True)
        else:
            self.send(
                agnostic_type,
                {"role": "user", **props},
                turn_idx=turn_idx,
                inference_id=inference_id,
                copy=True,
            )
