"""The context `user:` and `persona:` texts are rendered with.

They are Jinja2 templates like every other scenario string, rendered by `cviscript.language.templates`, but
with a small context of their own: `groups` (the named groups of the regex that matched), `event`
(the event that fired a user rule, or the input a persona rule answers), `result` (a tool's output,
for a persona reply after its tool call) and an empty `vars` (the simulated side cannot see the
scenario's variables: a real visitor or LLM cannot either).

A `result` that is a dict or a list renders as JSON (``{{ result }}`` -> ``{"count": 0}``), as
the tool's output reads on the wire and as an LLM would quote it — not as Python's
``{'count': 0}``; its fields are still reached as usual (``{{ result.count }}``).
"""

from __future__ import annotations

import json
from typing import Any

from ...language.templates import render as render_text
from ...language.templates import render_value

__all__ = ["context", "render_text", "render_value"]


def context(
    groups: dict[str, Any] | None = None, event: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    if "result" in extra:
        extra["result"] = json_view(extra["result"])
    return {"groups": dict(groups or {}), "event": dict(event or {}), "vars": {}, **extra}


class _JSONDict(dict):
    """A dict that prints as JSON."""

    __slots__ = ()

    def __str__(self) -> str:
        return json.dumps(self, ensure_ascii=False, default=str)


class _JSONList(list):
    """A list that prints as JSON."""

    __slots__ = ()

    def __str__(self) -> str:
        return json.dumps(self, ensure_ascii=False, default=str)


def json_view(value: Any, depth: int = 0) -> Any:
    """`value` with its dicts and lists printing as JSON (their items unchanged otherwise)."""
    if depth > 64:
        return value
    if isinstance(value, dict):
        return _JSONDict({k: json_view(v, depth + 1) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return _JSONList(json_view(v, depth + 1) for v in value)
    return value
