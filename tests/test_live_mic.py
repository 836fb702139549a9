"""The visitor's voice: a virtual microphone with daily-python's real API shape, in the fake room."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest
import tools

from cviscript import errors
from cviscript.rehearsal import live
from cviscript.rehearsal.live import LiveSuiteOptions, run_live_suite
from cviscript.sessions.fake.daily_room import FakeDaily, FakeVirtualMicrophoneDevice
from cviscript.sessions.live import tts
from cviscript.sessions.live.daily_session import CLIENT_SETTINGS
from cviscript.sessions.live.mic import (
    Speaker,
    client_settings_with_microphone,
    create_microphone,
)

REAL_SIGNATURES = r"""
import inspect, json, daily
out = {}
for name, fn in [("create_microphone_device", daily.Daily.create_microphone_device),
                 ("write_frames", daily.VirtualMicrophoneDevice.write_frames)]:
    try:
        out[name] = [p for p in inspect.signature(fn).parameters if p != "self"]
    except (TypeError, ValueError):
        out[name] = None
print(json.dumps(out))
"""


def test_the_fake_microphone_has_the_real_sdks_signatures():
    fake = {
        "create_microphone_device": list(
            inspect.signature(FakeDaily().Daily.create_microphone_device).parameters
        ),
        "write_frames": [
            p for p in inspect.signature(FakeVirtualMicrophoneDevice.write_frames).parameters
            if p != "self"
        ],
    }  # fmt: skip
    assert fake == {
        "create_microphone_device": ["device_name", "sample_rate", "channels", "non_blocking"],
        "write_frames": ["frames", "completion"],
    }
    tools.module("daily", install="daily-python")
    # in a subprocess: Daily.init() twice would abort this one
    done = subprocess.run([sys.executable, "-c", REAL_SIGNATURES], capture_output=True, text=True)
    real = json.loads(done.stdout)
    for name, params in real.items():
        if params is not None:  # some native builds hide their signature
            assert params == fake[name], name


def test_frames_are_heard_only_from_the_selected_device_and_strings_are_refused():
    fake = FakeDaily()
    fake.init()
    mic = create_microphone(fake, "voice")
    assert (mic.name, mic.sample_rate, mic.channels) == ("voice", 16000, 1)
    with pytest.raises(TypeError):
        mic.write_frames("abc")
    heard: list[bytes] = []
    fake.on_mic = heard.append
    fake.join_calls.append(
        {"client_settings": client_settings_with_microphone(CLIENT_SETTINGS, "voice")}
    )
    fake._state = "joined"
    assert mic.write_frames(bytes(640)) == 0  # non-blocking: the count goes to the completion
    other = fake.Daily.create_microphone_device("other")
    assert other.write_frames(bytes(640)) == 320  # blocking: counted, but not selected
    assert heard == [bytes(640)] and fake.mic_frames == 320
    fake.shutdown()


SPOKEN = """\
cviscript: 1
name: spoken
initial: hello
states:
  hello:
    enter: [{echo: "Hello there."}]
    on:
      - utterance: {role: user, contains: price}
        goto: bye
      - after: 20s
        goto: bye
  bye:
    final: true
rehearsals:
  - name: asks by voice
    user:
      - on: {event: replica.stopped_speaking}
        say: "What is the price?"
        voice: ask.wav
    expect: {path: [hello, bye], outcome: completed, duration: {max: 10s}}
"""


def _wav(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(int(16000 * seconds) * 2))


def test_a_wav_is_spoken_through_the_microphone_and_heard_as_the_visitor(tmp_path, monkeypatch):
    monkeypatch.delenv("TAVUS_API_KEY", raising=False)
    # The two user events are timed as the loop receives them; at the fake room's usual 20x a
    # loaded machine's jitter of a few tens of milliseconds is most of a second: run it at 5x.
    monkeypatch.setattr(live, "FAKE_SPEED", 5.0)
    (tmp_path / "spoken.yaml").write_text(SPOKEN)
    _wav(tmp_path / "ask.wav", 1.5)
    options = LiveSuiteOptions(fake="1", transcripts=str(tmp_path / "t"))
    suite, summary = run_live_suite([str(tmp_path / "spoken.yaml")], options)
    (case,) = suite.cases
    run = case.runs[0]
    assert run.passed, run.failures
    records = [json.loads(line) for line in Path(summary.transcripts[0]).read_text().splitlines()]
    heard = [r for r in records if r["kind"] == "received"]
    user = [r["message"]["event_type"] for r in heard if "user" in r["message"]["event_type"]]
    assert user[:2] == ["conversation.user.started_speaking", "conversation.user.stopped_speaking"]
    stopped = next(r for r in heard if r["message"]["event_type"].endswith("user.stopped_speaking"))
    started = next(r for r in heard if r["message"]["event_type"].endswith("started_speaking")
                   and "user" in r["message"]["event_type"])  # fmt: skip
    # the WAV's length, on the scenario's clock (the fake room runs faster than real time)
    assert stopped["t"] - started["t"] == pytest.approx(1.5, abs=0.75)


class LateClock:
    """A clock whose every timer fires `lag` seconds late (a busy event loop)."""

    def __init__(self, lag: float):
        self.t, self.lag, self.timers = 0.0, lag, []

    def now(self) -> float:
        return self.t

    def call_later(self, delay, callback, *args):
        timer = [self.t + delay + self.lag, callback, args, False]
        self.timers.append(timer)
        return type("Handle", (), {"cancel": lambda _self: timer.__setitem__(3, True)})()

    def run(self) -> None:
        while self.timers:
            self.timers.sort(key=lambda x: x[0])
            at, callback, args, cancelled = self.timers.pop(0)
            self.t = max(self.t, at)
            if not cancelled:
                callback(*args)


def test_the_speaker_keeps_the_audios_pace_when_its_timers_fire_late():
    class Device:
        frames = 0

        def write_frames(self, frames: bytes) -> int:
            Device.frames += len(frames) // 2
            return 0

    clock = LateClock(lag=0.015)  # 15 ms late on every 20 ms chunk
    speaker = Speaker(Device(), clock)
    done: list[float] = []
    length = speaker.play(bytes(int(16000 * 2.5) * 2), "hello", lambda: done.append(clock.now()))
    clock.run()
    assert length == 2.5 and Device.frames == speaker.frames_written == 16000 * 2.5
    # over when the audio is, give or take one late timer (chained timers took 4.4 s)
    assert done == [pytest.approx(2.5, abs=0.02)]


def test_a_missing_wav_or_synthesiser_is_a_clear_error_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("TAVUS_API_KEY", raising=False)
    (tmp_path / "spoken.yaml").write_text(SPOKEN)
    suite, _ = run_live_suite([str(tmp_path / "spoken.yaml")], LiveSuiteOptions(fake="1"))
    # refused at load (before any conversation could be created), with the rule's line
    assert not suite.cases
    (invalid,) = suite.invalid
    assert any("voice: file not found" in d and "spoken.yaml:" in d for d in invalid.diagnostics)
    monkeypatch.setenv(tts.TTS_ENV, "no-such-synthesiser-here")
    with pytest.raises(errors.UsageError, match="install espeak-ng"):
        tts.synthesise("hello")


def test_espeak_ng_synthesises_16khz_speech():
    if tts.program() is None:
        tools.missing("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    audio = tts.synthesise("What is the price of the premium plan?")
    assert audio.sample_rate == 16000 and 1.0 < audio.duration < 6.0
    assert max(audio.pcm[1::2]) > 10  # not silence


def test_a_lying_voice_wav_or_a_nul_to_speak_is_refused_at_load(tmp_path):
    from cviscript.language.validate import check_file

    (tmp_path / "spoken.yaml").write_text(SPOKEN)
    with wave.open(str(tmp_path / "ask.wav"), "wb") as w:  # a 1 Hz header over 40 KB of audio
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(1)
        w.writeframes(bytes(40_000))
    (problem,) = [d for d in check_file(tmp_path / "spoken.yaml") if d.severity == "error"]
    assert "voice:" in problem.message and "1 Hz" in problem.message
    assert problem.loc.line == 19
    nul = SPOKEN.replace('say: "What is the price?"', 'say: "What is\\0 the price?"')
    nul = nul.replace("        voice: ask.wav\n", "        voice: true\n")
    (tmp_path / "nul.yaml").write_text(nul)
    (problem,) = [d for d in check_file(tmp_path / "nul.yaml") if d.severity == "error"]
    assert "NUL" in problem.message and problem.loc.line == 18


def test_a_nul_a_template_renders_is_spoken_as_a_space():
    if tts.program() is None:
        tools.missing("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    audio = tts.synthesise("What is\x00 the price?")  # raised a raw ValueError before
    assert 0.5 < audio.duration < 6.0
