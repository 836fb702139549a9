"""The template fast path (template_fastpath) gives exactly what jinja2 gives, or hands over to it.

Property-based: random expressions and templates over a context with numbers, strings, lists,
dicts (one with keys that shadow dict methods), undefined names and refused attributes are
rendered twice, through the fast path and through jinja2 alone; the values, or the error
messages, must be the same.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cviscript.errors import TemplateRenderError
from cviscript.language.templates import _FAST_ATTR, compile_expr, compile_text, evaluate, render

CTX = {
    "vars": {
        "n": 3,
        "m": -2,
        "f": 2.5,
        "z": 0,
        "s": "Hello",
        "e": "",
        "t": True,
        "none": None,
        "l": [1, 2, 3],
        "names": ["ada", "alan"],
        "d": {"k": "v", "items": "shadow", "get": 7, "n": 1},
        "big": "x" * 60000,
    },
    "event": {"text": "I'd say 4", "groups": {"score": "4"}, "arguments": {"host": "Ada"}},
    "state": "ask",
    "visits": 2,
}

ATOMS = [
    "vars.n", "vars.m", "vars.f", "vars.z", "vars.s", "vars.e", "vars.t", "vars.none", "vars.l",
    "vars.names", "vars.d", "vars.d.k", "vars.d.items", "vars.d.get", "vars.d['items']",
    "vars.d.n", "vars['n']", "vars.l[0]", "vars.l[5]", "vars.names[1]", "vars.missing",
    "vars.s.upper", "event.text", "event.groups.score", "event.arguments.host", "event.nope",
    "state", "visits", "nope", "vars.big", "vars.__class__", "vars.d.__class__", "range",
    "0", "1", "2", "-1", "2.5", "'a'", "'4'", "''", "True", "False", "None", "[1, 2]", "(1,)",
    "{'a': 1}", "vars.s[1:]", "vars.l[-1]",
]  # fmt: skip
BINARY = ["+", "-", "*", "/", "//", "%", "**", "~", "and", "or", "==", "!=", "<", "<=", ">",
          ">=", "in", "not in"]  # fmt: skip
FILTERS = ["int", "float", "length", "lower", "upper", "string", "first", "last", "abs",
           "round", "title", "trim", "default('x')", "d(1)", "format(1)", "center(9)",
           "truncate(3)", "wordcount", "sum", "min", "max", "list", "join(',')",
           "replace('l', 'L')", "capitalize", "count"]  # fmt: skip
TESTS = ["number", "string", "defined", "undefined", "none", "divisibleby(2)", "even", "odd",
         "sequence", "mapping", "in([1, 2])", "eq(3)", "lower"]  # fmt: skip

expressions = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(BINARY), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"(not {e})"),
        inner.map(lambda e: f"(-{e})"),
        st.tuples(inner, st.sampled_from(FILTERS)).map(lambda t: f"({t[0]} | {t[1]})"),
        st.tuples(inner, st.sampled_from(TESTS)).map(lambda t: f"({t[0]} is {t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} if {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"[{t[0]}, {t[1]}]"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} < {t[1]} < 5)"),
    ),
    max_leaves=6,
)


def _outcome(fn):
    try:
        return "value", fn()
    except TemplateRenderError as e:
        return "error", str(e)


def _same(a, b) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "error":
        return a[1] == b[1]
    x, y = a[1], b[1]
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    try:
        return type(x) is type(y) and x == y
    except Exception:  # jinja2 itself can return a list holding a (strict) undefined
        return type(x) is type(y) and repr(x) == repr(y)


def _without_fast(compiled, fn):
    fast = getattr(compiled, _FAST_ATTR)
    setattr(compiled, _FAST_ATTR, None)
    try:
        return fn()
    finally:
        setattr(compiled, _FAST_ATTR, fast)


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(expressions)
def test_fast_guards_evaluate_exactly_like_jinja(source):
    expr = compile_expr(source)
    fast = _outcome(lambda: evaluate(expr, CTX, "ask"))
    slow = _without_fast(expr.compiled, lambda: _outcome(lambda: evaluate(expr, CTX, "ask")))
    assert _same(fast, slow), (source, fast, slow)


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["Hi ", "!", " and ", "\n", "{{ '}}' }}"]),
            expressions.map(lambda e: "{{ " + e + " }}"),
            st.tuples(expressions, expressions, expressions).map(
                lambda t: (
                    "{% if " + t[0] + " %}[{{ " + t[1] + " }}]{% elif " + t[2] + " %}E"
                    "{% else %}N{% endif %}"
                )
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_fast_templates_render_exactly_like_jinja(parts):
    text = compile_text("".join(parts))
    if text.compiled is None:
        return
    fast = _outcome(lambda: render(text, CTX, "ask"))
    slow = _without_fast(text.compiled, lambda: _outcome(lambda: render(text, CTX, "ask")))
    assert _same(fast, slow), ("".join(parts), fast, slow)


@pytest.mark.parametrize(
    "source",
    [
        "Question {{ visits }} about {{ vars.s }}: how was it?",
        "{% if visits == 1 %}What?{% else %}Take your time.{% endif %}",
        "{{ vars.n + 1 }}",
        "{{ vars.d.k ~ '-' ~ vars.d.n }}",
        "{{ '%.1f' | format(vars.f / 2) }}",
        "{{ event.groups.score | int }}",
    ],
)
def test_the_templates_scenarios_use_most_are_on_the_fast_path(source):
    text = compile_text(source)
    assert getattr(text.compiled, _FAST_ATTR) is not None


@pytest.mark.parametrize(
    "source",
    [
        "{{ vars.d.get('k') }}",  # calls go through jinja2
        "{% for x in vars.l %}{{ x }}{% endfor %}",
        "{% set y = 1 %}{{ y }}",
        "{{ vars.s[1:] }}",
        "{{ vars.l | map('string') | join }}",
    ],
)
def test_what_the_fast_path_does_not_cover_still_renders(source):
    text = compile_text(source)
    assert getattr(text.compiled, _FAST_ATTR) is None
    assert render(text, CTX) == _without_fast(text.compiled, lambda: render(text, CTX))
