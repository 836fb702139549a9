"""`tool_call: NAME` or `{name, arguments}` — the persona's LLM called a tool."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import Location
from ...protocol import Event
from ..loader import Node
from ..spec_types import AnyValue, MapOf, Obj, OneOf, Ref, Str, Text, f
from .base import NO_GROUPS, Groups, Reader, TriggerKind, same, subset


@dataclass(slots=True)
class ToolCallTrigger:
    """`tool_call: NAME` or `{name, arguments}`; `arguments` must all be equal in the call."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    loc: Location | None = None


# Also the shape of a tool call the simulated side makes (user and persona rules).
TOOL_CALL = Obj(
    {
        "name": f(Text("The tool's name.", nonempty=True), required=True),
        "arguments": f(MapOf(AnyValue(), "Argument values that must be equal."), nullable=True),
    },
    "A tool call: its name and arguments.",
)


class ToolCall(TriggerKind):
    key = "tool_call"
    model = ToolCallTrigger
    spec = OneOf((Str("The tool's name."), Ref("tool_call")), "Fires on a conversation.tool_call.")
    defs = {"tool_call": TOOL_CALL}
    titles = {"tool_call": "`tool_call:` (mapping form)"}
    summary = "The persona's LLM called this tool (with these argument values)."
    events = ("tool_call",)

    def parse(
        self, r: Reader, node: Node, what: str, loc: Location, parent: Node, *, templates: bool
    ) -> ToolCallTrigger | None:
        call = r.tool_call(node, f"{what} tool_call", names=())
        if call is None:
            return None
        return ToolCallTrigger(name=call.name, arguments=call.arguments, loc=loc)

    def match(self, trigger: ToolCallTrigger, event: Event) -> Groups | None:
        if event.type != "tool_call" or event.name != trigger.name:
            return None
        if trigger.arguments:
            args = event.arguments if isinstance(event.arguments, dict) else {}
            for key, expected in trigger.arguments.items():
                if not same(expected, args.get(key)):
                    return None
        return NO_GROUPS

    def answers_tool_calls(self, trigger: Any) -> bool:
        return True

    def describe(self, trigger: ToolCallTrigger) -> str:
        args = ", ".join(f"{k}={v}" for k, v in trigger.arguments.items())
        return f"tool_call {trigger.name}" + (f"({args})" if args else "")

    def word(self, trigger: Any) -> str:
        return "a tool call"

    def covers(self, a: ToolCallTrigger, b: ToolCallTrigger) -> bool:
        return a.name == b.name and subset(a.arguments, b.arguments)
