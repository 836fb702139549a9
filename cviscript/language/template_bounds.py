"""Bounds on what a template can build: no value and no output over `MAX_OUTPUT` characters.

A template that renders a million characters is a mistake, and one that builds a gigabyte string
takes the process down before any output check can see it: ``'x' | center(10**9)``,
``'%01000000000d' | format(1)``, ``'{:>1000000000}'.format('')``, or a value doubled forty times
with ``~``. So the sandbox (`cviscript.language.templates`) checks at every place a template can *grow* a
value, before the value is built where the size is predictable, and right after where it is not
(then each input is already bounded, so the transient cost is bounded too):

* binary operators: ``*`` and ``+`` on strings and lists, ``%`` formatting (widths and
  precisions), ``*`` and ``**`` on integers (the result's digits);
* ``~`` (jinja2's `Concat`, compiled through `bounded`);
* calls of `str` methods that pad, expand, replace, join or format (`check_str_call`);
* filters that pad, indent, wrap, replace, join, format or fill (`bounded_filters`), and the size
  of every filter's and every call's result.

"Size" is what the value would take to render: a string's length, an integer's digits, and for a
list, tuple or dict its items plus the size of each (`size_of`; a list of 99,999 references to one
99,999-character string is ten billion characters once joined, so it is refused). Integers have at
most `MAX_INT_DIGITS` digits: past that Python refuses to print them, and repeated squaring doubles
their memory each step. Iterators that filters consume (``map(...) | list``, ``select``, ``join``)
are counted as they are drawn, so a lazy chain stops at the limit instead of building gigabytes.

Loops are bounded by jinja2's sandbox (`range` has at most 100,000 items) and by the output limit
on what they render; a loop that renders nothing can still burn CPU. Templates come from the
scenario file, never from the room, so these bounds catch mistakes, not attackers.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterator
from typing import Any

from jinja2.exceptions import SecurityError

MAX_OUTPUT = 100_000  # characters in one value (its rendered size) or one rendered template
MAX_INT_DIGITS = 4_000  # decimal digits of an integer (Python refuses to print past 4,300)
_INT_BITS = 13_288  # 10**4000 has 13,288 bits: an int with fewer has at most 4,000 digits
_BIG_INT = 10**MAX_INT_DIGITS

_SIZED = (str, list, tuple, dict, bytes, set, frozenset)
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


def too_long(what: str = "result") -> SecurityError:
    return SecurityError(f"{what} too long (over {MAX_OUTPUT} characters)")


def too_large() -> SecurityError:
    return SecurityError(f"number too large (over {MAX_INT_DIGITS:,} digits)")


def int_too_large(n: int) -> bool:
    bits = n.bit_length()
    return bits > _INT_BITS or (bits == _INT_BITS and abs(n) >= _BIG_INT)


def _int_size(n: int) -> int:
    return n.bit_length() * 30103 // 100000 + 1  # digits, within one (log10(2) = 0.30103)


def size_of(value: Any, limit: int = MAX_OUTPUT) -> int:
    """`value`'s rendered size (see the module docstring), or `limit + 1` as soon as it is over.

    Iterative, and it stops early: the cost is bounded by `limit`, not by the value."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str | bytes):
            total += len(v)
        elif isinstance(v, bool) or v is None:
            total += 1
        elif isinstance(v, int):
            total += _int_size(v)
        elif isinstance(v, dict):
            total += len(v)
            if total <= limit:
                stack.extend(v.keys())
                stack.extend(v.values())
        elif isinstance(v, list | tuple | set | frozenset):
            total += len(v)
            if total <= limit:
                stack.extend(v)
        else:
            total += 1
        if total > limit:
            return limit + 1
    return total


def bounded(value: Any) -> Any:
    """`value`, unless it is over the size limit or an integer over `MAX_INT_DIGITS` digits."""
    t = type(value)
    if t is str:  # the usual case first
        if len(value) > MAX_OUTPUT:
            raise too_long()
    elif t is int:
        if int_too_large(value):
            raise too_large()
    elif isinstance(value, _SIZED) and size_of(value) > MAX_OUTPUT:
        raise too_long()
    elif isinstance(value, int) and not isinstance(value, bool) and int_too_large(value):
        raise too_large()
    return value


class _Counted:
    """An iterator that counts the size of what it yields and stops the render past the limit."""

    __slots__ = ("_it", "_size")

    def __init__(self, iterable: Any):
        self._it = iter(iterable)
        self._size = 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> Any:
        item = next(self._it)
        self._size += size_of(item) + 1
        if self._size > MAX_OUTPUT:
            raise too_long("sequence")
        return item


def counted(value: Any) -> Any:
    """`value`, wrapped in a counting iterator when it is a lazy one (a generator, `map`...)."""
    # `Iterator` checks the class, never the value: an `Undefined` raises on any attribute
    if isinstance(value, Iterator) and not isinstance(value, _Counted):
        return _Counted(value)
    return value


def _check_join(sep: Any, items: list) -> None:
    sep_len = len(sep) if isinstance(sep, str) else len(str(sep))
    items_size = size_of(items, MAX_OUTPUT + len(items)) - len(items)
    if sep_len * max(len(items) - 1, 0) + items_size > MAX_OUTPUT:
        raise too_long("joined string")


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
        if type(left) is int and type(right) is int:
            if left.bit_length() + right.bit_length() > _INT_BITS + 1:
                raise too_large()
            return
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(n, int) and n > 0:
                size = len(seq) if isinstance(seq, str) else size_of(seq)
                if size * n > MAX_OUTPUT:
                    raise SecurityError(
                        f"repetition result too long (over {MAX_OUTPUT} characters)"
                    )
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
        # the result has more than (bits - 1) * right bits: refuse before computing it
        if big and (abs(left).bit_length() - 1) * right > _INT_BITS:
            raise too_large()


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
        items = list(counted(first))
        _check_join(s, items)
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
        if len(args) > lead:  # a lazy input is counted as the filter draws from it
            args = (*args[:lead], counted(args[lead]), *args[lead + 1 :])
        if name == "join" and len(args) > lead:  # materialise once, to measure the result
            items = list(args[lead])
            sep = args[lead + 1] if len(args) > lead + 1 else kwargs.get("d", "")
            _check_join(sep, items)
            args = (*args[:lead], items, *args[lead + 1 :])
        elif pre is not None:
            pre(*args[lead:], **kwargs)
        return bounded(func(*args, **kwargs))

    return filter_


def bounded_filters(filters: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    return {name: _bounded_filter(name, func) for name, func in filters.items()}
