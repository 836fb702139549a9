r"""Scenario patterns, matched in time linear in what people say, whatever the author wrote.

Every regex a scenario writes (`utterance:`, `perception:`, a persona rule's `match:`) is searched
in text that strangers produce. Python's `re` backtracks: `^(?:\w+\s?){1,50}\?$` takes seconds on
one 101-character sentence, and a live run blocked in a match ignores its timeout and signals. So
patterns are compiled here, once, for RE2 (the `google-re2` bindings, which call the C++ library
and never fall back to `re`): an automaton that takes time linear in the text for a bounded
program, with no backtracking at all.

Authors keep writing Python `re` syntax. The source is first checked by `re` (its error messages
and positions are the ones authors know), then translated where RE2 differs:

* `\w \d \s` (and `\W \D \S`) mean what they mean in Python 3, Unicode letters, digits and
  spaces, not RE2's ASCII classes; `\Z` is RE2's `\z`; `\uXXXX`, `\UXXXXXXXX`, `\N{NAME}` become
  `\x{...}`; `{,n}` becomes `{0,n}`; `(?#...)` comments are dropped;
* what needs backtracking is refused with its position and a way to rewrite it: backreferences,
  lookahead and lookbehind, conditionals, atomic groups, possessive quantifiers, verbose mode.

`\b` and `\B` stay RE2's: a boundary between an ASCII word character (letter, digit, `_`) and
anything else, so `\bcafé\b` does not match "café" (write `\bcaf\w*` or drop the `\b`).

Bounds: a pattern sees at most `MAX_TEXT` characters of one text (the rest is not searched),
compiles to at most `MAX_PROGRAM` RE2 instructions, and its automaton gets `MAX_MEM` bytes. With
those, the worst search measured takes milliseconds (bench and tests/test_regex_hangs.py).
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from typing import Any

import re2

from ..printable import well_formed

MAX_TEXT = 5_000  # characters of one text a pattern is searched in (~800 spoken words)
# RE2 instructions; a search costs at worst ~text x program (the NFA RE2 falls back to when its
# DFA cache is full): 5,000 characters x 100,000 instructions measured ~0.07 s. Unicode classes
# are large: (?i)^(?:\w+\s?){1,50}\?$ is 68,000 instructions.
MAX_PROGRAM = 100_000
MAX_MEM = 16 << 20  # bytes for RE2's compiled program and DFA cache, per pattern

_WORD = r"\p{L}\p{N}_"
_DIGIT = r"\p{Nd}"
_SPACE = r"\t-\r\x{1c}-\x{20}\x{85}\p{Z}"  # what str.isspace() accepts
# inside and outside a character class
_CLASS_ESCAPES = {"w": _WORD, "d": _DIGIT, "s": _SPACE, "D": r"\P{Nd}", "b": r"\x08"}
_ESCAPES = {
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "d": _DIGIT,
    "D": r"\P{Nd}",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "Z": r"\z",
}
_REPEAT = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")
_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_REWRITE = "RE2 matches in linear time and never backtracks"


class PatternError(ValueError):
    """A regex that is not valid Python syntax or that RE2 cannot run; `pos` is its offset."""

    def __init__(self, message: str, pos: int | None = None, hint: str = ""):
        where = f" at position {pos}" if pos is not None else ""
        super().__init__(f"{message}{where}" + (f"; {hint}" if hint else ""))
        self.pos = pos


class Pattern:
    """A compiled scenario regex. `pattern` is the source the author wrote; `search` returns a
    `PatternMatch` (`group`, `groupdict`, `span` ... as in `re`) or None."""

    __slots__ = ("pattern", "_regex", "_match", "_names")

    def __init__(self, pattern: str, regex: Any):
        self.pattern = pattern
        self._regex = regex
        # The C++ matcher itself: the package's `search` wraps each call in a generator and
        # converts every group's byte offsets to characters up front, ~6x the match's own cost.
        self._match = regex._regexp.Match
        self._names = tuple(sorted(regex.groupindex.items(), key=lambda item: item[1]))

    @property
    def groupindex(self) -> dict[str, int]:
        return dict(self._names)

    def search(self, text: str) -> PatternMatch | None:
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT]
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate in speech: RE2 matches UTF-8
            text = well_formed(text)
            data = text.encode()
        spans = self._match(_UNANCHORED, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        return PatternMatch(self, text, data, spans)

    def __reduce__(self) -> tuple[Any, ...]:  # workers receive scenarios by pickle
        return (compile_pattern, (self.pattern,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    def __repr__(self) -> str:
        return f"Pattern({self.pattern!r})"


class PatternMatch:
    """One match: RE2's byte spans in the UTF-8 text, turned into text and character offsets
    only when asked (a transition usually wants one named group, or none). Each conversion is
    linear in the text."""

    __slots__ = ("re", "string", "_data", "_spans")

    def __init__(self, pattern: Pattern, text: str, data: bytes, spans: list[tuple[int, int]]):
        self.re = pattern
        self.string = text
        self._data = data
        self._spans = spans

    def _index(self, group: int | str) -> int:
        if isinstance(group, str):
            for name, index in self.re._names:
                if name == group:
                    return index
            raise IndexError(f"no such group {group!r}")
        if not 0 <= group < len(self._spans):
            raise IndexError(f"no such group {group!r}")
        return group

    def _text(self, index: int, default: Any = None) -> Any:
        start, end = self._spans[index]
        if start < 0:  # the group did not take part in the match
            return default
        if len(self._data) == len(self.string):  # ASCII: bytes and characters line up
            return self.string[start:end]
        return self._data[start:end].decode()

    def _offset(self, byte_offset: int) -> int:
        if byte_offset < 0 or len(self._data) == len(self.string):
            return byte_offset
        return len(self._data[:byte_offset].decode())

    def group(self, *groups: int | str) -> Any:
        if not groups:
            return self._text(0)
        if len(groups) == 1:
            return self._text(self._index(groups[0]))
        return tuple(self._text(self._index(g)) for g in groups)

    def __getitem__(self, group: int | str) -> Any:
        return self._text(self._index(group))

    def groups(self, default: Any = None) -> tuple[Any, ...]:
        return tuple(self._text(i, default) for i in range(1, len(self._spans)))

    def groupdict(self, default: Any = None) -> dict[str, Any]:
        return {name: self._text(index, default) for name, index in self.re._names}

    def span(self, group: int | str = 0) -> tuple[int, int]:
        start, end = self._spans[self._index(group)]
        return self._offset(start), self._offset(end)

    def start(self, group: int | str = 0) -> int:
        return self.span(group)[0]

    def end(self, group: int | str = 0) -> int:
        return self.span(group)[1]

    def __repr__(self) -> str:
        return f"<PatternMatch span={self.span()} match={self.group()!r}>"


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_MEM
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    return options


_OPTIONS = _options()
# The bindings' own module: its matcher is called directly (see `Pattern`). Checked at import so
# a google-re2 release that moves it fails loudly here, not on the first utterance.
_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED


def compile_pattern(source: str) -> Pattern:
    """The RE2 pattern for Python-syntax `source`, or PatternError with a position and a hint."""
    try:
        with warnings.catch_warnings():  # "possible nested set": a future `re` change, not ours
            warnings.simplefilter("ignore")
            re.compile(source)
    except re.error as e:
        raise PatternError(e.msg, e.pos) from None
    except (OverflowError, RecursionError, ValueError) as e:
        raise PatternError(str(e)) from None
    translated = translate(source)
    if well_formed(source) != source:
        raise PatternError("the pattern contains a lone surrogate (half of a \\u escape pair)")
    try:
        regex = re2.compile(translated, _OPTIONS)
    except re2.error as e:
        detail = e.args[0].decode("utf-8", "replace") if e.args else "cannot compile"
        hint = (
            "RE2 allows repeat counts up to 1000 and a pattern of bounded size"
            if "repetition" in detail or "too large" in detail
            else _REWRITE
        )
        raise PatternError(f"not supported: {detail}", hint=hint) from None
    if regex.programsize > MAX_PROGRAM:
        raise PatternError(
            f"pattern too large ({regex.programsize} RE2 instructions, at most {MAX_PROGRAM})",
            hint="use smaller repeat counts",
        )
    return Pattern(source, regex)


def translate(source: str) -> str:
    """`source` (valid for `re`) rewritten for RE2; PatternError for what RE2 cannot run."""
    out: list[str] = []
    i, n = 0, len(source)
    in_class = False
    after_quantifier = False
    while i < n:
        c = source[i]
        quantifier = False
        if c == "\\":
            i, text = _escape(source, i, in_class)
            out.append(text)
            after_quantifier = False
            continue
        if in_class:
            if c == "]" and not _class_start(out):
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and source[i] == "^":
                out.append("^")
                i += 1
            if i < n and source[i] == "]":  # a literal ] first in a class
                out.append(r"\]")
                i += 1
            continue
        if c == "(" and source.startswith("(?", i):
            i = _group_start(source, i, out)
            after_quantifier = False
            continue
        if c in "*+?":
            if after_quantifier and c == "+":
                raise PatternError(
                    "possessive quantifier is not supported",
                    i,
                    f"{_REWRITE}; drop the last +",
                )
            quantifier = not (after_quantifier and c == "?")  # `*?` is lazy, not a new repeat
            out.append(c)
            i += 1
        elif c == "{" and (m := _REPEAT.match(source, i)):
            low, comma, high = m[1] or "0", m[2] or "", m[3] or ""
            if m[1] or m[3] or comma:
                out.append("{" + low + comma + high + "}")  # Python's {,n} is {0,n}
                quantifier = True
            else:
                out.append(r"\{\}")
            i = m.end()
        elif c == "{":
            out.append(r"\{")
            i += 1
        else:
            out.append(c)
            i += 1
        after_quantifier = quantifier
    return "".join(out)


def _class_start(out: list[str]) -> bool:
    return bool(out) and (out[-1] == "[" or (out[-1] == "^" and len(out) > 1 and out[-2] == "["))


def _escape(source: str, i: int, in_class: bool) -> tuple[int, str]:
    c = source[i + 1] if i + 1 < len(source) else ""
    if c.isdigit() and c != "0":
        raise PatternError(
            f"backreference \\{c} is not supported",
            i,
            f"{_REWRITE}; match the text again instead of referring back to it",
        )
    if in_class:
        if c in "WS":
            raise PatternError(
                f"\\{c} inside [...] is not supported",
                i,
                f"write the class without it, e.g. [^\\{c.lower()}...] for the complement",
            )
        if c in _CLASS_ESCAPES:
            return i + 2, _CLASS_ESCAPES[c]
    elif c in _ESCAPES:
        return i + 2, _ESCAPES[c]
    if c in "uU":
        width = 4 if c == "u" else 8
        return i + 2 + width, r"\x{" + source[i + 2 : i + 2 + width] + "}"
    if c == "N":  # \N{NAME}; `re` accepted it, so the name exists
        end = source.index("}", i)
        return end + 1, f"\\x{{{ord(unicodedata.lookup(source[i + 3 : end])):x}}}"
    return i + 2, source[i : i + 2]


_REFUSED = {
    "(?=": ("lookahead", "match the text itself, or test it with a second trigger"),
    "(?!": (
        "negative lookahead",
        "match what you want and list the exceptions as earlier triggers",
    ),
    "(?<=": ("lookbehind", "include the preceding text in the match, e.g. a group around it"),
    "(?<!": ("negative lookbehind", "match what you want and list the exceptions earlier"),
    "(?P=": ("backreference (?P=...)", "match the text again instead of referring back to it"),
    "(?(": ("conditional group", "use two triggers, one per branch"),
    "(?>": ("atomic group", "drop the ?>: RE2 never backtracks, so it is not needed"),
}


def _group_start(source: str, i: int, out: list[str]) -> int:
    for prefix, (what, hint) in _REFUSED.items():
        if source.startswith(prefix, i):
            raise PatternError(f"{what} is not supported", i, f"{_REWRITE}; {hint}")
    if source.startswith("(?#", i):  # a comment: `re` accepted it, so it is closed
        return source.index(")", i) + 1
    if source.startswith(("(?P<", "(?:"), i):
        out.append(source[i : i + 3])
        return i + 3
    m = _FLAGS.match(source, i)
    if m is None:  # `re` accepted it and RE2 will say what it thinks
        out.append("(?")
        return i + 2
    on, off = m[1], m[2] or ""
    for flag in on + off:
        if flag == "x":
            raise PatternError(
                "verbose mode (?x) is not supported", i, "write the pattern without spaces"
            )
        if flag in "aL":
            raise PatternError(
                f"(?{flag}) is not supported", i, "write the ASCII class, e.g. [A-Za-z0-9_]"
            )
    on, off = on.replace("u", ""), off.replace("u", "")
    if not on and not off:
        out.append("(?:" if m[3] == ":" else "")
    else:
        out.append("(?" + on + (f"-{off}" if off else "") + m[3])
    return m.end()
