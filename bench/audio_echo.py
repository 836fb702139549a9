"""Audio echo: reading a WAV, base64-encoding and chunking it into `conversation.echo` messages.

A 60-second 16-bit WAV (a spoken-like tone, written once to a temporary file) goes through what
an `echo: {audio: ...}` action does before the first chunk is sent: `load_wav` (mixing down and
resampling to 24 kHz mono when needed), `chunk_audio` (40 ms chunks, base64) and
`echo_audio_messages` (every chunk built as an interaction and checked against the 4 KB limit).
The baseline is the audio's own duration. Two rows: a 24 kHz mono file, which needs no
conversion, and the worst of the other common inputs (8, 16, 22.05, 44.1 and 48 kHz, mono and
stereo), which must be mixed down or resampled first.

Two more rows compare the conversion (soxr since it replaced a hand-written linear interpolator)
with that interpolator, kept in `linear_resampler.py` and measured in the same run: the time to
convert 60 s of 48 kHz stereo to 24 kHz mono (the two alternate, median of several), and the
aliasing of a 10 s sweep from 12 to 24 kHz at 48 kHz converted to 24 kHz. All of that sweep lies
above the new Nyquist frequency (12 kHz), so everything left in the output is aliased energy,
reported relative to the input in dB (faded in and out, so that its ends add no energy below
12 kHz).
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
from linear_resampler import linear_to_mono

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


def sweep(rate: int, seconds: int, low: float, high: float) -> bytes:
    """16-bit mono PCM of a linear sweep at half of full scale, faded in and out over 0.1 s."""
    import numpy as np

    t = np.arange(rate * seconds) / rate
    phase = 2 * np.pi * (low * t + (high - low) * t * t / (2 * seconds))
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.1)
    return (
        np.rint(0.5 * 32767 * np.sin(np.pi / 2 * fade) ** 2 * np.sin(phase)).astype("<i2").tobytes()
    )


def energy_db(out: bytes, reference: bytes) -> float:
    import numpy as np

    def power(pcm: bytes) -> float:
        return float(np.mean(np.frombuffer(pcm, "<i2").astype(np.float64) ** 2))

    return 10 * math.log10(max(power(out), 1e-12) / power(reference))


def aliasing() -> tuple[float, float]:
    """Aliased energy (dB) of a 12–24 kHz sweep at 48 kHz converted to 24 kHz: soxr, linear."""
    from cviscript.audio import to_mono

    pcm = sweep(48000, 10, 12000, 24000)
    return (
        energy_db(to_mono(pcm, 1, 48000, 24000), pcm),
        energy_db(linear_to_mono(pcm, 1, 48000, 24000), pcm),
    )


def conversion_times(path: Path, repeat: int) -> tuple[float, float]:
    """Median seconds to convert the file's PCM to 24 kHz mono: soxr, then the old interpolator
    (alternating, so that both see the same machine)."""
    from cviscript.audio import to_mono

    with wave.open(str(path), "rb") as w:
        channels, rate = w.getnchannels(), w.getframerate()
        pcm = w.readframes(w.getnframes())
    new, old = [], []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        to_mono(pcm, channels, rate, 24000)
        t1 = time.perf_counter()
        linear_to_mono(pcm, channels, rate, 24000)
        t2 = time.perf_counter()
        new.append(t1 - t0)
        old.append(t2 - t1)
    return statistics.median(new[1:]), statistics.median(old[1:])  # the first warms up


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
        soxr_s, linear_s = conversion_times(Path(tmp) / "speech-48000-2.wav", repeat)
    soxr_db, linear_db = aliasing()
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
            what="… other rates, mixed down and resampled by soxr (60 s, worst of 8–48 kHz "
            "mono/stereo)",
            figure=f"{fmt_s(walls[worst])} ({label(*worst)})",
            baseline=f"audio duration {SECONDS} s",
            ratio=f"{worst_share:.3%} of it",
            target="≤ 0.2% of the duration",
            ok=worst_share <= 0.002,
            note=each,
        ),
        Row(
            what="48 kHz stereo → 24 kHz mono conversion alone, soxr (60 s)",
            figure=fmt_s(soxr_s),
            baseline=f"hand-written linear interpolation {fmt_s(linear_s)}",
            ratio=f"{soxr_s / linear_s:.2f}× its time; {soxr_s / SECONDS:.3%} of the duration",
            target="≤ 0.2% of the duration",
            ok=soxr_s / SECONDS <= 0.002,
            note="the interpolator cviscript used before (no anti-alias filter), same run",
        ),
        Row(
            what="aliasing: a 12–24 kHz sweep at 48 kHz converted to 24 kHz, soxr",
            figure=f"{soxr_db:.1f} dB",
            baseline=f"hand-written linear interpolation {linear_db:.1f} dB",
            ratio=f"{linear_db - soxr_db:.0f} dB less",
            target="≤ −90 dB (16-bit noise floor ≈ −96 dB)",
            ok=soxr_db <= -90,
            note="aliased energy left in the 16-bit output, relative to the sweep",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
