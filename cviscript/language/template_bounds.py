"""Bounds on what a template can build: no value and no output over `MAX_OUTPUT` characters.

A template that renders a million characters is a mistake, and one that builds a gigabyte string
takes the process down before any output check can see it: ``'x' | center(10**9)``,
``'%01000000000d' | format(1)``, ``'{:>1000000000}'.format('')``, or a value doubled forty times
with ``~``. So the sandbox (`cviscript.language.templates`) checks at every place a template can *grow* a
value, before the value is built where the size is predictable, and right after where it is not
(then each input is already bounded, so the transient cost is bounded too):

* binary operators: ``*`` and ``+`` on strings and lists, ``%`` formatting (widths and
  precisions), ``**`` on integers (the result's bits);
* ``~`` (jinja2's `Concat`, compiled through `bounded`);
* calls of `str` methods that pad, expand, replace, join or format (`check_str_call`);
* filters that pad, indent, wrap, replace, join, format or fill (`bounded_filters`), and the size
  of every filter's and every call's result.

Loops are bounded by jinja2's sandbox (`range` has at most 100,000 items) and by the output limit
on what they render; a loop that renders nothing can still burn CPU. Templates come from the
scenario file, never from the room, so these bounds catch mistakes, not attackers.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable
from typing import Any

from jinja2.exceptions import SecurityError

MAX_OUTPUT = 100_000  # characters (or items) in one value or one rendered template
MAX_POW_BITS = 100_000

_SIZED = (str, list, tuple, dict, bytes)
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


def too_long(what: str = "result") -> SecurityError:
    return SecurityError(f"{what} too long (over {MAX_OUTPUT} characters)")


def bounded(value: Any) -> Any:
    """`value`, unless it is a string or collection over the limit."""
    if isinstance(value, _SIZED) and len(value) > MAX_OUTPUT:
        raise too_long()
    return value


def _check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and width > MAX_OUTPUT:
        raise too_long(what)


def check_percent(fmt: Any) -> None:
    """``fmt % args``: refuse widths and precisions that build an oversized string."""
    if not isinstance(fmt, str) or "%" not in fmt:
        return
    for m in _PERCENT.finditer(fmt):
        for number in m.groups():
            if number == "*":
                raise SecurityError("'*' widths are not supported in templates; write the number")
            if number is not None and int(number) > MAX_OUTPUT:
                raise too_long("formatted value")


def check_format_string(fmt: str) -> None:
    """``fmt.format(...)``: refuse widths over the limit and computed (nested) format specs."""
    for _literal, _field, spec, _conversion in string.Formatter().parse(fmt):
        if not spec:
            continue
        if "{" in spec:
            raise SecurityError("computed format specs ('{:{width}}') are not supported here")
        for number in _DIGITS.findall(spec):
            if int(number) > MAX_OUTPUT:
                raise too_long("formatted value")


def check_binop(op: str, left: Any, right: Any) -> None:
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            if (
                isinstance(seq, str | list | tuple)
                and isinstance(n, int)
                and len(seq) * n > MAX_OUTPUT
            ):
                raise SecurityError(f"repetition result too long (over {MAX_OUTPUT} items)")
    elif op == "+":
        if (
            isinstance(left, str | list | tuple)
            and isinstance(right, str | list | tuple)
            and len(left) + len(right) > MAX_OUTPUT
        ):
            raise too_long()
    elif op == "%":
        check_percent(left)
    elif op == "**":
        big = isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1
        if big and left.bit_length() * right > MAX_POW_BITS:
            raise SecurityError("power result too large")


def _replaced_length(s: str, old: Any, new: Any, count: Any) -> int:
    if not (isinstance(old, str) and isinstance(new, str)) or len(new) <= len(old):
        return len(s)
    n = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    return len(s) + n * (len(new) - len(old))


def check_str_call(obj: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Check a call of a `str` method that can grow a string; returns the (possibly
    materialised) arguments to call it with."""
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format at attribute access
    s = getattr(target, "__self__", None)
    if not isinstance(s, str):
        return args, kwargs
    name = getattr(target, "__name__", "")
    first = args[0] if args else None
    if name in ("center", "ljust", "rjust", "zfill"):
        _check_width(first if args else kwargs.get("width"), "padded string")
    elif name == "expandtabs":
        tabsize = first if args else kwargs.get("tabsize", 8)
        if "\t" in s and isinstance(tabsize, int) and len(s) * max(tabsize, 1) > MAX_OUTPUT:
            raise too_long("expanded string")
    elif name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        if _replaced_length(s, args[0], args[1], count) > MAX_OUTPUT:
            raise too_long("replaced string")
    elif name == "join" and args:
        items = list(first)
        if len(s) * max(len(items) - 1, 0) > MAX_OUTPUT:
            raise too_long("joined string")
        args = (items, *args[1:])
    elif name in ("format", "format_map"):
        check_format_string(s)
    return args, kwargs


# ------------------------------------------------------------------------------------- filters


def _pre_center(value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    _check_width(width, "centered string")


def _pre_indent(value: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    lines = str(value).count("\n") + 1
    per_line = width if isinstance(width, int) else len(str(width))
    if len(str(value)) + lines * max(per_line, 0) > MAX_OUTPUT:
        raise too_long("indented string")


def _pre_format(value: Any, *_: Any, **__: Any) -> None:
    check_percent(str(value))


def _pre_wordwrap(
    value: Any, width: Any = 79, _b: Any = True, wrapstring: Any = None, *_: Any, **kw: Any
) -> None:
    wrapstring = kw.get("wrapstring", wrapstring)
    width = kw.get("width", width)
    text = str(value)
    if isinstance(width, int) and width >= 1:
        sep = len(wrapstring) if isinstance(wrapstring, str) else 1
        if len(text) + (len(text) // width + 1) * sep > MAX_OUTPUT:
            raise too_long("wrapped string")


def _pre_replace(
    value: Any, old: Any = None, new: Any = None, count: Any = None, *_: Any, **__: Any
) -> None:
    if _replaced_length(str(value), old, new, -1 if count is None else count) > MAX_OUTPUT:
        raise too_long("replaced string")


def _pre_fill(value: Any, count: Any = None, fill_with: Any = None, *_: Any, **kw: Any) -> None:
    _check_width(count, "batch or slice count")


_PRE: dict[str, Callable[..., None]] = {
    "center": _pre_center,
    "indent": _pre_indent,
    "format": _pre_format,
    "wordwrap": _pre_wordwrap,
    "replace": _pre_replace,
    "batch": _pre_fill,
    "slice": _pre_fill,
}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    pre = _PRE.get(name)
    lead = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)  # keeps `jinja_pass_arg`, so jinja2 passes what the filter expects
    def filter_(*args: Any, **kwargs: Any) -> Any:
        if name == "join" and len(args) > lead:  # materialise once, to measure the separators
            items = list(args[lead])
            sep = args[lead + 1] if len(args) > lead + 1 else kwargs.get("d", "")
            if len(str(sep)) * max(len(items) - 1, 0) > MAX_OUTPUT:
                raise too_long("joined string")
            args = (*args[:lead], items, *args[lead + 1 :])
        elif pre is not None:
            pre(*args[lead:], **kwargs)
        return bounded(func(*args, **kwargs))

    return filter_


def bounded_filters(filters: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    return {name: _bounded_filter(name, func) for name, func in filters.items()}
