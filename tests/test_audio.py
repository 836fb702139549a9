"""Audio echo: WAV files become conversation.echo chunks that fit the wire."""

from __future__ import annotations

import base64
import math
import random
import sys
import wave
from array import array
from fractions import Fraction

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
    assert audio.duration == pytest.approx(2.0)
    assert audio.source_rate == 16000 and audio.source_channels == 1
    # the same tone, in time, at the new rate: within the rounding of both files
    out = pcm_samples(audio)
    assert len(out) == 48000
    want = tone(48000, 24000, freq=200)
    assert max(abs(a - b) for a, b in zip(out[100:-100], want[100:-100], strict=True)) <= 2


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


# Conversion quality: what soxr brings over the linear interpolation cviscript used before.


def convert(tmp_path, samples, *, rate, channels, target=24000) -> list[int]:
    path = write_wav(tmp_path / f"r{rate}c{channels}.wav", samples, rate=rate, channels=channels)
    audio = load_wav(path, target_rate=target)
    assert audio.sample_rate == target
    return pcm_samples(audio)


def faded_tone(seconds, rate, freq, amp=16000):
    """A tone faded in and out over 10 ms by a raised cosine (the same envelope in time at every
    rate), so that its ends add no energy at other frequencies."""

    def envelope(t: float) -> float:
        return math.sin(math.pi / 2 * min(1.0, 100 * t, 100 * (seconds - t))) ** 2

    return [
        round(amp * math.sin(2 * math.pi * freq * i / rate) * envelope(i / rate))
        for i in range(round(seconds * rate))
    ]


def rms(x) -> float:
    return math.sqrt(sum(v * v for v in x) / len(x))


def linear_interpolation(x: list[int], src: int, dst: int) -> list[int]:
    """What cviscript did before soxr: linear interpolation between samples, no filter."""
    out = []
    for i in range(max(1, round(len(x) * dst / src))):
        pos = i * src / dst
        j = min(int(pos), len(x) - 1)
        nxt = x[min(j + 1, len(x) - 1)]
        out.append(round(x[j] + (nxt - x[j]) * (pos - j)))
    return out


@pytest.mark.parametrize(
    "rate, target, freq",
    [(48000, 24000, 15000), (48000, 24000, 20000), (44100, 16000, 12000), (32000, 8000, 6000)],
)
def test_a_tone_above_the_new_nyquist_is_filtered_out(tmp_path, rate, target, freq):
    samples = faded_tone(0.4, rate, freq)
    got = convert(tmp_path, samples, rate=rate, channels=1, target=target)
    assert rms(got) < rms(samples) / 1000  # at least 60 dB down (measured: about 100)
    # linear interpolation folds it back into the audible band, barely weakened
    assert rms(linear_interpolation(samples, rate, target)) > rms(samples) / 3


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_a_tone_below_it_keeps_its_level_and_timing(tmp_path, rate):
    samples = faded_tone(0.4, rate, 1000)
    got = convert(tmp_path, samples, rate=rate, channels=1)
    want = faded_tone(0.4, 24000, 1000)
    assert len(got) == len(want)
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 3


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 7919])
@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_converted_length_and_duration(tmp_path, rate, channels):
    rng = random.Random(rate * 10 + channels)
    for frames in (1, 2, 3, 7, 1500, rate + 1):
        samples = [rng.randint(-32768, 32767) for _ in range(frames * channels)]
        got = convert(tmp_path, samples, rate=rate, channels=channels)
        # frames * 24000 / rate, rounded half up; one sample at least
        assert len(got) == max(1, (2 * frames * 24000 + rate) // (2 * rate))


def test_full_scale_steps_are_clipped_not_wrapped(tmp_path):
    # a full-scale square wave: the anti-alias filter overshoots it, and 16 bits must not wrap
    square = ([32767] * 24 + [-32768] * 24) * 1000
    got = convert(tmp_path, square, rate=48000, channels=1)
    assert min(got) == -32768 and max(got) == 32767
    assert all(v > 20000 for v in got[98:106]) and all(v < -20000 for v in got[110:118])


def test_many_channels(tmp_path):
    samples = [32767] * 306 * 2400 + [-32768] * 306 * 2400
    assert convert(tmp_path, samples, rate=24000, channels=306) == [32767] * 2400 + [-32768] * 2400
    got = convert(tmp_path, samples, rate=48000, channels=306)
    assert len(got) == 2400
    assert got[100:1100] == [32767] * 1000 and got[1300:2300] == [-32768] * 1000


@pytest.mark.parametrize("channels", [2, 3, 4, 5, 6, 8])
def test_mixing_down_alone_is_exact(tmp_path, channels):
    rng = random.Random(channels)
    samples = [
        rng.choice((-32768, 32767, 0, 1, -1, rng.randint(-32768, 32767)))
        for _ in range(2000 * channels)
    ]
    got = convert(tmp_path, samples, rate=24000, channels=channels)
    frames = zip(*(samples[c::channels] for c in range(channels)), strict=True)
    assert got == [round(Fraction(sum(frame), channels)) for frame in frames]  # ties to even


# ------------------------------------------------ a header that lies (hardening round three)


def test_a_header_that_lies_about_its_rate_is_refused_before_reading(tmp_path):
    import tracemalloc

    from cviscript.audio import inspect_wav

    path = write_wav(tmp_path / "slow.wav", [0] * 20_000, rate=1)  # 40 KB said to last 5.5 h
    tracemalloc.start()
    for check in (inspect_wav, load_wav):
        with pytest.raises(errors.CviscriptError, match="1 Hz"):
            check(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000  # it took 3.8 GB to resample


def test_a_header_announcing_more_audio_than_the_file_holds_is_refused(tmp_path):
    from cviscript.audio import inspect_wav

    path = tmp_path / "short.wav"
    write_wav(path, [0] * 1000, rate=24000)
    data = bytearray(path.read_bytes())
    data[40:44] = (10_000_000).to_bytes(4, "little")  # the data chunk's size
    path.write_bytes(bytes(data))
    with pytest.raises(errors.CviscriptError, match="header announces"):
        inspect_wav(path)


def test_too_long_too_wide_or_not_a_file_is_refused(tmp_path):
    import os

    from cviscript.audio import MAX_SECONDS, inspect_wav

    long = write_wav(tmp_path / "long.wav", [0] * int(4000 * (MAX_SECONDS + 1)), rate=4000)
    with pytest.raises(errors.CviscriptError, match="s long"):
        inspect_wav(long)
    wide = write_wav(tmp_path / "wide.wav", [0] * 1000, rate=24000, channels=1000)
    with pytest.raises(errors.CviscriptError, match="1000 channels"):
        inspect_wav(wide)
    os.mkfifo(tmp_path / "fifo.wav")
    with pytest.raises(errors.CviscriptError, match="not a regular file"):
        inspect_wav(tmp_path / "fifo.wav")  # would block forever if opened


def test_a_lying_echo_wav_is_an_error_at_load(tmp_path):
    from cviscript.language.validate import check_file

    write_wav(tmp_path / "slow.wav", [0] * 20_000, rate=1)
    (tmp_path / "s.yaml").write_text(
        "cviscript: 1\nname: s\ninitial: a\nstates:\n"
        "  a:\n    enter: [{echo: {audio: slow.wav}}]\n    final: true\n"
    )
    (problem,) = [d for d in check_file(tmp_path / "s.yaml") if d.severity == "error"]
    assert "1 Hz" in problem.message and problem.loc.line == 6
