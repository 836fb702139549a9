"""Audio echo: reading a WAV, base64-encoding and chunking it into `conversation.echo` messages.

A 60-second 24 kHz 16-bit mono WAV (a spoken-like tone, written once to a temporary file) goes
through what an `echo: {audio: ...}` action does before the first chunk is sent: `load_wav`,
`chunk_audio` (40 ms chunks, base64) and `echo_audio_messages` (every chunk built as an
interaction and checked against the 4 KB limit). The baseline is the audio's own duration. A
16 kHz file, which must be resampled to 24 kHz first, is given as a note.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
import wave
from array import array
from pathlib import Path

from common import Row, fmt_s

SECONDS = 60.0


def write_wav(path: Path, rate: int, seconds: float) -> None:
    n = int(rate * seconds)
    samples = array(
        "h",
        (
            int(9000 * math.sin(2 * math.pi * 180 * i / rate) * (0.6 + 0.4 * math.sin(i / rate)))
            for i in range(n)
        ),
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def encode(path: Path) -> int:
    from cviscript.audio import echo_audio_messages, load_wav
    from cviscript.protocol import Interactions

    audio = load_wav(path)
    return len(echo_audio_messages(Interactions("c-bench"), audio))


def run(quick: bool = False) -> list[Row]:
    repeat = 3 if quick else 9
    with tempfile.TemporaryDirectory(prefix="cviscript-bench-audio-") as tmp:
        at24, at16 = Path(tmp) / "speech-24k.wav", Path(tmp) / "speech-16k.wav"
        write_wav(at24, 24000, SECONDS)
        write_wav(at16, 16000, SECONDS)
        chunks = encode(at24)

        def timed(path: Path) -> float:
            t0 = time.perf_counter()
            encode(path)
            return time.perf_counter() - t0

        wall = statistics.median(timed(at24) for _ in range(repeat))
        wall16 = statistics.median(timed(at16) for _ in range(max(1, repeat // 3)))
    share = wall / SECONDS
    return [
        Row(
            what="audio echo encoding and chunking (60 s, 24 kHz)",
            figure=fmt_s(wall),
            baseline=f"audio duration {SECONDS:.0f} s",
            ratio=f"{share:.3%} of it",
            target="≤ 0.2% of the duration",
            ok=share <= 0.002,
            note=f"{chunks} messages of 40 ms; a 16 kHz file (resampled): {wall16 / SECONDS:.2%}",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
