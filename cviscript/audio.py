"""Audio echo: a WAV file turned into `conversation.echo` audio chunks.

Protocol facts behind it (docs/protocol.md): an audio echo carries base64 of **16-bit mono
little-endian PCM** with its `sample_rate` (24000 recommended; Tavus assumes 16000 when absent), the
same `inference_id` on every chunk of one utterance, and `done: true` (a JSON boolean) on the last
chunk. Every app-message must stay under 4096 characters of JSON, so chunks are short: 40 ms at
24 kHz is 1920 bytes, 2560 base64 characters; 100 ms would be ~6.4 KB and be refused. Maintained
clients end an utterance with a short chunk marked `done`, so when the audio divides evenly into
chunks a few milliseconds of silence carry the `done` flag.

Reading uses the stdlib `wave` module (16-bit PCM only: other sample formats are refused with the
command that converts them). Several channels are averaged to mono and other rates resampled by
linear interpolation, in pure Python (`audioop` is deprecated and gone in 3.13; numpy is not a
dependency) but on thousands of samples at once, so that preparing an echo costs under 0.2% of
the audio's duration at the common rates, mono or stereo (`bench/audio_echo.py`).
"""

from __future__ import annotations

import base64
import os
import uuid
import wave
from dataclasses import dataclass
from math import gcd

from . import errors
from .protocol import MAX_MESSAGE_CHARS, Interactions, ProtocolError, message_size

DEFAULT_SAMPLE_RATE = 24000  # what Tavus recommends for audio echo
DEFAULT_CHUNK_MS = 40
FINAL_SILENCE_MS = 10  # the short `done` chunk sent when the audio divides evenly into chunks


@dataclass(slots=True)
class PcmAudio:
    """16-bit little-endian mono PCM. `duration` (seconds) is computed when not given."""

    pcm: bytes
    sample_rate: int
    duration: float | None = None
    path: str | None = None
    source_rate: int | None = None  # the file's own rate and channels, for messages
    source_channels: int | None = None

    def __post_init__(self) -> None:
        if self.duration is None:
            self.duration = len(self.pcm) / 2 / self.sample_rate

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2


def _convert_hint(path: str, target_rate: int) -> str:
    return f"convert it with: sox {path} -r {target_rate} -c 1 -b 16 out.wav"


def inspect_wav(path: str | os.PathLike[str], *, target_rate: int = DEFAULT_SAMPLE_RATE) -> None:
    """Check, from the header only, that `load_wav` will accept the file; raise CviscriptError
    saying why not. The validator calls this so a scenario is refused at load time, not mid-demo."""
    _read_wav(os.fspath(path), target_rate, frames=False)


def _read_wav(name: str, target_rate: int, *, frames: bool) -> tuple[int, int, bytes]:
    try:
        with wave.open(name, "rb") as wav:
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            rate = wav.getframerate()
            data = wav.readframes(wav.getnframes()) if frames else b""
    except FileNotFoundError:
        raise errors.CviscriptError(f"audio file not found: {name}") from None
    except (wave.Error, EOFError) as e:
        # 3.11's `wave` only reads integer PCM: float and compressed files end here ("unknown format").
        raise errors.CviscriptError(
            f"cannot read audio file {name}: not a 16-bit PCM WAV file ({e}); "
            f"cviscript needs 16-bit PCM WAV, {_convert_hint(name, target_rate)}"
        ) from None
    except OSError as e:
        raise errors.CviscriptError(f"cannot read audio file {name}: {e}") from None

    if width != 2:
        raise errors.CviscriptError(
            f"audio file {name} is {width * 8}-bit PCM; cviscript needs 16-bit PCM, "
            f"{_convert_hint(name, target_rate)}"
        )
    if channels < 1 or rate <= 0:
        raise errors.CviscriptError(
            f"audio file {name} has no usable audio ({channels} channels, {rate} Hz)"
        )
    return channels, rate, data


def load_wav(path: str | os.PathLike[str], *, target_rate: int = DEFAULT_SAMPLE_RATE) -> PcmAudio:
    """Read a 16-bit PCM WAV file as mono PCM at `target_rate` (stereo is mixed down, other rates
    resampled); refuse anything else clearly."""
    name = os.fspath(path)
    channels, rate, frames = _read_wav(name, target_rate, frames=True)
    n = len(frames) // (2 * channels)  # whole frames only
    if n == 0:
        raise errors.CviscriptError(f"audio file {name} contains no audio")
    pcm = frames if len(frames) == 2 * channels * n else frames[: 2 * channels * n]
    if channels > 1 or rate != target_rate:
        pcm = _to_mono(pcm, channels, rate, target_rate)
    return PcmAudio(pcm, target_rate, path=name, source_rate=rate, source_channels=channels)


# Mixing down and resampling are one linear interpolation, computed on "lanes": many samples
# held in fixed-width fields of one Python integer, so that one big-integer `+` or `*` (a loop
# in C) works on thousands of samples at once; samples move between lanes and PCM with strided
# `bytes` slices. A sample enters its lane as offset binary (x + 32768, never negative) and no
# lane ever grows into the next, so lanes stay independent. This is 14 to 28 times faster than
# a loop over samples in Python, which is what keeps a long echo cheap to prepare.

_FLIP = bytes(b ^ 0x80 for b in range(256))  # a high byte: two's complement <-> offset binary
_BLOCK_ROWS = 1 << 13  # outputs per phase computed at once (bounds the lanes' size)


def _to_mono(pcm: bytes, channels: int, src: int, dst: int) -> bytes:
    """Mono `dst` Hz PCM from interleaved `channels` x `src` Hz PCM (16-bit little-endian):
    linear interpolation between frames (no anti-alias filter: speech tolerates it), the
    channels averaged, rounded half up.

    Output i lies at frame i * src / dst. With s/d that ratio in lowest terms, outputs k, k + d,
    k + 2d, ... (one "phase") lie the same fraction r/d past frames j, j + s, j + 2s, ... where
    j, r = divmod(k * s, d), so a phase is two weighted lane sums of strided frames. The weights
    are integer fractions of 2**24 (2**32 past 255 channels) and the rounding term is a half plus
    2**-9, more than the weights' rounding error with one channel: so with one channel and
    d < 128 (every common rate but 11.025 and 22.05 kHz) each output is exactly the
    interpolation rounded half up, and otherwise an output within 1/128 of a rounding boundary
    may land on its other side (within 1 of rounding the mix first, as the per-sample version
    did). Mixing down alone is exact up to 8 channels."""
    c = channels
    frames = len(pcm) // (2 * c)
    out_n = max(1, round(frames * dst / src))
    g = gcd(src, dst)
    s, d = src // g, dst // g
    out = bytearray(2 * out_n)
    rows = -(-out_n // d)  # outputs per phase
    for row in range(0, rows, _BLOCK_ROWS):
        _to_mono_rows(pcm, c, s, d, row, min(_BLOCK_ROWS, rows - row), out)
    # The last outputs may lie past the last frame, between it and a copy of it (which `pcm`
    # lacks: appending one would copy it all): they are that frame, mixed down.
    past = (frames - 1) * d // s + 1
    if past < out_n:
        last = pcm[-2 * c :] if c == 1 else _to_mono(pcm[-2 * c :], c, 1, 1)
        out[2 * past :] = last * (out_n - past)
    return bytes(out)


def _to_mono_rows(x: bytes, c: int, s: int, d: int, row: int, rows: int, out: bytearray) -> None:
    """Outputs k + d * m of every phase k, for `row` <= m < `row + rows`, written into `out`."""
    out_n = len(out) // 2
    step = 2 * c * s  # bytes from frame j to frame j + s
    # Weights are fractions of 2**bits; past 255 channels, c of them rounded could sum to enough
    # over 2**24 to carry a full-scale result past 16 bits, so they get 8 more bits.
    bits = 24 if c < 256 else 32
    one = 1 << bits
    whole = (2 * one + c) // (2 * c)  # round(2**bits / c): a channel's weights, summed
    lane = bits // 8 + 2  # bytes: holds 65535 * c * whole + the rounding term
    lanes_n = rows + 1  # phases with j + 1 == s read one frame further (fewer at the end)
    copies_only = c == 1 and d == 1  # a mono decimation (48 to 24 kHz, say)
    half = (1 << (bits - 1)) + (1 << (bits - 9))  # a half, and a little more (see _to_mono)
    rounding = (
        0 if copies_only else int.from_bytes(half.to_bytes(lane, "little") * lanes_n, "little")
    )
    sums: dict[int, int] = {}

    def frame_sums(j: int) -> int:
        """Lanes of the channel sums of frames j + s * m, from m = `row` on (0 <= j <= s)."""
        if j == s:
            return frame_sums(0) >> (8 * lane)
        if j not in sums:
            start = 2 * c * (j + s * row)
            stop = min(len(x), start + step * lanes_n)
            buf = bytearray(lane * len(range(start, stop, step)))
            channels = []
            for at in range(start, start + 2 * c, 2):
                buf[0::lane] = x[at:stop:step]
                buf[1::lane] = x[at + 1 : stop : step].translate(_FLIP)
                channels.append(int.from_bytes(buf, "little"))
            sums[j] = sum(channels[1:], channels[0])
        return sums[j]

    for k in range(d):
        first = k + d * row
        count = min(rows, len(range(first, out_n, d)))
        if count == 0:
            break
        j, r = divmod(k * s, d)
        low = slice(2 * first, 2 * (first + d * count), 2 * d)
        high = slice(2 * first + 1, 2 * (first + d * count), 2 * d)
        if c == 1 and r == 0:  # on an input sample: a copy
            at = 2 * (j + s * row)
            out[low] = x[at : at + step * count : step]
            out[high] = x[at + 1 : at + step * count : step]
            continue
        weight = (2 * (d - r) * one + c * d) // (2 * c * d)  # round(one * (d - r) / (c * d))
        total = rounding + frame_sums(j) * weight
        if r:
            total += frame_sums(j + 1) * (whole - weight)
        lanes = total.to_bytes(lane * lanes_n, "little")
        out[low] = lanes[lane - 2 : lane * count : lane]  # bits `bits` on: the result
        out[high] = lanes[lane - 1 : lane * count : lane].translate(_FLIP)


def new_inference_id() -> str:
    """A fresh id for one utterance (every chunk of it carries the same one)."""
    return uuid.uuid4().hex


def _chunk_bytes(sample_rate: int, chunk_ms: int) -> int:
    if chunk_ms <= 0:
        raise errors.UsageError(f"audio chunk length must be positive, not {chunk_ms} ms")
    return max(1, sample_rate * chunk_ms // 1000) * 2


def chunk_audio(audio: PcmAudio, *, chunk_ms: int = DEFAULT_CHUNK_MS) -> list[tuple[str, bool]]:
    """(base64 chunk, done) pairs; `done` is True on the last one only."""
    size = _chunk_bytes(audio.sample_rate, chunk_ms)
    pcm = audio.pcm
    pieces = [pcm[i : i + size] for i in range(0, len(pcm), size)]
    if len(pcm) % size == 0:
        pieces.append(bytes(_chunk_bytes(audio.sample_rate, FINAL_SILENCE_MS)))
    last = len(pieces) - 1
    return [(base64.b64encode(p).decode("ascii"), i == last) for i, p in enumerate(pieces)]


def max_chunk_ms(sample_rate: int = DEFAULT_SAMPLE_RATE, *, conversation_id_chars: int = 64) -> int:
    """The longest chunk (ms) whose echo message stays within the size limit, for a conversation
    id up to `conversation_id_chars` long (Tavus ids are ~16) and a uuid4-hex inference id."""
    best = 0
    for ms in range(1, 1001):
        b64_chars = -(-_chunk_bytes(sample_rate, ms) // 3) * 4
        probe = {
            "message_type": "conversation",
            "event_type": "conversation.echo",
            "conversation_id": "c" * conversation_id_chars,
            "properties": {
                "modality": "audio",
                "audio": "A" * b64_chars,
                "sample_rate": sample_rate,
                "inference_id": "0" * 32,
                "done": False,
            },
        }
        if message_size(probe) > MAX_MESSAGE_CHARS:
            break
        best = ms
    return best


def echo_audio_messages(
    interactions: Interactions,
    audio: PcmAudio,
    *,
    chunk_ms: int = DEFAULT_CHUNK_MS,
    inference_id: str | None = None,
) -> list[dict]:
    """Every `conversation.echo` audio message of one utterance, each checked against the limit."""
    inference_id = inference_id or new_inference_id()
    messages = []
    for chunk, done in chunk_audio(audio, chunk_ms=chunk_ms):
        try:
            # echo_audio refuses (check_size) a message over the limit
            messages.append(
                interactions.echo_audio(
                    chunk, sample_rate=audio.sample_rate, inference_id=inference_id, done=done
                )
            )
        except ProtocolError as e:
            raise ProtocolError(
                f"{e} (audio chunks of {chunk_ms} ms at {audio.sample_rate} Hz are too big; "
                f"use at most {max_chunk_ms(audio.sample_rate)} ms)"
            ) from None
    return messages


def decoded_seconds(audio_b64: str, sample_rate: int) -> float:
    """How long a base64 chunk of 16-bit mono PCM plays (for the simulated replica)."""
    try:
        size = len(base64.b64decode(audio_b64, validate=False))
    except ValueError:
        return 0.0
    return size / 2 / sample_rate if sample_rate > 0 else 0.0
