"""Would rehearsal have caught this? A recording replayed *and* re-enacted against the model.

`against_model(transcript)` answers it for one recording:

1. the recording is replayed through the engine (`cviscript.sessions.replay`): what the scenario
   did with what really arrived;
2. the same scenario is rehearsed against the replica model, set up from the recording itself:
   replica settings calibrated from it (`calibrate`, one sample is enough here), the visitor's
   lines said at the times they were said, a stand-in persona that answers each input (the
   scenario's `respond` or the visitor's words) with what the live replica answered, calling the
   tools it called; the greeting as it was spoken;
3. the two runs are compared as timelines — states entered, events that matter to a scenario
   (utterances by role, tool calls, interruptions, shutdowns) and the replica's spoken text — and
   the earliest difference is the first divergence.

On a faithful recording (the live replica behaved as the model does) the two agree. Where they
differ, the divergence is what rehearsal would not have shown: a respond echoed back, a filler
around a tool call, a result never spoken, a spelling the model does not send.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..protocol import Normalizer

_MAX_RULES = 200  # persona rules built from one recording
_GREETING_BEFORE = 0.25  # s after the first input: a turn this early is no reply to it
UNSPOKEN_RESULT = "(a reply to the tool result, never spoken live)"
_STREAMING = "utterance.streaming"
_IGNORED = frozenset({"replica.present", "replica.joined", _STREAMING})


@dataclass(slots=True)
class Point:
    t: float
    label: str


@dataclass(slots=True)
class Divergence:
    kind: str  # "state", "event", "visitor", "spoken"
    index: int
    t: float
    recorded: str | None  # None: the recording has nothing there
    model: str | None

    def describe(self) -> str:
        what = {
            "state": "state entered",
            "event": "event",
            "visitor": "visitor utterance",
            "spoken": "replica utterance",
        }[self.kind]
        rec = "nothing" if self.recorded is None else self.recorded
        mod = "nothing" if self.model is None else self.model
        return f"first divergence at {self.t:.1f}s, {what} #{self.index + 1}: live {rec}; the model {mod}"


@dataclass(slots=True)
class Timeline:
    """What a scenario saw, as parallel sequences: compared one by one, so that a visitor's
    words landing a moment before or after a replica turn are not a divergence."""

    states: list[Point] = field(default_factory=list)
    events: list[Point] = field(default_factory=list)  # the replica's and the server's
    visitor: list[Point] = field(default_factory=list)  # user utterances
    spoken: list[Point] = field(default_factory=list)  # replica utterances
    end: float = float("inf")  # when the run ended (its outcome)


@dataclass(slots=True)
class ModelComparison:
    transcript: str
    scenario_path: str
    rehearsal: dict[str, Any]  # the rehearsal built from the recording (as YAML data)
    recorded: Timeline
    model: Timeline
    divergence: Divergence | None
    model_outcome: str = ""
    recorded_outcome: str = ""


def timeline(records: list[Any]) -> Timeline:
    """The comparable timeline of a run's records (`TraceRecord`s or transcript dicts)."""
    out = Timeline()
    normalizer: Normalizer | None = None
    for rec in records:
        kind, data, t = _parts(rec)
        if kind == "header":
            cid = data.get("conversation_id")
            normalizer = Normalizer(cid if isinstance(cid, str) and cid else None)
        elif kind == "state":
            out.states.append(Point(t, str(data.get("state"))))
        elif kind == "outcome":
            out.end = t
        elif kind == "received" and isinstance(data.get("message"), dict):
            normalizer = normalizer or Normalizer()
            event, _ = normalizer.feed(data["message"])
            if event is None or event.type in _IGNORED:
                continue
            if event.type == "utterance" and event.role == "user":
                out.visitor.append(Point(t, f"user utterance {_quote(event.text)}"))
            elif event.type == "utterance" and event.role == "replica":
                out.spoken.append(Point(t, f"replica utterance {_quote(event.text)}"))
            else:
                label = _event_label(event)
                if label is not None:
                    out.events.append(Point(t, label))
    return out


def _parts(rec: Any) -> tuple[str, dict[str, Any], float]:
    if isinstance(rec, dict):
        return str(rec.get("kind")), rec, float(rec.get("t") or 0.0)
    return rec.kind, rec.data, float(rec.t)


def _event_label(event: Any) -> str | None:
    if event.type == "utterance":
        return f"{event.role or '?'} utterance {_quote(event.text)}"
    if event.type == "tool_call":
        return f"tool call {event.name}"
    if event.type in ("replica.interrupted", "shutdown"):
        return event.type + (f" ({event.text})" if event.text else "")
    if event.type in ("replica.started_speaking", "replica.stopped_speaking"):
        return event.type.replace(".", " ").replace("_", " ")
    if event.type.startswith("user."):
        return None  # the visitor's speaking starts and stops: the utterances say it
    return f"event {event.event_type}"


def _quote(text: Any) -> str:
    text = " ".join(str(text or "").split())
    return json.dumps(text[:120] + ("…" if len(text) > 120 else ""), ensure_ascii=False)


def first_divergence(recorded: Timeline, model: Timeline) -> Divergence | None:
    """The earliest point where the two timelines differ (states, events, spoken text). What
    one run has after the other had ended is no divergence: that run just went on longer."""
    found: list[Divergence] = []
    for kind, attr in (
        ("state", "states"),
        ("event", "events"),
        ("visitor", "visitor"),
        ("spoken", "spoken"),
    ):
        a: list[Point] = getattr(recorded, attr)
        b: list[Point] = getattr(model, attr)
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else None
            y = b[i] if i < len(b) else None
            if x is None and y is not None and y.t > recorded.end:
                break
            if y is None and x is not None and x.t > model.end:
                break
            if x is None or y is None or x.label != y.label:
                t = min(p.t for p in (x, y) if p is not None)
                found.append(Divergence(kind, i, t, x and x.label, y and y.label))
                break
    order = {"state": 0, "event": 1, "visitor": 2, "spoken": 3}
    return min(found, key=lambda d: (round(d.t, 3), order[d.kind]), default=None)


# --------------------------------------------------------------------- the recording, re-enacted


def rehearsal_from_recording(
    records: list[dict[str, Any]], settings: dict[str, Any]
) -> dict[str, Any]:
    """A rehearsal (YAML data) that re-enacts a recording against the model: its replica
    `settings`, the visitor's lines at their times, a persona answering as the replica did."""
    from ..sessions.replica_model import MIN_SPEECH, ModelSettings, speaking_time

    user_wpm = float(settings.get("user_words_per_minute") or ModelSettings().user_words_per_minute)
    normalizer = Normalizer()
    inputs: list[dict[str, Any]] = []  # {"text", "replies": [...], "tool": {...} | None}
    visitor: list[tuple[float, str, bool]] = []  # (when, words, spoken over the replica)
    echoes: set[str] = set()
    greeting: str | None = None
    first_input: float | None = None
    spoke = replica_speaking = over_replica = False
    cut_at: float | None = None
    for rec in records:
        kind, t = rec.get("kind"), float(rec.get("t") or 0.0)
        message = rec.get("message")
        if not isinstance(message, dict):
            continue
        props = message.get("properties") if isinstance(message.get("properties"), dict) else {}
        if kind == "sent":
            text = props.get("text")
            if message.get("event_type") == "conversation.respond" and isinstance(text, str):
                inputs.append({"text": text, "replies": [], "tool": None, "respond": True})
                first_input = t if first_input is None else first_input
            elif message.get("event_type") == "conversation.echo" and isinstance(text, str):
                echoes.add(_norm(text))
        elif kind == "received":
            event, _ = normalizer.feed(message)
            if event is None:
                continue
            if event.type == "replica.started_speaking":
                replica_speaking = True
            elif event.type == "replica.stopped_speaking":
                replica_speaking = False
                cut_at = t if event.interrupted else None
            elif event.type == "user.started_speaking":
                # over the replica: it was speaking, or was cut off as the visitor began
                over_replica = replica_speaking or (cut_at is not None and t - cut_at <= 0.5)
            elif event.type == "utterance" and event.role == "user" and event.text:
                own = next(
                    (i for i in reversed(inputs) if i.get("respond") and not i.get("echoed")), None
                )
                if own is not None and _norm(own["text"]) == _norm(event.text):
                    own["echoed"] = True  # the client's own respond, echoed back: not the visitor
                    continue
                # said so that the words arrive when they arrived live (the simulated visitor
                # takes the model's speaking time to say them)
                at = t - speaking_time(event.text, user_wpm, MIN_SPEECH)
                visitor.append((at, event.text, over_replica))
                over_replica = False
                inputs.append({"text": event.text, "replies": [], "tool": None})
                first_input = t if first_input is None else first_input
            elif event.type == "utterance" and event.role == "replica" and event.text:
                if _norm(event.text) in echoes:
                    continue  # the scenario's own echo
                first = not spoke
                spoke = True
                # the greeting: the first turn, begun before an input could have been answered
                if first and (first_input is None or t - first_input < _GREETING_BEFORE):
                    greeting = event.text
                elif inputs:
                    inputs[-1]["replies"].append(event.text)
            elif event.type == "tool_call" and inputs and inputs[-1]["tool"] is None:
                args = event.arguments if isinstance(event.arguments, dict) else {}
                inputs[-1]["tool"] = {"name": event.name or "tool", "arguments": args}
                inputs[-1]["replies"] = []  # what follows answers the result
    persona: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in inputs[:_MAX_RULES]:
        key = _norm(item["text"])
        if key in seen or not key:
            continue
        seen.add(key)
        rule: dict[str, Any] = {
            "match": "(?i)^\\W*" + r"\W+".join(re.escape(w) for w in key.split()) + "\\W*$"
        }
        reply = " ".join(item["replies"]).strip()
        if item["tool"] is not None:
            rule["tool_call"] = item["tool"]
            # what answered the result is the last turn (a filler may come before it); a persona
            # always has a reply to a result: live saying nothing is then a difference to show
            reply = item["replies"][-1] if item["replies"] else UNSPOKEN_RESULT
        if reply:
            rule["say"] = _literal(reply)
        if "say" in rule or "tool_call" in rule:
            persona.append(rule)
    replica = dict(settings)
    replica["greeting"] = _literal(greeting) if greeting is not None else ""  # "": none
    rehearsal: dict[str, Any] = {"name": "the recording, re-enacted against the model"}
    if replica:
        rehearsal["replica"] = replica
    if visitor:
        # said when it was said, over the replica where the live visitor spoke over it
        rehearsal["user"] = [
            {"on": {"at": f"{max(0.0, at):.3f}s"}, "say": _literal(text), "barge_in": over}
            for at, text, over in visitor
        ]
    if persona:
        rehearsal["persona"] = persona
    return rehearsal


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _literal(text: str) -> str:
    """Text said word for word, even when it looks like a template."""
    if "{" in text or "%" in text:
        return "{% raw %}" + text.replace("{% endraw %}", "") + "{% endraw %}"
    return text


def against_model(
    transcript: str | Path,
    scenario: Any = None,
    *,
    vars_override: dict[str, Any] | None = None,
) -> ModelComparison:
    """Replay `transcript` and rehearse its scenario against the model set up from it; compare."""
    from ..clock import VirtualClock
    from ..sessions.replay import replay
    from ..sessions.simulated.runner import drive, simulated_conversation
    from ..transcript import read_transcript
    from .calibrate import CalibrationError, calibrate
    from .profile import replica_keys

    path = str(transcript)
    header, records = read_transcript(path)
    replayed = replay(path, scenario, vars_override=vars_override)
    sc = replayed.scenario
    try:
        cal = calibrate([(path, header, records)], min_numbers=1, min_facts=1)
        settings = cal.settings(replica_keys() - {"greeting", "default_reply", "pipeline"})
    except CalibrationError:
        settings = {}
    rehearsal = rehearsal_from_recording(records, settings)
    reh = _load_rehearsal(rehearsal)
    case_name = header.get("rehearsal")
    case = sc.rehearsal(case_name) if isinstance(case_name, str) else None
    if case is not None:  # what stood in for the author's code and operator, as recorded
        reh.hooks = dict(case.hooks)
        reh.operator = list(case.operator)
        reh.vars = dict(case.vars)
    merged = {**(replayed.header.get("vars") or {}), **(vars_override or {})}
    clock = VirtualClock()
    conv = simulated_conversation(sc, reh, vars_override=merged or None, clock=clock)
    drive(conv, clock)
    recorded_line = timeline(replayed.records)
    model_line = timeline(list(conv.trace.records))
    run = conv.result
    return ModelComparison(
        transcript=path,
        scenario_path=sc.path,
        rehearsal=rehearsal,
        recorded=recorded_line,
        model=model_line,
        divergence=first_divergence(recorded_line, model_line),
        model_outcome=f"{run.outcome}: {run.reason}" if run else "",
        recorded_outcome=str(replayed.recorded_outcome or ""),
    )


def _load_rehearsal(rehearsal: dict[str, Any]) -> Any:
    """The rehearsal as the language builds it (templates compiled, rules checked), through a
    scaffold scenario: JSON is YAML, so the data goes in as it is."""
    from ..language.validate import load_scenario

    scaffold = {
        "cviscript": 1,
        "name": "re-enactment",
        "initial": "s",
        "states": {"s": {"final": True}},
        "rehearsals": [rehearsal],
    }
    sc = load_scenario("<recording re-enacted>", source=json.dumps(scaffold, ensure_ascii=False))
    return sc.rehearsals[0]
