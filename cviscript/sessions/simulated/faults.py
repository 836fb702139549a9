"""Seeded network misbehaviour between the simulated replica and the runner (`faults:`).

A real data channel delays, duplicates, reorders and loses app-messages; recent Tavus servers put a
global `seq` on every event precisely so a client can undo reordering and spot duplicates
(protocol.md). This layer sits between what the replica *emits* and what the session *delivers*, so
a rehearsal can prove that a scenario survives a bad network. The simulated user is in the room,
not behind the network: it reacts to emitted events, never to delivered ones.

Every random choice comes from one `random.Random` seeded with the rehearsal's seed, drawn in
emission order, so the same seed gives the same delivery byte for byte and another seed another one.
A fault never changes a message: a duplicate carries the same `seq`, a reordered event keeps its
original `seq` (that is what lets the runner put it back in place).

Every fault is reported to `report` (the run's trace: a ``fault`` record naming the fault, the
event and its `seq`), so it shows in the case that suffered it, under its seed, and never as a
warning on stderr that ``-q`` cannot hide and that names no case.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from ...language.model import Faults
from ...protocol import Event

REORDER_MAX_HOLD = 0.5  # seconds a held-back event waits for a successor before it goes anyway

Later = Callable[..., Any]  # (delay, callback, *args) -> handle with .cancel()
Report = Callable[..., Any]  # (kind, **data): `Trace.emit`


def _no_report(kind: str, **data: Any) -> None:
    """Where faults go when no trace is attached (a model used on its own, in a test)."""


class FaultyLink:
    """Delivers emitted messages through the configured faults.

    `later` schedules on the run's clock (the replica passes its tracked scheduler so that closing
    the session cancels deliveries in flight); `deliver` hands one message to the session's sink.
    `rng` is a generator or the seed of one, made when a random fault first needs it: most
    rehearsals have none, and a generator's state is 2.5 KB of each conversation.
    """

    def __init__(
        self,
        faults: Faults,
        rng: random.Random | int | None,
        later: Later,
        deliver: Callable[[Any], None],
    ):
        self.faults = faults
        self._rng = rng if isinstance(rng, random.Random) else None
        self._seed = None if isinstance(rng, random.Random) else rng
        self._later = later
        self._deliver = deliver
        self._held: tuple[Any, bool] | None = None
        self._held_handle: Any = None
        # What happened, by seq, for inspection and tests.
        self.dropped: list[Any] = []
        self.duplicated: list[Any] = []
        self.reordered: list[Any] = []
        self.report: Report = _no_report

    def _fault(self, fault: str, message: dict[str, Any], **extra: Any) -> None:
        self.report(
            "fault",
            fault=fault,
            event_type=message.get("event_type"),
            seq=message.get("seq"),
            **extra,
        )

    def applies_to(self, event: Event | None) -> bool:
        only = self.faults.only
        if not only:
            return True
        return event is not None and any(event.answers_to(name) for name in only)

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng

    def submit(self, message: dict[str, Any], event: Event | None) -> None:
        """Send one emitted message on its way (now or later, once, twice or never)."""
        f = self.faults
        applies = self.applies_to(event)
        seq = message.get("seq")
        if applies and f.drop > 0 and self.rng.random() < f.drop:
            self.dropped.append(seq)
            self._fault("drop", message)
            return
        delay = 0.0
        if applies:
            delay = f.delay + (self.rng.uniform(0.0, f.jitter) if f.jitter > 0 else 0.0)
        twice = applies and f.duplicate > 0 and self.rng.random() < f.duplicate
        if twice:
            self.duplicated.append(seq)
            self._fault("duplicate", message)
        held = self._take_held()
        if held is None and applies and f.reorder > 0 and self.rng.random() < f.reorder:
            self.reordered.append(seq)
            self._fault("reorder", message)
            self._held = (message, twice)
            # Normally released right behind the next event; never held forever.
            self._held_handle = self._later(delay + REORDER_MAX_HOLD, self._release_held)
            return
        self._schedule(delay, message, twice)
        if held is not None:  # the held-back event goes right behind this one
            self._schedule(delay, *held)

    def _schedule(self, delay: float, message: Any, twice: bool) -> None:
        self._later(delay, self._deliver, message)
        if twice:  # a second message on the wire, not the same object
            self._later(delay, self._deliver, json.loads(json.dumps(message)))

    def _take_held(self) -> tuple[Any, bool] | None:
        held, self._held = self._held, None
        if self._held_handle is not None:
            self._held_handle.cancel()
            self._held_handle = None
        return held

    def _release_held(self) -> None:
        self._held_handle = None
        held, self._held = self._held, None
        if held is not None:
            self._schedule(0.0, *held)
