"""Audio echo: WAV files become conversation.echo chunks that fit the wire."""

from __future__ import annotations

import base64
import math
import random
import sys
import time
import wave
from array import array

import pytest

from cviscript import errors
from cviscript.audio import (
    DEFAULT_CHUNK_MS,
    PcmAudio,
    chunk_audio,
    decoded_seconds,
    echo_audio_messages,
    load_wav,
    max_chunk_ms,
    new_inference_id,
)
from cviscript.protocol import (
    MAX_MESSAGE_CHARS,
    Interactions,
    ProtocolError,
    message_size,
    parse_interaction,
)

# a long, realistic conversation id so the size checks are not flattered
CID = "c" + "0123456789abcdef" * 3


def write_wav(path, samples, *, rate, channels=1, width=2) -> str:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            data = array("h", samples)
            if sys.byteorder == "big":
                data.byteswap()
            w.writeframes(data.tobytes())
        else:
            w.writeframes(bytes(samples))
    return str(path)


def tone(n, rate, freq=440.0, amp=8000):
    return [int(amp * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)]


def pcm_samples(audio: PcmAudio) -> list[int]:
    data = array("h")
    data.frombytes(audio.pcm)
    if sys.byteorder == "big":
        data.byteswap()
    return data.tolist()


def decode_all(messages) -> bytes:
    return b"".join(base64.b64decode(m["properties"]["audio"]) for m in messages)


def test_mono_24k_loaded_as_is(tmp_path):
    samples = tone(24000, 24000)
    audio = load_wav(write_wav(tmp_path / "a.wav", samples, rate=24000), target_rate=24000)
    assert audio.sample_rate == 24000
    assert pcm_samples(audio) == samples
    assert audio.duration == pytest.approx(1.0)
    assert audio.source_rate == 24000 and audio.source_channels == 1


def test_mono_16k_resampled_to_24k(tmp_path):
    samples = tone(16000 * 2, 16000, freq=200)
    audio = load_wav(write_wav(tmp_path / "b.wav", samples, rate=16000))
    assert audio.sample_rate == 24000
    assert audio.duration == pytest.approx(2.0, abs=0.001)
    out = pcm_samples(audio)
    # every third output sample lands exactly on an input sample (24k/16k = 3/2)
    assert out[0::3][:1000] == samples[0::2][:1000]
    # in between, linear interpolation stays between the neighbours
    for i in range(1, 300, 3):
        lo, hi = sorted((samples[(i * 2) // 3], samples[(i * 2) // 3 + 1]))
        assert lo - 1 <= out[i] <= hi + 1


def test_stereo_48k_downmixed_and_resampled(tmp_path):
    frames = 4800  # 0.1 s
    interleaved = []
    for i in range(frames):
        interleaved += [1000 + i % 7, -3000 + i % 7]
    audio = load_wav(
        write_wav(tmp_path / "c.wav", interleaved, rate=48000, channels=2), target_rate=48000
    )
    assert pcm_samples(audio) == [(1000 + i % 7 - 3000 + i % 7) // 2 for i in range(frames)]
    assert audio.source_channels == 2
    resampled = load_wav(str(tmp_path / "c.wav"))
    assert resampled.sample_rate == 24000
    assert resampled.duration == pytest.approx(0.1, abs=0.001)


def test_downmix_averages_channels(tmp_path):
    audio = load_wav(
        write_wav(tmp_path / "d.wav", [100, 300, -200, -400, 32767, 32767], rate=8000, channels=2),
        target_rate=8000,
    )
    assert pcm_samples(audio) == [200, -300, 32767]


@pytest.mark.parametrize("width, bits", [(1, "8-bit"), (3, "24-bit"), (4, "32-bit")])
def test_other_sample_widths_refused_with_advice(tmp_path, width, bits):
    path = tmp_path / "e.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(24000)
        w.writeframes(bytes(width * 100))
    with pytest.raises(errors.CviscriptError) as info:
        load_wav(str(path))
    text = str(info.value)
    assert bits in text and "16-bit" in text and str(path) in text
    assert "sox" in text and "-b 16" in text


def test_float_wav_refused(tmp_path):
    # a minimal IEEE-float WAV (format tag 3), which `wave` cannot read
    data = bytes(400)
    fmt = (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + (24000).to_bytes(4, "little")
    fmt += (96000).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    body += b"data" + len(data).to_bytes(4, "little") + data
    path = tmp_path / "f.wav"
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    with pytest.raises(errors.CviscriptError, match="16-bit PCM") as info:
        load_wav(str(path))
    assert str(path) in str(info.value)


def test_missing_and_corrupt_files(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(errors.CviscriptError, match="nope.wav"):
        load_wav(str(missing))
    corrupt = tmp_path / "bad.wav"
    corrupt.write_bytes(b"this is not a wav file at all")
    with pytest.raises(errors.CviscriptError, match="bad.wav"):
        load_wav(str(corrupt))
    empty = write_wav(tmp_path / "empty.wav", [], rate=24000)
    with pytest.raises(errors.CviscriptError, match="no audio"):
        load_wav(empty)


def test_default_chunk_fits_and_max_chunk_is_known():
    limit = max_chunk_ms(24000)
    assert DEFAULT_CHUNK_MS <= 50 <= limit < 100  # 100 ms at 24 kHz would be ~6.4 KB
    it = Interactions(CID)
    for ms in (DEFAULT_CHUNK_MS, limit):
        audio = PcmAudio(bytes(24000 * 2), 24000)
        for m in echo_audio_messages(it, audio, chunk_ms=ms):
            assert message_size(m) <= MAX_MESSAGE_CHARS
    with pytest.raises(ProtocolError, match=f"at most {limit} ms"):
        echo_audio_messages(it, PcmAudio(bytes(24000 * 2), 24000), chunk_ms=limit + 1)


def test_echo_audio_messages(tmp_path):
    samples = tone(24000 * 3 + 123, 24000)  # does not divide evenly into 40 ms chunks
    audio = load_wav(write_wav(tmp_path / "g.wav", samples, rate=24000))
    messages = echo_audio_messages(Interactions(CID), audio)
    assert len(messages) == math.ceil(len(samples) / 960)
    assert all(message_size(m) < MAX_MESSAGE_CHARS for m in messages)
    assert len({m["properties"]["inference_id"] for m in messages}) == 1
    assert [m["properties"]["done"] for m in messages] == [False] * (len(messages) - 1) + [True]
    assert all(m["properties"]["sample_rate"] == 24000 for m in messages)
    assert all(m["properties"]["modality"] == "audio" for m in messages)
    assert all(m["event_type"] == "conversation.echo" for m in messages)
    assert all(m["conversation_id"] == CID for m in messages)
    assert decode_all(messages) == audio.pcm
    assert parse_interaction(messages[-1]).properties["done"] is True
    total = sum(
        decoded_seconds(m["properties"]["audio"], m["properties"]["sample_rate"]) for m in messages
    )
    assert total == pytest.approx(audio.duration)


def test_even_division_ends_with_short_silence_done():
    audio = PcmAudio(b"\x01\x02" * 960 * 5, 24000)  # exactly five 40 ms chunks
    chunks = chunk_audio(audio)
    assert len(chunks) == 6
    assert [done for _, done in chunks] == [False] * 5 + [True]
    tail = base64.b64decode(chunks[-1][0])
    assert 0 < len(tail) < 1920 and set(tail) == {0}
    assert b"".join(base64.b64decode(c) for c, _ in chunks[:-1]) == audio.pcm


def test_chunk_length_configurable_and_ids():
    audio = PcmAudio(bytes(16000 * 2), 16000)  # 1 s at 16 kHz
    chunks = chunk_audio(audio, chunk_ms=80)
    assert len(base64.b64decode(chunks[0][0])) == 2560
    messages = echo_audio_messages(Interactions(CID), audio, chunk_ms=80, inference_id="fixed")
    assert {m["properties"]["inference_id"] for m in messages} == {"fixed"}
    a, b = new_inference_id(), new_inference_id()
    assert a != b and len(a) == 32
    first = echo_audio_messages(Interactions(CID), audio)[0]["properties"]["inference_id"]
    second = echo_audio_messages(Interactions(CID), audio)[0]["properties"]["inference_id"]
    assert first != second  # one id per utterance
    with pytest.raises(errors.CviscriptError):
        chunk_audio(audio, chunk_ms=0)


# The straightforward per-sample conversion cviscript used before (kept as the reference):
# channels averaged and rounded, then linear interpolation in floating point.


def reference_downmix(samples: list[int], channels: int) -> list[int]:
    planes = [samples[c::channels] for c in range(channels)]
    return [(sum(frame) + channels // 2) // channels for frame in zip(*planes, strict=True)]


def reference_resample(x: list[int], src: int, dst: int) -> list[int]:
    n, step = len(x), src / dst
    x = x + [x[-1]]
    out = []
    for i in range(max(1, round(n * dst / src))):
        pos = i * step
        j = int(pos)
        if j >= n - 1:
            out.append(x[n - 1])
        else:
            out.append(int(x[j] + (x[j + 1] - x[j]) * (pos - j) + 32768.5) - 32768)
    return out


def exact_mono(x: list[int], src: int, dst: int) -> list[int]:
    """Linear interpolation in exact arithmetic, rounded half up."""
    g = math.gcd(src, dst)
    s, d = src // g, dst // g
    x = x + [x[-1]]
    out = []
    for i in range(max(1, round((len(x) - 1) * dst / src))):
        j, r = divmod(i * s, d)
        out.append((2 * (x[j] * (d - r) + x[j + 1] * r) + d) // (2 * d))
    return out


def convert(tmp_path, samples, *, rate, channels, target=24000) -> list[int]:
    path = write_wav(tmp_path / f"r{rate}c{channels}.wav", samples, rate=rate, channels=channels)
    audio = load_wav(path, target_rate=target)
    assert audio.sample_rate == target
    return pcm_samples(audio)


def random_signal(rng, n):
    """Full-scale noise with runs of extremes, silence and steps: the worst case for rounding."""
    out = []
    while len(out) < n:
        kind = rng.random()
        if kind < 0.5:
            out += [rng.randint(-32768, 32767) for _ in range(rng.randint(1, 50))]
        else:
            out += [rng.choice((-32768, 32767, 0, -1, 1))] * rng.randint(1, 5)
    return out[:n]


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 7919])
@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_conversion_within_one_of_the_per_sample_reference(tmp_path, rate, channels):
    rng = random.Random(rate * 10 + channels)
    for frames in (1, 2, 3, 7, 1500):
        samples = random_signal(rng, frames * channels)
        got = convert(tmp_path, samples, rate=rate, channels=channels)
        mono = reference_downmix(samples, channels) if channels > 1 else samples
        want = reference_resample(mono, rate, 24000)
        assert len(got) == len(want)
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 1


# with one channel and the reduced ratio's denominator below 128, the result is exact
@pytest.mark.parametrize(
    "rate, target",
    [(r, 24000) for r in (8000, 12000, 16000, 32000, 44100, 48000, 96000)]
    + [(r, 16000) for r in (8000, 12000, 24000, 48000)],
)
def test_mono_resampling_is_exact_at_common_rates(tmp_path, rate, target):
    rng = random.Random(rate + target)
    for frames in (1, 2, 5, 3001):
        samples = random_signal(rng, frames)
        got = convert(tmp_path, samples, rate=rate, channels=1, target=target)
        assert got == exact_mono(samples, rate, target)


def test_many_channels(tmp_path):
    # 306 channels at full scale: their weighted sums need wider lanes than stereo's
    samples = [32767] * 306 * 4 + [-32768] * 306 * 4
    assert convert(tmp_path, samples, rate=24000, channels=306) == [32767] * 4 + [-32768] * 4
    assert convert(tmp_path, samples, rate=48000, channels=306) == [32767] * 2 + [-32768] * 2


@pytest.mark.parametrize("channels", [2, 3, 4, 5, 6, 8])
def test_mixing_down_alone_is_exact(tmp_path, channels):
    samples = random_signal(random.Random(channels), 2000 * channels)
    got = convert(tmp_path, samples, rate=24000, channels=channels)
    assert got == reference_downmix(samples, channels)


def test_conversion_is_many_times_faster_than_per_sample(tmp_path):
    rate = 44100
    samples = tone(rate * 10 * 2, rate)  # ten seconds of stereo
    path = write_wav(tmp_path / "long.wav", samples, rate=rate, channels=2)
    start = time.perf_counter()
    audio = load_wav(path)
    elapsed = time.perf_counter() - start
    assert audio.duration == pytest.approx(10.0, abs=0.001)
    # the per-sample reference on the same machine and moment, so a loaded machine cannot fail it
    start = time.perf_counter()
    reference_resample(reference_downmix(samples, 2), rate, 24000)
    reference = time.perf_counter() - start
    assert elapsed * 4 < reference
