"""Replica settings measured from live transcripts: `calibrate` and its `Calibration`.

A recording of a live conversation (``run --transcript``, ``rehearse --live --transcripts``) is
evidence of how *this* persona's replica behaves. `calibrate(transcripts)` reads each one's
records in order — the raw messages as they arrived, normalised afresh, and what the client sent —
and measures the figures the replica model has settings for:

* the server's **vintage** (2026: pal/replica pairs, role-agnostic copies, streaming, heartbeats)
  and its **copy pattern** (which copies, sharing a ``seq`` or not), and the **folding window**
  the stream needs (the widest gap between a fact and its copy, in messages and seconds);
* **respond echo**: whether a ``conversation.respond`` came back as a user utterance;
* **greeting streaming**: whether the first turn (spoken before the client said anything) was
  streamed as ``conversation.utterance.streaming``;
* **reply latency** (the visitor's last word, ``user.stopped_speaking``, to the replica's first,
  ``replica.started_speaking``) and **echo latency** (an echo sent to the replica starting), as
  medians with their spread;
* **speaking rate** (words of each finished replica turn over its duration);
* **heartbeat** (seconds between ``system.replica_present``);
* **filler behaviour** per tool (a turn as the tool was called, a turn after its result);
* **join order** (which side of the client's join the replica came in on).

Each `Figure` says how many turns (or events) it rests on; a figure with fewer than its minimum is
refused, not guessed (`Figure.value` None, with the reason). Times are on the run's clock (the
record's ``t``), the clock the model's settings are in.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..protocol import KNOWN_EVENT_TYPES, ROLE_AGNOSTIC, Event, Normalizer
from ..protocol.normalize import COPY_SECONDS, COPY_WINDOW
from .detectors import copy_key

MIN_NUMBERS = 3  # samples a number (latency, rate, heartbeat) needs
MIN_FACTS = 2  # cases a yes/no fact (respond echo, greeting streaming, filler) needs
_COPY_MEMORY = 2048  # facts remembered for pairing copies
_FILLER_EARLY = 2.0  # seconds before a tool call a filler of its inference may start
_WORDS_MIN = 3  # a turn needs this many words to measure a speaking rate
_GREETING_BEFORE = 0.25  # s: a first turn begun this soon after the client first spoke is no reply


class CalibrationError(ValueError):
    """Nothing could be measured: every figure rests on too little."""


@dataclass(slots=True)
class Figure:
    key: str  # the replica setting it calibrates (or a name for a fact with no setting yet)
    value: Any  # None: refused
    samples: int  # the turns / events it rests on
    needed: int
    unit: str = ""
    spread: str = ""  # e.g. "p10-p90 0.71-1.32 s"
    note: str = ""  # how it was measured, or why it was refused

    @property
    def known(self) -> bool:
        return self.value is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "samples": self.samples,
            "needed": self.needed,
            "spread": self.spread or None,
            "note": self.note,
        }


@dataclass(slots=True)
class Calibration:
    transcripts: list[str]
    figures: list[Figure] = field(default_factory=list)

    def figure(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)

    def settings(self, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """The measured figures as replica settings (only `keys`, when given)."""
        allowed = set(keys) if keys is not None else None
        return {
            f.key: f.value
            for f in self.figures
            if f.known and (allowed is None or f.key in allowed)
        }

    def to_json(self) -> dict[str, Any]:
        return {"transcripts": self.transcripts, "figures": [f.to_json() for f in self.figures]}


# ------------------------------------------------------------------------------ one recording


@dataclass(slots=True)
class _Turn:
    t: float
    inference_id: str | None
    text: str | None = None
    end: float | None = None
    duration: float | None = None
    interrupted: bool = False
    streamed: bool = False
    greeting: bool = False


@dataclass(slots=True)
class _Evidence:
    """What every transcript adds up to (samples, counts)."""

    replica_turns: int = 0
    modern_signs: int = 0  # pal roles, role-agnostic copies, streaming, heartbeats
    legacy_signs: int = 0  # conversation.replica_interrupted
    copies: int = 0
    copies_sharing_seq: int = 0
    copy_kinds: dict[str, int] = field(default_factory=dict)
    widest_messages: int = 0
    widest_seconds: float = 0.0
    responds_answered: int = 0
    responds_echoed: int = 0
    greetings: int = 0
    greetings_streamed: int = 0
    reply_latencies: list[float] = field(default_factory=list)
    echo_latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    heartbeats: list[float] = field(default_factory=list)
    tools: dict[str, list[int]] = field(default_factory=dict)  # name -> [calls, fillers, spoken]
    filler_texts: list[str] = field(default_factory=list)
    replica_first: list[bool] = field(default_factory=list)
    unknown_types: set[str] = field(default_factory=set)


class _Reader:
    """Reads one transcript's records into the evidence."""

    def __init__(self, header: dict[str, Any], ev: _Evidence):
        self.ev = ev
        cid = header.get("conversation_id")
        self.normalizer = Normalizer(cid if isinstance(cid, str) and cid else None)
        self.turns: list[_Turn] = []
        self.current: _Turn | None = None
        self.client_spoke: float | None = None  # when the first echo or respond was sent
        self.user_stopped: float | None = None  # a visitor turn ended; the reply not yet begun
        self.echo_sent: float | None = None
        self.responds: list[list[Any]] = []  # [t, words, answered, echoed]
        self.presence: list[float] = []
        self.calls: list[dict[str, Any]] = []
        self.arrivals = 0
        self.facts: dict[tuple[Any, ...], tuple[tuple[str, Any], int, float, Any]] = {}

    def record(self, rec: dict[str, Any]) -> None:
        kind, t = rec.get("kind"), rec.get("t")
        t = float(t) if isinstance(t, int | float) else 0.0
        if kind == "received" and isinstance(rec.get("message"), dict):
            self.received(rec["message"], t)
        elif kind == "sent" and isinstance(rec.get("message"), dict):
            self.sent(rec["message"], t)
        elif kind == "log" and isinstance(rec.get("replica_first"), bool):
            self.ev.replica_first.append(rec["replica_first"])

    # -- what arrived
    def received(self, message: dict[str, Any], t: float) -> None:
        ev = self.ev
        self.arrivals += 1
        event_type = message.get("event_type")
        props = message.get("properties") if isinstance(message.get("properties"), dict) else {}
        role = props.get("role")
        if (
            role == "pal"
            or event_type in ROLE_AGNOSTIC
            or event_type
            in (
                "conversation.utterance.streaming",
                "system.replica_present",
                "system.pal_present",
            )
        ):
            ev.modern_signs += 1
        if event_type == "conversation.replica_interrupted":
            ev.legacy_signs += 1
        known = not isinstance(event_type, str) or event_type in KNOWN_EVENT_TYPES
        if not known and len(ev.unknown_types) < 32:
            ev.unknown_types.add(event_type[:80])
        self._copies(message, t)
        event, _ = self.normalizer.feed(message)
        if event is not None:
            self.event(event, t)

    def _copies(self, message: dict[str, Any], t: float) -> None:
        """Pair every spelling of a fact with its first, however far apart (a bounded memory)."""
        probe, _ = Normalizer().feed(message)
        if probe is None:
            return
        key = copy_key(probe)
        if key is None:
            return
        form = (probe.event_type, probe.properties.get("role"))
        first = self.facts.get(key)
        if first is None:
            self.facts[key] = (form, self.arrivals, t, probe.seq)
            if len(self.facts) > _COPY_MEMORY:
                del self.facts[next(iter(self.facts))]
            return
        if first[0] == form and (probe.seq is None or probe.seq != first[3]):
            return  # spelled alike with its own seq: a new event of the same kind
        ev = self.ev
        ev.copies += 1
        if probe.seq is not None and probe.seq == first[3]:
            ev.copies_sharing_seq += 1
        kind = "role-agnostic" if probe.event_type in ROLE_AGNOSTIC else (
            "pal/replica pair" if form[0] == first[0][0] else "other spelling"
        )  # fmt: skip
        if first[0] == form:
            kind = "delivered twice"
        ev.copy_kinds[kind] = ev.copy_kinds.get(kind, 0) + 1
        ev.widest_messages = max(ev.widest_messages, self.arrivals - first[1])
        ev.widest_seconds = max(ev.widest_seconds, t - first[2])

    def event(self, e: Event, t: float) -> None:
        ev = self.ev
        if e.type == "replica.started_speaking":
            ev.replica_turns += 1
            # the greeting: the first turn, begun before anything the client said could be
            # answered (Tavus speaks it as the replica joins)
            spoke = self.client_spoke
            greeting = not self.turns and (spoke is None or t - spoke < _GREETING_BEFORE)
            turn = _Turn(t, e.inference_id, greeting=greeting)
            self.turns.append(turn)
            self.current = turn
            if self.user_stopped is not None:
                ev.reply_latencies.append(t - self.user_stopped)
                self.user_stopped = None
            if self.echo_sent is not None:
                ev.echo_latencies.append(t - self.echo_sent)
                self.echo_sent = None
            for r in self.responds:
                if r[0] <= t:
                    r[2] = True
        elif e.type == "utterance" and e.role == "replica":
            if self.current is not None and self.current.text is None:
                self.current.text = e.text or ""
        elif e.type == "utterance.streaming" and e.role in (None, "replica"):
            if self.current is not None:
                self.current.streamed = True
        elif e.type == "replica.stopped_speaking":
            turn, self.current = self.current, None
            if turn is not None:
                turn.end, turn.duration, turn.interrupted = t, e.duration, e.interrupted
                self._rate(turn)
                if turn.greeting:
                    ev.greetings += 1
                    ev.greetings_streamed += int(turn.streamed)
        elif e.type == "user.started_speaking":
            self.user_stopped = None
        elif e.type == "user.stopped_speaking":
            self.user_stopped = t if self.current is None else None
            self.echo_sent = None
        elif e.type == "utterance" and e.role == "user":
            words = _words(e.text)
            for r in self.responds:
                if not r[3] and r[1] == words:
                    r[3] = True
                    break
        elif e.type in ("replica.present",):
            self.presence.append(t)
        elif e.type == "tool_call":
            self.user_stopped = None  # what follows waits for the tool, not the visitor
            self.calls.append({"name": e.name or "?", "id": e.tool_call_id, "t": t,
                               "inference_id": e.inference_id, "result": None})  # fmt: skip

    def _rate(self, turn: _Turn) -> None:
        words = len((turn.text or "").split())
        length = turn.duration if turn.duration and turn.duration > 0 else None
        if length is None and turn.end is not None:
            length = turn.end - turn.t
        if not turn.interrupted and words >= _WORDS_MIN and length and length > 0:
            self.ev.rates.append(words * 60.0 / length)

    # -- what the client sent
    def sent(self, message: dict[str, Any], t: float) -> None:
        event_type = message.get("event_type")
        props = message.get("properties") if isinstance(message.get("properties"), dict) else {}
        if event_type in ("conversation.respond", "conversation.echo"):
            self.user_stopped = None  # the next turn may answer the client, not the visitor
        if (
            event_type in ("conversation.respond", "conversation.echo")
            and self.client_spoke is None
        ):
            self.client_spoke = t
        if event_type == "conversation.respond":
            self.responds.append([t, _words(props.get("text")), False, False])
        elif event_type == "conversation.echo":
            audio = props.get("modality") == "audio"
            if (not audio or props.get("done") is True) and self.current is None:
                self.echo_sent = t if self.echo_sent is None else self.echo_sent
        elif event_type == "conversation.tool_result":
            for call in self.calls:
                if call["id"] == props.get("tool_call_id") and call["result"] is None:
                    call["result"] = t

    # -- the end of one recording
    def finish(self, reply_latency: float) -> None:
        ev = self.ev
        for r in self.responds:
            if r[2]:
                ev.responds_answered += 1
                ev.responds_echoed += int(r[3])
        ev.heartbeats += [b - a for a, b in zip(self.presence, self.presence[1:], strict=False)]
        for call in self.calls:
            self._tool(call, reply_latency)

    def _tool(self, call: dict[str, Any], reply_latency: float) -> None:
        """A turn starting as the tool was called (before its result, or sooner after it than
        a reply could be) is a filler; a later one before the window closes speaks the result."""
        start, result = call["t"], call["result"]
        answered_at = max(start, result) if result is not None else start
        cut = answered_at + 0.5 * reply_latency
        close = answered_at + max(5.0, 3 * reply_latency)
        filler = spoken = False
        for turn in self.turns:
            early = (
                start - _FILLER_EARLY <= turn.t < start
                and turn.inference_id is not None
                and turn.inference_id == call["inference_id"]
            )
            if early or start <= turn.t <= cut:
                if not filler and turn.text:
                    self.ev.filler_texts.append(turn.text)
                filler = True
            elif result is not None and cut < turn.t <= close:
                spoken = True
        counts = self.ev.tools.setdefault(call["name"], [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += int(filler)
        if result is not None:
            counts[2] += 1
            counts[3] += int(spoken)


def _words(text: Any) -> str:
    import re

    return " ".join(re.findall(r"\w+", text.casefold())) if isinstance(text, str) else ""


# ---------------------------------------------------------------------------------- figures


def calibrate(
    transcripts: Iterable[tuple[str, dict[str, Any], list[dict[str, Any]]]],
    *,
    min_numbers: int = MIN_NUMBERS,
    min_facts: int = MIN_FACTS,
) -> Calibration:
    """Measure replica settings from recordings: (name, header, records) each, as
    `read_transcript` returns them. `CalibrationError` when no figure has enough to rest on."""
    ev = _Evidence()
    names: list[str] = []
    readers: list[_Reader] = []
    for name, header, records in transcripts:
        names.append(name)
        reader = _Reader(header, ev)
        for rec in records:
            reader.record(rec)
        readers.append(reader)
    latency = statistics.median(ev.reply_latencies) if ev.reply_latencies else 0.9
    for reader in readers:
        reader.finish(latency)
    cal = Calibration(names)
    figs = cal.figures
    figs.append(_vintage(ev, min_facts))
    figs.append(_number("reply_latency", ev.reply_latencies, min_numbers, "s",
                        "a visitor's last word (user.stopped_speaking) to the replica's first "
                        "(replica.started_speaking)"))  # fmt: skip
    figs.append(_number("echo_latency", ev.echo_latencies, min_numbers, "s",
                        "an echo sent to the replica starting to speak"))  # fmt: skip
    figs.append(_number("words_per_minute", ev.rates, min_numbers, "wpm",
                        f"words over duration of each finished replica turn of {_WORDS_MIN}+ "
                        "words", digits=0))  # fmt: skip
    figs.append(_number("heartbeat", ev.heartbeats, min_numbers, "s",
                        "between system.replica_present heartbeats"))  # fmt: skip
    figs.append(_fact("respond_echo", ev.responds_echoed, ev.responds_answered, min_facts,
                      "answered responds that came back as a user utterance"))  # fmt: skip
    figs.append(_fact("greeting_streams", ev.greetings_streamed, ev.greetings, min_facts,
                      "greetings (the first turn, before the client said anything) streamed "
                      "as conversation.utterance.streaming"))  # fmt: skip
    figs.append(_fact("replica_first", sum(ev.replica_first), len(ev.replica_first), 1,
                      "runs whose replica was in the room before the client joined"))  # fmt: skip
    figs.append(_copy_window(ev, min_facts))
    figs.extend(_tool_figures(ev, min_facts))
    if not any(f.known for f in figs):
        why = "; ".join(f"{f.key}: {f.note}" for f in figs if f.note)
        raise CalibrationError(
            f"nothing to calibrate from {len(names)} transcript(s): every figure rests on too "
            f"little ({why})"
        )
    return cal


def _refused(key: str, samples: int, needed: int, what: str) -> Figure:
    return Figure(key, None, samples, needed,
                  note=f"not measured: {samples} {what}, needs {needed}")  # fmt: skip


def _number(
    key: str, values: list[float], needed: int, unit: str, how: str, digits: int = 3
) -> Figure:
    if len(values) < needed:
        return _refused(key, len(values), needed, "samples")
    ordered = sorted(values)
    med = statistics.median(ordered)
    lo, hi = _quantile(ordered, 0.1), _quantile(ordered, 0.9)
    spread = f"p10-p90 {lo:.{digits}f}-{hi:.{digits}f} {unit}"
    if len(ordered) > 1:
        spread += f", sd {statistics.stdev(ordered):.{digits}f}"
    value: float = round(med, digits) if digits else float(round(med))
    return Figure(key, value, len(values), needed, unit, spread, f"median of {how}")


def _quantile(ordered: list[float], q: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    i = int(pos)
    frac = pos - i
    return ordered[i] + (ordered[min(i + 1, len(ordered) - 1)] - ordered[i]) * frac


def _fact(key: str, yes: int, cases: int, needed: int, how: str) -> Figure:
    if cases < needed:
        return _refused(key, cases, needed, "cases")
    value = yes * 2 >= cases
    mixed = "" if yes in (0, cases) else " (mixed: the majority is taken)"
    return Figure(key, value, cases, needed, note=f"{yes} of {cases} {how}{mixed}")


def _vintage(ev: _Evidence, needed: int) -> Figure:
    turns = ev.replica_turns
    if turns < needed and not ev.modern_signs:
        return _refused("vintage", turns, needed, "replica turns")
    value = "2026" if ev.modern_signs else "2024"
    if ev.modern_signs:
        how = f"{ev.modern_signs} messages only a 2026 server sends (pal roles, role-agnostic copies, streaming, heartbeats)"
    else:
        how = f"{turns} replica turns with no 2026 copies, streaming or heartbeats"
    return Figure("vintage", value, turns, needed, note=how)


def _copy_window(ev: _Evidence, needed: int) -> Figure:
    if ev.copies < needed:
        return _refused("copy_window", ev.copies, needed, "copies")
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(ev.copy_kinds.items()))
    share = round(100 * ev.copies_sharing_seq / ev.copies)
    fits = ev.widest_messages <= COPY_WINDOW and ev.widest_seconds <= COPY_SECONDS
    verdict = (
        "cviscript's window folds them"
        if fits
        else f"wider than cviscript's window ({COPY_WINDOW} messages, {COPY_SECONDS:g} s): "
        "those copies reach the scenario twice"
    )
    value = {"messages": ev.widest_messages, "seconds": round(ev.widest_seconds, 3)}
    note = f"{ev.copies} copies ({kinds}); {share}% share their original's seq; {verdict}"
    return Figure("copy_window", value, ev.copies, needed, note=note)


def _tool_figures(ev: _Evidence, needed: int) -> list[Figure]:
    out: list[Figure] = []
    calls = sum(c[0] for c in ev.tools.values())
    fillers = sum(c[1] for c in ev.tools.values())
    if calls < needed:
        out.append(_refused("tool_filler", calls, needed, "tool calls"))
    else:
        per_tool = "; ".join(
            f"{name}: filler in {c[1]}/{c[0]} calls, result spoken in {c[3]}/{c[2]}"
            for name, c in sorted(ev.tools.items())
        )
        value = fillers * 2 >= calls
        out.append(Figure("tool_filler", value, calls, needed, note=per_tool))
        if value and ev.filler_texts:
            common = max(set(ev.filler_texts), key=ev.filler_texts.count)
            out.append(Figure("filler", common, len(ev.filler_texts), needed,
                              note="the filler heard most often"))  # fmt: skip
    answered = sum(c[2] for c in ev.tools.values())
    spoken = sum(c[3] for c in ev.tools.values())
    if answered < needed:
        out.append(_refused("tool_result_spoken", answered, needed, "answered tool calls"))
    else:
        out.append(Figure("tool_result_spoken", spoken * 2 >= answered, answered, needed,
                          note=f"{spoken} of {answered} results were followed by a turn"))  # fmt: skip
    return out
