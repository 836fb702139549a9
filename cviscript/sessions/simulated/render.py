"""The context `user:` and `persona:` texts are rendered with.

They are Jinja2 templates like every other scenario string, rendered by `cviscript.language.templates`, but
with a small context of their own: `groups` (the named groups of the regex that matched), `event`
(the event that fired a user rule, or the input a persona rule answers), `result` (a tool's output,
for a persona reply after its tool call) and an empty `vars` (the simulated side cannot see the
scenario's variables: a real visitor or LLM cannot either).
"""

from __future__ import annotations

from typing import Any

from ...language.templates import render as render_text
from ...language.templates import render_value

__all__ = ["context", "render_text", "render_value"]


def context(
    groups: dict[str, Any] | None = None, event: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"groups": dict(groups or {}), "event": dict(event or {}), "vars": {}, **extra}
