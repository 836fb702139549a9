"""What a scenario's templates read: the `vars.NAME` and `event.NAME` they name, found in their
Jinja2 syntax trees, with the line each is on.

Two checks use it: the `undefined-var` lint (a variable nothing defines) and the validator's
template-field check (an `event.*` field the trigger's events never have, an error at load).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser

from ..errors import Location
from .templates import ENV
from .texts import Expr, Text


def texts(value: Any) -> Iterator[Text]:
    """Every template `Text` in a value tree (dicts, lists, actions and their `then:`)."""
    if isinstance(value, Text):
        if value.is_template:
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from texts(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from texts(v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            if f.name != "loc":
                yield from texts(getattr(value, f.name))


def parse_text(text: Text) -> nodes.Node | None:
    try:
        return ENV.parse(text.source)
    except TemplateSyntaxError:  # cannot happen for a loaded scenario; never crash a check
        return None


def parse_expr(expr: Expr) -> nodes.Node | None:
    try:
        return Parser(ENV, expr.source, state="variable").parse_expression()
    except TemplateSyntaxError:
        return None


_GUARDS = ("default", "d")  # `| default(...)` gives a value when the name is undefined
_TESTS = ("defined", "undefined")  # `is defined` asks whether it is


def guarded(ast: nodes.Node) -> set[int]:
    """The ids of the nodes read under `| default` or tested with `is defined`: a template
    that guards a name expects it may be missing."""
    found: set[int] = set()
    for node in ast.find_all((nodes.Filter, nodes.Test)):
        names = _GUARDS if isinstance(node, nodes.Filter) else _TESTS
        if node.name in names and node.node is not None:
            found.add(id(node.node))
    return found


def names_read(
    ast: nodes.Node, root: str, *, skip_guarded: bool = False
) -> Iterator[tuple[str, int]]:
    """(name, template line) of each ``ROOT.NAME`` / ``ROOT['NAME']`` in a Jinja2 AST;
    `skip_guarded`: not those under `| default` or `is defined`."""
    skip = guarded(ast) if skip_guarded else set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if id(node) in skip:
            continue
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == root):
            continue
        if isinstance(node, nodes.Getattr):
            if hasattr(dict, node.attr):  # vars.get(...), event.items() ...
                continue
            yield node.attr, node.lineno
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            yield node.arg.value, node.lineno


_READS: dict[tuple[bool, str, str, bool], tuple[tuple[str, int], ...]] = {}
_READS_MAX = 20_000  # sources; past it the memo starts afresh


def _names_in(
    source: Text | Expr, root: str, skip_guarded: bool = False
) -> tuple[tuple[str, int], ...]:
    """`names_read` of one template or expression, parsed once per source text: the validator
    and the lints both ask, and large or generated scenarios repeat the same guard in many
    states (5,000 parses of one `when:` were a fifth of the time a 5,000-state file took)."""
    is_expr = isinstance(source, Expr)
    key = (is_expr, source.source, root, skip_guarded)
    found = _READS.get(key)
    if found is None:
        ast = parse_expr(source) if is_expr else parse_text(source)
        found = () if ast is None else tuple(names_read(ast, root, skip_guarded=skip_guarded))
        if len(_READS) >= _READS_MAX:
            _READS.clear()
        _READS[key] = found
    return found


def reads(
    sources: Any, root: str, *, skip_guarded: bool = False
) -> Iterator[tuple[str, Location | None]]:
    """(name, where it is written) of each ``ROOT.NAME`` in `sources`: `Text`s, `Expr`s, and
    value trees holding `Text`s (`skip_guarded`: see `names_read`)."""
    for source in sources if isinstance(sources, list | tuple) else [sources]:
        if isinstance(source, Expr):
            found: list[tuple[Text | Expr, Location | None]] = [(source, source.loc)]
        else:
            found = [(t, t.loc) for t in texts(source)]
        for template, loc in found:
            for name, lineno in _names_in(template, root, skip_guarded):
                if loc is not None and lineno > 1:
                    yield name, Location(loc.file, loc.line + lineno - 1, loc.column)
                else:
                    yield name, loc
