"""Graph and template lint rules: what a valid scenario may still get wrong.

The validator (`cviscript.validate`) decides whether a file *is* a scenario; these rules look at the
finished model for mistakes that load fine but can never behave as written: states nothing enters,
states nothing leaves, transitions that can never fire, variables a template reads but nothing
defines, raw event types no server sends. They only warn (``--strict`` makes warnings fail CI), and
`check_file` runs them once a file has no errors, so this module is the one place that decides.

Each rule has a stable `code` (listed in `RULES`) used in ``--format json`` and in docs. One,
`slow-regex`, looks at a regular expression alone: the validator applies it (`slow_regex`) where it
compiles each regex, the one place that knows where the regex is written.

Facts about the engine the rules rely on (see `cviscript.engine.engine`):

* transitions are tried in order, `any:` first, then the state's own `on:`; the first whose trigger
  matches and whose `when` holds fires and the rest are not evaluated: an unguarded transition
  hides every later one whose events it always matches as well;
* `after:` timers are armed on every entry, one per transition, in that same order, and all are
  cancelled when the state is left (a `goto`, also back to the same state); timers due at the same
  time fire in the order they were armed; the run's `timeout:` counts from the start of the run;
* once a final state is entered, events and timers are ignored: its transitions never fire.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser

from . import model as m
from .durations import format_duration
from .errors import Diagnostic, did_you_mean
from .protocol import KNOWN_EVENT_TYPES  # the raw event types servers send
from .spec import RAW_EVENT_PREFIXES
from .templates import ENV


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    summary: str


RULES: tuple[Rule, ...] = (
    Rule("unreachable-state", "no transition ever enters the state"),
    Rule(
        "dead-end",
        "a non-final state with no way out: no transition (its own or `any:`) leaves it and "
        "nothing ends the run, so only the run timeout does",
    ),
    Rule(
        "shadowed-transition",
        "an earlier transition without `when` always matches the same events, so this one never fires",
    ),
    Rule(
        "timer-never-fires",
        "an `after:` that cannot fire: a shorter (or equal, earlier) unguarded timer leaves the "
        "state first, or it is not shorter than the run's `timeout:`",
    ),
    Rule("final-state-transition", "transitions of a final state never fire"),
    Rule(
        "undefined-var",
        "a template, `when:` or `expect.vars` names a variable that neither `vars:` nor any `set:` defines",
    ),
    Rule(
        "unknown-event-type",
        "a raw event type (conversation.* / system.*) that no Tavus server is known to send",
    ),
    Rule(
        "slow-regex",
        "a regex whose backtracking can take exponential time: an unbounded repetition of "
        "something that can match the same text in more than one way",
    ),
)
CODES = frozenset(r.code for r in RULES)

_ENDS = (m.End, m.Fail)
# `event:` names (canonical and raw) that answer every event a typed trigger matches
_EVENT_COVERS: dict[type, frozenset[str]] = {
    m.UtteranceTrigger: frozenset({"utterance", "conversation.utterance"}),
    m.ToolCallTrigger: frozenset({"tool_call", "conversation.tool_call"}),
    m.PerceptionTrigger: frozenset({"perception_analysis", "conversation.perception_analysis"}),
}


def lint(sc: m.Scenario) -> list[Diagnostic]:
    """Every lint warning for a valid scenario, in file order."""
    out: list[Diagnostic] = []
    out += _reachability(sc)
    out += _shadowed(sc)
    out += _timers(sc)
    out += _final_transitions(sc)
    out += _undefined_vars(sc)
    out += _event_types(sc)
    out.sort(key=lambda d: (d.loc.line, d.loc.column) if d.loc else (0, 0))
    return out


def _warn(loc: m.Location | None, code: str, message: str) -> Diagnostic:
    assert code in CODES, code
    return Diagnostic(message, loc, "warning", code)


def _fmt(seconds: float) -> str:
    return format_duration(seconds)


# ------------------------------------------------------------------------- states: in and out


def reachable_states(sc: m.Scenario) -> set[str]:
    """States some path of transitions from `initial` enters (ignoring guards)."""
    any_targets = {t.goto for t in sc.any if t.goto}
    reached, todo = {sc.initial}, [sc.initial]
    while todo:
        state = sc.states.get(todo.pop())
        if state is None:
            continue
        targets = {t.goto for t in state.on if t.goto}
        if not state.final:
            targets |= any_targets
        for target in targets - reached:
            reached.add(target)
            todo.append(target)
    return reached


def _leaves(t: m.Transition, state: str) -> bool:
    return (t.goto is not None and t.goto != state) or any(isinstance(a, _ENDS) for a in t.do)


def _reachability(sc: m.Scenario) -> Iterator[Diagnostic]:
    reached = reachable_states(sc)
    for state in sc.states.values():
        if state.name not in reached:
            yield _warn(
                state.loc,
                "unreachable-state",
                f"state '{state.name}' is never entered: no transition goes to it",
            )
            continue
        if state.final or any(isinstance(a, _ENDS) for a in state.enter):
            continue
        transitions = [*sc.any, *state.on]
        if any(_leaves(t, state.name) for t in transitions):
            continue
        if any(t.goto is None and not t.do for t in state.on):
            continue  # a transition that does nothing: reported as no-effect, once is enough
        if transitions:
            why = "none of its transitions leaves it or ends the run"
        else:
            why = "it has no transitions"
        yield _warn(
            state.loc,
            "dead-end",
            f"state '{state.name}' is a dead end: {why} and it is not final, so the run can only "
            f"end by its timeout ({_fmt(sc.timeout)})",
        )


# ------------------------------------------------------------------------------------ shadowing


def covers(a: m.Trigger, b: m.Trigger) -> bool:
    """Does trigger `a` match every event trigger `b` matches? (Timers never cover: a timer
    tick only fires its own transition.)"""
    if isinstance(a, m.AfterTrigger) or isinstance(b, m.AfterTrigger):
        return False
    if isinstance(a, m.EventTrigger) and not isinstance(b, m.EventTrigger):
        return not a.where and a.name in _EVENT_COVERS.get(type(b), ())
    if type(a) is not type(b):
        return False
    if isinstance(a, m.UtteranceTrigger):
        assert isinstance(b, m.UtteranceTrigger)
        return (
            a.role in ("any", b.role)
            and (a.match is None or _same_pattern(a.match, b.match))
            and (not a.contains or bool(b.contains) and set(b.contains) <= set(a.contains))
            and (a.equals is None or a.equals == b.equals)
        )
    if isinstance(a, m.EventTrigger):
        assert isinstance(b, m.EventTrigger)
        return a.name == b.name and _subset(a.where, b.where)
    if isinstance(a, m.ToolCallTrigger):
        assert isinstance(b, m.ToolCallTrigger)
        return a.name == b.name and _subset(a.arguments, b.arguments)
    if isinstance(a, m.PerceptionTrigger):
        assert isinstance(b, m.PerceptionTrigger)
        return a.match is None or _same_pattern(a.match, b.match)
    return False


def _same_pattern(a: Any, b: Any) -> bool:
    return b is not None and a.pattern == b.pattern and a.flags == b.flags


def _subset(small: dict[str, Any], big: dict[str, Any]) -> bool:
    return all(k in big and big[k] == v for k, v in small.items())


def _first_cover(earlier: list[m.Transition], t: m.Transition) -> m.Transition | None:
    return next((a for a in earlier if a.when is None and covers(a.trigger, t.trigger)), None)


def _shadowed(sc: m.Scenario) -> Iterator[Diagnostic]:
    for i, t in enumerate(sc.any):
        if (a := _first_cover(sc.any[:i], t)) is not None:
            yield _shadow_warning(t, a)
    for state in sc.states.values():
        if state.final:
            continue  # reported as final-state-transition
        order = [*sc.any, *state.on]
        for i, t in enumerate(state.on, start=len(sc.any)):
            if (a := _first_cover(order[:i], t)) is not None:
                yield _shadow_warning(t, a)


def _shadow_warning(t: m.Transition, by: m.Transition) -> Diagnostic:
    line = f" (line {by.loc.line})" if by.loc else ""
    return _warn(
        t.loc,
        "shadowed-transition",
        f"transition {t.id} never fires: {by.id}{line} comes first, has no `when`, and matches "
        f"every event this one matches; reorder them or add a `when`",
    )


# ---------------------------------------------------------------------------------------- timers


def _timers(sc: m.Scenario) -> Iterator[Diagnostic]:
    seen: set[str] = set()  # an `any:` timer is reported once, not once per state
    scopes: list[tuple[str | None, list[m.Transition]]] = [(None, list(sc.any))]
    scopes += [(s.name, [*sc.any, *s.on]) for s in sc.states.values() if not s.final]
    for state, order in scopes:
        timers = [(i, t) for i, t in enumerate(order) if isinstance(t.trigger, m.AfterTrigger)]
        for j, b in timers:
            if b.id in seen or (state is not None and b.id.startswith("any[")):
                continue
            seconds = b.trigger.seconds  # type: ignore[union-attr]
            why = None
            if seconds >= sc.timeout:
                why = f"it is not shorter than the run's timeout ({_fmt(sc.timeout)})"
            else:
                for i, a in timers:
                    a_seconds = a.trigger.seconds  # type: ignore[union-attr]
                    first = a_seconds < seconds or (a_seconds == seconds and i < j)
                    if a is not b and first and a.when is None and _leaves_or_reenters(a):
                        line = f" (line {a.loc.line})" if a.loc else ""
                        why = (
                            f"{a.id}{line} fires first (after {_fmt(a_seconds)}, no `when`) and "
                            f"leaves the state, which cancels this timer"
                        )
                        break
            if why is not None:
                seen.add(b.id)
                where = "" if state is None else f" in state '{state}'"
                yield _warn(
                    b.trigger.loc or b.loc,
                    "timer-never-fires",
                    f"after {_fmt(seconds)} ({b.id}) never fires{where}: {why}",
                )


def _leaves_or_reenters(t: m.Transition) -> bool:
    return t.goto is not None or any(isinstance(a, _ENDS) for a in t.do)


def _final_transitions(sc: m.Scenario) -> Iterator[Diagnostic]:
    for state in sc.states.values():
        if state.final and state.on:
            yield _warn(
                state.on[0].loc,
                "final-state-transition",
                f"state '{state.name}' is final: its transitions never fire (entering a final "
                f"state ends the run once the replica has finished speaking)",
            )


# ------------------------------------------------------------------------------------- variables


def _action_values(action: m.Action) -> Iterator[Any]:
    for f in dataclasses.fields(action):  # type: ignore[arg-type]
        if f.name != "loc":
            yield getattr(action, f.name)


def _texts(value: Any) -> Iterator[m.Text]:
    """Every template `Text` in a value tree (dicts, lists, actions)."""
    if isinstance(value, m.Text):
        if value.is_template:
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _texts(v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for v in _action_values(value):  # type: ignore[arg-type]
            yield from _texts(v)


def all_actions(sc: m.Scenario) -> Iterator[m.Action]:
    for state in sc.states.values():
        yield from state.enter
        yield from state.exit
    for t in sc.transitions():
        yield from t.do


def defined_vars(sc: m.Scenario) -> set[str]:
    """Variable names `vars:` or some `set:` action defines."""
    names = set(sc.vars)
    for action in all_actions(sc):
        if isinstance(action, m.SetVars):
            names.update(action.values)
    return names


def vars_read(ast: nodes.Node) -> Iterator[tuple[str, int]]:
    """(name, template line) of each ``vars.NAME`` / ``vars['NAME']`` in a Jinja2 AST."""
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == "vars"):
            continue
        if isinstance(node, nodes.Getattr):
            if hasattr(dict, node.attr):  # vars.get(...), vars.items() ...
                continue
            yield node.attr, node.lineno
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            yield node.arg.value, node.lineno


def _parse_text(text: m.Text) -> nodes.Node | None:
    try:
        return ENV.parse(text.source)
    except TemplateSyntaxError:  # cannot happen for a loaded scenario; never crash a lint
        return None


def _parse_expr(expr: m.Expr) -> nodes.Node | None:
    try:
        return Parser(ENV, expr.source, state="variable").parse_expression()
    except TemplateSyntaxError:
        return None


def _reads(sc: m.Scenario) -> Iterator[tuple[str, m.Location | None]]:
    sources: list[tuple[nodes.Node | None, m.Location | None]] = []
    conv = sc.conversation
    for text in _texts([conv.url, conv.id, conv.token, conv.create]):
        sources.append((_parse_text(text), text.loc))
    for action in all_actions(sc):
        for text in _texts(action):
            sources.append((_parse_text(text), text.loc))
    for t in sc.transitions():
        if t.when is not None:
            sources.append((_parse_expr(t.when), t.when.loc))
    for ast, loc in sources:
        if ast is None:
            continue
        for name, lineno in vars_read(ast):
            if loc is not None and lineno > 1:
                yield name, m.Location(loc.file, loc.line + lineno - 1, loc.column)
            else:
                yield name, loc


def _undefined_vars(sc: m.Scenario) -> Iterator[Diagnostic]:
    defined = defined_vars(sc)
    seen: set[tuple[str, m.Location | None]] = set()
    for name, loc in _reads(sc):
        if name in defined or (name, loc) in seen:
            continue
        seen.add((name, loc))
        hint = did_you_mean(name, sorted(defined))
        yield _warn(
            loc,
            "undefined-var",
            f"vars.{name} is read here but never defined: add it to `vars:` or set it with "
            f"`set:`{hint}",
        )
    for r in sc.rehearsals:
        for name in r.expect.vars or {}:
            if name not in defined:
                yield _warn(
                    r.expect.locs.get("vars", r.expect.loc),
                    "undefined-var",
                    f"rehearsal '{r.name}' expects vars.{name}, which neither `vars:` nor any "
                    f"`set:` defines{did_you_mean(name, sorted(defined))}",
                )


# ---------------------------------------------------------------------------------------- events


def _event_types(sc: m.Scenario) -> Iterator[Diagnostic]:
    found: list[tuple[str, m.Location | None, str]] = []
    for t in sc.transitions():
        if isinstance(t.trigger, m.EventTrigger):
            found.append((t.trigger.name, t.trigger.loc, f"transition {t.id}"))
    for r in sc.rehearsals:
        for i, rule in enumerate(r.user):
            if isinstance(rule.on, m.EventTrigger):
                found.append((rule.on.name, rule.on.loc, f"rehearsal '{r.name}' user[{i}]"))
        for name in r.faults.only:
            found.append((name, r.faults.loc, f"rehearsal '{r.name}' faults.only"))
    for name, loc, what in found:
        if not name.startswith(RAW_EVENT_PREFIXES) or name in KNOWN_EVENT_TYPES:
            continue
        hint = did_you_mean(name, sorted(KNOWN_EVENT_TYPES))
        yield _warn(
            loc,
            "unknown-event-type",
            f"{what}: no Tavus server is known to send '{name}'{hint}; a typo here never fires "
            f"(a newer server event is fine)",
        )


# ----------------------------------------------------------------------------------------- regexes
#
# Scenario regexes are searched in what people say in the room. Python's `re` backtracks, so a
# regex that can match one stretch of text in exponentially many ways takes exponential time when
# the match then fails: `(a+)+b` takes a second on 24 a's and twice as long for each a more. Two
# shapes cause it, both found on the parsed pattern (`re._parser`):
#
# * an unbounded repetition whose body holds another one that an iteration can end (or begin)
#   with, next to the body's own start (or end) it overlaps: `(a+)+`, `(\w+\s?)*`, `(\s*\w+)*`,
#   `(\w+\s\w+)+` (but not `(\w+\s)+` or `(a+b+)+`, whose iterations cannot be split two ways);
# * an unbounded repetition of a finite set of literal strings that can spell some text in two
#   ways (Sardinas-Patterson): `(a|aa)+`, `(ab|a|ba)*` (but not `(a|ab)+` or `(cat|dog)+`).
#
# A possessive or atomic repetition (`a++`, `(?>...)`) never backtracks into itself and is safe,
# and so is an empty alternative (`re` stops a repetition at an empty iteration). What remains is
# polynomial (search restarts make `(\w+\s)+$` quadratic), fine on spoken sentences. Repetitions
# nested in a bounded one (`((a+){2})+`) are not followed: a miss, never a false alarm.

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
_ADVICE = "make the inner or outer repetition possessive/atomic or bounded"


def slow_regex(source: str, loc: m.Location | None) -> Diagnostic | None:
    """The `slow-regex` warning for one regex (None when it is safe or does not compile)."""
    try:
        parsed = _sre_parse.parse(source)
    except (re.error, RecursionError, OverflowError):
        return None  # reported as bad-regex
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    why = _find_slow(list(parsed), ignore_case)
    if why is None:
        return None
    return _warn(
        loc,
        "slow-regex",
        f"regex {source!r} can take exponential time on some inputs: {why}; {_ADVICE}",
    )


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
