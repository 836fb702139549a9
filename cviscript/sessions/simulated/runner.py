"""Run a scenario: the library entry points the CLI and embedding code call.

`run_simulated` runs a scenario against the built-in simulated replica on a virtual clock and
returns the finished `Conversation` (its `.result` and `.trace`). The simulated user, persona,
replica timing and faults come from a rehearsal case: the one named, else the scenario's first,
else none (a silent user, a replica that only speaks what it is told). The conversation's own
settings reach the simulated server as they would reach Tavus: `conversation.create`'s
`custom_greeting` is spoken as the replica joins, its `properties.max_call_duration` ends the call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from ...clock import VirtualClock
from ...engine.conversation import Conversation
from ...errors import TemplateRenderError, UsageError, did_you_mean
from ...language.model import Rehearsal, Scenario
from ...trace import Trace, TraceRecord
from ..replica_model.settings import conversation_limits

SIM_CONVERSATION_ID = "c0ffee5im"


def pick_rehearsal(scenario: Scenario, name: str | None) -> Rehearsal | None:
    """The rehearsal `name` (default: the first); None for `none` (a silent user, default
    settings) unless a rehearsal is named so."""
    if name is None:
        return scenario.rehearsals[0] if scenario.rehearsals else None
    found = scenario.rehearsal(name)
    if found is None and name.strip().lower() == "none":
        return None
    if found is None:
        names = [r.name for r in scenario.rehearsals]
        known = ", ".join(repr(n) for n in names) or "none"
        raise UsageError(
            f"no rehearsal named {name!r} in {scenario.path}{did_you_mean(name, names)}; "
            f"it has: {known}"
        )
    return found


def without_script(case: Rehearsal | None) -> Rehearsal | None:
    """The case for a person playing the visitor (`run --interactive`): its persona, replica
    settings, faults, vars and canned hooks, without its scripted `user:` and `operator:` rules
    (what the person types is the visitor; `/fire` is the operator)."""
    if case is None:
        return None
    return dataclasses.replace(case, user=[], operator=[])


def simulated_conversation(
    scenario: Scenario,
    rehearsal: Rehearsal | None,
    *,
    vars_override: dict[str, Any] | None = None,
    context_spelling: str | None = None,
    subscribers: Iterable[Callable[[TraceRecord], None]] = (),
    seed: int | None = None,
    clock: VirtualClock | None = None,
    keep_trace: bool = True,
) -> Conversation:
    """A ready-to-start Conversation against the simulated replica (not started)."""
    from .replica import SimulatedReplica, model_settings

    clock = clock or VirtualClock()
    seed = seed if seed is not None else (rehearsal.seed if rehearsal else 0)
    merged = {**(rehearsal.vars if rehearsal else {}), **(vars_override or {})}
    case = rehearsal or Rehearsal(name="simulated")
    settings = model_settings(
        case,
        scenario.persona_for(rehearsal),
        **conversation_limits(create_body(scenario, merged)),
    )
    replica = SimulatedReplica(
        clock, case, conversation_id=SIM_CONVERSATION_ID, seed=seed, settings=settings
    )
    trace = Trace(clock, keep=keep_trace)
    replica.attach_trace(trace)
    for fn in subscribers:
        trace.subscribe(fn)
    conv = Conversation(
        scenario,
        replica,
        clock,
        trace=trace,
        vars_override=merged,
        context_spelling=context_spelling,
        mode="simulated",
        rehearsal=rehearsal.name if rehearsal else None,
        seed=seed,
        # recorded so that `cviscript replay` runs the scenario with the same overrides
        header={"vars": dict(vars_override)} if vars_override else None,
    )
    conv.engine.hooks.canned = dict(case.hooks)  # hooks the case replaces with a canned value
    if case.operator:  # the rehearsed operator fires `manual:` transitions
        from .operator import SimulatedOperator

        SimulatedOperator(case.operator, clock, conv.fire).attach(trace)
    return conv


def create_body(scenario: Scenario, vars_: dict[str, Any]) -> Any:
    """`conversation.create` rendered with the scenario's vars, as a live run would send it."""
    create = scenario.conversation.create
    if not create:
        return None
    from ...language.templates import render_value

    context = {"vars": {**scenario.vars, **vars_}, "event": {}, "state": None, "visits": 0}
    try:
        return render_value(create, context, None)
    except Exception:  # a template that needs the live run's context: no greeting, no limit
        return None


def run_simulated(
    scenario: Scenario,
    *,
    rehearsal: str | Rehearsal | None = None,
    vars_override: dict[str, Any] | None = None,
    context_spelling: str | None = None,
    subscribers: Iterable[Callable[[TraceRecord], None]] = (),
    seed: int | None = None,
) -> Conversation:
    """Run `scenario` to its end on virtual time; returns the finished Conversation."""
    case = rehearsal if isinstance(rehearsal, Rehearsal) else pick_rehearsal(scenario, rehearsal)
    clock = VirtualClock()
    conv = simulated_conversation(
        scenario,
        case,
        vars_override=vars_override,
        context_spelling=context_spelling,
        subscribers=subscribers,
        seed=seed,
        clock=clock,
    )
    return drive(conv, clock)


def drive(conv: Conversation, clock: VirtualClock, *, what: str = "simulation") -> Conversation:
    """Start `conv` and run the virtual clock until it ends; returns it, closed."""
    conv.start()
    while True:
        try:
            clock.run(stop=lambda: conv.done)
            break
        except TemplateRenderError as err:
            # a `user:`, `persona:` or `operator:` text of the rehearsal that cannot render: the
            # run ends in error naming its file:line, as a scenario template's failure does
            # (it was a traceback from `run` and an internal error in `rehearse`)
            conv.abort("error", f"a rehearsal text failed: {err}")
    if not conv.done:  # nothing left to happen: only possible when the deadline was not armed
        conv.abort("error", f"the {what} stalled")
    conv.close()
    return conv
