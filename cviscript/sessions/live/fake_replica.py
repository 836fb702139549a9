"""A scripted Tavus replica inside a `FakeDaily` room: a testing aid for the whole live path.

`FakeDaily` alone is a silent room. `FakeReplica` makes it behave like a Tavus conversation, on the
fake's one callback thread (so everything reaches the session from a foreign thread, as with the
real SDK), following docs/protocol.md:

* once the client has joined, the replica participant (user id ``tavus-replica-…``) enters and
  announces itself with ``system.replica_joined``;
* a text echo is spoken after `latency`: ``replica.started_speaking``, the replica ``utterance``
  with the whole text, and after a speaking time that follows the word count,
  ``replica.stopped_speaking`` with its `duration`; ``respond`` (and scripted user speech) is
  answered by `persona`; speech requested while speaking waits its turn;
* audio echo chunks are collected per `inference_id` and spoken once ``done`` arrives, for the
  audio's own duration divided by `audio_speed`;
* ``interrupt`` stops the speech at once (``stopped_speaking`` with ``interrupted: true``) and drops
  everything queued;
* scripted extras: user speech (`user`), messages from another participant (`spoof`), a
  ``system.shutdown`` (`shutdown_after`), the replica leaving (`leave_after`), the network going
  (`disconnect_after`). Times count from the replica's arrival.

Events carry ``seq``, ``turn_idx``, ``inference_id`` and a wall-clock ``timestamp``. The defaults
are fast (tens of milliseconds), for tests. `fake_daily_from_env` builds a fake room from the
``CVISCRIPT_FAKE_DAILY`` environment variable, which makes the command line use it instead of
daily-python (see `cviscript.cli.live_common`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ... import errors
from ...protocol import parse_interaction, server_event
from .fake_daily import FakeDaily
from .tavus_api import conversation_id_from_url

FAKE_DAILY_ENV = "CVISCRIPT_FAKE_DAILY"

Persona = Callable[[str], "str | None"]


def default_persona(text: str) -> str:
    return f"I heard: {text}"


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
    ):
        self.fake = fake
        self.conversation_id = conversation_id
        self.join_after = join_after
        self.announce = announce
        self.latency = latency
        self.seconds_per_word = seconds_per_word
        self.min_speech = min_speech
        self.audio_speed = audio_speed
        self.persona = persona
        self.user = list(user)
        self.spoof = list(spoof)
        self.shutdown_after = shutdown_after
        self.leave_after = leave_after
        self.disconnect_after = disconnect_after
        self.present = present
        # what happened (read them after the run)
        self.heard: list[Any] = []  # every interaction received, parsed
        self.audio: dict[str, list[dict[str, Any]]] = {}  # inference id -> chunk properties
        self.emitted: list[dict[str, Any]] = []
        # speech state, touched on the fake's callback thread only
        self._seq = itertools.count(1)
        self._turn = itertools.count(1)
        self._queue: deque[tuple[str, float, str]] = deque()  # (text, seconds, inference id)
        self._speaking: tuple[str, float, str, int, float] | None = None  # ..., turn, started
        self._epoch = 0  # bumped by interrupt: stale timers do nothing
        fake.on_joined = self._on_joined
        fake.on_send = self._on_send

    # ----------------------------------------------------------------------------- timeline
    def _on_joined(self) -> None:
        if self.conversation_id is None:
            self.conversation_id = conversation_id_from_url(self.fake.join_calls[-1]["url"])
        if not self.present:
            return
        t0 = self.join_after
        self.fake.replica_joins(after=t0)
        if self.announce:
            self._at(t0, lambda: self._emit("system.replica_joined"))
        for at, text in self.user:
            self._at(t0 + at, lambda text=text: self._user_says(text))
        for at, text in self.spoof:
            message = server_event(
                "conversation.utterance",
                self.conversation_id,
                {"role": "user", "speech": text},
                seq=10_000 + int(at * 1000),
            )
            self.fake.other_says(message, after=t0 + at)
        if self.shutdown_after is not None:
            reason = "end_conversation_endpoint_hit"
            self._at(
                t0 + self.shutdown_after,
                lambda: self._emit("system.shutdown", {"shutdown_reason": reason}),
            )
        if self.leave_after is not None:
            self.fake.replica_leaves(after=t0 + self.leave_after)
        if self.disconnect_after is not None:
            self.fake.disconnect("network connection lost", after=t0 + self.disconnect_after)

    def _at(self, after: float, fn: Callable[[], None]) -> None:
        self.fake._schedule(fn, after)

    def _emit(
        self,
        event_type: str,
        properties: dict[str, Any] | None = None,
        *,
        turn: int | None = None,
        inference_id: str | None = None,
    ) -> None:
        message = server_event(
            event_type,
            self.conversation_id or "",
            properties,
            seq=next(self._seq),
            turn_idx=turn,
            inference_id=inference_id,
            timestamp=round(time.time(), 6),
        )
        self.emitted.append(message)
        self.fake._deliver(message, self.fake.replica_id)

    # ---------------------------------------------------------------------------- hearing
    def _on_send(self, message: Any) -> None:  # the sender's thread: hand over to ours
        self.fake._schedule(lambda: self._hear(message))

    def _hear(self, message: Any) -> None:
        interaction = parse_interaction(message)
        if interaction is None:
            return
        self.heard.append(interaction)
        kind, props = interaction.kind, interaction.properties
        if kind == "echo" and isinstance(props.get("text"), str):
            self._later(props["text"], None)
        elif kind == "respond" and isinstance(props.get("text"), str):
            self._answer(props["text"])
        elif kind == "echo_audio":
            self._audio_chunk(props)
        elif kind == "interrupt":
            self._interrupt()

    def _user_says(self, text: str) -> None:
        turn = next(self._turn)
        self._emit("conversation.user.started_speaking", turn=turn)
        self._emit("conversation.user.stopped_speaking", turn=turn)
        self._emit("conversation.utterance", {"role": "user", "speech": text}, turn=turn)
        self._answer(text)

    def _answer(self, text: str) -> None:
        reply = self.persona(text) if self.persona is not None else None
        if reply:
            self._later(reply, None)

    def _audio_chunk(self, props: dict[str, Any]) -> None:
        inference_id = str(props.get("inference_id") or "")
        self.audio.setdefault(inference_id, []).append(props)
        if props.get("done"):
            seconds = 0.0
            for chunk in self.audio[inference_id]:
                try:
                    size = len(base64.b64decode(chunk.get("audio") or "", validate=True))
                except (binascii.Error, ValueError):
                    size = 0
                seconds += size / 2 / max(1, int(chunk.get("sample_rate") or 16000))
            self._later("", seconds, inference_id)

    # ----------------------------------------------------------------------------- speech
    def _later(self, text: str, seconds: float | None, inference_id: str | None = None) -> None:
        if seconds is None:
            seconds = max(self.min_speech, len(text.split()) * self.seconds_per_word)
        epoch = self._epoch
        item = (text, seconds, inference_id or uuid.uuid4().hex)

        def ready() -> None:
            if epoch == self._epoch:
                self._queue.append(item)
                self._next()

        self._at(self.latency, ready)

    def _next(self) -> None:
        if self._speaking is not None or not self._queue:
            return
        text, seconds, inference_id = self._queue.popleft()
        turn = next(self._turn)
        self._speaking = (text, seconds, inference_id, turn, time.monotonic())
        self._emit("conversation.replica.started_speaking", turn=turn, inference_id=inference_id)
        if text:
            self._emit(
                "conversation.utterance",
                {"role": "replica", "speech": text},
                turn=turn,
                inference_id=inference_id,
            )
        epoch = self._epoch
        wait = seconds / self.audio_speed if not text else seconds
        self._at(wait, lambda: self._stopped(epoch))

    def _stopped(self, epoch: int) -> None:
        if epoch != self._epoch or self._speaking is None:
            return
        _text, seconds, inference_id, turn, _started = self._speaking
        self._speaking = None
        self._emit(
            "conversation.replica.stopped_speaking",
            {"duration": round(seconds, 3), "interrupted": False},
            turn=turn,
            inference_id=inference_id,
        )
        self._next()

    def _interrupt(self) -> None:
        self._epoch += 1
        self._queue.clear()
        speaking, self._speaking = self._speaking, None
        if speaking is not None:
            _text, _seconds, inference_id, turn, started = speaking
            self._emit(
                "conversation.replica.stopped_speaking",
                {"duration": round(time.monotonic() - started, 3), "interrupted": True},
                turn=turn,
                inference_id=inference_id,
            )


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
}


def fake_daily_from_env(spec: str) -> FakeDaily:
    """A fake room from a ``CVISCRIPT_FAKE_DAILY`` value: ``1`` (a replica that joins and talks)
    or a JSON object of `FakeReplica` settings plus ``user`` / ``spoof`` (lists of
    ``[seconds, text]``), ``persona`` (``{regex: reply}``, first match wins; ``null``: silent),
    ``fail_join`` (an error string) and ``hang_join`` (seconds; ``-1``: forever)."""
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
        elif key == "fail_join":
            fake.fail_join(str(value))
        elif key == "hang_join":
            fake.hang_join(float("inf") if float(value) < 0 else float(value))
        else:
            raise errors.UsageError(f"{FAKE_DAILY_ENV}: unknown setting {key!r}")
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
