"""Liberal, bounded readers for the scalar values of a received message.

Anything in the room can send app-messages, so every value is read defensively: none of these
readers raises, whatever it is given, and none spends more than a bounded time on it.

* integers (``seq``, ``turn_idx``, ``content_index``, ``sample_rate``): an int, an integral float,
  or a string of ASCII digits, at most `MAX_INT_DIGITS` digits. Unicode digits (``"²"``, which
  `str.isdigit` accepts and `int` refuses), longer numbers (a 5,000-digit ``seq`` would hit Python's
  integer-string limit, or grow without bound in a comparison) and booleans read as None.
* floats (``timestamp``, ``duration``): finite numbers under 10**18 only (NaN, infinities and
  larger read as None);
  a timestamp may also be an ISO 8601 string (Tavus's ``system.shutdown`` sends one), read as Unix
  seconds.
* booleans: ``true``/``"true"``/``1``/``"yes"``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

MAX_INT_DIGITS = 18  # fits in a signed 64-bit integer, far beyond any real seq or index
_INT_LIMIT = 10**MAX_INT_DIGITS
_INT_TEXT = re.compile(rf"[+-]?[0-9]{{1,{MAX_INT_DIGITS}}}")
_MAX_NUMBER_TEXT = 64  # characters: longer strings are not read as numbers or dates
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TRUE_WORDS = frozenset({"true", "1", "yes"})


def as_int(value: Any) -> int | None:
    """A bounded integer, or None."""
    kind = type(value)
    if kind is int:  # the common case first (bool is a subclass of int, not int itself)
        return value if -_INT_LIMIT < value < _INT_LIMIT else None
    if kind is bool:
        return None
    if isinstance(value, int):
        return int(value) if -_INT_LIMIT < value < _INT_LIMIT else None
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and -_INT_LIMIT < value < _INT_LIMIT:
            return int(value)
        return None
    if isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT:
        text = value.strip()
        if _INT_TEXT.fullmatch(text):
            return int(text)
    return None


def as_float(value: Any) -> float | None:
    """A finite float under 10**18 in size, or None."""
    kind = type(value)
    if kind is float:
        number = value
    elif kind is bool:
        return None
    elif isinstance(value, int):
        if not -_INT_LIMIT < value < _INT_LIMIT:
            return None
        number = float(value)
    elif isinstance(value, float):
        number = float(value)
    elif isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT:
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and -_INT_LIMIT < number < _INT_LIMIT else None


def as_timestamp(value: Any) -> float | None:
    """Unix seconds from a number or an ISO 8601 string (naive times are UTC), or None."""
    number = as_float(value)
    if number is not None or not isinstance(value, str) or len(value) > _MAX_NUMBER_TEXT:
        return number
    text = value.strip()
    if not _ISO_DATE.match(text):  # fromisoformat also reads bare digit runs as dates
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def as_str(value: Any) -> str | None:
    """A string, or an integer's digits (ids sometimes arrive as numbers), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if as_int(value) is not None and not isinstance(value, float):
        return str(value)
    return None


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= _MAX_NUMBER_TEXT and value.strip().lower() in _TRUE_WORDS
    if value is True:
        return True
    return type(value) in (int, float) and value == 1


def first_str(properties: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = properties.get(key)
        if isinstance(value, str):
            return value
    return None
