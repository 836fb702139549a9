"""The stable finding codes of the live self-check, and what each one means.

A code names one way a live conversation can differ from the replica model rehearsals run
against. Codes never change meaning once released: CI logs, `--json` output and transcripts carry
them, and people grep for them. A new kind of difference gets a new code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    title: str  # what happened, in a few words


NO_UTTERANCES = Code("no-utterances", "the replica spoke but no utterance event arrived")
RESPOND_ECHOED = Code("respond-echoed", "the client's respond came back as a user utterance")
RESPOND_NOT_ECHOED = Code("respond-not-echoed", "the client's respond did not come back")
TOOL_FILLER = Code("tool-filler", "the replica spoke a filler around a tool call")
TOOL_NO_FILLER = Code("tool-no-filler", "the replica stayed silent while a tool ran")
TOOL_RESULT_UNSPOKEN = Code("tool-result-unspoken", "a tool result was never spoken")
TOOL_RESULT_SPOKEN = Code("tool-result-spoken", "a tool result was spoken")
UNKNOWN_EVENT = Code("unknown-event", "an event name or spelling the normaliser does not know")
LATE_COPY = Code("late-copy", "a copy arrived further apart than the folding window")
JOIN_ORDER = Code("join-order", "the replica joined on the other side of the client's join")
UNKNOWN_SHUTDOWN = Code("unknown-shutdown-reason", "a shutdown reason the model lacks")

CODES: tuple[Code, ...] = (
    NO_UTTERANCES,
    RESPOND_ECHOED,
    RESPOND_NOT_ECHOED,
    TOOL_FILLER,
    TOOL_NO_FILLER,
    TOOL_RESULT_UNSPOKEN,
    TOOL_RESULT_SPOKEN,
    UNKNOWN_EVENT,
    LATE_COPY,
    JOIN_ORDER,
    UNKNOWN_SHUTDOWN,
)
BY_CODE: dict[str, Code] = {c.code: c for c in CODES}
