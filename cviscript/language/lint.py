"""Graph and template lint rules: what a valid scenario may still get wrong.

The validator (`cviscript.language.validate`) decides whether a file *is* a scenario; these rules look at the
finished model for mistakes that load fine but can never behave as written: states nothing enters,
states nothing leaves, transitions that can never fire, variables a template reads but nothing
defines, raw event types no server sends. They only warn (``--strict`` makes warnings fail CI), and
`check_file` runs them once a file has no errors, so this module is the one place that decides.

Each rule has a stable `code` (listed in `RULES`) used in ``--format json`` and in docs. There is
no rule for slow regexes: they run on RE2 (`cviscript.language.patterns`), in time linear in the
text whatever the pattern, and the validator refuses what RE2 cannot run.

Facts about the engine the rules rely on (see `cviscript.engine.engine`):

* transitions are tried in the order `Scenario.chain` gives (`any:` first, then the enclosing
  states' `on:` outermost first, then the state's own); the first whose trigger matches and whose
  `when` holds fires and the rest are not evaluated: an unguarded transition hides every later
  one whose events it always matches as well (its kind says which: `triggers.covers`);
* `after:` timers are armed on every entry (`Scenario.timer_scope`), in that same order, and all are
  cancelled when the state is left (a `goto`, also back to the same state); timers due at the same
  time fire in the order they were armed; the run's `timeout:` counts from the start of the run;
* once a final state is entered, events and timers are ignored: its transitions never fire.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import Diagnostic, did_you_mean
from ..protocol import KNOWN_EVENT_TYPES
from . import model as m
from .durations import format_duration
from .spec import RAW_EVENT_PREFIXES
from .template_reads import reads
from .triggers import covers, kind_of


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
        "manual-never-fired",
        "a `manual:` name that no rehearsal's `operator:` rule fires: that path is never rehearsed",
    ),
    Rule(
        "resume-not-compound",
        "`resume:` names a state without `states:`: there is no child to return to, so it is a "
        "plain `goto`",
    ),
    Rule(
        "compound-state-expected",
        "`expect.path`/`expect.final` names a compound state; a run is always in one of its "
        "states (name it: tour.scale)",
    ),
    Rule(
        "hook-not-found",
        "a `call:` hook whose module is neither in the scenario's folder nor installed, or "
        "whose module file has no such function (found without importing anything); `run` and "
        "`rehearse` refuse to start with it unless the case gives the hook a canned value",
    ),
    Rule(
        "event-empty-at-start",
        "an `enter:` of a state the run starts in reads `event.NAME`: no event has happened at "
        "the start, so `event` is empty and the read fails there (guard it with `| default(...)`)",
    ),
    Rule(
        "unknown-event-type",
        "a raw event type (conversation.* / system.*) that no Tavus server is known to send",
    ),
)
CODES = frozenset(r.code for r in RULES)

_ENDS = (m.End, m.Fail)


def lint(sc: m.Scenario) -> list[Diagnostic]:
    """Every lint warning for a valid scenario, in file order."""
    out: list[Diagnostic] = []
    out += _reachability(sc)
    out += _shadowed(sc)
    out += _timers(sc)
    out += _final_transitions(sc)
    out += _undefined_vars(sc)
    out += _event_types(sc)
    out += _manual_unrehearsed(sc)
    out += _compound_misuse(sc)
    out += _hooks_missing(sc)
    out += _event_at_start(sc)
    out.sort(key=lambda d: (d.loc.line, d.loc.column) if d.loc else (0, 0))
    return out


def _warn(loc: m.Location | None, code: str, message: str) -> Diagnostic:
    assert code in CODES, code
    return Diagnostic(message, loc, "warning", code)


def _fmt(seconds: float) -> str:
    return format_duration(seconds)


# ------------------------------------------------------------------------- states: in and out


def _entered(sc: m.Scenario, target: str) -> set[str]:
    """Entering `target` enters its enclosing states and its initial children, down to a leaf."""
    names = {*sc.ancestors(target), target}
    st = sc.states[target]
    while st.children:
        st = sc.states[st.initial or st.children[0]]
        names.add(st.name)
    return names


def _targets(sc: m.Scenario, t: m.Transition) -> list[str]:
    if t.goto is not None and t.goto in sc.states:
        return [t.goto]
    if t.resume is not None and t.resume in sc.states:
        return sc.states[t.resume].children or [t.resume]
    return []


def reachable_states(sc: m.Scenario) -> set[str]:
    """States some path of transitions from `initial` enters (ignoring guards)."""
    if sc.initial not in sc.states:
        return {sc.initial}
    reached = _entered(sc, sc.initial)
    todo = [sc.entry_leaf(sc.initial)]
    done: set[str] = set()
    while todo:
        leaf = todo.pop()
        if leaf in done:
            continue
        done.add(leaf)
        state = sc.states[leaf]
        transitions = sc.chain(leaf) if not state.final else []
        for t in transitions:
            for target in _targets(sc, t):
                reached |= _entered(sc, target)
                todo.append(sc.entry_leaf(target))
    return reached


def _leaves(t: m.Transition, state: str) -> bool:
    return (
        (t.goto is not None and t.goto != state)
        or t.resume is not None
        or any(isinstance(a, _ENDS) for a in t.do)
    )


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
        if state.children:
            continue  # its leaves are judged, with its transitions
        if state.final or any(isinstance(a, _ENDS) for a in state.enter):
            continue
        if any(
            isinstance(a, _ENDS) for name in sc.ancestors(state.name) for a in sc.states[name].enter
        ):
            continue
        transitions = sc.chain(state.name)
        if any(_leaves(t, state.name) for t in transitions):
            continue
        if any(t.resume is not None for t in transitions):
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


def _first_cover(earlier: list[m.Transition], t: m.Transition) -> m.Transition | None:
    return next((a for a in earlier if a.when is None and covers(a.trigger, t.trigger)), None)


def _shadowed(sc: m.Scenario) -> Iterator[Diagnostic]:
    for i, t in enumerate(sc.any):
        if (a := _first_cover(sc.any[:i], t)) is not None:
            yield _shadow_warning(t, a)
    for state in sc.states.values():
        if state.final:
            continue  # reported as final-state-transition
        order = sc.chain(state.name)
        for i, t in enumerate(state.on, start=len(order) - len(state.on)):
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
    any_timers = [t for t in sc.any if kind_of(t.trigger).timed]
    scopes: list[tuple[str | None, list[m.Transition]]] = [(None, any_timers)]
    scopes += [(s.name, sc.timer_scope(s.name)) for s in sc.states.values() if not s.final]
    for state, order in scopes:
        # a template duration (`after: "{{ vars.wait }}"`) is only known when its state is
        # entered (`--var` can change it): it is neither judged nor used to judge the others
        timers = [(i, t) for i, t in enumerate(order) if t.trigger.template is None]  # type: ignore[union-attr]
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
    return t.goto is not None or t.resume is not None or any(isinstance(a, _ENDS) for a in t.do)


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


def all_actions(sc: m.Scenario) -> Iterator[m.Action]:
    """Every action, the `then:` of `call:` hooks included."""
    for state in sc.states.values():
        yield from _with_then(state.enter)
        yield from _with_then(state.exit)
    for t in sc.transitions():
        yield from _with_then(t.do)


def _with_then(actions: list[m.Action]) -> Iterator[m.Action]:
    for action in actions:
        yield action
        if isinstance(action, m.Call):
            yield from _with_then(action.then)


def defined_vars(sc: m.Scenario) -> set[str]:
    """Variable names `vars:` or some `set:` action defines."""
    names = set(sc.vars)
    for action in all_actions(sc):
        if isinstance(action, m.SetVars):
            names.update(action.values)
        elif isinstance(action, m.Call) and action.save:
            names.add(action.save)
    return names


def _reads(sc: m.Scenario) -> Iterator[tuple[str, m.Location | None]]:
    conv = sc.conversation
    sources: list[Any] = [[conv.url, conv.id, conv.token, conv.create]]
    sources += list(all_actions(sc))
    sources += [t.when for t in sc.transitions() if t.when is not None]
    return reads(sources, "vars")


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


def _event_at_start(sc: m.Scenario) -> Iterator[Diagnostic]:
    """`event.NAME` in the `enter:` of the states the run starts in (the initial state, down its
    initial children): `event` is empty there, so the run ends in error at once."""
    name: str | None = sc.initial
    while name is not None and name in sc.states:
        state = sc.states[name]
        for read, loc in reads(list(_with_then(state.enter)), "event", skip_guarded=True):
            yield _warn(
                loc,
                "event-empty-at-start",
                f"event.{read} in the enter: of '{name}', where the run starts: no event has "
                "happened yet, so `event` is empty and this fails at the start (write "
                f"`event.{read} | default('')`, or read it in a state an event leads to)",
            )
        name = state.initial


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


# ------------------------------------------------------------------------------ operator paths


def _manual_unrehearsed(sc: m.Scenario) -> Iterator[Diagnostic]:
    """A `manual:` transition is reached only when an operator fires it, so unless some
    rehearsal's `operator:` rule fires its name, no rehearsal ever takes that path."""
    fired = {rule.fire for r in sc.rehearsals for rule in r.operator}
    warned: set[str] = set()
    for t in _all_transitions(sc):
        trigger = t.trigger
        if not kind_of(trigger).operator or trigger.name in fired:  # type: ignore[union-attr]
            continue
        if trigger.name in warned:
            continue
        warned.add(trigger.name)
        yield _warn(
            trigger.loc or t.loc,
            "manual-never-fired",
            f"manual: '{trigger.name}' ({t.id}) is fired by no rehearsal: add a case with "
            f"`operator: [{{on: STATE, fire: {trigger.name}}}]` so this path is rehearsed",
        )


def _all_transitions(sc: m.Scenario) -> Iterator[m.Transition]:
    yield from sc.any
    for state in sc.states.values():
        yield from state.on


# ------------------------------------------------------------------- compound states and hooks


def _compound_misuse(sc: m.Scenario) -> Iterator[Diagnostic]:
    for t in _all_transitions(sc):
        if t.resume is not None and t.resume in sc.states and not sc.states[t.resume].children:
            yield _warn(
                t.loc,
                "resume-not-compound",
                f"transition {t.id}: resume: '{t.resume}' has no states inside it, so there is "
                f"nothing to resume: write goto: {t.resume}",
            )
    for r in sc.rehearsals:
        e = r.expect
        for key, names in (("path", e.path or []), ("final", [e.final] if e.final else [])):
            for name in names:
                st = sc.states.get(name)
                if st is None or not st.children:
                    continue
                leaves = [n for n in sc.leaves() if n.startswith(name + ".")]
                yield _warn(
                    e.locs.get(key, e.loc),
                    "compound-state-expected",
                    f"rehearsal '{r.name}': expect.{key} names '{name}', a compound state; a run "
                    f"is always in one of its states ({', '.join(leaves[:4])})",
                )


def _hooks_missing(sc: m.Scenario) -> Iterator[Diagnostic]:
    import os

    from .hooks_lookup import find_hook

    folder = os.path.dirname(os.path.abspath(sc.path))
    seen: set[str] = set()
    for action in all_actions(sc):
        if not isinstance(action, m.Call) or action.function in seen:
            continue
        seen.add(action.function)
        problem = find_hook(action.function, folder)
        if problem is not None:
            yield _warn(action.loc, "hook-not-found", f"call: {action.function}: {problem}")
