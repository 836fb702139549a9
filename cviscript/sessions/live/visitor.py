"""The rehearsal's visitor (`user:` rules) played into a live conversation, from the client side.

In simulated rehearsal the visitor stands inside the simulated room. Live, cviscript is only a
participant: the same rules (`sessions.simulated.user.SimulatedUser`, unchanged) run here on the
run's clock, against a *stage* made of what a participant can know and do:

* what happened: the run's trace — states entered, events received (a rule's `on:` is matched
  exactly as in simulation);
* whether the replica is busy: speaking (``replica.started_speaking`` until
  ``replica.stopped_speaking``), or about to — an ``echo``/``respond`` this run sent, or the
  visitor's own words, not yet answered by speech. A participant cannot see the replica think, so
  an expected answer that never starts is given up after `ANSWER_WAIT` seconds;
* speaking: a rule's `say` goes as text through ``conversation.respond`` (``--visitor text``, the
  default against Tavus), or as audio through the virtual microphone (`mic.Speaker`): a rule's
  WAV file (``voice: FILE``), text synthesised by `tts` (``voice: true``, or ``--visitor voice``),
  or — in the fake room only, which hears no words — silence as long as the simulated visitor
  would speak, with the words as the device's transcript hint.

`perceive:` and `tool_call:` rules cannot be played by a participant (the replica's camera and
LLM do those); `unplayable` names them so a live case fails before anything is created.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ...clock import Clock
from ...language.model import Rehearsal, UserRule
from ...trace import TraceRecord
from ..replica_model import ModelSettings, speaking_time
from ..simulated.user import SimulatedUser, Turn
from .mic import Speaker

ANSWER_WAIT = 5.0  # seconds an expected answer may take to start before it is given up
SPEAKS = ("conversation.echo", "conversation.respond")

Audio = Callable[[UserRule | None, str], "bytes | None"]  # the PCM to speak for a rule's text


def unplayable(case: Rehearsal) -> list[str]:
    """The case's user rules a live participant cannot play, described."""
    out = []
    for rule in case.user:
        where = f" ({rule.loc})" if rule.loc else ""
        if rule.perceive is not None:
            out.append(f"perceive:{where}")
        if rule.tool_call is not None:
            out.append(f"tool_call:{where}")
    return out


class _Timer:
    __slots__ = ("handle",)

    def __init__(self, handle: Any):
        self.handle = handle

    def cancel(self) -> None:
        self.handle.cancel()


class ClientStage:
    """What `SimulatedUser` calls on its stage, done by a participant of a live conversation."""

    def __init__(self, clock: Clock, send: Callable[[dict[str, Any]], None], interactions: Any):
        self.clock = clock
        self._send = send
        self._interactions = interactions
        self.speaker: Speaker | None = None  # set for spoken visitors
        self.audio: Audio | None = None
        self.speaking = False
        self._expected: list[Any] = []  # answers expected to start (timer handles)
        self.user: LiveVisitor | None = None
        self.closed = False
        self.said: list[tuple[str, str]] = []  # (how, text)

    # ------------------------------------------------------------------ SimulatedUser's view
    def later(self, delay: float, callback: Callable[..., Any], *args: Any) -> _Timer:
        def run() -> None:
            if not self.closed:
                callback(*args)

        return _Timer(self.clock.call_later(delay, run))

    def busy(self) -> bool:
        return self.speaking or bool(self._expected)

    def user_started(self, *, barge_in: bool = False, wordless: bool = False) -> Any:
        if barge_in:
            self._send(self._interactions.interrupt())
        return None

    def user_finished(self, turn: Any, text: str | None, visual: str | None = None) -> None:
        if text is None or self.closed:
            return
        if self.speaker is None:
            self.said.append(("respond", text))
            self._send(self._interactions.respond(text))  # the run's trace records it as sent
        self._expect_answer()

    def perceive(self, analysis: str) -> None:  # refused before the run (`unplayable`)
        raise RuntimeError("perceive: cannot be played into a live conversation")

    def visitor_tool_call(self, name: str, arguments: Any) -> None:
        raise RuntimeError("tool_call: cannot be played into a live conversation")

    # ----------------------------------------------------------------------- what happened
    def _expect_answer(self) -> None:
        holder: list[Any] = []

        def give_up() -> None:
            if holder and holder[0] in self._expected:
                self._expected.remove(holder[0])
                self._quiet()

        holder.append(self.clock.call_later(ANSWER_WAIT, give_up))
        self._expected.append(holder[0])

    def observe(self, record: TraceRecord) -> None:
        if self.closed or self.user is None:
            return
        if record.kind == "state":
            name = record.data.get("state")
            if isinstance(name, str):
                self.user.on_state(name)
        elif record.kind == "sent":
            message = record.data.get("message")
            kind = message.get("event_type") if isinstance(message, dict) else None
            if kind in SPEAKS and not (self.speaker is None and self._mine(message)):
                self._expect_answer()
        elif record.kind == "received" and record.event is not None:
            event = record.event
            if event.type == "replica.started_speaking":
                self.speaking = True
                if self._expected:
                    self._expected.pop(0).cancel()
            elif event.type == "replica.stopped_speaking":
                self.speaking = False
            if event.event_type != "system.replica_present":
                self.user.on_event(event)
            if event.type == "replica.stopped_speaking":
                self._quiet()

    def _mine(self, message: dict[str, Any]) -> bool:
        """A respond the visitor sent (its answer is already expected)."""
        text = (message.get("properties") or {}).get("text")
        return bool(self.said) and self.said[-1] == ("respond", text)

    def _quiet(self) -> None:
        if not self.busy() and self.user is not None:
            self.user.pump()

    def close(self) -> None:
        self.closed = True
        for handle in self._expected:
            handle.cancel()
        self._expected.clear()
        if self.speaker is not None:
            self.speaker.stop()


class LiveVisitor(SimulatedUser):
    """`SimulatedUser` whose spoken turns are real audio when a microphone is given."""

    def __init__(self, rules: list[UserRule], stage: ClientStage, settings: ModelSettings):
        super().__init__(rules, stage, settings)  # type: ignore[arg-type]
        self.client = stage
        stage.user = self
        self._rule_of: dict[int, UserRule] = {}

    def _act(self, rule: UserRule, ctx: dict[str, Any]) -> None:
        self._current_rule = rule  # a turn spoken at once
        super()._act(rule, ctx)
        if self._waiting and self._waiting[-1].text is not None:
            self._rule_of[id(self._waiting[-1])] = rule  # a turn that waits for silence

    def _speak(self, turn: Turn) -> None:
        stage = self.client
        if stage.speaker is None or turn.text is None:
            super()._speak(turn)
            return
        self._speaking = True
        started = stage.user_started(barge_in=turn.barge_in)
        rule = self._rule_of.pop(id(turn), getattr(self, "_current_rule", None))
        pcm = stage.audio(rule, turn.text) if stage.audio is not None else None
        if pcm is None:  # the fake room: silence as long as the simulated visitor speaks
            s = self.settings
            length = speaking_time(turn.text, s.user_words_per_minute, s.min_speech)
            pcm = bytes(int(length * stage.speaker.sample_rate) * 2)
        stage.said.append(("voice", turn.text))
        stage.speaker.play(pcm, turn.text, lambda: self._done_speaking(turn, started))


def wav_path(rule: UserRule | None, scenario_path: str | None) -> str | None:
    """The WAV file a rule speaks (relative to the scenario's folder), if it names one."""
    if rule is None or not isinstance(rule.voice, str):
        return None
    if os.path.isabs(rule.voice) or not scenario_path:
        return rule.voice
    return os.path.join(os.path.dirname(scenario_path), rule.voice)
