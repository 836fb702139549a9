"""The simulated visitor (`user:` rules): when something happens, do one thing.

Triggers (`on:`) are the transition triggers, matched by `cviscript.engine.matchers` exactly as the
engine matches them (regex search with named groups, `contains` any case-insensitive, `equals`
trimmed case-insensitive, `event` by canonical or raw name with `where`), plus two of the
rehearsal's own:

* `{state: NAME}` — the scenario entered that state (seen through `observe`'s "state" records);
* `at: DURATION` — this long after the session started.

The visitor is in the room, not behind the network: it reacts to the events as the replica emits
them, before any fault delays or loses them. `after: DURATION` means *the conversation has been
quiet this long*: no event at all for that time (the timer restarts on every emitted event), which
is how a visitor decides that nobody is going to say anything.

Each rule fires at most `times` times (0: no limit), counted when it triggers; its actions run
`delay` seconds later. `perceive` and `tool_call` happen at once. `say` waits until the replica is
silent — nothing speaking, queued or about to speak (a tool call waiting for its result does not
count: the replica is waiting for the client, not about to speak) — and until the visitor's own
previous words are out; with `barge_in: true` it only waits for the visitor's own words and cuts
the replica off. `interrupt: true` is a wordless barge-in. The visitor's words go
`user.started_speaking`, then after a speaking time `user.stopped_speaking` and the user
`utterance`, which the persona then answers.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from ...engine.context import event_view
from ...engine.matchers import match
from ...language.model import AfterTrigger, AtTrigger, StateTrigger, UserRule
from ...protocol import Event
from . import render

MIN_SPEECH = 0.4  # seconds: the shortest utterance (also the length of a wordless interruption)


def speaking_time(text: str, words_per_minute: float) -> float:
    words = len(text.split())
    return max(MIN_SPEECH, words * 60.0 / words_per_minute) if words_per_minute > 0 else MIN_SPEECH


class Stage(Protocol):
    """What the visitor can do in the room (implemented by the simulated replica)."""

    def later(self, delay: float, callback: Any, *args: Any) -> Any: ...

    def replica_busy(self) -> bool: ...

    def emit(
        self,
        event_type: str,
        properties: dict[str, Any] | None = None,
        *,
        new_turn: bool = False,
        inference_id: str | None = None,
    ) -> None: ...

    def cut_off(self) -> None: ...

    def heard(self, text: str, event: dict[str, Any]) -> None: ...

    def next_id(self, prefix: str) -> str: ...


@dataclass(slots=True)
class _Turn:
    """One queued spoken action of the visitor."""

    text: str | None  # None: a wordless interruption
    barge_in: bool


class SimulatedUser:
    def __init__(self, rules: list[UserRule], stage: Stage, words_per_minute: float = 150.0):
        self.rules = list(rules)
        self.stage = stage
        self.words_per_minute = words_per_minute
        self.fired = [0] * len(self.rules)
        self._waiting: deque[_Turn] = deque()
        self._speaking = False
        self._pump_scheduled = False
        self._idle_timers: dict[int, Any] = {}
        self.said: list[str] = []  # what the visitor said, in order

    # --------------------------------------------------------------------------------- inputs

    def start(self) -> None:
        for i, rule in enumerate(self.rules):
            if isinstance(rule.on, AtTrigger):
                self.stage.later(rule.on.seconds, self._trigger, i, None, {})
        self._arm_idle_timers()

    def on_state(self, name: str) -> None:
        for i, rule in enumerate(self.rules):
            if isinstance(rule.on, StateTrigger) and rule.on.state == name:
                self._trigger(i, None, {}, {"type": "state", "state": name})

    def on_event(self, event: Event) -> None:
        for i, rule in enumerate(self.rules):
            if isinstance(rule.on, StateTrigger | AtTrigger | AfterTrigger):
                continue
            groups = match(rule.on, event)
            if groups is not None:
                self._trigger(i, event, groups)
        self._arm_idle_timers()

    def busy(self) -> bool:
        return self._speaking or bool(self._waiting)

    def pump(self) -> None:
        """Something may have gone quiet: try the waiting words (after the events of this instant)."""
        if self._waiting and not self._pump_scheduled:
            self._pump_scheduled = True
            self.stage.later(0.0, self._pump_now)

    # -------------------------------------------------------------------------------- firing

    def _live(self, i: int) -> bool:
        times = self.rules[i].times
        return times == 0 or self.fired[i] < times

    def _trigger(
        self,
        i: int,
        event: Event | None,
        groups: dict[str, Any],
        view: dict[str, Any] | None = None,
    ) -> None:
        if not self._live(i):
            return
        self.fired[i] += 1
        ctx = render.context(groups, view if view is not None else event_view(event, groups))
        self.stage.later(self.rules[i].delay, self._act, self.rules[i], ctx)

    def _arm_idle_timers(self) -> None:
        for i, rule in enumerate(self.rules):
            if not isinstance(rule.on, AfterTrigger):
                continue
            old = self._idle_timers.pop(i, None)
            if old is not None:
                old.cancel()
            if self._live(i):
                self._idle_timers[i] = self.stage.later(rule.on.seconds, self._on_idle, i)

    def _on_idle(self, i: int) -> None:
        self._idle_timers.pop(i, None)
        self._trigger(i, None, {}, {"type": "after"})

    # ------------------------------------------------------------------------------- actions

    def _act(self, rule: UserRule, ctx: dict[str, Any]) -> None:
        stage = self.stage
        if rule.perceive is not None:
            analysis = render.render_text(rule.perceive, ctx)
            stage.emit("conversation.perception_analysis", {"analysis": analysis})
        if rule.tool_call is not None:
            arguments = render.render_value(rule.tool_call.arguments, ctx)
            stage.emit(
                "conversation.tool_call",
                {
                    "name": rule.tool_call.name,
                    "arguments": json.dumps(arguments, sort_keys=True),
                    "tool_call_id": stage.next_id("call"),
                },
                inference_id=stage.next_id("inf"),
            )
        if rule.interrupt:
            self._waiting.append(_Turn(None, True))
        if rule.say is not None:
            self._waiting.append(_Turn(render.render_text(rule.say, ctx), rule.barge_in))
        self._pump_now()

    def _pump_now(self) -> None:
        self._pump_scheduled = False
        if self._speaking or not self._waiting:
            return
        turn = self._waiting[0]
        if not turn.barge_in and self.stage.replica_busy():
            return  # the replica's next stop calls pump() again
        self._waiting.popleft()
        self._speak(turn)

    def _speak(self, turn: _Turn) -> None:
        self._speaking = True
        self.stage.emit("conversation.user.started_speaking", new_turn=True)
        if turn.barge_in:
            self.stage.cut_off()
        length = speaking_time(turn.text or "", self.words_per_minute)
        self.stage.later(length, self._done_speaking, turn)

    def _done_speaking(self, turn: _Turn) -> None:
        self._speaking = False
        self.stage.emit("conversation.user.stopped_speaking")
        if turn.text is not None:
            self.said.append(turn.text)
            self.stage.emit("conversation.utterance", {"role": "user", "speech": turn.text})
            self.stage.heard(turn.text, {"type": "utterance", "role": "user", "text": turn.text})
        self._pump_now()
