"""A scenario pattern's match answers like Python's `re` match: the same groups, named groups
and character offsets, in any script, although RE2 reports byte offsets in UTF-8."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cviscript.language.patterns import compile_pattern

PATTERNS = [
    r"(?P<word>\w+)",
    r"(?i)to see (?P<who>\w+)(?P<bang>!)?",
    r"(?P<a>é+)|(?P<b>日+)",
    r"(?P<score>[1-5])(?: out of (?P<of>\d))?",
    r"(x)?(?P<tail>y+)$",
]
ALPHABET = "ab xy15!éß日😀 To SEE"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATTERNS), st.text(alphabet=ALPHABET, max_size=30))
def test_groups_and_offsets_agree_with_python_re_in_any_script(pattern, text):
    theirs = re.search(pattern, text)
    mine = compile_pattern(pattern).search(text)
    assert (theirs is None) == (mine is None)
    if theirs is None:
        return
    assert mine.group() == theirs.group() == mine[0]
    assert mine.groups() == theirs.groups()
    assert mine.groupdict() == theirs.groupdict()
    for g in range(len(theirs.groups()) + 1):
        assert mine.span(g) == theirs.span(g), g
        assert (mine.start(g), mine.end(g)) == (theirs.start(g), theirs.end(g))
    for name in theirs.groupdict():
        assert mine.group(name) == theirs.group(name)
        assert mine.span(name) == theirs.span(name)


def test_a_match_reads_like_re():
    m = compile_pattern(r"(?P<n>\d) of (?P<m>\d)").search("Zoë gave 4 of 5")
    assert m.group("n", "m") == ("4", "5")
    assert m.groupdict(default="-") == {"n": "4", "m": "5"}
    assert m.string[m.start() : m.end()] == "4 of 5"
    assert compile_pattern("(?P<x>a)?b").search("b").groupdict(default="") == {"x": ""}
    with pytest.raises(IndexError):
        m.group("nope")
    with pytest.raises(IndexError):
        m.group(3)


def test_speech_with_a_lone_surrogate_is_matched_not_raised():
    m = compile_pattern(r"(?P<w>.)a").search("x\ud800a")
    assert m is not None and m.group("w") == "\ufffd" and m.span() == (1, 3)


def test_named_groups_survive_pickling():
    p = pickle.loads(pickle.dumps(compile_pattern(r"(?P<b>x)(?P<a>y)")))
    assert p.groupindex == {"b": 1, "a": 2}
    assert p.search("xy").groupdict() == {"b": "x", "a": "y"}
