"""The live self-check: a trace subscriber that compares what arrives with the replica model.

`Monitor` reads the run's trace records (``header``, ``received``, ``sent``, ``outcome``), the
same records a JSONL transcript holds, so it runs live (subscribed to the trace), over a recorded
transcript (`check_records`), and in tests alike. It normalises the received messages itself with
a `Normalizer` of its own (the same rules as the run's, so the same events), feeds the detectors,
and reports each difference once, as it happens: `on_finding` (the live runner emits a
``fidelity`` trace record, which the console prints and the transcript keeps), and `findings`
holds them for the end summary (counts included).

Nothing here can change how a run behaves: the monitor only reads, and an error inside it is
logged and switches it off, never raised into the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..protocol import Normalizer
from ..protocol.normalize import as_message
from . import detectors as d
from .assumptions import Assumptions
from .finding import Finding

log = logging.getLogger("cviscript.fidelity")

MAX_FINDINGS = 64  # distinct findings kept; a hostile stream cannot grow memory


class Monitor:
    def __init__(
        self,
        assumptions: Assumptions | None = None,
        *,
        on_finding: Callable[[Finding], None] | None = None,
    ):
        self.assumptions = assumptions or Assumptions.from_settings()
        self.on_finding = on_finding
        self.findings: list[Finding] = []
        self._by_key: dict[tuple[str, str], Finding] = {}
        self._normalizer = Normalizer()
        self.late = d.LateCopies(self.assumptions, self._report)
        self.join = d.JoinOrder(self.assumptions, self._report)
        self.detectors: list[d.Detector] = [
            d.NoUtterances(self.assumptions, self._report),
            d.RespondEcho(self.assumptions, self._report),
            d.ToolSpeech(self.assumptions, self._report),
            d.UnknownSpellings(self.assumptions, self._report),
            self.late,
            d.ShutdownReasons(self.assumptions, self._report),
        ]
        self.finished = False
        self.broken: str | None = None
        self._t = 0.0

    # ------------------------------------------------------------------------------- feeding

    def __call__(self, record: Any) -> None:
        """A trace subscriber (a `TraceRecord`)."""
        self.feed(record.kind, record.data, record.t)

    def feed(self, kind: str, data: dict[str, Any], t: float) -> None:
        """One trace record (its kind, fields and run-clock time); never raises."""
        if self.broken is not None or self.finished:
            return
        try:
            self._feed(kind, data, float(t))
        except Exception as exc:  # an observer must never break the run it observes
            self.broken = f"{type(exc).__name__}: {exc}"
            log.error("the fidelity self-check stopped: %s", self.broken, exc_info=True)

    def _feed(self, kind: str, data: dict[str, Any], t: float) -> None:
        self._t = t
        if kind == "header":
            cid = data.get("conversation_id")
            self._normalizer = Normalizer(cid if isinstance(cid, str) and cid else None)
        elif kind == "received":
            message = as_message(data.get("message"))  # a JSON string is read as its object
            if message is None:
                return
            for det in self.detectors:
                det.raw(message, t)
            self.late.arrived()
            event, _reason = self._normalizer.feed(message)
            if event is not None and not self.late.is_late_copy(event, t):
                for det in self.detectors:
                    if det is not self.late:
                        det.event(event, t)
        elif kind == "sent":
            message = data.get("message")
            if isinstance(message, dict):
                for det in self.detectors:
                    det.sent(message, t)
        elif kind == "outcome":
            self.finish(t)
        elif kind == "log" and isinstance(data.get("replica_first"), bool):
            self.join.joined(data["replica_first"], t)
        elif kind in ("state", "log", "transition", "operator"):
            for det in self.detectors:
                det.tick(t)

    def joined(self, replica_first: bool) -> None:
        """The session's word on which side of the client's join the replica arrived."""
        if self.broken is None:
            self.join.joined(replica_first, self._t)

    def finish(self, t: float | None = None) -> list[Finding]:
        """The run ended: the detectors waiting for something that never came say so now."""
        if self.finished or self.broken is not None:
            return self.findings
        t = self._t if t is None else t
        try:
            for det in self.detectors:
                det.finish(t)
        except Exception as exc:
            self.broken = f"{type(exc).__name__}: {exc}"
            log.error("the fidelity self-check stopped: %s", self.broken, exc_info=True)
        self.finished = True
        return self.findings

    # ----------------------------------------------------------------------------- findings

    def _report(
        self,
        code: str,
        key: str,
        t: float,
        *,
        assumed: str,
        live: str,
        fix: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        known = self._by_key.get((code, key))
        if known is not None:
            known.count += 1
            if detail:
                known.detail.update(detail)
                known.fix = fix
            return
        if len(self.findings) >= MAX_FINDINGS:
            return
        finding = Finding(code, t, assumed, live, fix, key=key, detail=dict(detail or {}))
        self._by_key[(code, key)] = finding
        self.findings.append(finding)
        if self.on_finding is not None:
            self.on_finding(finding)

    def summary(self) -> list[dict[str, Any]]:
        """The findings as JSON (for ``--json``'s ``fidelity`` list and reports)."""
        return [f.to_json() for f in self.findings]

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]


def check_records(
    records: Iterable[dict[str, Any]],
    assumptions: Assumptions | None = None,
    header: dict[str, Any] | None = None,
) -> list[Finding]:
    """The self-check run over a recorded transcript's records (dicts, as `read_transcript`
    returns them; the header first or given apart)."""
    monitor = Monitor(assumptions)
    if header is not None:
        monitor.feed("header", header, float(header.get("t") or 0.0))
    for rec in records:
        kind = rec.get("kind")
        if isinstance(kind, str) and kind != "fidelity":
            monitor.feed(kind, rec, float(rec.get("t") or 0.0))
    return monitor.finish()
