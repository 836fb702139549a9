"""The simulated visitor (`user:` rules): when something happens, do one thing.

Triggers (`on:`) are the transition triggers, matched by their kind (`cviscript.language.triggers`)
exactly as the engine matches them (regex search with named groups, `contains` any case-insensitive, `equals`
trimmed case-insensitive, `event` by canonical or raw name with `where`), plus two of the
rehearsal's own:

* `{state: NAME}` — the scenario entered that state (seen through `observe`'s "state" records);
* `at: DURATION` — this long after the session started.

The visitor is in the room, not behind the network: it reacts to the events as the replica emits
them, before any fault delays or loses them. `after: DURATION` means *the conversation has been
quiet this long*: no event at all for that time (the timer restarts on every emitted event), which
is how a visitor decides that nobody is going to say anything.

Each rule fires at most `times` times (0: no limit), counted when it triggers; its actions run
`delay` seconds later. `tool_call` happens at once. `perceive` is what perception sees, reported
as a server does during a call: on the rule's own utterance as ``user_visual_analysis`` when the
rule also says something, else at once as a vision ``conversation.perception_tool_call``. `say` waits until the replica is
silent — nothing speaking, queued or about to speak (a tool call waiting for its result does not
count: the replica is waiting for the client, not about to speak) — and until the visitor's own
previous words are out; with `barge_in: true` it only waits for the visitor's own words and cuts
the replica off. `interrupt: true` is a wordless barge-in. The visitor's words go
`user.started_speaking`, then after a speaking time `user.stopped_speaking` and the user
`utterance`, which the persona then answers (the replica model emits them, in its vintage).

`say`, `barge` and `perceive` do the same for a person typing at `cviscript run --interactive`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from ...engine.context import event_view
from ...language.model import AfterTrigger, AtTrigger, StateTrigger, UserRule
from ...language.triggers import kind_of
from ...protocol import Event
from ..replica_model import MIN_SPEECH, ModelSettings, ReplicaModel, speaking_time
from . import render

__all__ = ["MIN_SPEECH", "SimulatedUser", "speaking_time"]


@dataclass(slots=True)
class Turn:
    """One queued spoken action of the visitor."""

    text: str | None  # None: a wordless interruption
    barge_in: bool
    visual: str | None = None  # what perception saw, reported on this utterance
    typed: bool = False  # typed by a person at `run --interactive`


class SimulatedUser:
    def __init__(
        self, rules: list[UserRule], stage: ReplicaModel, settings: ModelSettings | None = None
    ):
        self.rules = list(rules)
        self.stage = stage
        self.settings = settings or ModelSettings()
        self.fired = [0] * len(self.rules)
        self._waiting: deque[Turn] = deque()
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
            kind = kind_of(rule.on)
            if not kind.matches_events:
                continue
            groups = kind.match(rule.on, event)
            if groups is not None:
                self._trigger(i, kind.view(event) if kind.adapts else event, groups)
        self._arm_idle_timers()

    # ------------------------------------------------------------- a person playing the visitor

    def say(self, text: str, *, barge_in: bool = False) -> None:
        """Words typed by a person playing the visitor (`cviscript run --interactive`): spoken
        like a rule's `say`, after the replica is silent unless `barge_in`. They are the
        visitor's next words, always: ahead of anything a scripted rule queued (`--with-script`),
        behind only what the person typed before."""
        self._typed(Turn(text, barge_in, typed=True))

    def barge(self) -> None:
        """Cut the replica off without words (a rule's `interrupt: true`)."""
        self._typed(Turn(None, True, typed=True))

    def _typed(self, turn: Turn) -> None:
        ahead = 0
        for waiting in self._waiting:
            if not waiting.typed:
                break
            ahead += 1
        self._waiting.insert(ahead, turn)
        self._pump_now()

    def perceive(self, text: str) -> None:
        """What perception sees, reported at once (a rule's `perceive` without `say`)."""
        self.stage.perceive(text)

    def unsaid(self) -> list[str]:
        """Why each of the visitor's waiting words was never said, for the end of a run: a
        polite visitor (no `barge_in`) waits for a silence, and a scenario that chains its
        speech may never leave one. Said in the transcript, else a rehearsal passes without the
        words it was written around and a typed line vanishes."""
        out = []
        for turn in self._waiting:
            if turn.text is None:
                continue
            words = turn.text if len(turn.text) <= 80 else turn.text[:79] + "…"
            how = "/barge TEXT" if turn.typed else "barge_in: true"
            out.append(
                f'"{words}" waited for the replica to be silent, and it never was before the '
                f"run ended ({how} says it at once)"
            )
        return out

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
        visual = None
        if rule.perceive is not None:
            visual = render.render_text(rule.perceive, ctx)
            if rule.say is None:
                stage.perceive(visual)
        if rule.tool_call is not None:
            arguments = render.render_value(rule.tool_call.arguments, ctx)
            stage.visitor_tool_call(rule.tool_call.name, arguments)
        if rule.interrupt:
            self._waiting.append(Turn(None, True))
        if rule.say is not None:
            text = render.render_text(rule.say, ctx)
            self._waiting.append(Turn(text, rule.barge_in, visual))
        self._pump_now()

    def _pump_now(self) -> None:
        self._pump_scheduled = False
        if self._speaking or not self._waiting:
            return
        turn = self._waiting[0]
        if not turn.barge_in and self.stage.busy():
            return  # the replica's next stop calls pump() again
        self._waiting.popleft()
        self._speak(turn)

    def _speak(self, turn: Turn) -> None:
        self._speaking = True
        s = self.settings
        started = self.stage.user_started(barge_in=turn.barge_in, wordless=turn.text is None)
        length = speaking_time(turn.text or "", s.user_words_per_minute, s.min_speech)
        self.stage.later(length, self._done_speaking, turn, started)

    def _done_speaking(self, turn: Turn, started: Any) -> None:
        self._speaking = False
        if turn.text is not None:
            self.said.append(turn.text)
        self.stage.user_finished(started, turn.text, turn.visual)
        self._pump_now()
