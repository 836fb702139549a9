"""Audio echo end to end against the fake Daily room: chunk sizes, ids, pacing, interruption."""

from __future__ import annotations

import base64
import json
import math
import wave
from array import array
from pathlib import Path

from cviscript.language.validate import load_scenario
from cviscript.protocol import MAX_MESSAGE_CHARS
from cviscript.sessions.fake.daily_room import FakeDaily
from cviscript.sessions.fake.replica import FakeReplica
from cviscript.sessions.live.options import Audio, Connection, LiveOptions
from cviscript.sessions.live.runner import LiveRun
from cviscript.sessions.live.target import LiveTarget

URL = "https://tavus.daily.co/c-audio"


def write_wav(path: Path, seconds: float, rate: int = 24000) -> Path:
    n = int(seconds * rate)
    samples = array("h", (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(n)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def scenario(tmp_path: Path, body: str):
    path = tmp_path / "audio.yaml"
    path.write_text(body)
    return load_scenario(str(path))


PLAY = """\
cviscript: 1
name: audio
initial: play
states:
  play:
    enter:
      - echo: {audio: clip.wav}
    on:
      - event: replica.stopped_speaking
        goto: done
  done:
    final: true
"""

CUT = """\
cviscript: 1
name: audio-cut
initial: play
states:
  play:
    enter:
      - echo: {audio: long.wav}
    on:
      - after: 250ms
        goto: cut
  cut:
    enter:
      - interrupt
      - echo: {audio: clip.wav}
    on:
      - event: replica.stopped_speaking
        when: "not event.interrupted"
        goto: done
  done:
    final: true
"""


def audio_chunks(fake: FakeDaily) -> list[dict]:
    return [
        m["properties"]
        for m in fake.sent
        if m["event_type"] == "conversation.echo" and m["properties"]["modality"] == "audio"
    ]


def run(scn, audio: Audio | None = None):
    fake = FakeDaily()
    replica = FakeReplica(fake)
    times: list[float] = []
    fake_send = fake.on_send

    def note(message):
        import time

        times.append(time.monotonic())
        fake_send(message)

    fake.on_send = note
    conv = LiveRun(
        scn, LiveOptions(Connection(LiveTarget(url=URL), daily=fake), audio=audio or Audio())
    ).run_sync()
    return conv, fake, replica, times


def test_a_wav_is_streamed_in_small_chunks_with_one_id_faster_than_real_time(tmp_path):
    write_wav(tmp_path / "clip.wav", 1.0)
    conv, fake, replica, times = run(scenario(tmp_path, PLAY))
    assert conv.result.outcome == "completed", conv.result

    chunks = audio_chunks(fake)
    assert all(len(json.dumps(m, separators=(",", ":"))) < MAX_MESSAGE_CHARS for m in fake.sent)
    assert len({c["inference_id"] for c in chunks}) == 1
    assert [c["done"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert {c["sample_rate"] for c in chunks} == {24000}
    pcm = b"".join(base64.b64decode(c["audio"]) for c in chunks)
    assert 1.0 <= len(pcm) / 2 / 24000 <= 1.02  # all of it (+ a short silent `done` chunk)
    assert len(chunks) in (25, 26)  # 40 ms chunks
    # a 200 ms burst, then 2x real time: 1 s of audio leaves in about 0.4 s
    span = times[len(times) - 1] - times[0]
    assert 0.3 <= span <= 0.8, span
    assert len(replica.audio) == 1  # the replica heard one utterance


def test_chunk_length_and_speed_are_tunable(tmp_path):
    write_wav(tmp_path / "clip.wav", 0.5)
    conv, fake, _, times = run(scenario(tmp_path, PLAY), Audio(chunk_ms=20, speed=4.0))
    assert conv.result.ok
    chunks = audio_chunks(fake)
    assert len(base64.b64decode(chunks[0]["audio"])) == 960  # 20 ms at 24 kHz, 16-bit
    assert len(chunks) in (25, 26)
    assert times[-1] - times[0] < 0.3  # 0.5 s at 4x after a 200 ms burst: ~0.07 s


def test_other_rates_are_resampled_to_24k(tmp_path):
    write_wav(tmp_path / "clip.wav", 0.5, rate=16000)
    conv, fake, _, _ = run(scenario(tmp_path, PLAY))
    assert conv.result.ok
    pcm = b"".join(base64.b64decode(c["audio"]) for c in audio_chunks(fake))
    assert 0.5 <= len(pcm) / 2 / 24000 <= 0.52


def test_an_interrupt_drops_the_queued_chunks_and_the_next_clip_gets_a_new_id(tmp_path):
    write_wav(tmp_path / "long.wav", 3.0)
    write_wav(tmp_path / "clip.wav", 0.2)
    conv, fake, _, _ = run(scenario(tmp_path, CUT))
    assert conv.result.outcome == "completed", conv.result
    assert conv.result.path == ["play", "cut", "done"]

    types = [
        "interrupt" if m["event_type"] == "conversation.interrupt" else m["properties"]["inference_id"]
        for m in fake.sent
    ]  # fmt: skip
    cut = types.index("interrupt")
    long_id, short_id = types[0], types[-1]
    assert long_id != short_id
    assert long_id not in types[cut:]  # nothing of the first clip after the interrupt
    long_chunks = [c for c in audio_chunks(fake) if c["inference_id"] == long_id]
    assert 5 <= len(long_chunks) < 75 and not any(c["done"] for c in long_chunks)
    short_chunks = [c for c in audio_chunks(fake) if c["inference_id"] == short_id]
    assert short_chunks[-1]["done"] is True
