"""Audio echo: a WAV file turned into `conversation.echo` audio chunks.

What Tavus expects (the protocol): an audio echo carries base64 of **16-bit mono little-endian
PCM** with its `sample_rate` (24000 recommended; Tavus assumes 16000 when absent), the same
`inference_id` on every chunk of one utterance, and `done: true` (a JSON boolean) on the last
chunk. Every app-message must stay under 4096 characters of JSON, so chunks are short: 40 ms at
24 kHz is 1920 bytes, 2560 base64 characters; 100 ms would be ~6.4 KB and be refused. Maintained
clients end an utterance with a short chunk marked `done`, so when the audio divides evenly into
chunks a few milliseconds of silence carry the `done` flag.

Reading uses the stdlib `wave` module (16-bit PCM only: other sample formats are refused with the
command that converts them). A file already at the target rate and mono is used as it is; others
are mixed down to mono and resampled by soxr (libsoxr, a resampler made for this, at its "HQ"
quality), which filters out what lies above the new Nyquist frequency instead of folding it back
as audible aliasing: a 48 kHz sweep converted to 24 kHz keeps about -100 dB of it, where linear
interpolation (what this module did by hand before) kept all of it. It costs well under 0.2% of
the audio's duration at the common rates (`bench/audio_echo.py`). numpy and soxr are imported
only when a file needs converting.

A WAV header is not trusted: it says the rate, the channels, the sample width and how many frames
follow, and a file can lie about each (a 40 KB file whose header says 1 Hz plays for hours and
took 3.8 GB once resampled). So before any frame is read, `inspect_wav` checks the header
against bounds that real speech and music files meet — 4,000 to 192,000 Hz, 1 to 512 channels,
16-bit, at most `MAX_SECONDS` long — and the frames the header announces against the file's size
(a header announcing more data than the file holds is refused; one announcing less is read as
announced). A file that is not a regular file (a FIFO, a device) or over `MAX_FILE_BYTES` is
refused before it is opened, so converting any accepted file is bounded (at most
`MAX_SECONDS` of audio at the target rate).
"""

from __future__ import annotations

import base64
import os
import stat
import uuid
import wave
from dataclasses import dataclass

from . import errors
from .protocol import MAX_MESSAGE_CHARS, Interactions, ProtocolError, message_size

DEFAULT_SAMPLE_RATE = 24000  # what Tavus recommends for audio echo
MIN_RATE, MAX_RATE = 4000, 192_000  # Hz: below telephone speech to studio recordings
MAX_CHANNELS = 512  # the file size bounds the work; this only refuses nonsense
MAX_SECONDS = 600.0  # one echo or one spoken visitor turn: ten minutes is far beyond either
MAX_FILE_BYTES = 256 * 1024 * 1024  # 10 min of 16-bit audio is 230 MB even at 192 kHz stereo
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
        info = os.stat(name)
    except FileNotFoundError:
        raise errors.CviscriptError(f"audio file not found: {name}") from None
    except OSError as e:
        raise errors.CviscriptError(f"cannot read audio file {name}: {e.strerror or e}") from None
    if not stat.S_ISREG(info.st_mode):
        raise errors.CviscriptError(f"audio file {name} is not a regular file (a FIFO or device)")
    if info.st_size > MAX_FILE_BYTES:
        raise errors.CviscriptError(
            f"audio file {name} is {info.st_size / 2**20:,.0f} MiB, over the "
            f"{MAX_FILE_BYTES // 2**20} MiB limit"
        )
    try:
        with wave.open(name, "rb") as wav:
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            rate = wav.getframerate()
            nframes = wav.getnframes()
            check_header(name, channels, width, rate, nframes, info.st_size, target_rate)
            data = wav.readframes(nframes) if frames else b""
    except (wave.Error, EOFError) as e:
        # 3.11's `wave` only reads integer PCM: float and compressed files end here ("unknown format").
        raise errors.CviscriptError(
            f"cannot read audio file {name}: not a 16-bit PCM WAV file ({e}); "
            f"cviscript needs 16-bit PCM WAV, {_convert_hint(name, target_rate)}"
        ) from None
    except OSError as e:
        raise errors.CviscriptError(f"cannot read audio file {name}: {e}") from None
    return channels, rate, data


def check_header(
    name: str, channels: int, width: int, rate: int, nframes: int, size: int, target_rate: int
) -> None:
    """Refuse a header that lies or asks for too much, before a frame is read."""
    if width != 2:
        raise errors.CviscriptError(
            f"audio file {name} is {width * 8}-bit PCM; cviscript needs 16-bit PCM, "
            f"{_convert_hint(name, target_rate)}"
        )
    if not 1 <= channels <= MAX_CHANNELS or rate <= 0:
        raise errors.CviscriptError(
            f"audio file {name} has no usable audio ({channels} channels, {rate} Hz)"
        )
    if not MIN_RATE <= rate <= MAX_RATE:
        raise errors.CviscriptError(
            f"audio file {name} says its sample rate is {rate:,} Hz; cviscript reads "
            f"{MIN_RATE:,} to {MAX_RATE:,} Hz, {_convert_hint(name, target_rate)}"
        )
    if nframes * channels * width > size:
        raise errors.CviscriptError(
            f"audio file {name} is damaged: its header announces {nframes * channels * width:,} "
            f"bytes of audio but the file is {size:,} bytes"
        )
    if nframes / rate > MAX_SECONDS:
        raise errors.CviscriptError(
            f"audio file {name} is {nframes / rate:,.0f} s long; at most {MAX_SECONDS:g} s is "
            "played as one utterance"
        )


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
        pcm = to_mono(pcm, channels, rate, target_rate)
    return PcmAudio(pcm, target_rate, path=name, source_rate=rate, source_channels=channels)


def to_mono(pcm: bytes, channels: int, src: int, dst: int) -> bytes:
    """Mono `dst` Hz PCM from interleaved `channels` x `src` Hz PCM (16-bit little-endian).

    The channels are averaged (summed in float32, exact up to 256 channels), the mix resampled by
    soxr at its "HQ" quality when the rates differ, and the result rounded to the nearest integer
    (ties to even) and clipped to 16 bits (a steep anti-alias filter overshoots a full-scale
    step). The output has frames * dst / src samples rounded half up, at least one."""
    import numpy as np  # imported here: only converting a file needs them (start-up stays fast)
    import soxr

    frames = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // (2 * channels) * channels)
    frames = frames.reshape(-1, channels)
    mix = frames[:, 0].astype(np.float32)
    for k in range(1, channels):  # column by column: a reduction along axis 1 is ~30x slower
        mix += frames[:, k]
    if channels > 1:
        mix /= np.float32(channels)  # exact sum, correctly rounded quotient: ties stay ties
    if src != dst:
        mix = soxr.resample(mix, src, dst, quality="HQ")
        if len(mix) == 0:  # under half an output sample of input: keep one sample
            mix = frames[:1, :].astype(np.float32).mean(axis=1)
    np.rint(mix, out=mix)
    np.clip(mix, -32768, 32767, out=mix)
    return mix.astype("<i2").tobytes()


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
