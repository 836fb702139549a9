"""Durations as scenario authors write them: ``250ms``, ``2s``, ``1.5s``, ``3m``, ``1h``.

Every duration in a scenario (``after:``, ``timeout:``, rehearsal latencies, ``duration: {max}``) goes
through `parse_duration`, so they all accept the same spellings and fail with the same message.
A bare number (or numeric string) is seconds. Units may be chained (``1m30s``); a space between
number and unit is allowed. Results are floats in seconds, never negative, never NaN or infinite.
"""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)")
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")

_CLOCK = re.compile(r"(\d+):([0-5]?\d)(?::([0-5]?\d))?")

HINT = "expected a duration like 250ms, 2s, 1.5s or 3m"


def _spell(clock: str) -> str:
    """``1:30`` -> ``1m30s`` (read as minutes:seconds), ``1:02:03`` -> ``1h2m3s``: a suggestion."""
    parts = [int(p) for p in clock.split(":")]
    units = ("h", "m", "s")[-len(parts) :]
    return "".join(f"{n}{u}" for n, u in zip(parts, units, strict=True) if n) or "0s"


def parse_duration(value: object) -> float:
    """Seconds in `value`. Raises ValueError with a message an author understands."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{HINT}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        raise ValueError(f"{HINT}, got {type(value).__name__} {value!r}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"{HINT}, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def _parse_text(text: str) -> float:
    if _NUMBER.fullmatch(text):
        return float(text)
    stripped = text.strip()
    if stripped.startswith("-") and _parse_units(stripped[1:]) is not None:
        raise ValueError(f"a duration cannot be negative, got {text!r}")
    seconds = _parse_units(stripped)
    if seconds is None:
        if _CLOCK.fullmatch(stripped):
            raise ValueError(
                f"{HINT}, got {text!r} (a clock-style time is text, not seconds: write {_spell(stripped)})"
            )
        raise ValueError(f"{HINT}, got {text!r}")
    return seconds


def _parse_units(text: str) -> float | None:
    total, pos = 0.0, 0
    if not text:
        return None
    while pos < len(text):
        m = _PART.match(text, pos)
        if not m:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total


def fmt_seconds(seconds: float) -> str:
    """A duration the way transcripts and diagrams word it: ``2m``, ``1.5s``, ``250ms``."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if seconds < 1:
        return f"{int(round(seconds * 1000))}ms"
    return f"{seconds:g}s"


def format_duration(seconds: float) -> str:
    """The shortest readable spelling: ``0.25`` -> ``250ms``, ``90`` -> ``1m30s``."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60 or seconds != int(seconds):
        return f"{seconds:g}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts)
