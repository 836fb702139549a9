"""How the engine puts its scenario into words: a transition's trigger as one short line, durations
as an author writes them, and values made safe for a JSON trace record.

Kept apart from the engine because the readers are elsewhere too: transcripts and diagrams
(report), coverage (rehearsal) describe transitions the same way the trace does.
"""

from __future__ import annotations

from typing import Any

from ..language.durations import fmt_seconds
from ..language.model import Transition
from ..language.triggers import kind_of

__all__ = ["describe_trigger", "fmt_seconds", "jsonable"]


def describe_trigger(t: Transition) -> str:
    """A short human description of a transition's trigger (its kind words it), for
    transcripts and diagrams."""
    text = kind_of(t.trigger).describe(t.trigger)
    if t.when is not None:
        text += f" [when {t.when.source}]"
    return text


def jsonable(value: Any) -> Any:
    """`value` with every dict key a string and anything not JSON-like as its `str`."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
