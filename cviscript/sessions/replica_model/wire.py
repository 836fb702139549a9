"""Emission: numbering and spelling every event the model sends, as the chosen server vintage does.

One place decides what goes on the wire for a fact ("the replica started speaking"), so the speech,
tool and presence modules state facts and never spell events:

* every message gets the next `seq` (global, increasing), the fact's `turn_idx` and
  `inference_id`, and the clock's wall `timestamp`;
* a 2026 server says a replica fact several times: the role-specific event
  (``conversation.replica.started_speaking``) and the role-agnostic copy
  (``conversation.started_speaking``), and every replica-role message once with role ``pal`` and
  again with the legacy role ``replica``. The docs say a copy "gets the next value in the sequence"
  but clients see both forms, so the legacy copy shares its original's `seq` on odd turns and has
  its own on even turns: every conversation of two turns or more shows a normaliser both;
* a 2024 server says each fact once, with role ``replica``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...clock import Clock
from ...protocol import server_event

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


class Wire:
    def __init__(self, conversation_id: str, clock: Clock, modern: bool, out: Out):
        self.conversation_id = conversation_id
        self.clock = clock
        self.modern = modern
        self._out = out
        self.seq = 0
        self.turn = 0
        self.closed = False

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
    ) -> int:
        """Emit one message; returns its seq (pass `seq` to repeat one: a copy sharing it)."""
        if self.closed:
            return self.seq
        if seq is None:
            self.seq += 1
            seq = self.seq
        message = server_event(
            event_type,
            self.conversation_id,
            properties,
            seq=seq,
            turn_idx=self.turn if turn_idx is None else turn_idx,
            inference_id=inference_id,
            timestamp=round(self.clock.wall(), 6),
        )
        if event_type in _NO_PROPERTIES and not message["properties"]:
            del message["properties"]
        self._out(message)
        return seq

    # --------------------------------------------------------------------------- by vintage

    def replica_says(
        self, event_type: str, properties: dict[str, Any], turn_idx: int, inference_id: str
    ) -> None:
        """A replica-role message (utterance, streaming, role-agnostic speaking): once in 2024,
        as a pal/replica pair in 2026."""
        if not self.modern:
            self.send(
                event_type,
                {"role": "replica", **properties},
                turn_idx=turn_idx,
                inference_id=inference_id,
            )
            return
        seq = self.send(
            event_type, {"role": "pal", **properties}, turn_idx=turn_idx, inference_id=inference_id
        )
        self.send(
            event_type,
            {"role": "replica", **properties},
            turn_idx=turn_idx,
            inference_id=inference_id,
            seq=seq if turn_idx % 2 else None,
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
        verb = "started_speaking" if started else "stopped_speaking"
        props = dict(properties or {})
        specific = props if role == "replica" else {}  # user.*_speaking carry no properties
        self.send(
            f"conversation.{role}.{verb}", specific, turn_idx=turn_idx, inference_id=inference_id
        )
        if not self.modern:
            return
        if role == "replica":
            self.replica_says(f"conversation.{verb}", props, turn_idx, inference_id)
        else:
            self.send(
                f"conversation.{verb}",
                {"role": "user", **props},
                turn_idx=turn_idx,
                inference_id=inference_id,
            )
