"""Tool calls: the persona calls a tool and its reply waits for the client's `tool_result`.

A tool call carries the `inference_id` and `turn_idx` of the input that triggered it (the user's
utterance, or the `respond`), as Tavus documents, and a `tool_call_id` the result must name:
Tavus marks `tool_call_id` required, so a result without one (or naming no open call) answers
nothing. What the replica says while the tool runs (`on_call`) and after its result
(`on_resolve`) is the tool's own setting (`language.persona_file.PersonaTool`), Tavus's documented
defaults when the persona file does not have the tool or there is none: a filler line while it
runs, nothing after the result. A result with ``status: error`` is acknowledged as a failure (the
model's `tool_error_reply`) where a result would have been spoken, never spoken as if it had
worked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .persona import Answer


@dataclass(slots=True)
class OpenCall:
    answer: Answer | None  # None: a perception tool call (no persona rule behind it)
    inference_id: str | None
    turn_idx: int
    name: str = ""
    at: float = 0.0  # when the call went out (a result later than the follow-up window is late)


class ToolDesk:
    def __init__(self) -> None:
        self.open: dict[str, OpenCall] = {}
        self.results: list[dict[str, Any]] = []  # every tool_result received, for inspection

    def call_properties(self, answer: Answer, call_id: str) -> dict[str, Any]:
        return {
            "name": answer.tool_name,
            "arguments": json.dumps(answer.tool_arguments or {}, sort_keys=True),
            "tool_call_id": call_id,
        }

    def opened(self, call_id: str, call: OpenCall) -> None:
        self.open[call_id] = call

    def answered(self, properties: dict[str, Any]) -> tuple[OpenCall | None, dict[str, Any], str]:
        """(the call answered or None, the result record, why it answers nothing)."""
        call_id = properties.get("tool_call_id")
        status = properties.get("status", "success")
        record = {
            "tool_call_id": call_id,
            "output": properties.get("output"),
            "status": status if status in ("success", "error") else "success",
        }
        self.results.append(record)
        if not isinstance(call_id, str) or not call_id:
            record["answered"] = False
            return None, record, "tool_result without tool_call_id (Tavus requires it)"
        call = self.open.pop(call_id, None)
        record["answered"] = call is not None
        return call, record, f"tool_result for unknown tool call {call_id!r}"
