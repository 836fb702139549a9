r"""Which regular expressions can backtrack exponentially on what people say.

Scenario regexes are searched in what people say in the room. Python's `re` backtracks, so a
regex that can match one stretch of text in exponentially many ways takes exponential time when
the match then fails: `(a+)+b` takes a second on 24 a's and twice as long for each a more. Two
shapes cause it, both found on the parsed pattern (`re._parser`):

* an unbounded repetition whose body holds another one that an iteration can end (or begin)
  with, next to the body's own start (or end) it overlaps: `(a+)+`, `(\w+\s?)*`, `(\s*\w+)*`,
  `(\w+\s\w+)+` (but not `(\w+\s)+` or `(a+b+)+`, whose iterations cannot be split two ways);
* an unbounded repetition of a finite set of literal strings that can spell some text in two
  ways (Sardinas-Patterson): `(a|aa)+`, `(ab|a|ba)*` (but not `(a|ab)+` or `(cat|dog)+`).

A possessive or atomic repetition (`a++`, `(?>...)`) never backtracks into itself and is safe,
and so is an empty alternative (`re` stops a repetition at an empty iteration). What remains is
polynomial (search restarts make `(\w+\s)+$` quadratic), fine on spoken sentences. Repetitions
nested in a bounded one (`((a+){2})+`) are not followed: a miss, never a false alarm.

Used by the `slow-regex` lint rule (`cviscript.language.lint.slow_regex`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from functools import cache
from typing import Any

try:
    from re import _constants as _sre  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # Python < 3.11
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT)  # possessive repeats do not backtrack
_ZERO_WIDTH = (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT)
# characters tried when asking whether two parts of a pattern can match the same character
_SAMPLE = frozenset(string.printable + "\u00a0\u2003\u00e9\u00c9\u00df\u0663\u4e2d")
_CATEGORIES = {
    _sre.CATEGORY_DIGIT: r"\d",
    _sre.CATEGORY_NOT_DIGIT: r"\D",
    _sre.CATEGORY_SPACE: r"\s",
    _sre.CATEGORY_NOT_SPACE: r"\S",
    _sre.CATEGORY_WORD: r"\w",
    _sre.CATEGORY_NOT_WORD: r"\W",
}
ADVICE = "make the inner or outer repetition possessive/atomic or bounded"


def backtracking_risk(source: str) -> str | None:
    """Why `source` can take exponential time on some inputs, or None (also when it does not
    compile: that is the validator's bad-regex)."""
    try:
        parsed = _sre_parse.parse(source)
    except (re.error, RecursionError, OverflowError):
        return None
    return _find_slow(list(parsed), bool(parsed.state.flags & re.IGNORECASE))


def _find_slow(seq: list, ignore_case: bool) -> str | None:
    """Why some unbounded repetition in `seq` (at any depth) backtracks exponentially, or None."""
    for op, av in seq:
        repeated = op in _REPEATS and av[1] == _sre.MAXREPEAT
        if repeated and (why := _ambiguous(list(av[2]), ignore_case)) is not None:
            return why
        for inner, flags in _children(op, av, ignore_case):
            if (why := _find_slow(inner, flags)) is not None:
                return why
    return None


def _children(op: Any, av: Any, ignore_case: bool) -> Iterator[tuple[list, bool]]:
    """The sub-sequences of one parsed item, with the case flag in force there."""
    if op in _REPEATS or op == getattr(_sre, "POSSESSIVE_REPEAT", None):
        yield list(av[2]), ignore_case
    elif op == _sre.SUBPATTERN:
        add, remove = av[1], av[2]
        flags = (ignore_case or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
        yield list(av[3]), flags
    elif op == _sre.BRANCH:
        for alt in av[1]:
            yield list(alt), ignore_case
    elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
        yield list(av[1]), ignore_case
    elif op == getattr(_sre, "ATOMIC_GROUP", None):
        yield list(av), ignore_case
    elif op == _sre.GROUPREF_EXISTS:
        yield list(av[1]), ignore_case
        if av[2] is not None:
            yield list(av[2]), ignore_case


def _ambiguous(body: list, ignore_case: bool) -> str | None:
    """Can one run of iterations of `body` match the same text split in more than one way?"""
    words = _literal_strings(body, ignore_case)
    if words is not None:
        words.discard("")  # an empty iteration ends the repetition
        if len(words) > 1 and not _uniquely_decodable(words):
            shown = ", ".join(repr(w) for w in sorted(words, key=lambda w: (len(w), w))[:3])
            return (
                f"its repeated alternatives ({shown}) can spell the same text in more than one way"
            )
        return None
    first = _edge_chars(body, ignore_case, from_end=False)
    last = _edge_chars(body, ignore_case, from_end=True)
    for inner, at_start, at_end in _exposed_repeats(body):
        chars = _chars(list(inner[1][2]), ignore_case)
        if (at_end and chars & first) or (at_start and chars & last):
            return (
                f"the unbounded {_show([inner])} is itself repeated without bound, so one "
                f"stretch of text can be split between iterations in many ways"
            )
    return None


def _exposed_repeats(seq: list) -> Iterator[tuple[Any, bool, bool]]:
    """(unbounded repeat, nothing but optional items before it, ... after it) for each unbounded,
    backtracking repetition in `seq` reachable through groups, alternatives and `?`."""
    for i, item in enumerate(seq):
        op, av = item
        before = all(_nullable(x) for x in seq[:i])
        after = all(_nullable(x) for x in seq[i + 1 :])
        if op in _REPEATS and av[1] == _sre.MAXREPEAT:
            yield item, before, after
            continue
        if op in _REPEATS and av[1] > 1:
            continue  # bounded and repeated: not followed (see above)
        if op in _REPEATS:  # `?`
            inner_seqs = [list(av[2])]
        elif op == _sre.SUBPATTERN:
            inner_seqs = [list(av[3])]
        elif op == _sre.BRANCH:
            inner_seqs = [list(alt) for alt in av[1]]
        else:
            continue
        for inner_seq in inner_seqs:
            for found, b, a in _exposed_repeats(inner_seq):
                yield found, before and b, after and a


def _nullable(item: Any) -> bool:
    """Can this parsed item match the empty string?"""
    op, av = item
    if op in _ZERO_WIDTH or op == _sre.GROUPREF:
        return True
    if op in _REPEATS or op == getattr(_sre, "POSSESSIVE_REPEAT", None):
        return av[0] == 0 or all(_nullable(x) for x in av[2])
    if op == _sre.SUBPATTERN:
        return all(_nullable(x) for x in av[3])
    if op == getattr(_sre, "ATOMIC_GROUP", None):
        return all(_nullable(x) for x in av)
    if op == _sre.BRANCH:
        return any(all(_nullable(x) for x in alt) for alt in av[1])
    if op == _sre.GROUPREF_EXISTS:
        return all(_nullable(x) for x in av[1]) or av[2] is None or all(_nullable(x) for x in av[2])
    return False  # a character


def _edge_chars(seq: list, ignore_case: bool, *, from_end: bool) -> frozenset[str]:
    """Characters a match of `seq` may start (end) with, roughly: what the items up to and
    including the first one that cannot be empty may match at that edge."""
    out: frozenset[str] = frozenset()
    for item in reversed(seq) if from_end else seq:
        op, av = item
        if op in _ZERO_WIDTH:
            continue
        if op in (_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN, _sre.GROUPREF):
            out |= _chars([item], ignore_case)
        else:  # groups, alternatives, repetitions: the edge of what is inside
            for inner, flags in _children(op, av, ignore_case):
                out |= _edge_chars(inner, flags, from_end=from_end)
        if not _nullable(item):
            break
    return out


def _chars(seq: list, ignore_case: bool) -> frozenset[str]:
    """The sample characters anything in `seq` may match (an over-approximation)."""
    out: set[str] = set()
    for op, av in seq:
        if op == _sre.LITERAL:
            out |= _cased(chr(av), ignore_case)
        elif op == _sre.NOT_LITERAL:
            out |= _SAMPLE - _cased(chr(av), ignore_case)
        elif op in (_sre.ANY, _sre.GROUPREF):
            out |= _SAMPLE
        elif op == _sre.IN:
            out |= {c for c in _SAMPLE if _in_class(av, c, ignore_case)}
        else:
            for inner, flags in _children(op, av, ignore_case):
                if op not in (_sre.ASSERT, _sre.ASSERT_NOT):
                    out |= _chars(inner, flags)
    return frozenset(out)


def _cased(c: str, ignore_case: bool) -> set[str]:
    if not ignore_case:
        return {c}
    return {c} | {x for x in (c.lower(), c.upper()) if len(x) == 1}  # not "SS" for "ß"


def _in_class(items: list, c: str, ignore_case: bool) -> bool:
    negate = bool(items) and items[0][0] == _sre.NEGATE
    hit = False
    for op, av in items[1:] if negate else items:
        for ch in _cased(c, ignore_case):
            if op == _sre.LITERAL:
                hit |= ch == chr(av)
            elif op == _sre.RANGE:
                hit |= av[0] <= ord(ch) <= av[1]
            elif op == _sre.CATEGORY:
                hit |= _category(av).fullmatch(ch) is not None
    return hit != negate


@cache
def _category(category: Any) -> re.Pattern[str]:
    return re.compile(_CATEGORIES.get(category, r"[\s\S]"))


def _literal_strings(seq: list, ignore_case: bool, limit: int = 64) -> set[str] | None:
    """The finite set of strings `seq` matches, when it is built of literals, groups and
    alternatives only (and small enough); else None."""
    out = {""}
    for op, av in seq:
        if op == _sre.LITERAL:
            c = chr(av)
            parts = {c.lower() if ignore_case else c}
        elif op == _sre.SUBPATTERN:
            add, remove = av[1], av[2]
            flags = (ignore_case or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
            parts = _literal_strings(list(av[3]), flags, limit)  # type: ignore[assignment]
        elif op == _sre.BRANCH:
            parts = set()
            for alt in av[1]:
                alt_strings = _literal_strings(list(alt), ignore_case, limit)
                if alt_strings is None:
                    return None
                parts |= alt_strings
        elif op == _sre.IN and not (av and av[0][0] == _sre.NEGATE):
            if not all(o == _sre.LITERAL for o, _ in av):
                return None
            parts = {chr(v).lower() if ignore_case else chr(v) for _, v in av}
        else:
            return None
        if parts is None:
            return None
        out = {a + b for a in out for b in parts}
        if len(out) > limit:
            return None
    return out


def _uniquely_decodable(words: set[str]) -> bool:
    """Sardinas-Patterson: does every concatenation of `words` (not empty) split back into them
    one way only?"""
    codes = set(words)

    def dangling(a: set[str], b: set[str]) -> set[str]:
        return {y[len(x) :] for x in a for y in b if y != x and y.startswith(x)}

    current = dangling(codes, codes)
    seen: set[str] = set()
    while current:
        if current & codes:
            return False
        seen |= current
        current = (dangling(current, codes) | dangling(codes, current)) - seen
    return True


def _show(seq: list) -> str:
    """A parsed (sub)pattern written back as a regex, for messages (`...` where it gives up)."""
    out = []
    for op, av in seq:
        if op == _sre.LITERAL:
            out.append(re.escape(chr(av)))
        elif op == _sre.ANY:
            out.append(".")
        elif op == _sre.IN:
            out.append(_show_class(av))
        elif op in _REPEATS or op == getattr(_sre, "POSSESSIVE_REPEAT", None):
            lo, hi, body = av
            inner = _show(list(body))
            if len(body) != 1 or body[0][0] == _sre.BRANCH:
                inner = f"(?:{inner})"
            many = hi == _sre.MAXREPEAT
            q = {(0, True): "*", (1, True): "+"}.get((lo, many)) or (
                "?" if (lo, hi) == (0, 1) else f"{{{lo},}}" if many else f"{{{lo},{hi}}}"
            )
            q += "?" if op == _sre.MIN_REPEAT else "" if op == _sre.MAX_REPEAT else "+"
            out.append(inner + q)
        elif op == _sre.SUBPATTERN:
            out.append(("(" if av[0] else "(?:") + _show(list(av[3])) + ")")
        elif op == _sre.BRANCH:
            alts = "|".join(_show(list(alt)) for alt in av[1])
            out.append(alts if len(seq) == 1 else f"(?:{alts})")
        else:
            out.append("...")
    return "".join(out)


def _show_class(items: list) -> str:
    if len(items) == 1 and items[0][0] == _sre.CATEGORY and items[0][1] in _CATEGORIES:
        return _CATEGORIES[items[0][1]]
    out = []
    for op, av in items:
        if op == _sre.NEGATE:
            out.append("^")
        elif op == _sre.LITERAL:
            out.append(re.escape(chr(av)))
        elif op == _sre.RANGE:
            out.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif op == _sre.CATEGORY:
            out.append(_CATEGORIES.get(av, "..."))
    return "[" + "".join(out) + "]"
