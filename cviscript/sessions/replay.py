"""Replay a recorded transcript against a scenario and check it sends the same interactions.

A transcript (`cviscript.transcript`, live or simulated) holds every message the runner received,
raw, with the time `t` it arrived (seconds since the run started). `ReplaySession` is a `Session`
that delivers those `received` messages again at their recorded times on a `VirtualClock`, so the
scenario — the same one or a changed one — runs exactly as it did against the real replica, in
milliseconds. `replay()` then compares the interactions the scenario sends with the recorded `sent`
records, in order, and reports the first one that differs (index, recorded vs replayed, and a
unified diff of the two sequences).

What is compared: each interaction's `event_type` and `properties`. Not compared: the envelope's
`conversation_id` (a recording made in one conversation replays in another) and the
`inference_id` of an audio echo (a fresh random id per utterance).

Timing details that keep a replay faithful:

* A message is delivered one zero-delay hop after its recorded time, as the simulated replica's
  faulty link does, so a scenario timer due at the same instant runs first, as it did when recorded.
* The recording's end (its `outcome` record, else its last record) is where the replay stops: if
  the scenario has not ended by itself by then (after everything else due at that instant), the
  replay ends it as `error` ("the recording ended first"). A recording cut short by a lost
  connection or Ctrl-C ended in error too, so it replays to the same outcome; a recording that
  completed, but whose scenario no longer completes, does not. A run the operator stopped at the
  prompt (`/quit`: outcome `stopped`) is stopped at the same instant, with the same reason.
* A recording cut short (no `outcome` record: a crash, a kill) is compared as far as it goes:
  what the replay sends after the last recorded interaction is not a difference.
* The run gets the variables of the rehearsal named in the header (if the scenario has it), the
  header's `vars` if a recorder put them there, then `vars_override`; and the context spelling the
  recording used (older `conversation.*_context` names are recognised in its `sent` records).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..clock import VirtualClock
from ..engine.conversation import Conversation
from ..engine.session import Session, SessionSink
from ..errors import UsageError
from ..language.model import Scenario
from ..protocol import CONTEXT_EVENT_TYPES
from ..trace import Trace, TraceRecord
from ..transcript import read_transcript
from .simulated.runner import drive

MAX_SETTLE_HOPS = 10_000  # zero-delay hops the end of a recording waits for same-instant work


class ReplaySession(Session):
    """Delivers the `received` records of a transcript at their recorded times; keeps what is sent."""

    def __init__(
        self,
        clock: VirtualClock,
        records: Iterable[dict[str, Any]],
        *,
        conversation_id: str = "",
        end: tuple[float, str] | None = None,
    ):
        self.clock = clock
        self.conversation_id = conversation_id
        self.records = [r for r in records if r.get("kind") in ("received", "operator")]
        self.end = end  # (t, description of how the recording ended)
        self.sent: list[dict[str, Any]] = []
        self.delivered = 0
        self._sink: SessionSink | None = None
        self._handles: list[Any] = []
        self._closed = False

    def start(self, sink: SessionSink) -> None:
        self._sink = sink
        for rec in self.records:
            self._later(float(rec.get("t", 0.0)) - self.clock.now(), self._arrive, rec)
        if self.end is not None:
            self._later(self.end[0] - self.clock.now(), self._settle_then_end, 0)

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def close(self) -> None:
        self._closed = True
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()

    def _later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        self._handles.append(self.clock.call_later(delay, fn, *args))

    def _arrive(self, record: dict[str, Any]) -> None:
        self._later(0.0, self._deliver, record)

    def _deliver(self, record: dict[str, Any]) -> None:
        if self._closed or self._sink is None:
            return
        if record.get("kind") == "operator":  # an operator fired a `manual:` name
            fire = getattr(self._sink, "fire", None)
            if fire is not None and isinstance(record.get("name"), str):
                fire(record["name"])
            return
        self.delivered += 1
        message = json.loads(json.dumps(record.get("message")))
        sender = record.get("sender")
        if sender is None:
            self._sink.on_message(message)
        else:
            self._sink.on_message(message, sender)

    def _settle_then_end(self, hops: int) -> None:
        if self._closed or self._sink is None:
            return
        nxt = self.clock.next_time()
        if nxt is not None and nxt <= self.clock.now() and hops < MAX_SETTLE_HOPS:
            self._later(0.0, self._settle_then_end, hops + 1)
            return
        assert self.end is not None
        reason = f"the recording ended first, at {self.end[0]:.3f}s ({self.end[1]})"
        abort = getattr(self._sink, "abort", None)
        if abort is not None and self.end[1].startswith("stopped: "):
            # the person at the prompt ended it (`/quit`): the replay stops where they did
            abort("stopped", self.end[1][len("stopped: ") :])
        elif abort is not None:
            abort("error", reason)
        else:
            self._sink.on_closed(reason)


# ---------------------------------------------------------------------------------- comparing


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    """The part of an interaction a replay compares: event_type and properties, minus ids that
    legitimately differ from run to run."""
    props = dict(message.get("properties") or {})
    if message.get("event_type") == "conversation.echo" and props.get("modality") == "audio":
        props.pop("inference_id", None)
    return {"event_type": message.get("event_type"), "properties": props}


def as_line(item: dict[str, Any] | None) -> str:
    return "(nothing)" if item is None else json.dumps(item, sort_keys=True, ensure_ascii=False)


@dataclass(slots=True)
class Divergence:
    """The first interaction where the replay differs from the recording."""

    index: int  # 0-based position in the sequence of interactions sent
    expected: dict[str, Any] | None  # recorded (None: the replay sent more)
    actual: dict[str, Any] | None  # replayed (None: the replay sent fewer)
    expected_t: float | None
    actual_t: float | None
    diff: str

    def describe(self) -> str:
        """One line: which interaction, and how it differs (the full values are in `diff`)."""
        n = self.index + 1
        exp, act = self.expected, self.actual
        rec_at = f" at {self.expected_t:.3f}s" if self.expected_t is not None else ""
        rep_at = f" at {self.actual_t:.3f}s" if self.actual_t is not None else ""
        if act is None:
            return f"interaction #{n}: the recording sent {exp['event_type']}{rec_at}, the replay sent nothing more"  # type: ignore[index]
        if exp is None:
            return f"interaction #{n}: the replay sent {act['event_type']}{rep_at}, the recording sent nothing more"
        if exp["event_type"] != act["event_type"]:
            return f"interaction #{n} differs: the recording sent {exp['event_type']}{rec_at}, the replay sent {act['event_type']}{rep_at}"
        exp_p, act_p = exp.get("properties") or {}, act.get("properties") or {}
        keys = sorted(
            k for k in set(exp_p) | set(act_p) if exp_p.get(k, _MISSING) != act_p.get(k, _MISSING)
        ) or ["properties"]
        return (
            f"interaction #{n} differs: {exp['event_type']} (recorded{rec_at}) has other "
            f"{', '.join(keys)}"
        )


_MISSING = object()


def compare(
    recorded: list[tuple[float, dict[str, Any]]],
    replayed: list[tuple[float, dict[str, Any]]],
    *,
    truncated: bool = False,
) -> Divergence | None:
    """The first difference between two sequences of (t, comparable interaction), or None.

    `truncated`: the recording was cut short (no outcome record), so what the replay sends after
    the last recorded interaction cannot be checked and is not a difference."""
    n = len(recorded) if truncated else max(len(recorded), len(replayed))
    for i in range(n):
        exp = recorded[i] if i < len(recorded) else None
        act = replayed[i] if i < len(replayed) else None
        if exp is not None and act is not None and exp[1] == act[1]:
            continue
        diff = "".join(
            difflib.unified_diff(
                [as_line(x) + "\n" for _, x in recorded],
                [as_line(x) + "\n" for _, x in replayed],
                fromfile="recorded",
                tofile="replayed",
                n=2,
            )
        )
        return Divergence(
            i,
            None if exp is None else exp[1],
            None if act is None else act[1],
            None if exp is None else exp[0],
            None if act is None else act[0],
            diff,
        )
    return None


# ------------------------------------------------------------------------------------- replaying


@dataclass(slots=True)
class ReplayResult:
    transcript: str
    header: dict[str, Any]
    scenario: Scenario
    conversation: Conversation  # the replay run: .result, .trace
    recorded: list[tuple[float, dict[str, Any]]]  # (t, comparable interaction)
    replayed: list[tuple[float, dict[str, Any]]]
    recorded_outcome: str | None  # None: the recording has no outcome record
    recorded_reason: str | None = None
    divergence: Divergence | None = None
    records: list[TraceRecord] = field(default_factory=list)  # the replay's trace

    @property
    def outcome_matches(self) -> bool:
        result = self.conversation.result
        return self.recorded_outcome is None or (
            result is not None and result.outcome == self.recorded_outcome
        )

    @property
    def same(self) -> bool:
        """The same interactions were sent, and the run ended the same way."""
        return self.divergence is None and self.outcome_matches


def _scenario_for(
    scenario: Scenario | str | os.PathLike[str] | None, header: dict[str, Any], transcript: Path
) -> Scenario:
    from ..language.validate import load_scenario

    if isinstance(scenario, Scenario):
        return scenario
    if scenario is None:
        file = header.get("file")
        if not isinstance(file, str) or not file or file == "<string>":
            raise UsageError(
                f"{transcript}: the transcript does not name its scenario file; give it: "
                f"cviscript replay {transcript} SCENARIO.yaml"
            )
        candidates = [Path(file), transcript.parent / file]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise UsageError(
                f"{transcript}: its scenario file {file!r} was not found (looked in the current "
                f"folder and next to the transcript); give it: cviscript replay {transcript} SCENARIO.yaml"
            )
        scenario = found
    return load_scenario(scenario)


def _spelling(records: list[dict[str, Any]]) -> str | None:
    older = set(CONTEXT_EVENT_TYPES["context"])
    for rec in records:
        if rec.get("kind") == "sent" and (rec.get("message") or {}).get("event_type") in older:
            return "context"
    return None


def replay(
    transcript: str | os.PathLike[str],
    scenario: Scenario | str | os.PathLike[str] | None = None,
    *,
    vars_override: dict[str, Any] | None = None,
    subscribers: Iterable[Callable[[TraceRecord], None]] = (),
) -> ReplayResult:
    """Replay `transcript` against `scenario` (default: the file its header names)."""
    path = Path(transcript)
    header, records = read_transcript(path)
    sc = _scenario_for(scenario, header, path)

    outcome_rec = next((r for r in reversed(records) if r.get("kind") == "outcome"), None)
    if outcome_rec is not None:
        end = (
            float(outcome_rec.get("t", 0.0)),
            f"{outcome_rec.get('outcome')}: {outcome_rec.get('reason')}",
        )
    else:
        last = float(records[-1].get("t", 0.0)) if records else 0.0
        end = (last, "no outcome recorded")

    case_name = header.get("rehearsal")
    case = sc.rehearsal(case_name) if isinstance(case_name, str) else None
    header_vars = header.get("vars") if isinstance(header.get("vars"), dict) else {}
    merged = {**(case.vars if case else {}), **header_vars, **(vars_override or {})}

    conversation_id = header.get("conversation_id") or next(
        (
            (r.get("message") or {}).get("conversation_id")
            for r in records
            if r.get("kind") == "received" and isinstance(r.get("message"), dict)
        ),
        None,
    )
    clock = VirtualClock()
    session = ReplaySession(clock, records, conversation_id=conversation_id or "", end=end)
    trace = Trace(clock)
    for fn in subscribers:
        trace.subscribe(fn)
    conv = Conversation(
        sc,
        session,
        clock,
        trace=trace,
        vars_override=merged,
        context_spelling=_spelling(records),
        mode="replay",
        rehearsal=case_name if isinstance(case_name, str) else None,
        seed=header.get("seed"),
        header={"replay_of": str(path)},
    )
    if case is not None:  # the case's canned hook results, as when it was recorded
        conv.engine.hooks.canned = dict(case.hooks)
    drive(conv, clock, what="replay")

    recorded = [
        (float(r.get("t", 0.0)), comparable(r.get("message") or {}))
        for r in records
        if r.get("kind") == "sent"
    ]
    replayed = [(r.t, comparable(r.data.get("message") or {})) for r in trace.of_kind("sent")]
    return ReplayResult(
        transcript=str(path),
        header=header,
        scenario=sc,
        conversation=conv,
        recorded=recorded,
        replayed=replayed,
        recorded_outcome=None if outcome_rec is None else outcome_rec.get("outcome"),
        recorded_reason=None if outcome_rec is None else outcome_rec.get("reason"),
        divergence=compare(recorded, replayed, truncated=outcome_rec is None),
        records=list(trace.records),
    )
