"""The one replica model inside a `FakeDaily` room: a testing aid for the whole live path.

`FakeDaily` alone is a silent room. `FakeReplica` puts the replica model
(`cviscript.sessions.replica_model`, the same server rehearsals run against) in it, on a wall clock
whose callbacks run on the fake's one callback thread, so everything reaches the live session from
a foreign thread, as with the real SDK:

* once the client has joined, the replica participant (user id ``tavus-replica-…``) enters after
  `join_after` and the model joins: ``system.replica_joined`` (unless `announce` is off), the
  greeting, heartbeats; anything the client sent before is lost, as on Daily;
* the client's microphone (a `FakeDaily` virtual microphone) is heard as the visitor speaking:
  the first frames after silence start a user turn (``user.started_speaking``), and the
  device's ``transcript_hint(text)`` ends it with those words (the user utterance, which the
  persona answers) — the fake has no speech recognition, so the words come with the audio;
* the client's app-messages reach the model (``echo``, ``respond``, audio echo, ``interrupt``,
  context, ``tool_result``); `persona` (a function from what was heard to a reply) answers;
* scripted extras: user speech (`user`), messages from another participant (`spoof`), a
  ``system.shutdown`` (`shutdown_after`), the replica leaving (`leave_after`), the network going
  (`disconnect_after`). Times count from the replica's arrival.

The defaults are fast (tens of milliseconds), for tests. `fake_daily_from_env` builds a fake room
from the ``CVISCRIPT_FAKE_DAILY`` environment variable, which makes the command line use it
instead of daily-python (see `cviscript.cli.live_common`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from ... import errors
from ...clock import Clock
from ...protocol import Interaction, parse_interaction, server_event
from ..live.tavus_api import conversation_id_from_url
from ..replica_model import FunctionPersona, ModelSettings, ReplicaModel
from ..replica_model.presence import END_ENDPOINT
from . import FAKE_DAILY_ENV
from .daily_room import FakeDaily
from .misbehave import Misbehaving, Misbehaviour

Persona = Callable[[str], "str | None"]


def default_persona(text: str) -> str:
    return f"I heard: {text}"


class _Handle:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class RoomClock(Clock):
    """Wall time; callbacks run on the fake room's callback thread (as daily-python's do).
    `speed` > 1 runs the room faster than real time (a live rehearsal in the fake room)."""

    def __init__(self, fake: FakeDaily, speed: float = 1.0):
        self._fake = fake
        self.speed = speed

    def now(self) -> float:
        return time.monotonic() * self.speed

    def wall(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> _Handle:
        delay = delay / self.speed
        handle = _Handle()

        def run() -> None:
            if not handle.cancelled:
                callback(*args)

        self._fake.schedule(run, max(0.0, delay))
        return handle


class FakeReplica:
    """Attach to `fake` (one room, one replica); everything starts when the client joins."""

    def __init__(
        self,
        fake: FakeDaily,
        *,
        conversation_id: str | None = None,
        join_after: float = 0.02,
        announce: bool = True,
        latency: float = 0.02,
        seconds_per_word: float = 0.01,
        min_speech: float = 0.03,
        audio_speed: float = 10.0,
        persona: Persona | None = default_persona,
        user: Iterable[tuple[float, str]] = (),
        spoof: Iterable[tuple[float, str]] = (),
        shutdown_after: float | None = None,
        leave_after: float | None = None,
        disconnect_after: float | None = None,
        present: bool = True,
        vintage: str = "2026",
        greeting: str | None = None,
        heartbeat: float = 10.0,
        max_call_duration: float | None = None,
        settings: ModelSettings | None = None,
        model_persona: Any = None,
        speed: float = 1.0,
        misbehave: Misbehaviour | None = None,
        persona_file: Any = None,
    ):
        """`settings` / `model_persona` (a `replica_model` persona) replace the ones built from
        the arguments above (a live rehearsal passes its case's); `speed`: see `RoomClock`;
        `misbehave`: how this replica differs from the model (`misbehave.Misbehaviour`)."""
        self.fake = fake
        self.speed = speed
        self.conversation_id = conversation_id
        self.join_after = join_after
        self.user = list(user)
        self.spoof = list(spoof)
        self.shutdown_after = shutdown_after
        self.leave_after = leave_after
        self.disconnect_after = disconnect_after
        self.present = present
        wpm = 60.0 / seconds_per_word if seconds_per_word > 0 else 0.0
        self.settings = ModelSettings(
            words_per_minute=wpm,
            user_words_per_minute=wpm,
            echo_latency=latency,
            reply_latency=latency,
            join_delay=join_after,
            min_speech=min_speech,
            audio_speed=audio_speed,
            vintage="2024" if str(vintage) == "2024" else "2026",
            greeting=greeting,
            heartbeat=heartbeat,
            announce=announce,
            max_call_duration=max_call_duration,
            persona_file=persona_file,
            pipeline=persona_file.pipeline_mode if persona_file is not None else "full",
        )
        if settings is not None:
            self.settings = settings
            self.join_after = settings.join_delay
        self.misbehave = misbehave or Misbehaviour()
        if self.misbehave.replica_first:  # already in the room; it never announces itself
            self.settings = dataclasses.replace(self.settings, announce=False, join_delay=0.0)
            self.join_after = 0.0
            fake.replica_in_room = True
        self._misbehaving = Misbehaving(self.misbehave, self._deliver)
        echo = self.misbehave.respond_echo
        if echo is not None and hasattr(self.settings, "respond_echo"):
            self.settings = dataclasses.replace(self.settings, respond_echo=echo)
        else:
            self._misbehaving.emulate_echo = bool(echo)
        self._persona = model_persona if model_persona is not None else FunctionPersona(persona)
        self.model: ReplicaModel | None = None
        # what happened (read them after the run)
        self.heard: list[Interaction] = []  # every interaction received, parsed
        self.audio: dict[str, list[dict[str, Any]]] = {}  # inference id -> chunk properties
        self.emitted: list[dict[str, Any]] = []
        self._mic_turn: Any = None  # the user turn the microphone is speaking
        fake.on_joined = self._on_joined
        fake.on_send = self._on_send
        fake.on_mic = lambda frames: fake.schedule(self._mic_heard)
        fake.on_mic_hint = lambda text: fake.schedule(lambda: self._mic_said(text))

    # ----------------------------------------------------------------------------- timeline
    def _on_joined(self) -> None:
        if self.conversation_id is None:
            self.conversation_id = conversation_id_from_url(self.fake.join_calls[-1]["url"])
        if not self.present:
            return
        model = ReplicaModel(
            RoomClock(self.fake, self.speed),
            self.settings,
            self._persona,
            conversation_id=self.conversation_id or "",
            out=self._out,
        )
        model.on_leave = lambda reason: self.fake.replica_leaves()
        self.model = model
        self._misbehaving.model = model
        t0 = self.join_after
        if not self.misbehave.replica_first:
            self.fake.replica_joins(after=t0 / self.speed)
        model.start()
        for at, text in self.user:
            model.later(t0 + at, self._user_says, text)
        for at, text in self.spoof:
            message = server_event(
                "conversation.utterance",
                self.conversation_id or "",
                {"role": "user", "speech": text},
                seq=10_000 + int(at * 1000),
            )
            self.fake.other_says(message, after=(t0 + at) / self.speed)
        if self.shutdown_after is not None:
            reason = self.misbehave.shutdown_reason or END_ENDPOINT
            model.later(t0 + self.shutdown_after, model.end, reason)
        if self.leave_after is not None:
            self.fake.replica_leaves(after=(t0 + self.leave_after) / self.speed)
        if self.disconnect_after is not None:
            self.fake.disconnect(
                "network connection lost", after=(t0 + self.disconnect_after) / self.speed
            )

    def _out(self, message: dict[str, Any]) -> None:
        self._misbehaving.out(message)

    def _deliver(self, message: dict[str, Any]) -> None:
        self.emitted.append(message)
        self.fake.deliver(message, self.fake.replica_id)

    # ---------------------------------------------------------------------------- hearing
    def _on_send(self, message: Any) -> None:  # the sender's thread: hand over to ours
        self.fake.schedule(lambda: self._hear(message))

    def _hear(self, message: Any) -> None:
        interaction = parse_interaction(message)
        if interaction is None:
            return
        self.heard.append(interaction)
        if interaction.kind == "echo_audio":
            inference_id = str(interaction.properties.get("inference_id") or "")
            self.audio.setdefault(inference_id, []).append(interaction.properties)
        if self.model is not None and self._misbehaving.hear(message):
            self.model.receive(message)

    def _mic_heard(self) -> None:
        if self.model is not None and self.model.joined and self._mic_turn is None:
            self._mic_turn = self.model.user_started()

    def _mic_said(self, text: str) -> None:
        turn, self._mic_turn = self._mic_turn, None
        if self.model is not None and turn is not None:
            self.model.user_finished(turn, text)

    def _user_says(self, text: str) -> None:
        assert self.model is not None
        turn = self.model.user_started()
        self.model.user_finished(turn, text)


# ---------------------------------------------------------------------------- from the env

_SPEC_KEYS = {
    "join_after": float,
    "announce": bool,
    "latency": float,
    "seconds_per_word": float,
    "min_speech": float,
    "audio_speed": float,
    "shutdown_after": float,
    "leave_after": float,
    "disconnect_after": float,
    "present": bool,
    "vintage": str,
    "greeting": str,
    "heartbeat": float,
    "max_call_duration": float,
}


def fake_daily_from_env(spec: str) -> FakeDaily:
    """A fake room from a ``CVISCRIPT_FAKE_DAILY`` value: ``1`` (a replica that joins and talks)
    or a JSON object of `FakeReplica` settings plus ``user`` / ``spoof`` (lists of
    ``[seconds, text]``), ``persona`` (``{regex: reply}``, first match wins; ``null``: silent),
    ``fail_join`` (an error string), ``hang_join`` (seconds; ``-1``: forever) and
    ``persona_file`` (a persona file the replica follows: echo mode, tools, perception)."""
    spec = spec.strip()
    settings: dict[str, Any] = {}
    if spec and spec.lower() not in ("1", "true", "yes"):
        try:
            settings = json.loads(spec)
        except ValueError as exc:
            raise errors.UsageError(f"{FAKE_DAILY_ENV} is not 1 or a JSON object: {exc}") from None
        if not isinstance(settings, dict):
            raise errors.UsageError(f"{FAKE_DAILY_ENV} must be 1 or a JSON object")
    fake = FakeDaily()
    kwargs: dict[str, Any] = {}
    for key, value in settings.items():
        if key in _SPEC_KEYS:
            kwargs[key] = _SPEC_KEYS[key](value)
        elif key in ("user", "spoof"):
            kwargs[key] = [(float(at), str(text)) for at, text in value]
        elif key == "persona":
            kwargs[key] = None if value is None else _rules_persona(value)
        elif key == "persona_file":  # the replica follows this persona (echo mode, tools ...)
            from ...language.persona_file import PersonaFileError, read_persona_file

            try:
                kwargs[key] = read_persona_file(str(value))
            except PersonaFileError as exc:
                raise errors.UsageError(f"{FAKE_DAILY_ENV}: {exc}") from None
        elif key == "misbehave":
            try:
                kwargs[key] = Misbehaviour.from_spec(value, f"{FAKE_DAILY_ENV}: misbehave")
            except ValueError as exc:
                raise errors.UsageError(str(exc)) from None
        elif key == "fail_join":
            fake.fail_join(str(value))
        elif key == "hang_join":
            fake.hang_join(float("inf") if float(value) < 0 else float(value))
        else:
            raise errors.UsageError(f"{FAKE_DAILY_ENV}: unknown setting {key!r}")
    if kwargs.get("vintage", "2026") not in ("2026", "2024"):
        raise errors.UsageError(f"{FAKE_DAILY_ENV}: vintage must be 2026 or 2024")
    FakeReplica(fake, **kwargs)
    return fake


def _rules_persona(rules: dict[str, str]) -> Persona:
    compiled = [(re.compile(pattern), reply) for pattern, reply in rules.items()]

    def persona(text: str) -> str | None:
        for pattern, reply in compiled:
            if pattern.search(text):
                return reply
        return None

    return persona
