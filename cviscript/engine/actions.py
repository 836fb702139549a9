"""Running a state's or a transition's actions: render templates, build interactions, send.

Each action becomes zero or more wire messages built by `cviscript.protocol.Interactions` (the
context spelling is chosen once, per run). Text is rendered from `cviscript.language.templates` with the
engine's context; a rendering error ends the run as `error` with file, line and state, so nothing
half-rendered is ever spoken.

Audio echo (`echo: {audio: PATH}`) is streamed by `AudioStream`: the WAV is loaded and chunked once
(cached per path), then sent in chunks of `chunk_ms` at `speed` times real time after a short
pre-buffer burst. Maintained Tavus clients found real-time pacing starves the replica's playback
buffer, so the default sends faster than real time (2x) while staying far below the per-message
4 KB limit and spreading messages out instead of flooding the data channel. `interrupt` cancels
streams at once and drops what is queued.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

from ..errors import CviscriptError, UsageError
from ..language.model import (
    AppendContext,
    Call,
    Echo,
    EchoAudio,
    End,
    Fail,
    Interrupt,
    Log,
    OverwriteContext,
    Respond,
    Send,
    Sensitivity,
    SetVars,
    Text,
    ToolResult,
)
from ..language.templates import parse_scalar, render, render_value
from ..protocol import Interactions

log = logging.getLogger("cviscript.engine")

AUDIO_CHUNK_MS = 40
AUDIO_SPEED = 2.0  # times real time
AUDIO_PREBUFFER_S = 0.2  # sent at once before pacing starts


class EndRun(Exception):
    """Raised by `end`/`fail` (and errors) to stop the running action list and transition."""


def _load_chunks(path: str, chunk_ms: int) -> tuple[tuple[str, bool], ...]:
    """The file's chunks, cached while the file is unchanged (mtime and size)."""
    try:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (0, 0)  # load_wav reports the missing file
    return _chunks_of(path, stamp, chunk_ms)


@functools.lru_cache(maxsize=32)
def _chunks_of(path: str, _stamp: tuple[int, int], chunk_ms: int) -> tuple[tuple[str, bool], ...]:
    from ..audio import chunk_audio, load_wav

    return tuple(chunk_audio(load_wav(path), chunk_ms=chunk_ms))


class AudioStream:
    def __init__(
        self, engine: Any, interactions: Interactions, chunks, chunk_ms: int, speed: float
    ):
        from ..audio import new_inference_id

        self.engine = engine
        self.interactions = interactions
        self.chunks = list(chunks)
        self.inference_id = new_inference_id()
        self.interval = chunk_ms / 1000.0 / speed
        self.prebuffer = max(1, int(AUDIO_PREBUFFER_S * 1000 / chunk_ms))
        self.index = 0
        self.handle: Any = None
        self.cancelled = False

    def start(self) -> None:
        self._pump()

    def _pump(self) -> None:
        self.handle = None
        burst = self.prebuffer if self.index == 0 else 1
        while burst and self.index < len(self.chunks) and not self.cancelled:
            audio_b64, done = self.chunks[self.index]
            self.index += 1
            burst -= 1
            self.engine.send(
                self.interactions.echo_audio(
                    audio_b64, sample_rate=24000, inference_id=self.inference_id, done=done
                )
            )
        if self.index < len(self.chunks) and not self.cancelled:
            self.handle = self.engine.clock.call_later(self.interval, self._pump)

    def cancel(self) -> None:
        self.cancelled = True
        if self.handle is not None:
            self.handle.cancel()


class ActionRunner:
    def __init__(self, engine: Any, interactions: Interactions):
        self.engine = engine
        self.interactions = interactions
        self.streams: list[AudioStream] = []
        self.audio_chunk_ms = AUDIO_CHUNK_MS
        self.audio_speed = AUDIO_SPEED

    def set_audio_pacing(self, chunk_ms: int | None = None, speed: float | None = None) -> None:
        """Chunk length and speed (times real time) of `echo: {audio}` streams; None keeps it."""
        from ..audio import max_chunk_ms

        if chunk_ms is not None:
            limit = max_chunk_ms()
            if not 1 <= int(chunk_ms) <= limit:
                raise UsageError(
                    f"audio chunks must be 1-{limit} ms at 24 kHz to stay under the 4 KB message"
                    f" limit, not {chunk_ms} ms"
                )
            self.audio_chunk_ms = int(chunk_ms)
        if speed is not None:
            if not float(speed) > 0:
                raise UsageError(f"audio speed must be positive, not {speed}")
            self.audio_speed = float(speed)

    def stop(self) -> None:
        for stream in self.streams:
            stream.cancel()
        self.streams.clear()

    def run(self, actions: list[Any], state: str | None) -> None:
        engine = self.engine
        for action in actions:
            if engine.result is not None:  # done
                raise EndRun
            self._run_one(action, state)

    # ---------------------------------------------------------------------------------- helpers

    def _ctx(self) -> dict[str, Any]:
        return self.engine.template_context(self.engine.event, self.engine.groups)

    def _text(self, text: Text, state: str | None) -> str:
        if text.compiled is None:
            return text.source
        eng = self.engine
        return render(text, eng.template_context(eng.event, eng.groups), state)

    def _value(self, value: Any, state: str | None) -> Any:
        return render_value(value, self._ctx(), state)

    # ---------------------------------------------------------------------------------- actions

    def answer_tool_call(
        self,
        output: Any,
        state: str | None,
        loc: Any,
        status: str = "success",
        what: str = "call with answer: true",
    ) -> None:
        """Send `output` as the conversation.tool_result of the tool call that fired the
        running transition (`tool_result`, or a hook's result with `answer: true`)."""
        eng = self.engine
        event = eng.event
        # a tool_result answers an LLM tool call or a perception tool call ("must match the
        # tool_call_id from the original conversation.tool_call (or
        # conversation.perception_tool_call) event": Tavus's tool result page)
        if event is None or event.type not in ("tool_call", "perception_tool_call"):
            raise CviscriptError(
                f"{loc}: {what} has no tool call to answer "
                f"(in state {state!r}; use it in a transition fired by a tool_call)"
            )
        if not event.tool_call_id:
            # Tavus requires tool_call_id on conversation.tool_result: without it there is no
            # well-formed answer, and a malformed one is never sent. An echo would make the
            # replica read the raw output aloud, so it is the author's choice, not a fallback.
            raise CviscriptError(
                f"{loc}: {what} cannot answer the tool call {event.name!r}: it "
                f"came without a tool_call_id, which Tavus requires (in state {state!r}). "
                "Guard the transition with `when: event.tool_call_id is defined` and answer "
                "such calls with `echo:` (as Tavus's own example does)"
            )
        eng.send(self.interactions.tool_result(event.tool_call_id, output, status))

    def _run_one(self, action: Any, state: str | None) -> None:
        eng = self.engine
        ia = self.interactions
        if isinstance(action, Echo):
            eng.send(ia.echo(self._text(action.text, state)))
        elif isinstance(action, Respond):
            eng.send(ia.respond(self._text(action.text, state)))
        elif isinstance(action, Interrupt):
            self.stop()
            eng.send(ia.interrupt())
        elif isinstance(action, OverwriteContext):
            eng.send(ia.overwrite_context(self._text(action.text, state)))
        elif isinstance(action, AppendContext):
            eng.send(ia.append_context(self._text(action.text, state)))
        elif isinstance(action, Sensitivity):
            for message in ia.sensitivity(pause=action.pause, interrupt=action.interrupt):
                eng.send(message)
        elif isinstance(action, ToolResult):
            status = self._text(action.status, state) if action.status is not None else "success"
            output = self._value(action.output, state)
            self.answer_tool_call(output, state, action.loc, status, "tool_result")
        elif isinstance(action, Call):
            view = eng.template_context(eng.event, eng.groups)["event"]
            eng.hooks.start(action, state, eng.event, eng.groups, (view, eng.vars))
        elif isinstance(action, SetVars):
            for name, value in action.values.items():
                rendered = self._value(value, state)
                if isinstance(value, Text):
                    rendered = parse_scalar(rendered)
                eng.vars[name] = rendered
        elif isinstance(action, Log):
            text = self._text(action.text, state)
            log.info("%s", text)
            eng.trace.emit("log", text=text, level="info")
        elif isinstance(action, Send):
            eng.send(ia.custom(action.event_type, self._value(action.properties, state)))
        elif isinstance(action, EchoAudio):
            chunks = _load_chunks(action.path, self.audio_chunk_ms)
            stream = AudioStream(eng, ia, chunks, self.audio_chunk_ms, self.audio_speed)
            self.streams = [s for s in self.streams if not s.cancelled and s.index < len(s.chunks)]
            self.streams.append(stream)
            stream.start()
        elif isinstance(action, End):
            eng.finish("completed", f"`end` in state {state!r}")
            raise EndRun
        elif isinstance(action, Fail):
            eng.finish("failed", self._text(action.reason, state))
            raise EndRun
        else:  # pragma: no cover - the validator only builds the types above
            raise CviscriptError(f"unknown action {type(action).__name__}")
