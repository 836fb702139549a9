"""Audio echo: reading a WAV, base64-encoding and chunking it into `conversation.echo` messages.

A 60-second 16-bit WAV (a spoken-like tone, written once to a temporary file) goes through what
an `echo: {audio: ...}` action does before the first chunk is sent: `load_wav` (mixing down and
resampling to 24 kHz mono when needed), `chunk_audio` (40 ms chunks, base64) and
`echo_audio_messages` (every chunk built as an interaction and checked against the 4 KB limit).
The baseline is the audio's own duration. Two rows: a 24 kHz mono file, which needs no
conversion, and the worst of the other common inputs (8, 16, 22.05, 44.1 and 48 kHz, mono and
stereo), which must be mixed down or resampled first.
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
import time
import wave
from array import array
from pathlib import Path

from common import Row, fmt_s

SECONDS = 60
CONVERTED = [(rate, channels) for rate in (8000, 16000, 22050, 44100, 48000) for channels in (1, 2)]


def write_wav(path: Path, rate: int, seconds: int, channels: int = 1) -> None:
    """A 180 Hz tone whose loudness swells once a second (one second, repeated)."""
    second = array(
        "h",
        (
            int(
                9000
                * math.sin(2 * math.pi * 180 * i / rate)
                * (0.6 + 0.4 * math.sin(2 * math.pi * i / rate))
            )
            for i in range(rate)
        ),
    )
    if channels == 2:  # the right channel a little quieter, so mixing down has work to do
        frames = array("h", bytes(4 * rate))
        frames[0::2] = second
        frames[1::2] = array("h", (v * 3 // 4 for v in second))
        second = frames
    if sys.byteorder == "big":
        second.byteswap()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(second.tobytes() * seconds)


def encode(path: Path) -> int:
    from cviscript.audio import echo_audio_messages, load_wav
    from cviscript.protocol import Interactions

    audio = load_wav(path)
    return len(echo_audio_messages(Interactions("c-bench"), audio))


def timed(path: Path) -> float:
    t0 = time.perf_counter()
    encode(path)
    return time.perf_counter() - t0


def label(rate: int, channels: int) -> str:
    return f"{rate / 1000:g} kHz {'stereo' if channels == 2 else 'mono'}"


def run(quick: bool = False) -> list[Row]:
    repeat = 3 if quick else 9
    with tempfile.TemporaryDirectory(prefix="cviscript-bench-audio-") as tmp:
        at24 = Path(tmp) / "speech-24k.wav"
        write_wav(at24, 24000, SECONDS)
        chunks = encode(at24)
        wall = statistics.median(timed(at24) for _ in range(repeat))
        walls = {}
        for rate, channels in CONVERTED:
            path = Path(tmp) / f"speech-{rate}-{channels}.wav"
            write_wav(path, rate, SECONDS, channels)
            encode(path)  # warm
            walls[rate, channels] = statistics.median(
                timed(path) for _ in range(max(3, repeat // 2))
            )
    share = wall / SECONDS
    worst = max(walls, key=walls.__getitem__)
    worst_share = walls[worst] / SECONDS
    each = ", ".join(f"{label(*k)} {v / SECONDS:.3%}" for k, v in walls.items())
    return [
        Row(
            what="audio echo encoding and chunking (60 s, 24 kHz mono)",
            figure=fmt_s(wall),
            baseline=f"audio duration {SECONDS} s",
            ratio=f"{share:.3%} of it",
            target="≤ 0.2% of the duration",
            ok=share <= 0.002,
            note=f"{chunks} messages of 40 ms",
        ),
        Row(
            what="… other rates, mixed down and resampled (60 s, worst of 8–48 kHz mono/stereo)",
            figure=f"{fmt_s(walls[worst])} ({label(*worst)})",
            baseline=f"audio duration {SECONDS} s",
            ratio=f"{worst_share:.3%} of it",
            target="≤ 0.2% of the duration",
            ok=worst_share <= 0.002,
            note=each,
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
