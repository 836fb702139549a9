"""One scenario running against one session: the glue between session, protocol, engine and trace.

Inbound, every raw message is normalised by `protocol.Normalizer` and recorded (`received`); what
it rejects (malformed, a copy of an event already received, another conversation) is recorded as
`dropped` with the reason and never reaches the engine. Dropped messages are sampled
(`trace.DropSampler`): past the first few of a kind only counted, so a flood keeps memory flat;
copies of accepted events are always recorded as received, as a replay needs them.

Events carrying `seq` are put back in order by a small reorder buffer: an event that arrives after
a gap in `seq` is held for at most `REORDER_WINDOW` seconds waiting for the missing ones, so a
network that reorders does not reorder the scenario. A message that was dropped still fills its
`seq` (a folded copy is not a gap): copies never delay the events after them.

Start: messages sent before the replica is in the room are lost (Daily stores nothing for a late
joiner), so when the session reports presence (`Session.reports_presence`) the engine starts only
once the session calls `on_present()` or a `replica.joined` event arrives — in rehearsal and live
alike. Events that arrive before (a greeting spoken as the replica joins) still reach the engine,
which tracks whether the replica is speaking. If the replica never comes, the run ends at its
timeout. Sessions that do not report presence (replay) start the engine at once.

Outbound, the engine's interactions are recorded (`sent`) and handed to the session.

The same class runs live (asyncio clock, Daily session), in rehearsal (virtual clock, simulated
replica) and in replay, which is what makes a rehearsal mean something for a live run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..clock import Clock
from ..language.model import Scenario
from ..protocol import Event, Interactions, Normalizer
from ..trace import TRANSCRIPT_FORMAT, TRANSCRIPT_VERSION, DropSampler, Trace, reason_kind
from . import Engine, RunResult
from .session import Session

log = logging.getLogger("cviscript.engine.conversation")

REORDER_WINDOW = 0.25  # seconds an out-of-order event waits for the events before it
_MAX_HELD = 1024  # events held at once; past that, the window is flushed early


class Conversation:
    def __init__(
        self,
        scenario: Scenario,
        session: Session,
        clock: Clock,
        *,
        trace: Trace | None = None,
        vars_override: dict[str, Any] | None = None,
        context_spelling: str | None = None,
        mode: str = "simulated",
        rehearsal: str | None = None,
        seed: int | None = None,
        header: dict[str, Any] | None = None,
    ):
        self.scenario = scenario
        self.session = session
        self.clock = clock
        self.trace = trace or Trace(clock)
        self.mode = mode
        self.rehearsal = rehearsal
        self.seed = seed
        self._header = header or {}
        conversation_id = session.conversation_id or "unknown"
        spelling = context_spelling or scenario.conversation.context_spelling
        self.normalizer = Normalizer(conversation_id if session.conversation_id else None)
        self.engine = Engine(
            scenario,
            clock,
            self._send,
            self.trace,
            interactions=Interactions(conversation_id, spelling),
            vars_override=vars_override,
        )
        self._closed = False
        self._expected_seq: int | None = None
        self._held: dict[int, Event] = {}
        self._flush_handle: Any = None
        self._drops = DropSampler()
        self._reasons: dict[str, str] = {}  # reasons recorded (bounded by the drop sample)
        self._waiting_for_replica = False
        self._engine_started = False
        self._presence_timeout: Any = None
        self.engine.on_done(self._on_engine_done)

    # ------------------------------------------------------------------------------- lifecycle

    @property
    def done(self) -> bool:
        return self.engine.done

    @property
    def result(self) -> RunResult | None:
        return self.engine.result

    def on_done(self, callback: Callable[[RunResult], None]) -> None:
        self.engine.on_done(callback)

    def start(self) -> None:
        self.trace.emit(
            "header",
            format=TRANSCRIPT_FORMAT,
            version=TRANSCRIPT_VERSION,
            scenario=self.scenario.name,
            file=self.scenario.path,
            mode=self.mode,
            rehearsal=self.rehearsal,
            seed=self.seed,
            conversation_id=self.session.conversation_id or None,
            **self._header,
        )
        self.trace.subscribe(self.session.observe)
        self._waiting_for_replica = bool(getattr(self.session, "reports_presence", False))
        if self._waiting_for_replica:
            self._presence_timeout = self.clock.call_later(
                self.scenario.timeout, self._replica_never_came
            )
        self.session.start(self)  # may report presence at once
        if not self._waiting_for_replica:
            self._start_engine()

    @property
    def waiting_for_replica(self) -> bool:
        """The session reports presence and the replica is not in the room yet."""
        return self._waiting_for_replica

    def on_present(self) -> None:
        """The session saw the replica in the room: the scenario may start."""
        if not self._waiting_for_replica or self._closed:
            return
        self._waiting_for_replica = False
        if self._presence_timeout is not None:
            self._presence_timeout.cancel()
            self._presence_timeout = None
        self._start_engine()

    def _start_engine(self) -> None:
        if not self._engine_started and not self.engine.done:
            self._engine_started = True
            self.engine.start()

    def _replica_never_came(self) -> None:
        self._presence_timeout = None
        if self._waiting_for_replica and not self.engine.done:
            self.engine.finish(
                "timed_out",
                f"the replica never joined the conversation within {self.scenario.timeout:g}s",
            )

    def fire(self, name: str) -> str | None:
        """An operator fires `manual: name`: the id of the transition it fired, or None."""
        if self._closed:
            return None
        return self.engine.fire(name)

    def abort(self, outcome: str, reason: str) -> None:
        """End the run from outside (Ctrl-C, a crash, a lost connection)."""
        self.engine.finish(outcome, reason)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for handle in (self._flush_handle, self._presence_timeout):
                if handle is not None:
                    handle.cancel()
            summary = self._drops.summary()
            if summary is not None:
                self.trace.emit_data("dropped", summary)
            self.session.close()

    def _on_engine_done(self, _result: RunResult) -> None:
        self.close()

    # ---------------------------------------------------------------------------- session sink

    def on_message(self, message: Any, sender: str | None = None) -> None:
        if self._closed:
            return
        normalizer = self.normalizer
        event, reason = normalizer.feed(message)
        if event is None:
            # A dropped message still fills its seq: a folded copy is not a gap to wait for.
            seq = normalizer.last_seq
            keep = self._drops.keep(reason)
            copy = reason_kind(reason) == "duplicate"
            if keep or copy:
                self._record_received(message, sender, None)
            if keep:
                # copies are the normal case with today's servers: not worth a warning
                log.log(logging.DEBUG if copy else logging.WARNING, "dropped a message: %s", reason)
                # A 2026 stream's copies repeat a handful of reasons: records share one string.
                reason = self._reasons.setdefault(reason, reason)
                self.trace.emit_message("dropped", message, reason=reason)
            if seq is not None:
                self._seen(seq)
            return
        self._record_received(message, sender, event)
        if event.type == "replica.joined" and self._waiting_for_replica:
            self.on_present()
        self._accept(event)

    def _record_received(self, message: Any, sender: str | None, event: Event | None) -> None:
        self.trace.emit_message("received", message, sender, event)

    def on_ignored(self, message: Any, sender: str | None, reason: str) -> None:
        """A message the session did not take from the replica (a stranger's): sampled."""
        if self._closed or not self._drops.keep(reason):
            return
        log.warning("ignored a message from %s: %s", sender, reason)
        self.trace.emit_message("dropped", message, sender, reason=reason)

    def on_closed(self, reason: str) -> None:
        if not self.done:
            self.engine.finish("error", f"the connection to the conversation was lost: {reason}")
        self.close()

    # ----------------------------------------------------------------------------- reordering

    def _accept(self, event: Event) -> None:
        seq = event.seq
        expected = self._expected_seq
        if seq is None or expected is None or seq == expected:
            self._deliver(event)
            if self._held or self._flush_handle is not None:
                self._drain()
            return
        if seq < self._expected_seq:  # late straggler, its successors were already delivered
            self._deliver(event)
            return
        if len(self._held) >= _MAX_HELD:  # a flood of gaps: stop waiting
            self._flush()
        self._held[seq] = event
        if self._flush_handle is None:
            self._flush_handle = self.clock.call_later(REORDER_WINDOW, self._flush)

    def _seen(self, seq: int) -> None:
        """A message with `seq` arrived but carries nothing to deliver (dropped)."""
        expected = self._expected_seq
        if expected is None or seq < expected:
            return  # nothing waits for it
        if seq == expected:
            self._expected_seq = seq + 1
            if self._held:
                self._drain()
        elif len(self._held) < _MAX_HELD:
            self._held.setdefault(seq, None)  # the gap before it may fill: skip it then

    def _deliver(self, event: Event | None, seq: int | None = None) -> None:
        if seq is None and event is not None:
            seq = event.seq
        if seq is not None:
            self._expected_seq = max(self._expected_seq or 0, seq + 1)
        if event is not None:
            self.engine.handle(event)

    def _drain(self) -> None:
        while self._expected_seq in self._held:
            seq = self._expected_seq
            self._deliver(self._held.pop(seq), seq)
        if not self._held and self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _flush(self) -> None:
        """The window passed: the missing events are lost; deliver what is held, in order."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush_handle = None
        for seq in sorted(self._held):
            self._deliver(self._held.pop(seq), seq)

    def _send(self, message: dict[str, Any]) -> None:
        if self._closed:
            return
        self.session.send(message)
