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
_GREETING_WITHIN = 0.5  # s after the replica joined: a first turn begun by then may be its greeting
_JOIN_SLACK = 0.05  # s: an input sent this soon after the join went to a replica still greeting
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


@dataclass(slots=True)
class _Input:
    """Something the replica's LLM was given to answer: the scenario's `respond` or the
    visitor's words, and what the live replica did about it."""

    text: str
    t: float
    respond: bool = False
    echoed: bool = False  # the client's own respond came back as a user utterance
    inference_id: str | None = None  # the inference it started (its echo's, the visitor's)
    replies: list[str] = field(default_factory=list)
    tool: dict[str, Any] | None = None
    objective: dict[str, Any] | None = None  # completed after it: {"name", "output_variables"}


class _Reading:
    """One pass over a recording: what the client asked the replica, what the visitor said (and
    when, and whether over the replica), what the replica answered each, and its greeting."""

    def __init__(self, user_wpm: float):
        self.user_wpm = user_wpm
        self.inputs: list[_Input] = []
        self.visitor: list[tuple[float, str, bool]] = []  # (when, words, spoken over the replica)
        self.echoes: set[str] = set()
        self.greeting: str | None = None
        self.joined_at = 0.0  # when the replica joined (0: before the recording began)
        self.spoke = self.speaking = self.over_replica = False
        self.turn_started = 0.0
        self.cut_at: float | None = None

    def sent(self, message: dict[str, Any], props: dict[str, Any], t: float) -> None:
        text = props.get("text")
        if not isinstance(text, str):
            return
        if message.get("event_type") == "conversation.respond":
            self.inputs.append(_Input(text, t, respond=True))
        elif message.get("event_type") == "conversation.echo":
            self.echoes.add(_norm(text))

    def received(self, event: Any, t: float) -> None:
        if event.type == "system.replica_joined":
            self.joined_at = t
        elif event.type == "replica.started_speaking":
            self.speaking, self.turn_started = True, t
        elif event.type == "replica.stopped_speaking":
            self.speaking = False
            self.cut_at = t if event.interrupted else None
        elif event.type == "user.started_speaking":
            # over the replica: it was speaking, or was cut off as the visitor began
            cut = self.cut_at is not None and t - self.cut_at <= 0.5
            self.over_replica = self.speaking or cut
        elif event.type == "utterance" and event.text and event.role == "user":
            self._user_said(event, t)
        elif event.type == "utterance" and event.text and event.role == "replica":
            self._replica_said(event, t)
        elif event.type == "tool_call" and self.inputs and self.inputs[-1].tool is None:
            args = event.arguments if isinstance(event.arguments, dict) else {}
            self.inputs[-1].tool = {"name": event.name or "tool", "arguments": args}
            self.inputs[-1].replies = []  # what follows answers the result
        elif event.type == "objective.completed" and self.inputs:
            self._objective(event.properties)

    def _user_said(self, event: Any, t: float) -> None:
        own = next((i for i in reversed(self.inputs) if i.respond and not i.echoed), None)
        if own is not None and _norm(own.text) == _norm(event.text):
            own.echoed = True  # the client's own respond, echoed back: not the visitor
            own.inference_id = own.inference_id or event.inference_id
            return
        from ..sessions.replica_model import MIN_SPEECH, speaking_time

        # said so that the words arrive when they arrived live (the simulated visitor takes
        # the model's speaking time to say them)
        at = t - speaking_time(event.text, self.user_wpm, MIN_SPEECH)
        self.visitor.append((at, event.text, self.over_replica))
        self.over_replica = False
        self.inputs.append(_Input(event.text, t, inference_id=event.inference_id))

    def _replica_said(self, event: Any, t: float) -> None:
        if _norm(event.text) in self.echoes:
            return  # the scenario's own echo
        first, self.spoke = not self.spoke, True
        began = self.turn_started if self.speaking else t
        if first and self._is_greeting(began, event.inference_id):
            self.greeting = event.text
        elif self.inputs:
            self.inputs[-1].replies.append(event.text)

    def _is_greeting(self, began: float, inference_id: str | None) -> bool:
        """The model speaks the greeting as the replica joins, and answers an input after it.
        So the first turn is the greeting when no input came before it, or when the inputs
        before it were all sent before the replica joined and it began as the replica joined
        (and is not of an input's own inference). A first turn begun after an input sent to a
        replica already in the room is that input's answer, however fast it came."""
        before = [i for i in self.inputs if i.t <= began]
        if not before:
            return True
        if inference_id and any(i.inference_id == inference_id for i in before):
            return False
        sent_before_join = all(i.t <= self.joined_at + _JOIN_SLACK for i in before)
        return sent_before_join and began - self.joined_at < _GREETING_WITHIN

    def _objective(self, props: dict[str, Any]) -> None:
        name = props.get("objective_name")
        item = self.inputs[-1]
        if isinstance(name, str) and name and item.objective is None:
            variables = props.get("output_variables")
            variables = variables if isinstance(variables, dict) else {}
            item.objective = {"name": name, "output_variables": _literal_values(variables)}


def read_recording(records: list[dict[str, Any]], user_wpm: float) -> _Reading:
    """The recording's transcript records, read once in order."""
    reading = _Reading(user_wpm)
    normalizer = Normalizer()
    for rec in records:
        message = rec.get("message")
        if not isinstance(message, dict):
            continue
        t = float(rec.get("t") or 0.0)
        if rec.get("kind") == "sent":
            props = message.get("properties")
            reading.sent(message, props if isinstance(props, dict) else {}, t)
        elif rec.get("kind") == "received":
            event, _ = normalizer.feed(message)
            if event is not None:
                reading.received(event, t)
    return reading


def persona_rules(inputs: list[_Input]) -> list[dict[str, Any]]:
    """A persona rule per distinct input, answering it word for word as the replica did."""
    rules: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in inputs[:_MAX_RULES]:
        key = _norm(item.text)
        if key in seen or not key:
            continue
        seen.add(key)
        rule = _rule_for(item, key)
        if len(rule) > 1:
            rules.append(rule)
    return rules


def _rule_for(item: _Input, key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "match": "(?i)^\\W*" + r"\W+".join(re.escape(w) for w in key.split()) + "\\W*$"
    }
    reply = " ".join(item.replies).strip()
    if item.tool is not None:
        rule["tool_call"] = item.tool
        # what answered the result is the last turn (a filler may come before it); a persona
        # always has a reply to a result: live saying nothing is then a difference to show
        reply = item.replies[-1] if item.replies else UNSPOKEN_RESULT
    if reply:
        rule["say"] = _literal(reply)
    if item.objective is not None:
        rule["complete_objective"] = item.objective
    return rule


def _visitor_lines(visitor: list[tuple[float, str, bool]]) -> list[dict[str, Any]]:
    """The visitor's lines said when they were said, over the replica where the live visitor
    spoke over it."""
    return [
        {"on": {"at": f"{max(0.0, at):.3f}s"}, "say": _literal(text), "barge_in": over}
        for at, text, over in visitor
    ]


def rehearsal_from_recording(
    records: list[dict[str, Any]], settings: dict[str, Any]
) -> dict[str, Any]:
    """A rehearsal (YAML data) that re-enacts a recording against the model: its replica
    `settings`, the visitor's lines at their times, a persona answering as the replica did."""
    from ..sessions.replica_model import ModelSettings

    user_wpm = float(settings.get("user_words_per_minute") or ModelSettings().user_words_per_minute)
    reading = read_recording(records, user_wpm)
    replica = dict(settings)
    replica["greeting"] = _literal(reading.greeting) if reading.greeting is not None else ""
    rehearsal: dict[str, Any] = {"name": "the recording, re-enacted against the model"}
    rehearsal["replica"] = replica
    if reading.visitor:
        rehearsal["user"] = _visitor_lines(reading.visitor)
    persona = persona_rules(reading.inputs)
    if persona:
        rehearsal["persona"] = persona
    return rehearsal


def later_answers(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per input said more than once and answered differently, its answers in order (persona
    rules): the re-enactment answers the n-th time with the n-th answer, which `persona:` rules
    (first match wins) cannot say."""
    reading = read_recording(records, user_wpm=150.0)  # the visitor's timing plays no part
    by_key: dict[str, list[dict[str, Any]]] = {}
    for item in reading.inputs[:_MAX_RULES]:
        key = _norm(item.text)
        if key:
            by_key.setdefault(key, []).append(_rule_for(item, key))
    return {k: rules for k, rules in by_key.items() if any(r != rules[0] for r in rules)}


class _InOrder:
    """The re-enactment's persona: its rules, except that an input said again is answered with
    what the live replica answered that time (the last answer once they run out)."""

    def __init__(self, base: Any, later: dict[str, list[Any]]):
        self.base = base
        self.later = {key: list(rules) for key, rules in later.items()}

    def answer(self, text: str, event: dict[str, Any] | None = None) -> Any:
        from ..sessions.simulated.persona import Persona

        rules = self.later.get(_norm(text))
        if not rules:
            return self.base.answer(text, event)
        rule = rules.pop(0) if len(rules) > 1 else rules[0]
        return Persona([rule]).answer(text, event)

    def after_tool(self, answer: Any, result: Any) -> str | None:
        return self.base.after_tool(answer, result)

    def objective_after_tool(self, answer: Any, result: Any) -> dict[str, Any]:
        return self.base.objective_after_tool(answer, result)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _literal_values(data: dict[str, Any]) -> dict[str, Any]:
    return {str(k): _literal(v) if isinstance(v, str) else v for k, v in data.items()}


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
    later = later_answers(records)
    if later:  # compiled as the language compiles rules, then answered in turn
        compiled = _load_rehearsal(
            {"name": "answers", "persona": [r for v in later.values() for r in v]}
        )
        rules, by_key = iter(compiled.persona), {}
        for key, answers in later.items():
            by_key[key] = [next(rules) for _ in answers]
        model = conv.session.model
        model.persona = _InOrder(model.persona, by_key)
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
