"""Values that depend on variables, checked as soon as the variables are known.

Two jobs, both about `vars`:

* `--var NAME=VALUE` must name a variable the scenario has (`unknown_overrides`): a misspelt name
  would otherwise be silently added beside the real one, and the run would use the default.
* `after:` may be a template (``after: "{{ vars.wait }}"``) rendered each time its state is
  entered. Where the value is already known — the scenario's `vars`, a rehearsal's `vars`, the
  command line's `--var` — `timer_problems` renders it and checks it is a duration, so a typo in a
  value fails at load time with file:line:col instead of in the middle of a run. A template that
  reads the event, the state or an undefined variable can only be decided at run time and is
  skipped here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import Diagnostic, TemplateRenderError, did_you_mean
from . import model as m
from .durations import parse_duration
from .templates import render


def unknown_overrides(scenario: m.Scenario, overrides: Iterable[str]) -> list[str]:
    """A message for every `--var` name the scenario's `vars:` does not have."""
    known = sorted(scenario.vars)
    out = []
    for name in overrides:
        if name in scenario.vars:
            continue
        hint = did_you_mean(name, known) or (
            f"; its variables are: {', '.join(known)}"
            if known
            else "; it declares no variables (add them under `vars:`)"
        )
        out.append(f"--var {name}: the scenario has no variable '{name}'{hint}")
    return out


def timer_problems(
    scenario: m.Scenario, variables: Mapping[str, Any], given: str
) -> list[Diagnostic]:
    """Template `after:` durations that render, with `variables`, to something that is not a
    duration. `given` says where the values came from ("the scenario's vars", "--var")."""
    problems = []
    for state_name, trigger in template_timers(scenario):
        seconds = timer_seconds(trigger, variables, state_name)
        if isinstance(seconds, str):
            problems.append(
                Diagnostic(f"{seconds} (with {given})", trigger.loc, code="bad-duration")
            )
    return problems


def timer_seconds(
    trigger: m.AfterTrigger, variables: Mapping[str, Any], state: str
) -> float | str | None:
    """The template's seconds with `variables`, a message when it renders to no duration, or
    None when it cannot be rendered before the run (it reads the event, or a missing variable)."""
    assert trigger.template is not None
    context = {"vars": variables, "event": {}, "state": state, "visits": 1}
    try:
        text = render(trigger.template, context, state)
    except TemplateRenderError:
        return None
    try:
        return parse_duration(text.strip())
    except ValueError as e:
        return f"after: '{trigger.template.source}' gives {text!r}: {e}"


def template_timers(scenario: m.Scenario) -> list[tuple[str, m.AfterTrigger]]:
    found = []
    for t in scenario.any:
        if isinstance(t.trigger, m.AfterTrigger) and t.trigger.template is not None:
            found.append((scenario.initial, t.trigger))
    for name, state in scenario.states.items():
        for t in state.on:
            if isinstance(t.trigger, m.AfterTrigger) and t.trigger.template is not None:
                found.append((name, t.trigger))
    return found


def check_overrides(scenario: m.Scenario, overrides: Mapping[str, Any]) -> list[str]:
    """Every problem with `--var` values: unknown names, and template `after:` durations the
    new values turn into something that is not a duration (with file:line:col)."""
    problems = unknown_overrides(scenario, overrides)
    if overrides and not problems:
        merged = {**scenario.vars, **overrides}
        problems += [str(d) for d in timer_problems(scenario, merged, "--var")]
    return problems
