"""The run's trace: one ordered stream of records that every output is made from.

The engine and the runner `emit` records (state entered, interaction sent, message received, log
lines, the outcome); subscribers turn them into the console transcript, the JSONL transcript file,
the rehearsal's expectations and the simulated user's `{state: NAME}` triggers. Keeping one stream
means the console, the file and the checks can never disagree about what happened.

Record kinds and their fields (the JSONL transcript writes them as ``{"t", "ts", "kind", ...}``):

==========  =================================================================================
kind        fields
==========  =================================================================================
header      format, version, scenario, file, mode (simulated|live|replay), rehearsal, seed,
            conversation_id; `vars` (command-line overrides) when given; live runs add `url`
            (without query string) and `created` (the runner created the conversation)
state       state, from, via (transition id, or "initial"), visits
transition  id, from, to (None: stays), trigger (short description)
sent        message (the interaction exactly as sent)
received    message (the raw wire message), sender (live only)
dropped     message, reason  (malformed, duplicate, not from the replica ...); past the first
            `DROP_SAMPLE` of a reason only counted, then one summary record: reason, counts
            (per reason), summary: true
operator    name, fired (the transition id, or None: nothing could fire), state — an operator
            fired a `manual:` name
log         text, level
fidelity    code, t, assumed, live, fix, count, detail — a live run differed from the replica model
            (`cviscript.fidelity`); reported once, as it first happens
model       note, why, and as it applies tool, text, rule_line, field, replaces — the simulated
            replica chose not to do something a scenario may expect (a reply not spoken, the
            visitor not heard) or did something else instead (a tool error acknowledged)
outcome     outcome, reason, state, path, vars, duration
==========  =================================================================================

A flood (a stranger sending junk, a broken server) must not grow memory without bound, so dropped
messages are sampled by `DropSampler`: the first `DROP_SAMPLE` of each kind of reason are recorded in
full, the rest only counted, and the counts close the run as one summary record.

`t` is seconds since the run started on the run's clock; `ts` is Unix time (virtual in rehearsal,
so rehearsal transcripts are identical run after run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock

TRANSCRIPT_FORMAT = "cviscript-transcript"
TRANSCRIPT_VERSION = 1
DROP_SAMPLE = 50  # dropped messages recorded in full per kind of reason; the rest are counted
_MAX_REASON_KINDS = 32  # kinds of reason counted apart; further kinds are counted as "other"


@dataclass(slots=True)
class TraceRecord:
    t: float
    ts: float
    kind: str
    data: dict[str, Any]
    event: Any = field(default=None, compare=False)  # the normalised protocol.Event, in memory only

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "ts": round(self.ts, 6), "kind": self.kind, **self.data}


class MessageRecord(TraceRecord):
    """A ``received`` or ``dropped`` record that keeps the message (sender, reason) itself and
    builds `data` when asked. A run receives far more messages than anything else (a 2026 server
    says most facts two or three times, and every message is kept for replay), and a dict around
    each one was a tenth of a rehearsal's memory. Reads see the same fields, in the same order,
    as a record built with `emit`."""

    __slots__ = ("message", "sender", "reason")

    def __init__(
        self,
        t: float,
        ts: float,
        kind: str,
        message: Any,
        sender: str | None,
        event: Any = None,
        reason: str | None = None,
    ):
        self.t = t
        self.ts = ts
        self.kind = kind
        self.message = message
        self.sender = sender
        self.event = event
        self.reason = reason

    @property  # type: ignore[override]
    def data(self) -> dict[str, Any]:
        data = {"message": self.message}
        if self.sender is not None:
            data["sender"] = self.sender
        if self.reason is not None:
            data["reason"] = self.reason
        return data

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "ts": round(self.ts, 6), "kind": self.kind, **self.data}

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.t, self.ts, self.kind, self.message, self.sender, self.event, self.reason)
        return MessageRecord, args


Subscriber = Callable[[TraceRecord], None]


class Trace:
    """An append-only list of records with subscribers notified in order."""

    def __init__(self, clock: Clock, *, keep: bool = True):
        self.clock = clock
        self.start = clock.now()
        self.records: list[TraceRecord] = []
        self._keep = keep
        self._subscribers: list[Subscriber] = []
        # Bound once: `emit` runs several times per event.
        self._now, self._wall = clock.now, clock.wall
        self._at: tuple[float, float, float] | None = None  # (now, t, ts) of the last record

    def _stamp(self) -> tuple[float, float]:
        """(t, ts) for a record now. Records made at the same clock reading (a message and what
        the engine does about it, a copy and its original) share the same two float objects: a
        rehearsal keeps every record, and two floats each were a sixth of them."""
        now = self._now()
        at = self._at
        if at is not None and at[0] == now:
            return at[1], at[2]
        t, ts = now - self.start, self._wall()
        self._at = (now, t, ts)
        return t, ts

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def elapsed(self) -> float:
        return self.clock.now() - self.start

    def emit(self, kind: str, event: Any = None, **data: Any) -> TraceRecord:
        return self.emit_data(kind, data, event)

    def emit_data(self, kind: str, data: dict[str, Any], event: Any = None) -> TraceRecord:
        """`emit` with the fields already in a dict, which becomes the record's `data` (the
        engine's hot path builds it as a literal instead of packing keyword arguments)."""
        t, ts = self._stamp()
        rec = TraceRecord(t, ts, kind, data, event)
        if self._keep:
            self.records.append(rec)
        for fn in self._subscribers:
            fn(rec)
        return rec

    def emit_message(
        self,
        kind: str,
        message: Any,
        sender: str | None = None,
        event: Any = None,
        reason: str | None = None,
    ) -> TraceRecord:
        """A ``received`` or ``dropped`` record (`MessageRecord`): the hot path of every run."""
        t, ts = self._stamp()
        rec = MessageRecord(t, ts, kind, message, sender, event, reason)
        if self._keep:
            self.records.append(rec)
        for fn in self._subscribers:
            fn(rec)
        return rec

    def of_kind(self, kind: str) -> list[TraceRecord]:
        return [r for r in self.records if r.kind == kind]


def reason_kind(reason: str) -> str:
    """What kind of reason a drop reason is: its text up to the first colon ("malformed",
    "duplicate", "other conversation", "not from the replica" ...)."""
    return reason.split(":", 1)[0][:60]


class DropSampler:
    """Decides which dropped messages are recorded in full, and counts all of them."""

    def __init__(self, sample: int = DROP_SAMPLE):
        self.sample = sample
        self.counts: Counter[str] = Counter()  # every drop, by kind of reason
        self.unrecorded = 0  # drops past the sample, counted only

    def keep(self, reason: str) -> bool:
        """Count one drop; True when it is still within its kind's sample (record it)."""
        kind = reason_kind(reason)
        if kind not in self.counts and len(self.counts) >= _MAX_REASON_KINDS:
            kind = "other"
        self.counts[kind] += 1
        if self.counts[kind] <= self.sample:
            return True
        self.unrecorded += 1
        return False

    def summary(self) -> dict[str, Any] | None:
        """The summary record's fields, or None when every drop was recorded."""
        if not self.unrecorded:
            return None
        counts = dict(self.counts.most_common())
        parts = ", ".join(f"{kind}: {n}" for kind, n in counts.items())
        return {
            "reason": f"{self.unrecorded} more dropped messages were counted, not recorded "
            f"(all drops by reason: {parts})",
            "counts": counts,
            "summary": True,
        }
