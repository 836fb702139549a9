"""The replica's voice: what waits to be spoken, what is being spoken, and cutting it off.

Speech becomes ready after a latency (an echo's, or the persona's reply latency) and is spoken
first ready, first spoken. Speaking goes: ``started_speaking``, the replica ``utterance`` holding
the whole text (Tavus sends it as speaking *starts*), on a 2026 server a
``conversation.utterance.streaming`` message each time a clause has been spoken (accumulated text,
``content_index``) and a final one as it ends (``final: true``, the text actually spoken), then
``stopped_speaking`` with its ``duration``. Speaking time follows the word count, or the audio's own
duration for an audio echo.

An interrupt drops everything not yet spoken (queued, still in its latency) as Tavus cancels the
inference; speech in progress stops at once with ``interrupted: true`` and, on a 2026 server, a
final streaming message with ``is_interrupted: true`` holding only the words spoken so far. A 2024
server says ``conversation.replica_interrupted`` instead.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .wire import Wire

_CLAUSE_END = re.compile(r"[.!?,;:]$")


@dataclass(slots=True)
class Speech:
    text: str
    length: float  # seconds of speaking
    inference_id: str
    turn_idx: int | None = None  # None: a new turn when it starts
    started_at: float = 0.0
    content_index: int = 0
    timers: list[Any] = field(default_factory=list)
    # streamed as conversation.utterance.streaming chunks (2026); the custom greeting is not:
    # Tavus sends it as a single-shot utterance (Tavus-Engineering/tavus-interviewer
    # src/hooks/useUtteranceEvents.ts: "Tavus emits the greeting only as a single-shot event")
    stream: bool = True


def clauses(text: str, length: float) -> list[tuple[float, str]]:
    """(seconds into the speech, text spoken so far) at the end of every clause but the last."""
    words = text.split()
    out = []
    for i, word in enumerate(words[:-1]):
        if _CLAUSE_END.search(word):
            out.append((length * (i + 1) / len(words), " ".join(words[: i + 1])))
    return out


def spoken_part(text: str, fraction: float) -> str:
    words = text.split()
    return " ".join(words[: int(len(words) * max(0.0, min(1.0, fraction)))])


class Speaker:
    def __init__(
        self,
        wire: Wire,
        later: Callable[..., Any],
        now: Callable[[], float],
        on_quiet: Callable[[], None],
    ):
        self.wire = wire
        self._later = later
        self._now = now
        self._on_quiet = on_quiet  # called whenever nothing is speaking, queued or pending
        self.current: Speech | None = None
        self._queue: deque[Speech] = deque()
        self._pending: dict[int, Any] = {}  # speech in its latency
        self._keys = 0
        self.spoken: list[Speech] = []  # every speech that started, in order

    def busy(self) -> bool:
        """Speaking, or something queued or in its latency."""
        return self.current is not None or bool(self._queue) or bool(self._pending)

    def request(self, speech: Speech, latency: float) -> None:
        self._keys += 1
        key = self._keys
        self._pending[key] = self._later(latency, self._ready, key, speech)

    def speak_first(self, speech: Speech) -> None:
        """Speak `speech` now, ahead of everything (the greeting as the replica joins)."""
        self._queue.appendleft(speech)
        self.settle()

    def _ready(self, key: int, speech: Speech) -> None:
        self._pending.pop(key, None)
        self._queue.append(speech)
        self.settle()

    def settle(self) -> None:
        if self.current is None and self._queue:
            self._start(self._queue.popleft())
        if not self.busy():
            self._on_quiet()

    def _start(self, speech: Speech) -> None:
        wire = self.wire
        self.current = speech
        self.spoken.append(speech)
        speech.started_at = self._now()
        wire.speeches += 1
        if speech.turn_idx is None:
            speech.turn_idx = wire.next_turn()
        turn, inf = speech.turn_idx, speech.inference_id
        wire.speaking("replica", True, turn, inf)
        wire.replica_says("conversation.utterance", {"speech": speech.text}, turn, inf)
        if wire.modern and speech.text and speech.stream:
            for at, so_far in clauses(speech.text, speech.length):
                speech.timers.append(self._later(at, self._stream, speech, so_far))
        speech.timers.append(self._later(speech.length, self._finish, speech))

    def _stream(self, speech: Speech, so_far: str, final: bool = False, cut: bool = False) -> None:
        props: dict[str, Any] = {
            "speech": so_far,
            "content_index": speech.content_index,
            "final": final,
        }
        if cut:
            props["is_interrupted"] = True
        speech.content_index += 1
        assert speech.turn_idx is not None
        self.wire.replica_says(
            "conversation.utterance.streaming", props, speech.turn_idx, speech.inference_id
        )

    def _finish(self, speech: Speech) -> None:
        self.current = None
        speech.timers.clear()  # all fired; `spoken` keeps the speech, not its spent timers
        if self.wire.modern and speech.text and speech.stream:
            self._stream(speech, speech.text, final=True)
        self._stopped(speech, round(speech.length, 3), interrupted=False)
        self.settle()

    def _stopped(self, speech: Speech, duration: float, interrupted: bool) -> None:
        assert speech.turn_idx is not None
        self.wire.speaking(
            "replica",
            False,
            speech.turn_idx,
            speech.inference_id,
            {"duration": duration, "interrupted": interrupted},
        )

    def interrupt(self) -> None:
        for timer in self._pending.values():
            timer.cancel()
        self._pending.clear()
        self._queue.clear()
        speech, self.current = self.current, None
        if speech is not None:
            for timer in speech.timers:
                timer.cancel()
            speech.timers.clear()
            elapsed = self._now() - speech.started_at
            assert speech.turn_idx is not None
            if self.wire.modern:
                if speech.text and speech.stream:
                    fraction = elapsed / speech.length if speech.length > 0 else 1.0
                    so_far = spoken_part(speech.text, fraction)
                    self._stream(speech, so_far, final=True, cut=True)
            else:
                self.wire.send(
                    "conversation.replica_interrupted",
                    turn_idx=speech.turn_idx,
                    inference_id=speech.inference_id,
                )
            self._stopped(speech, round(elapsed, 3), interrupted=True)
        self.settle()
