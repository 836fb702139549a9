"""What the model asks of a persona (the stand-in for the LLM), and the answer it gets back.

A rehearsal's persona is its `persona:` rules (`cviscript.sessions.simulated.persona`); the fake
Daily room's is a plain function from what was heard to a reply (`FunctionPersona`). The model only
times and emits what a persona decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class Answer:
    """What the persona does about one input."""

    rule: Any = None  # the rule that answered (None: a default or function reply)
    groups: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] = field(default_factory=dict)  # the input, as templates see it
    say: str | None = None  # rendered now, unless a tool call comes first
    tool_name: str | None = None
    tool_arguments: dict[str, Any] | None = None
    # `complete_objective`: the objective's name and its output variables (rendered); reported
    # as the reply starts, or once the tool's result is in
    objective: str | None = None
    objective_variables: dict[str, Any] = field(default_factory=dict)


class Persona(Protocol):
    def answer(self, text: str, event: dict[str, Any] | None = None) -> Answer | None:
        """The answer to `text` (user speech or a `respond`), or None for silence."""

    def after_tool(self, answer: Answer, result: Any) -> str | None:
        """The reply once a tool's `output` is known (None: say nothing)."""

    def objective_after_tool(self, answer: Answer, result: Any) -> dict[str, Any]:
        """The objective's output variables once a tool's `output` is known."""


class FunctionPersona:
    """A persona from a function `text -> reply or None` (no tool calls)."""

    def __init__(self, reply: Callable[[str], str | None] | None):
        self.reply = reply

    def answer(self, text: str, event: dict[str, Any] | None = None) -> Answer | None:
        said = self.reply(text) if self.reply is not None else None
        return Answer(say=said, event=dict(event or {})) if said else None

    def after_tool(self, answer: Answer, result: Any) -> str | None:
        return None

    def objective_after_tool(self, answer: Answer, result: Any) -> dict[str, Any]:
        return {}
