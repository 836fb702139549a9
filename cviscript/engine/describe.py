"""How the engine puts its scenario into words: a transition's trigger as one short line, durations
as an author writes them, and values made safe for a JSON trace record.

Kept apart from the engine because the readers are elsewhere too: transcripts and diagrams
(report), coverage (rehearsal) describe transitions the same way the trace does.
"""

from __future__ import annotations

from typing import Any

from ..language.model import (
    AfterTrigger,
    EventTrigger,
    ManualTrigger,
    PerceptionTrigger,
    ToolCallTrigger,
    Transition,
    UtteranceTrigger,
)


def describe_trigger(t: Transition) -> str:
    """A short human description of a transition's trigger, for transcripts and diagrams."""
    trig = t.trigger
    if isinstance(trig, UtteranceTrigger):
        parts = [f"{trig.role} says"]
        if trig.match is not None:
            parts.append(f"/{trig.match.pattern}/")
        if trig.contains:
            parts.append("~" + "|".join(trig.contains))
        if trig.equals is not None:
            parts.append(f'"{trig.equals}"')
        text = " ".join(parts)
    elif isinstance(trig, EventTrigger):
        text = trig.name + ("" if not trig.where else f" {trig.where}")
    elif isinstance(trig, ToolCallTrigger):
        args = ", ".join(f"{k}={v}" for k, v in trig.arguments.items())
        text = f"tool_call {trig.name}" + (f"({args})" if args else "")
    elif isinstance(trig, PerceptionTrigger):
        text = "perception" + (f" /{trig.match.pattern}/" if trig.match else "")
    elif isinstance(trig, ManualTrigger):
        text = f"manual {trig.name}"
    elif isinstance(trig, AfterTrigger):
        text = f"after {trig.template.source if trig.template else fmt_seconds(trig.seconds)}"
    else:
        text = type(trig).__name__
    if t.when is not None:
        text += f" [when {t.when.source}]"
    return text


def fmt_seconds(seconds: float) -> str:
    """A duration the way a scenario writes it: ``2m``, ``1.5s``, ``250ms``."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if seconds < 1:
        return f"{int(round(seconds * 1000))}ms"
    return f"{seconds:g}s"


def jsonable(value: Any) -> Any:
    """`value` with every dict key a string and anything not JSON-like as its `str`."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
