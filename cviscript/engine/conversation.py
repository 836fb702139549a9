"""One scenario running against one session: the glue between session, protocol, engine and trace.

Inbound, every raw message is recorded (`received`) before anything else happens, then normalised
by `protocol.Normalizer`; what it rejects (malformed, duplicate, another conversation) is recorded as
`dropped` with the reason and never reaches the engine. Events carrying `seq` are put back in order
by a small reorder buffer: an event that arrives after a gap in `seq` is held for at most
`REORDER_WINDOW` seconds waiting for the missing ones, so a network that reorders does not reorder
the scenario. Outbound, the engine's interactions are recorded (`sent`) and handed to the session.

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
from ..sessions.base import Session
from ..trace import TRANSCRIPT_FORMAT, TRANSCRIPT_VERSION, Trace
from . import Engine, RunResult

log = logging.getLogger("cviscript.engine.conversation")

REORDER_WINDOW = 0.25  # seconds an out-of-order event waits for the events before it


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
        self.session.start(self)
        self.engine.start()

    def abort(self, outcome: str, reason: str) -> None:
        """End the run from outside (Ctrl-C, a crash, a lost connection)."""
        self.engine.finish(outcome, reason)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self.session.close()

    def _on_engine_done(self, _result: RunResult) -> None:
        self.close()

    # ---------------------------------------------------------------------------- session sink

    def on_message(self, message: Any, sender: str | None = None) -> None:
        if self._closed:
            return
        event, reason = self.normalizer.feed(message)
        if sender is None:
            self.trace.emit_data("received", {"message": message}, event)
        else:
            self.trace.emit_data("received", {"message": message, "sender": sender}, event)
        if event is None:
            log.warning("dropped a message: %s", reason)
            self.trace.emit("dropped", message=message, reason=reason)
            return
        self._accept(event)

    def on_ignored(self, message: Any, sender: str | None, reason: str) -> None:
        log.warning("ignored a message from %s: %s", sender, reason)
        self.trace.emit("dropped", message=message, sender=sender, reason=reason)

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
        self._held[seq] = event
        if self._flush_handle is None:
            self._flush_handle = self.clock.call_later(REORDER_WINDOW, self._flush)

    def _deliver(self, event: Event) -> None:
        if event.seq is not None:
            self._expected_seq = max(self._expected_seq or 0, event.seq + 1)
        self.engine.handle(event)

    def _drain(self) -> None:
        while self._expected_seq in self._held:
            self._deliver(self._held.pop(self._expected_seq))
        if not self._held and self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _flush(self) -> None:
        """The window passed: the missing events are lost; deliver what is held, in order."""
        self._flush_handle = None
        for seq in sorted(self._held):
            self._deliver(self._held.pop(seq))

    def _send(self, message: dict[str, Any]) -> None:
        if self._closed:
            return
        self.session.send(message)
