"""Check a finished run against a rehearsal's `expect:` — one `Failure` per unmet expectation.

This is the matcher between the events (a run's trace records and its `RunResult`) and the
results (`results.Failure`); it runs nothing itself. The semantics are the contract's
(docs/language.md, Rehearsals), made precise:

* `path` — the exact list of states entered, in order (re-entries included).
* `final` — the state the run ends in.
* `outcome` — `completed`, `failed`, `timed_out` (or `error`).
* `said` — replica speech, as the runner *received* it (`conversation.utterance` events with role
  replica), contains each text, case-insensitively, in order: each text must be found after the
  place the previous one was found (later in the same utterance, or in a later one). Only what the
  replica got through counts: an utterance arrives whole when the replica starts speaking, so when
  it is cut off (`is_interrupted` on its `utterance.streaming`, or an interrupted
  `replica.stopped_speaking`) its text is the streaming events' accumulated speech at that point
  (`spoken_speech`). A server that sends no streaming events gives no way to know: the whole text
  counts.
* `not_said` — no text the replica got through contains any of these (case-insensitive).
* `sent` — the interaction event types sent contain these in order; others may come in between.
* `not_sent` — none of these event types was sent.
* `vars` — only the variables given are compared, at the end of the run; numbers compare by value
  (``3 == 3.0``), booleans only equal booleans; lists and mappings compare item by item.
* `duration: {max}` — the run's virtual duration is at most this.

A case without an `outcome` expectation still fails when the run ended in `error` (a template that
cannot render, an interaction too big to send): an error is never a pass. A replay case without
one must end with the recorded outcome instead (see `cviscript.sessions.replay`).

Every failure carries the expectation, what was expected, what happened, and the transcript lines
around the place it went wrong (`excerpt`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..engine import RunResult
from ..language.model import Expect
from ..trace import TraceRecord
from .excerpt import excerpt, first_at_or_after
from .results import Failure


def check(
    expect: Expect,
    result: RunResult,
    records: Sequence[TraceRecord],
    *,
    recorded_outcome: str | None = None,
) -> list[Failure]:
    """Every unmet expectation of `expect` for the run (`result`, `records`), in contract order
    (a run that ended in error without an `outcome` expectation: `run-error` first).

    `recorded_outcome`: for a replay, the outcome of the recording, which a run without an
    `outcome` expectation must reproduce.
    """
    c = _Checker(expect, result, records)
    if expect.outcome is None and recorded_outcome is None and result.outcome == "error":
        # the cause first: a path or said failure after an error only follows from it
        c.fail(
            "run-error",
            "outcome",
            f"the run ended in error: {result.reason}",
            expected="not error (a case without expect.outcome must not end in error)",
            actual=f"error: {result.reason}",
            label="outcome",
        )
    if expect.path is not None:
        c.path(expect.path)
    if expect.final is not None:
        c.final(expect.final)
    if expect.outcome is not None:
        c.outcome(expect.outcome)
    elif recorded_outcome is not None:
        c.outcome(recorded_outcome, label="outcome (recorded)")
    if expect.said is not None:
        c.said(expect.said)
    if expect.not_said is not None:
        c.not_said(expect.not_said)
    if expect.sent is not None:
        c.sent(expect.sent)
    if expect.not_sent is not None:
        c.not_sent(expect.not_sent)
    if expect.vars is not None:
        c.vars(expect.vars)
    if expect.duration_max is not None:
        c.duration(expect.duration_max)
    return c.failures


def same_value(expected: Any, actual: Any) -> bool:
    """`expect.vars` equality: numbers by value (3 == 3.0), bools only with bools, deep."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same_value(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return len(expected) == len(actual) and all(
            same_value(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return expected == actual


def replica_speech(records: Sequence[TraceRecord]) -> list[tuple[int, str]]:
    """(record index, text) of every replica utterance received, in order: the text the replica
    got through (see `spoken_speech`)."""
    return [(u.index, u.spoken) for u in spoken_speech(records)]


@dataclass(slots=True)
class Utterance:
    """One replica utterance: its whole `text` and how it ended."""

    index: int  # its record
    text: str
    inference_id: str | None
    streamed: str | None = None  # the latest accumulated speech of its streaming events
    interrupted: bool = False
    open: bool = True  # no stopped_speaking yet

    @property
    def spoken(self) -> str:
        """What the replica got through: all of it, unless cut off where streaming shows how far."""
        if self.interrupted and self.streamed is not None:
            return self.streamed
        return self.text


def spoken_speech(records: Sequence[TraceRecord]) -> list[Utterance]:
    """Every replica utterance received, with its streaming progress and interruption.

    Streaming events and interruptions belong to the utterance with the same `inference_id`,
    or, without one, to the latest utterance still being spoken. Streaming that arrives before
    its utterance (same id) is kept for it."""
    out: list[Utterance] = []
    by_id: dict[str, Utterance] = {}
    early: dict[str, tuple[str | None, bool]] = {}  # streaming seen before its utterance

    def owner(ev: Any) -> Utterance | None:
        if ev.inference_id and ev.inference_id in by_id:
            return by_id[ev.inference_id]
        return next((u for u in reversed(out) if u.open), None)

    for i, rec in enumerate(records):
        ev = rec.event
        if rec.kind != "received" or ev is None:
            continue
        kind = ev.type
        if kind == "utterance" and ev.role == "replica":
            u = Utterance(i, ev.text or "", ev.inference_id)
            if ev.inference_id:
                by_id[ev.inference_id] = u
                u.streamed, u.interrupted = early.pop(ev.inference_id, (None, False))
            out.append(u)
        elif kind == "utterance.streaming" and ev.role in ("replica", None):
            if ev.inference_id and ev.inference_id not in by_id and len(early) < 1000:
                streamed, cut = early.get(ev.inference_id, (None, False))
                early[ev.inference_id] = (ev.text or streamed, cut or ev.interrupted)
                continue
            u = owner(ev)
            if u is not None:
                u.streamed = ev.text if ev.text is not None else u.streamed
                u.interrupted |= ev.interrupted
        elif kind == "replica.stopped_speaking":
            u = owner(ev)
            if u is not None:
                u.interrupted |= ev.interrupted
                u.open = False
    return out


def _arrows(states: Sequence[str]) -> str:
    return " → ".join(states) if states else "(none)"


def _q(text: Any) -> str:
    return repr(text) if isinstance(text, str) else str(text)


class _Checker:
    def __init__(self, expect: Expect, result: RunResult, records: Sequence[TraceRecord]):
        self.expect = expect
        self.result = result
        self.records = records
        self.failures: list[Failure] = []

    def fail(
        self,
        code: str,
        key: str,
        message: str,
        *,
        expected: Any = None,
        actual: Any = None,
        focus: int | None = None,
        label: str | None = None,
    ) -> None:
        loc = self.expect.locs.get(key.split("[")[0])
        self.failures.append(
            Failure(
                code=code,
                expectation=label or f"expect.{key}",
                message=message,
                expected=expected,
                actual=actual,
                loc=str(loc) if loc else None,
                context=excerpt(self.records, focus),
            )
        )

    def _index(self, kind: str, n: int) -> int | None:
        """Index of the n-th (0-based) record of `kind`."""
        seen = -1
        for i, rec in enumerate(self.records):
            if rec.kind == kind:
                seen += 1
                if seen == n:
                    return i
        return None

    # ------------------------------------------------------------------------------- checks

    def path(self, expected: list[str]) -> None:
        actual = self.result.path
        if actual == expected:
            return
        k = next(
            (i for i, (e, a) in enumerate(zip(expected, actual, strict=False)) if e != a),
            min(len(expected), len(actual)),
        )
        if k < len(expected) and k < len(actual):
            what = f"step {k + 1} entered {actual[k]!r}, expected {expected[k]!r}"
        elif k < len(expected):
            what = (
                f"the run entered only {len(actual)} states; step {k + 1} should be {expected[k]!r}"
            )
        else:
            what = f"the run entered {actual[k]!r} at step {k + 1}, after the expected path ended"
        focus = self._index("state", k) if k < len(actual) else None
        self.fail(
            "path-mismatch",
            "path",
            f"the states entered differ: {what}",
            expected=_arrows(expected),
            actual=_arrows(actual),
            focus=focus,
        )

    def final(self, expected: str) -> None:
        actual = self.result.state
        if actual == expected:
            return
        self.fail(
            "final-mismatch",
            "final",
            f"the run ended in state {actual!r}, expected {expected!r}",
            expected=expected,
            actual=actual,
        )

    def outcome(self, expected: str, *, label: str | None = None) -> None:
        r = self.result
        if r.outcome == expected:
            return
        self.fail(
            "outcome-mismatch",
            "outcome",
            f"the run ended {r.outcome} ({r.reason}), expected {expected}",
            expected=expected,
            actual=f"{r.outcome}: {r.reason}",
            label=label,
        )

    def said(self, expected: list[str]) -> None:
        speech = replica_speech(self.records)
        u, pos = 0, 0  # search from utterance u, character pos
        last: tuple[int, str] | None = None  # (record index, text) of the previous match
        for n, text in enumerate(expected):
            needle = text.lower()
            found = False
            while u < len(speech):
                at = speech[u][1].lower().find(needle, pos)
                if at >= 0:
                    last, pos, found = (speech[u][0], text), at + len(needle), True
                    break
                u, pos = u + 1, 0
            if found:
                continue
            spoken = [s for _, s in speech]
            cut = next(
                (
                    u
                    for u in spoken_speech(self.records)
                    if u.spoken != u.text and needle in u.text.lower()
                ),
                None,
            )
            if not spoken:
                where = "the replica said nothing"
            elif cut is not None:
                where = (
                    f"it was in an utterance cut off before it (the replica got through only "
                    f"{cut.spoken!r} of {cut.text!r})"
                )
            elif last is None:
                where = "the replica never said it"
            else:
                where = f"the replica never said it after {last[1]!r}"
            where += self._unspoken_because(needle)
            self.fail(
                "said-missing",
                f"said[{n}]",
                f"{text!r} was not said: {where}",
                expected=expected,
                actual=spoken,
                focus=None if last is None else last[0] + 1,
            )
            return

    def _unspoken_because(self, needle: str) -> str:
        """Why the simulated replica did not say a reply holding `needle`, when it decided not
        to (a ``model`` record: on_resolve, the follow-up window, a tool error)."""
        for rec in self.records:
            if rec.kind != "model":
                continue
            d = rec.data
            text = (
                d.get("text") if d.get("note") != "tool-error-acknowledged" else d.get("replaces")
            )
            if not isinstance(text, str) or needle not in text.lower():
                continue
            line = d.get("rule_line")
            rule = f"the persona rule's reply (line {line})" if line else "the persona's reply"
            field = f" [persona field: {d['field']}]" if d.get("field") else ""
            return f"; {rule} was not spoken: {d.get('why')}{field}"
        return ""

    def not_said(self, forbidden: list[str]) -> None:
        for index, text in replica_speech(self.records):
            lowered = text.lower()
            hit = next((f for f in forbidden if f.lower() in lowered), None)
            if hit is None:
                continue
            n = forbidden.index(hit)
            self.fail(
                "not-said-said",
                f"not_said[{n}]",
                f"the replica said {hit!r}, expected never: {text!r}",
                expected=f"none of {', '.join(repr(f) for f in forbidden)}",
                actual=text,
                focus=index,
            )
            return

    def sent(self, expected: list[str]) -> None:
        actual = self.result.sent
        i = 0
        for n, event_type in enumerate(expected):
            while i < len(actual) and actual[i] != event_type:
                i += 1
            if i < len(actual):
                i += 1
                continue
            matched = self._matched(expected, n)
            after = f" after {expected[n - 1]} (interaction #{matched})" if n else ""
            self.fail(
                "sent-missing",
                f"sent[{n}]",
                f"{event_type} (expected #{n + 1}) was not sent{after}",
                expected=expected,
                actual=actual,
                focus=self._sent_focus(matched),
            )
            return

    def _matched(self, expected: list[str], n: int) -> int:
        """1-based position in `sent` where expected[n-1] matched (0 if n == 0)."""
        actual, i = self.result.sent, 0
        for event_type in expected[:n]:
            while actual[i] != event_type:
                i += 1
            i += 1
        return i

    def _sent_focus(self, count: int) -> int | None:
        """The `count`-th sent record: the last interaction that still matched (None: the end)."""
        return None if count == 0 else self._index("sent", count - 1)

    def not_sent(self, forbidden: list[str]) -> None:
        hits: list[tuple[str, float]] = []
        first: int | None = None
        for i, rec in enumerate(self.records):
            if rec.kind != "sent":
                continue
            et = (rec.data.get("message") or {}).get("event_type")
            if et in forbidden:
                hits.append((et, rec.t))
                if first is None:
                    first = i
        if not hits and not any(t in forbidden for t in self.result.sent):
            return
        if not hits:  # records were not kept: the result still knows
            hits = [(t, math.nan) for t in self.result.sent if t in forbidden]
        et, t = hits[0]
        when = "" if math.isnan(t) else f" at {t:.3f}s"
        more = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
        self.fail(
            "not-sent-sent",
            "not_sent",
            f"{et} was sent{when}{more}, expected never",
            expected=f"none of {', '.join(forbidden)}",
            actual=[h[0] for h in hits],
            focus=first,
        )

    def vars(self, expected: dict[str, Any]) -> None:
        actual_vars = self.result.vars
        wrong: dict[str, Any] = {}
        parts = []
        for name, value in expected.items():
            if name not in actual_vars:
                wrong[name] = "(not set)"
                parts.append(f"vars.{name} is not set, expected {_q(value)}")
            elif not same_value(value, actual_vars[name]):
                wrong[name] = actual_vars[name]
                parts.append(f"vars.{name} is {_q(actual_vars[name])}, expected {_q(value)}")
        if not parts:
            return
        self.fail(
            "vars-mismatch",
            "vars",
            "; ".join(parts),
            expected={k: expected[k] for k in wrong},
            actual=wrong,
        )

    def duration(self, limit: float) -> None:
        took = self.result.duration
        if took <= limit + 1e-9:
            return
        self.fail(
            "duration-exceeded",
            "duration",
            f"the run took {took:.3f}s of virtual time, over the {limit:g}s maximum",
            expected=f"at most {limit:g}s",
            actual=f"{took:.3f}s",
            focus=first_at_or_after(self.records, limit + 1e-9),
        )
