"""The built-in simulated replica: the one replica model as a `Session`, on a virtual clock.

A rehearsal means something only if a scenario that passes it behaves the same against a real
replica. The server itself is `cviscript.sessions.replica_model` (the same model the fake Daily
room runs); this adapter puts it on the rehearsal's virtual clock and adds what only a rehearsal
has:

* the simulated visitor (`user:` rules, `user.SimulatedUser`), who is in the room: it reacts to
  events as the model emits them (normalised, a duplicate seen once; heartbeats are not something
  a person notices), before any fault delays or loses them;
* the persona rules (`persona.Persona`) as the stand-in LLM;
* seeded network faults (`faults.FaultyLink`) between the model and the session's sink, reported
  into the run's trace when one is attached (`attach_trace`);
* a `faults.disconnect`, and the replica leaving after a `system.shutdown`.

The replica is present once it has joined (`join_delay`; 0: already in the room when the run
starts). The sink hears it through `on_present` (`reports_presence`), which is when the engine
starts: anything sent before is lost, as Daily stores no message for a late joiner.
Delivery to the sink is always scheduled on the clock, never synchronous inside `send()`. The same
rehearsal and seed give the same messages byte for byte.
"""

from __future__ import annotations

from typing import Any

from ... import protocol
from ...clock import Clock
from ...engine.session import Session, SessionSink
from ...language.model import Rehearsal
from ...trace import TraceRecord
from ..replica_model import MIN_SPEECH, ModelSettings, ReplicaModel
from .faults import FaultyLink
from .persona import Persona
from .user import SimulatedUser

__all__ = ["MIN_SPEECH", "SimulatedReplica", "model_settings"]


def model_settings(
    rehearsal: Rehearsal, persona_file: Any = None, **conversation: Any
) -> ModelSettings:
    """The model's settings from a rehearsal's `replica:` block (a `profile:` already merged in
    at load), plus the conversation's own (`greeting`, `max_call_duration` from
    `conversation.create`; the block's greeting wins) and the persona file the case runs against
    (`language.persona_file.PersonaFile`: its `pipeline_mode` unless the block sets `pipeline`)."""
    r = rehearsal.replica
    pipeline = r.pipeline
    if persona_file is not None and "pipeline" not in r.given:
        pipeline = persona_file.pipeline_mode
    settings = ModelSettings(
        words_per_minute=r.words_per_minute,
        user_words_per_minute=r.user_words_per_minute,
        echo_latency=r.echo_latency,
        reply_latency=r.reply_latency,
        join_delay=r.join_delay,
        pipeline=pipeline,
        default_reply=r.default_reply,
        vintage="2024" if str(r.vintage) == "2024" else "2026",
        heartbeat=r.heartbeat,
        persona_file=persona_file,
        respond_echo=r.respond_echo,
        follow_up_window=r.follow_up_window,
        filler=r.filler,
        **conversation,
    )
    if r.greeting is not None:
        settings.greeting = str(r.greeting) or None
    return settings


class SimulatedReplica(Session):
    reports_presence = True  # the scenario starts once the replica has joined, as live

    def __init__(
        self,
        clock: Clock,
        rehearsal: Rehearsal | None = None,
        *,
        conversation_id: str = "c-sim",
        seed: int | None = None,
        settings: ModelSettings | None = None,
    ):
        self.clock = clock
        self.rehearsal = rehearsal or Rehearsal(name="simulated")
        self.settings = settings or model_settings(self.rehearsal)
        self.conversation_id = conversation_id
        self.seed = self.rehearsal.seed if seed is None else seed
        persona = Persona(self.rehearsal.persona, self.settings.default_reply)
        self.model = ReplicaModel(
            clock, self.settings, persona, conversation_id=conversation_id, out=self._emitted
        )
        self.user = SimulatedUser(self.rehearsal.user, self.model, self.settings)
        self.link = FaultyLink(self.rehearsal.faults, self.seed, self.model.later, self._deliver)
        self.model.on_present = self._present
        self.model.on_quiet = self.user.pump
        self.model.on_leave = self._left
        # The visitor's view: the model's copies are skipped (`_emitted`) and nothing comes twice
        # without a network, so it remembers only the copy window, not a network's worth.
        self._normalizer = protocol.Normalizer(conversation_id, memory=0)
        self._sink: SessionSink | None = None
        self.emitted: list[dict[str, Any]] = []  # every event, as emitted (before faults)
        self.closed_reason: str | None = None

    # ---------------------------------------------------------------------- for inspection

    @property
    def received(self) -> list[Any]:
        return self.model.received

    @property
    def ignored(self) -> list[tuple[Any, str]]:
        return self.model.ignored

    @property
    def context(self) -> list[protocol.Interaction]:
        return self.model.context

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        return self.model.tools.results

    @property
    def speaking(self) -> bool:
        return self.model.speaking

    def attach_trace(self, trace: Any) -> None:
        """Report network faults, and what the model chose not to do (a ``model`` record: a
        reply not spoken, a visitor not heard, and why), into this run's trace."""
        self.link.report = trace.emit
        self.model.on_note = lambda what, data: trace.emit_data("model", {"note": what, **data})

    # ------------------------------------------------------------------------ session interface

    def start(self, sink: SessionSink) -> None:
        if self._sink is not None or self.model.closed:
            return
        self._sink = sink
        if self.settings.join_delay <= 0:
            self.model.join()  # already in the room when the run starts
        else:
            self.model.start()
        if self.rehearsal.faults.disconnect is not None:
            self.model.later(self.rehearsal.faults.disconnect, self._disconnect)
        self.user.start()

    def send(self, message: dict[str, Any]) -> None:
        self.model.receive(message)

    def close(self) -> None:
        if not self.model.closed:
            self.closed_reason = self.closed_reason or "closed"
            for words in self.user.unsaid():
                self.model.on_note("visitor-words-never-said", {"why": words})
            self.model.close()

    def observe(self, record: TraceRecord) -> None:
        if not self.model.closed and record.kind == "state":
            name = record.data.get("state")
            if isinstance(name, str):
                self.user.on_state(name)

    # ------------------------------------------------------------------------------ delivering

    def _emitted(self, message: dict[str, Any]) -> None:
        # The model emits fresh dicts of JSON values that it never touches again (see
        # `replica_model.wire`), so the message goes on as it is: no JSON round trip, no copy.
        self.emitted.append(message)
        event = None
        if not self.model.wire.copy:  # the visitor's normaliser would fold a copy anyway
            event, _reason = self._normalizer.feed(message)
        self.link.submit(message, event)
        if event is not None and message["event_type"] != "system.replica_present":
            self.user.on_event(event)

    def _deliver(self, message: dict[str, Any]) -> None:
        if self._sink is not None and not self.model.closed:
            # Nothing downstream changes a received message, so the emitted one is delivered as
            # it is (a copy per message doubled the memory of a rehearsal); a network duplicate
            # is a copy of its own (see `faults`).
            self._sink.on_message(message)

    def _present(self) -> None:
        if self._sink is not None:
            self._sink.on_present()

    def _left(self, reason: str) -> None:
        self.closed_reason = f"the replica left ({reason})"
        if self._sink is not None:
            self._sink.on_closed(self.closed_reason)

    def _disconnect(self) -> None:
        self.closed_reason = "disconnected"
        sink = self._sink
        self.close()
        if sink is not None:
            sink.on_closed("disconnected")
