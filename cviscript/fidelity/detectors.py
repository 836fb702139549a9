"""The detectors of the live self-check: each watches one way live can differ from the model.

Each detector sees the conversation as normalised events (what reached the scenario), the
interactions the client sent, and the end of the run; it reports through `Report` (the monitor
keeps each difference once and counts repeats). Detectors only observe: nothing here can change
how a run behaves. They are fed in arrival order with the run clock's `t` (seconds), so the same
detector runs live, over a recorded transcript, and in tests.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..protocol import KNOWN_EVENT_TYPES, Event
from . import codes
from .assumptions import Assumptions

# report(code, key, t, assumed, live, fix, detail)
Report = Callable[..., None]

_MAX_PENDING = 64  # responds / tool calls remembered at once (a flood keeps memory flat)
_MAX_NAMES = 16  # distinct unknown spellings reported; more are counted under one key
_ROLES = frozenset({"user", "replica", "pal"})
_WORDS = re.compile(r"\w+")


def _words(text: str | None) -> str:
    return " ".join(_WORDS.findall((text or "").casefold()))


def _clip(text: str | None, limit: int = 80) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Detector:
    def __init__(self, assumptions: Assumptions, report: Report):
        self.a = assumptions
        self.report = report

    def event(self, ev: Event, t: float) -> None: ...
    def raw(self, message: dict[str, Any], t: float) -> None: ...
    def sent(self, message: dict[str, Any], t: float) -> None: ...
    def tick(self, t: float) -> None: ...
    def finish(self, t: float) -> None: ...


def is_replica_start(ev: Event) -> bool:
    return ev.type == "replica.started_speaking"


class NoUtterances(Detector):
    """The replica spoke turns and not one ``conversation.utterance`` came (closed captions off)."""

    def __init__(self, assumptions: Assumptions, report: Report):
        super().__init__(assumptions, report)
        self.turns = 0
        self.utterances = 0

    def event(self, ev: Event, t: float) -> None:
        if ev.type == "utterance":
            self.utterances += 1
        elif is_replica_start(ev):
            self.turns += 1
            if (
                self.a.utterances
                and not self.utterances
                and self.turns == self.a.no_utterance_turns
            ):
                self.report(
                    codes.NO_UTTERANCES.code,
                    "",
                    t,
                    assumed="a conversation.utterance for every replica turn (Tavus's docs say "
                    "utterances are broadcast by default)",
                    live=f"the replica has spoken {self.turns} turns and no "
                    "conversation.utterance has arrived",
                    fix="is enable_closed_captions off for this conversation? Create it with "
                    "conversation.create properties.enable_closed_captions: true (Tavus's own "
                    "template says utterance events need it); utterance: triggers never fire "
                    "without them",
                    detail={"replica_turns": self.turns},
                )


@dataclass(slots=True)
class _Respond:
    words: str
    text: str
    t: float
    replies: int = 0  # replica turns started since
    echoed: bool = False


class RespondEcho(Detector):
    """The scenario's own ``respond`` comes back as a user utterance, or (when the model says it
    does) never comes back."""

    NOT_ECHOED_AFTER = 5.0  # seconds, and a replica turn started since, before saying so

    def __init__(self, assumptions: Assumptions, report: Report):
        super().__init__(assumptions, report)
        self.pending: deque[_Respond] = deque(maxlen=_MAX_PENDING)
        # no utterance at all has arrived: an echo could not have either (that is the
        # no-utterances finding, not this one)
        self.utterances = False

    def sent(self, message: dict[str, Any], t: float) -> None:
        if message.get("event_type") != "conversation.respond":
            return
        props = message.get("properties") or {}
        text = props.get("text") if isinstance(props, dict) else None
        if isinstance(text, str) and _words(text):
            self.pending.append(_Respond(_words(text), text, t))

    def event(self, ev: Event, t: float) -> None:
        if ev.type == "utterance":
            self.utterances = True
        if ev.type == "utterance" and ev.role == "user":
            words = _words(ev.text)
            for r in self.pending:
                if not r.echoed and r.words == words:
                    r.echoed = True
                    if not self.a.respond_echo:
                        self.report(
                            codes.RESPOND_ECHOED.code,
                            "",
                            t,
                            assumed="a conversation.respond is heard by the replica only; "
                            "no user utterance comes back for it (respond_echo: false)",
                            live=f'the respond "{_clip(r.text)}" came back as a user '
                            f"utterance {t - r.t:.1f}s later; a visitor utterance: trigger "
                            "matching it fires on the scenario's own words",
                            fix="replica setting respond_echo: true (in the rehearsal's "
                            "replica: block or the replica profile)",
                            detail={"delay": round(t - r.t, 3)},
                        )
                    return
        elif is_replica_start(ev):
            for r in self.pending:
                r.replies += 1
        self.tick(t)

    def tick(self, t: float, *, final: bool = False) -> None:
        while self.pending:
            r = self.pending[0]
            if not r.echoed and not (r.replies and (final or t - r.t >= self.NOT_ECHOED_AFTER)):
                return
            self.pending.popleft()
            if not r.echoed and self.a.respond_echo and self.utterances:
                self.report(
                    codes.RESPOND_NOT_ECHOED.code,
                    "",
                    t,
                    assumed="a conversation.respond comes back as a user utterance "
                    "(respond_echo: true)",
                    live=f'the respond "{_clip(r.text)}" was answered and never came back '
                    "as a user utterance",
                    fix="replica setting respond_echo: false",
                )

    def finish(self, t: float) -> None:
        self.tick(t, final=True)


@dataclass(slots=True)
class _Call:
    name: str
    call_id: str | None
    inference_id: str | None
    t: float
    turns: list[list[Any]] = field(default_factory=list)  # [t, text] of replica turns since
    echoes: int = 0  # echoes the client sent meanwhile (their turns are not the tool's)
    result_t: float | None = None
    status: str = "success"


class ToolSpeech(Detector):
    """Around a tool call: a filler the model would not speak (or the missing one it would), and
    a result the model would speak that live never did (or the other way round).

    Timing cannot tell a filler from a spoken result (a scenario answers a tool call at once, so
    both start after the result was sent), so this counts: the replica turns that start from the
    tool call (or an early filler of its inference, `EARLY` seconds before) until the visitor
    speaks, the client responds or calls again, or `result_wait` after the result, less the
    client's own echoes, against the turns the model would speak (a filler if ``on_call``
    speaks one, the result unless ``on_resolve`` is fire_and_forget or the result failed)."""

    EARLY = 2.0

    def __init__(self, assumptions: Assumptions, report: Report):
        super().__init__(assumptions, report)
        self.open: _Call | None = None
        self.last_start: list[Any] | None = None  # [t, inference_id, text] of the last turn

    def event(self, ev: Event, t: float) -> None:
        call = self.open
        if ev.type == "tool_call":
            self._close(t)
            call = self.open = _Call(ev.name or "?", ev.tool_call_id, ev.inference_id, t)
            last = self.last_start
            if (
                last is not None
                and t - last[0] <= self.EARLY
                and ev.inference_id is not None
                and last[1] == ev.inference_id
            ):
                call.turns.append([last[0], last[2]])
        elif is_replica_start(ev):
            self.last_start = [t, ev.inference_id, None]
            if call is not None:
                call.turns.append([t, None])
        elif ev.type == "utterance" and ev.role == "replica":
            if self.last_start is not None and self.last_start[2] is None:
                self.last_start[2] = ev.text
                if call is not None and call.turns and call.turns[-1][1] is None:
                    call.turns[-1][1] = ev.text
        elif ev.type in ("user.started_speaking",) or (
            ev.type == "utterance" and ev.role == "user"
        ):
            self._close(t)
        self.tick(t)

    def sent(self, message: dict[str, Any], t: float) -> None:
        call = self.open
        if call is None:
            return
        event_type = message.get("event_type")
        props = message.get("properties")
        props = props if isinstance(props, dict) else {}
        if event_type == "conversation.tool_result":
            if props.get("tool_call_id") == call.call_id and call.result_t is None:
                call.result_t = t
                status = props.get("status")
                call.status = status if status in ("success", "error") else "success"
        elif event_type == "conversation.echo":
            if props.get("modality") != "audio" or props.get("done") is True:
                call.echoes += 1
        elif event_type == "conversation.respond":
            self._close(t)

    def tick(self, t: float) -> None:
        call = self.open
        if (
            call is not None
            and call.result_t is not None
            and t - call.result_t >= self.a.result_wait
        ):
            self._close(t)

    def finish(self, t: float) -> None:
        self._close(t)

    def _close(self, t: float) -> None:
        call, self.open = self.open, None
        if call is None:
            return
        rule = self.a.tool(call.name)
        turns = call.turns[: max(0, len(call.turns) - call.echoes)]
        want_filler = rule.filler
        answered = call.result_t is not None
        want_result = (
            answered
            and rule.speaks_result
            and call.result_t is not None
            and call.result_t - call.t <= self.a.follow_up_window
        )
        if not answered:
            if turns and not want_filler:
                self._filler(call, rule, turns[0], t)
            return
        expected = int(want_filler) + int(want_result)
        if len(turns) == expected:
            return
        assert call.result_t is not None
        if len(turns) > expected:
            extra = len(turns) - expected
            if not want_filler and not want_result and extra == 1:
                # one turn, neither expected: before the result it was a filler; after it,
                # count it as the result spoken (a result sent at once blurs the two)
                if turns[0][0] <= call.result_t:
                    self._filler(call, rule, turns[0], t)
                else:
                    self._result_spoken(call, rule, turns[0], t)
            elif not want_filler:
                self._filler(call, rule, turns[0], t)
                if not want_result and extra > 1:
                    self._result_spoken(call, rule, turns[-1], t)
            elif not want_result:
                self._result_spoken(call, rule, turns[-1], t)
            return
        # fewer turns than the model speaks
        if want_filler and want_result and turns:
            if turns[0][0] <= call.result_t:  # spoke before the result: that was the filler
                self._result_unspoken(call, rule, t)
            else:
                self._no_filler(call, rule, t)
        elif want_result:
            self._result_unspoken(call, rule, t)
            if want_filler:
                self._no_filler(call, rule, t)
        elif want_filler:
            self._no_filler(call, rule, t)

    def _filler(self, call: _Call, rule: Any, turn: list[Any], t: float) -> None:
        self.report(
            codes.TOOL_FILLER.code,
            call.name,
            t,
            assumed=f"the replica stays silent while tool {call.name} runs "
            f"(on_call: {rule.on_call})",
            live=f'it spoke "{_clip(turn[1]) or "…"}" {turn[0] - call.t:+.1f}s from the tool '
            "call, besides anything it said about the result",
            fix=f"persona tool {call.name}: on_call generate_filler (Tavus's default for llm "
            "tools) or static_filler with its static_filler text, in the persona file",
        )

    def _no_filler(self, call: _Call, rule: Any, t: float) -> None:
        self.report(
            codes.TOOL_NO_FILLER.code,
            call.name,
            t,
            assumed=f"the replica speaks a filler while tool {call.name} runs "
            f"(on_call: {rule.on_call})",
            live="it spoke no filler around the tool call",
            fix=f"persona tool {call.name}: an on_call that speaks nothing (the persona "
            "file's tool object, as /v2/tools returns it)",
        )

    def _result_spoken(self, call: _Call, rule: Any, turn: list[Any], t: float) -> None:
        assert call.result_t is not None
        self.report(
            codes.TOOL_RESULT_SPOKEN.code,
            call.name,
            t,
            assumed=f"nothing is spoken after tool {call.name}'s result "
            f"(on_resolve: {rule.on_resolve})",
            live=f'the replica said "{_clip(turn[1]) or "…"}" '
            f"{turn[0] - call.result_t:.1f}s after the result",
            fix=f"persona tool {call.name}: an on_resolve that speaks the result "
            "(not fire_and_forget)",
        )

    def _result_unspoken(self, call: _Call, rule: Any, t: float) -> None:
        assert call.result_t is not None
        waited = t - call.result_t
        error = ", a failed result is acknowledged" if call.status == "error" else ""
        self.report(
            codes.TOOL_RESULT_UNSPOKEN.code,
            call.name,
            t,
            assumed=f"the replica speaks about tool {call.name}'s result "
            f"(on_resolve: {rule.on_resolve}{error})",
            live=f"nothing was spoken about the {call.status} result in the {waited:.1f}s after it",
            fix=f"persona tool {call.name}: on_resolve fire_and_forget (Tavus's default: "
            "nothing spoken after the result); a scenario waiting to hear it never will",
            detail={"waited": round(waited, 3)},
        )


class UnknownSpellings(Detector):
    """Event types and roles the normaliser does not know (passed through, never folded)."""

    def __init__(self, assumptions: Assumptions, report: Report):
        super().__init__(assumptions, report)
        self.names: set[str] = set()

    def raw(self, message: dict[str, Any], t: float) -> None:
        event_type = message.get("event_type")
        if not isinstance(event_type, str) or not event_type:
            return
        if event_type not in KNOWN_EVENT_TYPES:
            self._unknown(f"event type {event_type!r}", event_type, t, event_type)
        props = message.get("properties")
        role = props.get("role") if isinstance(props, dict) else None
        if isinstance(role, str) and role.strip().lower() not in _ROLES:
            self._unknown(f"role {role!r} on {event_type}", f"role:{role}", t, event_type)

    def _unknown(self, what: str, key: str, t: float, event_type: str) -> None:
        key = key[:80]
        if key not in self.names:
            if len(self.names) >= _MAX_NAMES:
                key, what = "…", "more unknown spellings"
            self.names.add(key)
        self.report(
            codes.UNKNOWN_EVENT.code,
            key,
            t,
            assumed="the model sends only the event types and roles cviscript knows",
            live=f"{_clip(what, 120)} arrived; it reaches the scenario under its raw name "
            "(event: NAME matches it) and is never folded with a copy",
            fix="no replica setting makes the model send it: a scenario may match the raw "
            "name; tell the cviscript project, it may be a new Tavus event",
        )


@dataclass(slots=True)
class _Seen:
    form: tuple[str, str | None]
    arrival: int
    t: float
    seq: int | None


class LateCopies(Detector):
    """A copy that arrived too far from its original for the normaliser to fold it: the scenario
    saw one fact twice. The normaliser folds a copy in another spelling within `COPY_WINDOW`
    messages and `COPY_SECONDS`; this remembers further back (`memory` events)."""

    def __init__(self, assumptions: Assumptions, report: Report, memory: int = 512):
        super().__init__(assumptions, report)
        self.memory = memory
        self.seen: dict[tuple[Any, ...], _Seen] = {}
        self.arrivals = 0
        self.widest: tuple[int, float] = (0, 0.0)  # messages, seconds

    def arrived(self) -> None:
        self.arrivals += 1

    def event(self, ev: Event, t: float) -> None:
        self.is_late_copy(ev, t)

    def is_late_copy(self, ev: Event, t: float) -> bool:
        """Report `ev` if it is a late copy (True: the other detectors have seen its fact)."""
        from ..protocol.normalize import COPY_SECONDS, COPY_WINDOW

        key = copy_key(ev)
        if key is None:
            return False
        form = (ev.event_type, ev.properties.get("role") if ev.properties else None)
        before = self.seen.get(key)
        if before is not None and (
            before.form != form or (ev.seq is not None and ev.seq == before.seq)
        ):
            gap, seconds = self.arrivals - before.arrival, t - before.t
            self.widest = (max(self.widest[0], gap), max(self.widest[1], seconds))
            self.report(
                codes.LATE_COPY.code,
                "",
                t,
                assumed=f"a copy of an event arrives within {COPY_WINDOW} messages and "
                f"{COPY_SECONDS:g}s of the first (the normaliser's folding window; the model "
                "sends copies back to back)",
                live=f"{ev.event_type} repeated an event {gap} messages and {seconds:.1f}s "
                "after it, so the scenario saw that event twice",
                fix=f"the stream needs a folding window of at least {self.widest[0]} messages "
                f"and {self.widest[1]:.1f}s (cviscript calibrate measures it from recordings); "
                "until then, guard triggers that must fire once (once: / a state change)",
                detail={"messages": self.widest[0], "seconds": round(self.widest[1], 3)},
            )
            return True
        self.seen.pop(key, None)
        self.seen[key] = _Seen(form, self.arrivals, t, ev.seq)
        if len(self.seen) > self.memory:
            del self.seen[next(iter(self.seen))]
        return False


def copy_key(ev: Event) -> tuple[Any, ...] | None:
    """What two spellings of one event share (as the normaliser compares them); None for events
    whose repeats are normal (heartbeats)."""
    if ev.type in ("replica.present",):
        return None
    p = ev.properties or {}
    return (
        ev.type,
        ev.role,
        ev.text,
        ev.inference_id,
        ev.turn_idx,
        ev.name,
        ev.tool_call_id,
        repr(ev.arguments)[:200],
        p.get("content_index"),
        bool(p.get("final")),
        ev.interrupted,
        ev.perception,
    )


class JoinOrder(Detector):
    """Which side of the client's join the replica arrived on (a fact the session reports)."""

    def joined(self, replica_first: bool, t: float) -> None:
        if replica_first == self.a.replica_first:
            return
        if replica_first:
            live = (
                "the replica was already in the room when the client joined (anything it sent "
                "before was lost, system.replica_joined included)"
            )
            assumed = (
                "the replica joins after the client and announces itself with system.replica_joined"
            )
            fix = (
                "no replica setting models it yet; Tavus's docs say the replica normally waits "
                "in the room, so do not wait for system.replica_joined or a greeting the client "
                "may miss (the run starts on the replica's presence either way)"
            )
        else:
            live = "the replica joined after the client"
            assumed = "the replica is in the room before the client joins"
            fix = "expect system.replica_joined and the greeting after the client joins"
        self.report(codes.JOIN_ORDER.code, "", t, assumed=assumed, live=live, fix=fix)


class ShutdownReasons(Detector):
    def event(self, ev: Event, t: float) -> None:
        if ev.type != "shutdown":
            return
        reason = ev.text or ""
        if reason in self.a.shutdown_reasons:
            return
        known = ", ".join(sorted(self.a.shutdown_reasons)) or "none"
        self.report(
            codes.UNKNOWN_SHUTDOWN.code,
            reason[:80],
            t,
            assumed=f"a shutdown_reason the model can send ({known})",
            live=f'system.shutdown arrived with shutdown_reason "{_clip(reason) or "(none)"}"',
            fix="no replica setting sends it: a shutdown: trigger with where: "
            "{text: ...} still matches it; tell the cviscript project so the model learns it",
        )
