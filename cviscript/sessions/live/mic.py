"""The visitor's voice in a live conversation: a daily-python virtual microphone, fed paced PCM.

A live rehearsal that speaks (a user rule with `voice:`, or ``--visitor voice``) joins the room
with a virtual microphone as its enabled input, so the replica's speech recognition and
turn-taking hear real audio. daily-python 0.36 (checked against the installed SDK):

* ``Daily.create_microphone_device(device_name, sample_rate=16000, channels=1,
  non_blocking=False)``, after ``Daily.init()`` and before joining; the device is selected with
  ``client_settings={"inputs": {"microphone": {"isEnabled": True, "settings": {"deviceId": NAME}}}}``
  (an unknown device name is accepted silently, so the name is ours to get right);
* ``write_frames(frames, completion=None) -> int`` takes 16-bit little-endian PCM bytes. A blocking
  device would block the caller (the event loop), so the device is non-blocking and the speaker
  paces itself: one 20 ms chunk per 20 ms of the run's clock.

The pace is kept against the utterance's start, not from one chunk to the next: chunk *i* is due
*i* × 20 ms after the first, and a late timer (a busy event loop) writes every chunk that is due.
Chaining 20 ms timers instead let each one's lateness add up — under load an utterance lasted
far longer on the run's clock than its audio (in the fake room at 20x, a 2.5 s question took over
10 s, so a 10 s `after:` timer beat the visitor's words).

`Speaker.play` writes one utterance; when its last chunk is written, `on_done` runs. A device
that offers ``transcript_hint`` (only the fake room's: it cannot recognise speech) is told the
words as the audio ends. Only one microphone can be active per process (daily-python).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ... import errors
from ...clock import Clock

SAMPLE_RATE = 16000
CHUNK_SECONDS = 0.02
DEVICE_NAME = "cviscript-visitor"
_EPSILON = 1e-9  # seconds: float rounding never holds a due chunk back a whole timer


def create_microphone(daily: Any, name: str = DEVICE_NAME) -> Any:
    """A non-blocking virtual microphone at 16 kHz mono (the SDK must be initialised)."""
    try:
        return daily.Daily.create_microphone_device(
            name, sample_rate=SAMPLE_RATE, channels=1, non_blocking=True
        )
    except Exception as exc:  # an SDK without virtual devices, bad arguments
        raise errors.ConnectError(f"could not create the virtual microphone: {exc}") from exc


def client_settings_with_microphone(base: dict[str, Any], name: str) -> dict[str, Any]:
    """`base` join settings (a copy) with the virtual microphone `name` enabled and published."""
    settings = copy.deepcopy(base)
    settings["inputs"]["microphone"] = {"isEnabled": True, "settings": {"deviceId": name}}
    settings["publishing"]["microphone"] = {"isPublishing": True}
    return settings


class Speaker:
    """Plays utterances into a virtual microphone on `clock`, one at a time."""

    def __init__(self, device: Any, clock: Clock, sample_rate: int = SAMPLE_RATE):
        self.device = device
        self.clock = clock
        self.sample_rate = sample_rate
        self.chunk = int(sample_rate * CHUNK_SECONDS) * 2  # bytes
        self.frames_written = 0
        self._handle: Any = None
        self._started = 0.0  # when the utterance playing now began, on `clock`
        self.playing = False

    def play(self, pcm: bytes, text: str | None, on_done: Callable[[], None]) -> float:
        """Start writing `pcm`; returns its length in seconds. `on_done` runs after the last
        chunk (an utterance already playing is cut: a visitor speaks one thing at a time)."""
        self.stop()
        self.playing = True
        chunks = [pcm[i : i + self.chunk] for i in range(0, len(pcm), self.chunk)] or [b""]
        self._started = self.clock.now()
        self._write(chunks, 0, text, on_done)
        return len(pcm) / 2 / self.sample_rate

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.playing = False

    def _write(self, chunks: list[bytes], i: int, text: str | None, on_done: Callable) -> None:
        """Write every chunk due by now (chunk i at i x CHUNK_SECONDS); the utterance is over
        one chunk's length after the last."""
        self._handle = None
        elapsed = self.clock.now() - self._started + _EPSILON
        while i < len(chunks) and i * CHUNK_SECONDS <= elapsed:
            if chunks[i]:
                self.device.write_frames(chunks[i])
                self.frames_written += len(chunks[i]) // 2
            i += 1
        if i < len(chunks) or elapsed < len(chunks) * CHUNK_SECONDS:
            self._handle = self.clock.call_later(
                i * CHUNK_SECONDS - elapsed + _EPSILON, self._write, chunks, i, text, on_done
            )
            return
        self.playing = False
        hint = getattr(self.device, "transcript_hint", None)
        if hint is not None and text is not None:
            hint(text)
        on_done()
