"""Audio echo: a WAV file turned into `conversation.echo` audio chunks.

Protocol facts behind it (../shared/protocol.md): an audio echo carries base64 of **16-bit mono
little-endian PCM** with its `sample_rate` (24000 recommended; Tavus assumes 16000 when absent), the
same `inference_id` on every chunk of one utterance, and `done: true` (a JSON boolean) on the last
chunk. Every app-message must stay under 4096 characters of JSON, so chunks are short: 40 ms at
24 kHz is 1920 bytes, 2560 base64 characters; 100 ms would be ~6.4 KB and be refused. Maintained
clients end an utterance with a short chunk marked `done`, so when the audio divides evenly into
chunks a few milliseconds of silence carry the `done` flag.

Reading uses the stdlib `wave` module (16-bit PCM only: other sample formats are refused with the
command that converts them). Several channels are averaged to mono, other rates are resampled by
linear interpolation in pure Python (`audioop` is deprecated and gone in 3.13).
"""

from __future__ import annotations

import base64
import os
import sys
import uuid
import wave
from array import array
from dataclasses import dataclass

from . import errors
from .protocol import MAX_MESSAGE_CHARS, Interactions, ProtocolError, message_size

DEFAULT_SAMPLE_RATE = 24000  # what Tavus recommends for audio echo
DEFAULT_CHUNK_MS = 40
FINAL_SILENCE_MS = 10  # the short `done` chunk sent when the audio divides evenly into chunks
_SWAP = sys.byteorder == "big"  # WAV and the wire are little-endian; `array` is native


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
    samples = array("h")
    samples.frombytes(frames[: len(frames) - len(frames) % 2])
    if _SWAP:
        samples.byteswap()
    if len(samples) < channels:
        raise errors.CviscriptError(f"audio file {name} contains no audio")
    if channels > 1:
        samples = _downmix(samples, channels)
    if rate != target_rate:
        samples = _resample(samples, rate, target_rate)
    if _SWAP:
        samples.byteswap()
    return PcmAudio(
        samples.tobytes(), target_rate, path=name, source_rate=rate, source_channels=channels
    )


def _downmix(samples: array, channels: int) -> array:
    """Average interleaved channels to one (rounded to nearest)."""
    usable = len(samples) - len(samples) % channels
    if channels == 2:
        return array(
            "h",
            [
                (a + b + 1) >> 1
                for a, b in zip(samples[0:usable:2], samples[1:usable:2], strict=True)
            ],
        )
    half = channels // 2
    planes = [samples[c:usable:channels] for c in range(channels)]
    return array("h", [(sum(frame) + half) // channels for frame in zip(*planes, strict=True)])


def _resample(samples: array, src: int, dst: int) -> array:
    """Linear interpolation from `src` Hz to `dst` Hz (no anti-alias filter: speech tolerates it)."""
    n = len(samples)
    out_n = max(1, round(n * dst / src))
    step = src / dst
    x = samples.tolist()
    x.append(x[-1])  # so x[j + 1] exists at the very end
    last = n - 1
    out = []
    append = out.append
    for i in range(out_n):
        pos = i * step
        j = int(pos)
        if j >= last:
            append(x[last])
            continue
        a = x[j]
        # floor(v + 0.5): round half up; v stays within [a, b], so within 16 bits
        append(int(a + (x[j + 1] - a) * (pos - j) + 32768.5) - 32768)
    return array("h", out)


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
