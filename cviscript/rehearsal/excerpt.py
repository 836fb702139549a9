"""Transcript excerpts: the few readable lines around the place a rehearsal went wrong.

A failure report is only useful if it shows *where* it went wrong, in the words of the transcript
the author already knows from `cviscript run`. The lines are made by
`cviscript.trace_lines.format_record` from the run's trace records, so an excerpt reads exactly
like the console transcript; the line a failure points at is marked with ``>``.

Records loaded back from JSON (a transcript file, a trace kept in a result) have no in-memory
`protocol.Event`; `records_from_json` normalises their `received` messages again, in order, with
one `protocol.Normalizer`, so duplicates are recognised exactly as they were in the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..protocol import Normalizer
from ..trace import TraceRecord
from ..trace_lines import format_record

BEFORE = 4  # transcript lines shown before the line a failure points at
AFTER = 2  # and after it


def records_from_json(
    records: Iterable[dict[str, Any]], conversation_id: str | None = None
) -> list[TraceRecord]:
    """JSONL transcript records back to `TraceRecord`s, `received` ones with their events."""
    normalizer = Normalizer(conversation_id)
    out = []
    for raw in records:
        data = {k: v for k, v in raw.items() if k not in ("t", "ts", "kind")}
        kind = str(raw.get("kind"))
        event = None
        if kind == "header" and conversation_id is None and data.get("conversation_id"):
            normalizer = Normalizer(data["conversation_id"])
        if kind == "received":
            event, _reason = normalizer.feed(data.get("message"))
        out.append(
            TraceRecord(float(raw.get("t", 0.0)), float(raw.get("ts", 0.0)), kind, data, event)
        )
    return out


def line_of(record: TraceRecord) -> str | None:
    """The transcript line of one record (outcomes and transitions included), or None."""
    if record.kind == "outcome":
        d = record.data
        return f"{record.t:8.3f}s  ■ {d.get('outcome')}: {d.get('reason')}"
    if record.kind == "transition":
        return None  # the next state line says "via <transition id>"
    return format_record(record)


def excerpt(
    records: Sequence[TraceRecord],
    focus: int | None,
    *,
    before: int = BEFORE,
    after: int = AFTER,
) -> list[str]:
    """Readable lines around ``records[focus]`` (marked ``>``); `None` means the end of the run.

    When the focused record makes no line itself (a transition), the mark goes on the next line
    that exists.
    """
    lines: list[tuple[int, str]] = []  # (record index, text)
    for i, rec in enumerate(records):
        text = line_of(rec)
        if text is not None:
            lines.append((i, text))
    if not lines:
        return []
    if focus is None:
        at = len(lines) - 1
    else:
        at = next((k for k, (i, _) in enumerate(lines) if i >= focus), len(lines) - 1)
    start, end = max(0, at - before), min(len(lines), at + after + 1)
    out = []
    if start > 0:
        out.append("   …")
    for k in range(start, end):
        out.append(("> " if k == at else "  ") + lines[k][1])
    if end < len(lines):
        out.append("   …")
    return out


def first_at_or_after(records: Sequence[TraceRecord], t: float) -> int | None:
    """Index of the first record at or after time `t`."""
    return next((i for i, r in enumerate(records) if r.t >= t), None)
