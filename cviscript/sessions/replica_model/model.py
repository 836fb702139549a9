"""The one model of a Tavus replica's server, on any clock: rehearsal and the fake Daily room.

It hears the client's interactions (`receive`), lets a visitor speak (`user_started` /
`user_finished`, `perceive`, `visitor_tool_call`), and emits what a Tavus server would, in the
chosen vintage, through `out`. It knows nothing about networks, Daily or sessions: the rehearsal
adapter (`cviscript.sessions.simulated.replica`) puts it on a virtual clock behind a seeded faulty
link; the fake room (`cviscript.sessions.fake.replica`) puts it on the room's one callback
thread. The jobs are split by module: `wire` spells and numbers events, `speech` speaks,
`tools` keeps tool calls, `presence` has the join/heartbeat/shutdown facts.

The persona (`settings.persona_file`, the user's own Tavus persona; Tavus's documented defaults
without one) decides what the pipeline does: an echo persona has no microphone, speech
recognition, LLM, tool calls or perception (the visitor's speech sends nothing at all); each tool's
`on_call` says what is spoken while it runs and `on_resolve` whether anything is spoken after its
result; perception happens only with a perception layer, and its tool calls are the persona's
vision/audio tools. What the model decides *not* to do (a reply not spoken, a visitor not heard)
is reported through `on_note`, so a rehearsal's transcript says why.

Every timer goes through `later`, which the model tracks, so nothing runs after `close()`; every id
comes from a counter, so the same inputs on a virtual clock give the same messages byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...clock import Clock
from ...language.persona_file import PersonaTool
from ...protocol import Interaction, parse_interaction
from . import presence
from .persona import Answer, Persona
from .settings import ModelSettings, speaking_time
from .speech import Speaker, Speech
from .tools import OpenCall, ToolDesk
from .wire import Out, Wire

# A stand-in frame for a vision perception tool call (a real one carries base64 JPEG frames).
PLACEHOLDER_FRAME = {"data": "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAEBAQ==", "mime_type": "image/jpeg"}


class _Timer:
    """A clock handle the model keeps track of, so `close()` can cancel everything in flight."""

    __slots__ = ("handle", "key", "owner")

    def __init__(self, owner: dict[int, _Timer], key: int):
        self.owner = owner
        self.key = key
        self.handle: Any = None

    def cancel(self) -> None:
        self.owner.pop(self.key, None)
        if self.handle is not None:
            self.handle.cancel()


@dataclass(slots=True)
class UserTurn:
    turn_idx: int
    inference_id: str
    started_at: float
    wordless: bool


def _line(answer: Answer | None) -> int | None:
    """The line of the persona rule behind an answer, for a note."""
    loc = getattr(getattr(answer, "rule", None), "loc", None)
    return getattr(loc, "line", None)


class ReplicaModel:
    def __init__(
        self,
        clock: Clock,
        settings: ModelSettings,
        persona: Persona,
        *,
        conversation_id: str,
        out: Out,
    ):
        self.clock = clock
        self.settings = settings
        self.persona = persona
        self.conversation_id = conversation_id
        self.wire = Wire(conversation_id, clock, settings.modern, out)
        self.speaker = Speaker(self.wire, self.later, clock.now, self._quiet)
        self.tools = ToolDesk()
        # hooks the adapter sets
        self.on_present: Callable[[], None] = lambda: None  # the replica has joined
        self.on_quiet: Callable[[], None] = lambda: None  # nothing speaking, queued or pending
        self.on_leave: Callable[[str], None] = lambda reason: None  # left after a shutdown
        # what the model chose not to do, and why: (what, details) -> a transcript note
        self.on_note: Callable[[str, dict[str, Any]], None] = lambda what, data: None
        self.joined = False
        self.ended: str | None = None  # the shutdown reason
        self.closed = False
        self._timers: dict[int, _Timer] = {}
        self._timer_keys = itertools.count()
        self._ids: dict[str, itertools.count[int]] = {}
        self._thinking: dict[int, _Timer] = {}  # tool calls in their latency
        self._audio: dict[str | None, list[int]] = {}  # inference_id -> [pcm bytes, sample rate]
        self._heartbeats = 0
        # what happened, for inspection
        self.received: list[Any] = []
        self.context: list[Interaction] = []
        self.ignored: list[tuple[Any, str]] = []  # (message, reason)
        self.lost: list[Any] = []  # sent before the replica joined
        self.perceived: list[str] = []
        self.notes: list[tuple[str, dict[str, Any]]] = []
        self._deaf_noted = False

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.later(self.settings.join_delay, self.join)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.wire.closed = True
        for timer in list(self._timers.values()):
            timer.cancel()

    def later(self, delay: float, callback: Callable[..., Any], *args: Any) -> _Timer:
        """`clock.call_later`, tracked: nothing scheduled here runs after `close()`."""
        timer = _Timer(self._timers, next(self._timer_keys))

        def run() -> None:
            self._timers.pop(timer.key, None)
            if not self.closed:
                callback(*args)

        timer.handle = self.clock.call_later(delay, run)
        self._timers[timer.key] = timer
        return timer

    def next_id(self, prefix: str) -> str:
        counter = self._ids.setdefault(prefix, itertools.count(1))
        return f"{prefix}-{next(counter)}"

    def busy(self) -> bool:
        """Speaking, or something queued or about to be (a tool call waiting for its result is
        not: the replica waits for the client then, it is not about to speak)."""
        return self.speaker.busy() or bool(self._thinking)

    @property
    def speaking(self) -> bool:
        return self.speaker.current is not None

    # -------------------------------------------------------------------------------- presence

    def join(self) -> None:
        """The replica enters the room: announced, greeting spoken, first objectives activated."""
        s = self.settings
        self.joined = True
        if s.announce:
            self.wire.send("system.replica_joined")
        if s.greeting:
            length = speaking_time(s.greeting, s.words_per_minute, s.min_speech)
            greeting = Speech(s.greeting, length, self.next_id("inf"), stream=False)
            self.speaker.speak_first(greeting)
        pf = s.persona_file
        for objective in pf.first_objectives() if pf is not None else ():
            self._objective_status("activated", objective.name)
        if s.modern and s.heartbeat > 0:
            self.later(s.heartbeat, self._heartbeat)
        if s.max_call_duration is not None:
            self.later(s.max_call_duration, self.end, presence.MAX_CALL_DURATION)
        # after the events of this instant (`system.replica_joined` among them) are delivered:
        # the client sees the replica join, then starts talking to it — in that order
        self.later(0.0, self.on_present)

    def _heartbeat(self) -> None:
        if self.ended is None:
            self._heartbeats += 1
            self.wire.send("system.replica_present", {"attempt": self._heartbeats})
            self.later(self.settings.heartbeat, self._heartbeat)

    def end(self, reason: str = presence.END_ENDPOINT) -> None:
        """The conversation ends (`reason`: a documented shutdown_reason); the replica leaves."""
        if self.ended is not None or self.closed:
            return
        self.ended = reason
        self.speaker.interrupt()
        self.wire.send("system.shutdown", {"shutdown_reason": reason})
        if self.perceived:
            analysis = presence.perception_summary(self.perceived)
            self.wire.send("conversation.perception_analysis", {"analysis": analysis})
        self.later(presence.LEAVE_AFTER_SHUTDOWN, self._leave, reason)

    def _leave(self, reason: str) -> None:
        self.close()
        self.on_leave(reason)

    # ----------------------------------------------------------------------------- the client

    def receive(self, message: Any) -> None:
        """One app-message from the client."""
        if self.closed or self.ended is not None:
            self.ignored.append((message, "the conversation has ended"))
            return
        if not self.joined:
            self.lost.append(message)
            self.ignored.append((message, "sent before the replica joined (lost)"))
            return
        self.received.append(message)
        ia = parse_interaction(message)
        if ia is None:
            self.ignored.append((message, "not an interaction (no event_type)"))
            return
        if ia.conversation_id is not None and ia.conversation_id != self.conversation_id:
            self.ignored.append((message, f"for conversation {ia.conversation_id}"))
            return
        handler: Callable[[Interaction], None] | None = {
            "echo": self._on_echo,
            "echo_audio": self._on_echo_audio,
            "respond": self._on_respond,
            "interrupt": lambda _ia: self.interrupt(),
            "overwrite_context": self.context.append,
            "append_context": self.context.append,
            "sensitivity": self.context.append,
            "tool_result": self._on_tool_result,
        }.get(ia.kind)
        if handler is None:
            self.ignored.append((message, f"unknown interaction {ia.event_type}"))
            return
        handler(ia)

    def _on_echo(self, ia: Interaction) -> None:
        text = ia.properties.get("text")
        text = text if isinstance(text, str) else ""
        s = self.settings
        length = speaking_time(text, s.words_per_minute, s.min_speech)
        # turn_idx "increments each time a conversation.respond interaction is received" (and
        # with each visitor turn), not per echo: an echo speaks in the current turn
        speech = Speech(text, length, self.next_id("inf"), self.wire.turn)
        self.speaker.request(speech, s.echo_latency)

    def _on_echo_audio(self, ia: Interaction) -> None:
        props = ia.properties
        inference_id = props.get("inference_id") or ia.message.get("inference_id")
        key = inference_id if isinstance(inference_id, str) else None
        audio = props.get("audio") or ""
        try:
            size = len(base64.b64decode(audio, validate=True)) if isinstance(audio, str) else -1
        except (binascii.Error, ValueError):
            size = -1
        if size < 0:
            self.ignored.append((ia.message, "audio echo chunk is not base64"))
            return
        rate = props.get("sample_rate")
        acc = self._audio.setdefault(
            key, [0, rate if isinstance(rate, int) and rate > 0 else 16000]
        )
        acc[0] += size
        if props.get("done"):
            pcm_bytes, rate = self._audio.pop(key)
            length = pcm_bytes / 2 / rate / max(self.settings.audio_speed, 1e-9)
            speech = Speech("", length, key or self.next_id("inf"), self.wire.turn)
            self.speaker.request(speech, self.settings.echo_latency)

    def _on_respond(self, ia: Interaction) -> None:
        text = ia.properties.get("text")
        text = text if isinstance(text, str) else ""
        if self.settings.pipeline == "echo":
            self.ignored.append((ia.message, "respond in an echo pipeline (no LLM)"))
            return
        # treated as if the user said it: a turn of its own
        turn, inference_id = self.wire.next_turn(), self.next_id("inf")
        if self.settings.respond_echo:
            # Tavus's own template expects the text back as a user-role utterance
            self.wire.send(
                "conversation.utterance",
                {"role": "user", "speech": text},
                turn_idx=turn,
                inference_id=inference_id,
            )
        self.think(text, {"type": "respond", "text": text}, turn, inference_id)

    def _on_tool_result(self, ia: Interaction) -> None:
        call, record, why = self.tools.answered(ia.properties)
        if call is None:
            self.ignored.append((ia.message, why))
            return
        s = self.settings
        tool = self.tool(call.name)
        late = self.clock.now() - call.at
        rule_line = _line(call.answer)
        if call.answer is not None and record["status"] != "error":
            self._objective_after(call.answer, record["output"], call.turn_idx)
        if call.answer is None or tool.on_resolve != "generate_response":
            if call.answer is not None:
                reply = None
                if record["status"] != "error":
                    reply = self.persona.after_tool(call.answer, record["output"])
                if reply:
                    self.note(
                        "reply-not-spoken",
                        tool=call.name,
                        text=reply,
                        rule_line=rule_line,
                        why=f"on_resolve is {tool.on_resolve} (nothing is spoken after the result)",
                        field=self._field(tool, "on_resolve"),
                    )
            return
        if late > s.follow_up_window:
            self.note(
                "reply-not-spoken",
                tool=call.name,
                rule_line=rule_line,
                why=(
                    f"the result came {late:.1f}s after the call, past the follow-up window "
                    f"({s.follow_up_window:g}s): it drops out of context"
                ),
                field="replica.follow_up_window",
            )
            return
        if record["status"] == "error":
            text: str | None = s.tool_error_reply
            replaced = self.persona.after_tool(call.answer, None) if call.answer.rule else None
            self.note(
                "tool-error-acknowledged",
                tool=call.name,
                text=text,
                rule_line=rule_line,
                replaces=replaced,
                why="the tool_result has status: error: the replica acknowledges the failure "
                "instead of speaking a result",
            )
        else:
            text = self.persona.after_tool(call.answer, record["output"])
        if text:
            length = speaking_time(text, s.words_per_minute, s.min_speech)
            self.speaker.request(
                Speech(text, length, call.inference_id or self.next_id("inf"), call.turn_idx),
                s.reply_latency,
            )

    def interrupt(self) -> None:
        for timer in self._thinking.values():
            timer.cancel()
        self._thinking.clear()
        self._audio.clear()
        self.speaker.interrupt()

    # ---------------------------------------------------------------------------- the persona

    def tool(self, name: str) -> PersonaTool:
        """The persona's tool `name`, or one with Tavus's documented defaults."""
        pf = self.settings.persona_file
        found = pf.tools.get(name) if pf is not None else None
        return found if found is not None else PersonaTool(name, field="(default)")

    def _field(self, tool: PersonaTool, key: str) -> str:
        """Where `key` of `tool` comes from, for a note: its field in the persona file, or
        Tavus's default."""
        if key in tool.given or (tool.field != "(default)" and key == "delivery"):
            return f"{tool.field}.{key}"
        if self.settings.persona_file is None:
            return f"{key} (Tavus's default: no persona file)"
        if tool.field == "(default)":
            return f"{key} (Tavus's default: tool {tool.name!r} is not in the persona file)"
        return f"{tool.field}.{key} (not set: Tavus's default)"

    def note(self, what: str, **data: Any) -> None:
        """Report something the model chose not to do (or did instead), and why."""
        self.notes.append((what, data))
        self.on_note(what, data)

    def think(self, text: str, event: dict[str, Any], turn_idx: int, inference_id: str) -> None:
        """The persona answers an input of turn `turn_idx` (full pipeline only)."""
        s = self.settings
        if s.pipeline == "echo":
            return
        answer = self.persona.answer(text, event)
        if answer is None:
            return
        if answer.tool_name is not None:
            key = next(self._timer_keys)
            self._thinking[key] = self.later(
                s.reply_latency, self._call_tool, key, answer, turn_idx, inference_id
            )
            return
        if answer.objective is not None:
            self.later(
                s.reply_latency,
                self._objective,
                answer.objective,
                answer.objective_variables,
                turn_idx,
            )
        if answer.say:
            length = speaking_time(answer.say, s.words_per_minute, s.min_speech)
            self.speaker.request(
                Speech(answer.say, length, inference_id, turn_idx), s.reply_latency
            )

    def _call_tool(self, key: int, answer: Answer, turn_idx: int, inference_id: str) -> None:
        self._thinking.pop(key, None)
        name = answer.tool_name or ""
        tool = self.tool(name)
        call_id = self.next_id("call")
        if tool.app_message:
            self.wire.send(
                "conversation.tool_call",
                self.tools.call_properties(answer, call_id),
                turn_idx=turn_idx,
                inference_id=inference_id,
            )
            self.tools.opened(
                call_id, OpenCall(answer, inference_id, turn_idx, name, self.clock.now())
            )
        else:
            self.note(
                "tool-call-not-sent",
                tool=name,
                why="the tool is delivered to an API (delivery.api), not as an app message",
                field=self._field(tool, "delivery"),
            )
        filler = None
        if tool.on_call == "generate_filler":
            filler = self.settings.filler
        elif tool.on_call == "static_filler":
            filler = tool.static_filler
        if filler:
            s = self.settings
            length = speaking_time(filler, s.words_per_minute, s.min_speech)
            self.speaker.request(Speech(filler, length, inference_id, turn_idx), 0.0)
        self.speaker.settle()

    def _objective_after(self, answer: Answer, output: Any, turn_idx: int) -> None:
        if answer.objective is not None:
            variables = self.persona.objective_after_tool(answer, output)
            self._objective(answer.objective, variables, turn_idx)

    def _objective(self, name: str, variables: dict[str, Any], turn_idx: int) -> None:
        """Tavus's evaluator found objective `name` completed: conversation.objective.completed
        (Tavus-Engineering/tavus-interviewer src/types/events.ts)."""
        props = {"objective_name": name, "output_variables": dict(variables)}
        self.wire.send("conversation.objective.completed", props, turn_idx=turn_idx)
        pf = self.settings.persona_file
        done = pf.objectives.get(name) if pf is not None else None
        if done is not None and done.next_required and done.next_required in pf.objectives:
            self._objective_status("activated", done.next_required)

    def _objective_status(self, status: str, name: str) -> None:
        """An objective becomes active: at the start (one no other leads to) or once the one
        before it (its `next_required_objective`) completes."""
        self.wire.send(f"conversation.objective.{status}", {"objective_name": name})

    def _quiet(self) -> None:
        if not self._thinking:
            self.on_quiet()

    # ----------------------------------------------------------------------------- the visitor

    @property
    def hears_visitor(self) -> bool:
        """Text/audio echo mode: "Microphone is disabled in the Transport layer"
        (https://docs.tavus.io/sections/conversational-video-interface/echo-mode)."""
        return self.settings.pipeline != "echo"

    @property
    def perceives(self) -> bool:
        pf = self.settings.persona_file
        if self.settings.pipeline == "echo":
            return False
        return pf is None or pf.has_perception

    def _deaf(self) -> None:
        if not self._deaf_noted:
            self._deaf_noted = True
            self.note(
                "visitor-not-heard",
                why="an echo pipeline has no microphone, speech recognition or perception: "
                "the visitor's speech sends no events",
                field="pipeline_mode",
            )

    def user_started(self, *, barge_in: bool = False, wordless: bool = False) -> UserTurn:
        if not self.hears_visitor:
            self._deaf()
            return UserTurn(self.wire.turn, self.next_id("inf"), self.clock.now(), wordless)
        turn = UserTurn(self.wire.next_turn(), self.next_id("inf"), self.clock.now(), wordless)
        self.wire.speaking("user", True, turn.turn_idx, turn.inference_id)
        if barge_in:
            self.interrupt()
        return turn

    def user_finished(self, turn: UserTurn, text: str | None, visual: str | None = None) -> None:
        """The visitor stopped speaking; with words, their utterance follows and is answered.
        `visual` is what perception saw meanwhile (``user_visual_analysis``)."""
        if not self.hears_visitor:
            return
        # The docs allow a null duration when the start could not be told: a wordless noise.
        duration = None if turn.wordless else round(self.clock.now() - turn.started_at, 3)
        props = {"duration": duration, "interrupted": False}
        self.wire.speaking("user", False, turn.turn_idx, turn.inference_id, props)
        if text is None:
            return
        if self.wire.modern:
            self._user_streaming(turn, text)
        utterance: dict[str, Any] = {"role": "user", "speech": text}
        if visual and self.perceives:
            utterance["user_visual_analysis"] = visual
            self.perceived.append(visual)
        elif visual:
            self.note(
                "not-perceived",
                text=visual,
                why="the persona has no perception layer",
                field="layers.perception",
            )
        self.wire.send(
            "conversation.utterance",
            utterance,
            turn_idx=turn.turn_idx,
            inference_id=turn.inference_id,
        )
        event = {"type": "utterance", "role": "user", "text": text}
        self.think(text, event, turn.turn_idx, turn.inference_id)

    def _user_streaming(self, turn: UserTurn, text: str) -> None:
        """The visitor's speech streams too, as snapshots of the turn so far, and `final` may be
        true mid-turn (Tavus-Engineering/tavus-interviewer src/hooks/useUtteranceEvents.ts: "it
        fires `true` mid-turn"): a first half marked final, then the whole."""
        words = text.split()
        chunks = [" ".join(words[: len(words) // 2]), text] if len(words) > 1 else [text]
        for index, chunk in enumerate(chunks):
            self.wire.send(
                "conversation.utterance.streaming",
                {"role": "user", "speech": chunk, "content_index": index, "final": True},
                turn_idx=turn.turn_idx,
                inference_id=turn.inference_id,
            )

    def perceive(self, analysis: str) -> None:
        """Perception saw something while nobody spoke: a ``perception_tool_call`` of the
        persona's first perception tool (vision before audio; a stand-in without a persona
        file), which a `tool_result` may answer."""
        if not self.perceives:
            if not self.hears_visitor:
                self._deaf()
            else:
                self.note(
                    "not-perceived",
                    text=analysis,
                    why="the persona has no perception layer",
                    field="layers.perception",
                )
            return
        self.perceived.append(analysis)
        pf = self.settings.persona_file
        tools = sorted(pf.perception_tools(), key=lambda t: t.origin != "vision") if pf else []
        name = tools[0].name if tools else "visual_observation"
        modality = tools[0].origin if tools else "vision"
        call_id = self.next_id("call")
        props: dict[str, Any] = {
            "name": name,
            "modality": modality,
            "arguments": json.dumps({"analysis": analysis}),
            "tool_call_id": call_id,
        }
        if modality == "vision":
            props["frames"] = [dict(PLACEHOLDER_FRAME)]
        self.wire.send("conversation.perception_tool_call", props, turn_idx=self.wire.turn)
        self.tools.opened(call_id, OpenCall(None, None, self.wire.turn, name, self.clock.now()))

    def visitor_tool_call(self, name: str, arguments: Any) -> None:
        """A tool call the rehearsal scripts directly (`user:` rule `tool_call`)."""
        self.wire.send(
            "conversation.tool_call",
            {
                "name": name,
                "arguments": json.dumps(arguments, sort_keys=True),
                "tool_call_id": self.next_id("call"),
            },
            inference_id=self.next_id("inf"),
        )
