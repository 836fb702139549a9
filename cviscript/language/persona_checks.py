"""The scenario and the persona it runs against, checked against each other at load.

A scenario that passes rehearsal must behave live, and live behaviour depends on the persona:
an echo persona never hears the visitor, a tool with Tavus's default ``on_resolve:
fire_and_forget`` never speaks its result, a persona without a perception layer never perceives.
Each finding names the scenario's line and the persona field that decides it (`persona_file`).

They are warnings, except where the run can never get past the spot (then errors); ``--strict``
(validate, rehearse, run) makes every one an error. One check needs no persona file: a persona
rule whose reply uses ``{{ result }}`` for a tool the scenario answers with ``status: error`` is
never spoken (the replica acknowledges the failure instead).

Codes: ``persona-echo-visitor``, ``persona-unknown-tool``, ``persona-unspoken-result``,
``persona-no-perception``, ``persona-unknown-objective``, ``persona-error-result``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from ..errors import Diagnostic, did_you_mean
from . import model as m
from .persona_file import PersonaFile, PersonaTool
from .triggers import ObjectiveTrigger

CODES = (
    "persona-echo-visitor",
    "persona-unknown-tool",
    "persona-unspoken-result",
    "persona-no-perception",
    "persona-unknown-objective",
    "persona-error-result",
)
_READS_RESULT = re.compile(r"\{[{%][^}]*\bresult\b")  # `{{ result }}`, `{% if result %}` ...
_PERCEPTION_EVENTS = ("perception_tool_call", "conversation.perception_tool_call")
_REPLICA_SPEECH = frozenset(
    {
        "replica.started_speaking",
        "replica.stopped_speaking",
        "conversation.replica.started_speaking",
        "conversation.replica.stopped_speaking",
        "conversation.pal.started_speaking",
        "conversation.pal.stopped_speaking",
    }
)


def persona_findings(sc: m.Scenario, *, strict: bool = False) -> list[Diagnostic]:
    """Every finding for every persona the scenario or one of its cases names."""
    out: list[Diagnostic] = list(_error_results(sc))
    for persona in sc.personas.values():
        out += _findings(sc, persona)
    seen: set[tuple[Any, str]] = set()
    unique = []
    for d in out:
        key = (d.loc, d.message)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    if strict:
        unique = [dataclasses.replace(d, severity="error") for d in unique]
    return unique


def _findings(sc: m.Scenario, pf: PersonaFile) -> Iterator[Diagnostic]:
    who = pf.describe()
    for t in _transitions(sc):
        trig = t.trigger
        loc = getattr(trig, "loc", None) or t.loc
        if pf.echo and _visitor_trigger(trig):
            yield _warn(
                loc,
                "persona-echo-visitor",
                f"this {_kind(trig)} trigger waits for the visitor, but {who} has pipeline_mode: "
                "echo: the microphone is off and there is no speech recognition or perception, "
                "so it never fires live [persona field: pipeline_mode]",
            )
        elif _perception_trigger(trig) and not pf.has_perception:
            yield _warn(
                loc,
                "persona-no-perception",
                f"this perception trigger never fires: {who} has no perception layer "
                "[persona field: layers.perception]",
            )
        if isinstance(trig, m.ToolCallTrigger) and trig.name not in pf.tools:
            known = sorted(pf.tools)
            yield _warn(
                loc,
                "persona-unknown-tool",
                f"tool_call: {trig.name}: {who} has no tool {trig.name!r}"
                f"{did_you_mean(trig.name, known)} (its tools: {', '.join(known) or 'none'}); "
                "the replica never calls it [persona field: tools]",
            )
        name = _objective_name(trig)
        if name is not None and name not in pf.objectives:
            yield _warn(
                loc,
                "persona-unknown-objective",
                f"objective {name!r}: {who} has no such objective"
                f"{did_you_mean(name, sorted(pf.objectives))} (its objectives: "
                f"{', '.join(sorted(pf.objectives)) or 'none'}) [persona field: objectives]",
            )
    yield from _unspoken_results(sc, pf)
    for r in sc.rehearsals:
        if sc.persona_for(r) is not pf:
            continue
        for rule in r.persona:
            obj = rule.complete_objective
            if obj is not None and obj.name not in pf.objectives:
                yield _warn(
                    obj.loc,
                    "persona-unknown-objective",
                    f"complete_objective {obj.name!r}: {who} has no such objective "
                    f"(its objectives: {', '.join(sorted(pf.objectives)) or 'none'}) "
                    "[persona field: objectives]",
                )


def _unspoken_results(sc: m.Scenario, pf: PersonaFile) -> Iterator[Diagnostic]:
    """A tool whose result is not spoken (on_resolve fire_and_forget), answered by a transition
    after which the scenario waits for the replica to speak."""
    for state_name, t in _transitions_with_state(sc):
        trig = t.trigger
        if not isinstance(trig, m.ToolCallTrigger) or not _answers(t.do):
            continue
        tool = pf.tools.get(trig.name) or PersonaTool(trig.name, field="(not in the file)")
        if tool.on_resolve == "generate_response":
            continue
        waiting = sc.entry_leaf(t.goto) if t.goto in sc.states else state_name
        if waiting is None or waiting not in sc.states:
            continue
        st = sc.states[waiting]
        if st.final or _speaks(st.enter) or _speaks(t.do):
            continue  # the scenario speaks itself: the replica speech it waits for is its own
        ways = sc.chain(waiting)
        speech = [w for w in ways if _replica_speech(w.trigger)]
        if not speech:
            continue
        only = len(speech) == len(ways)
        field = f"{tool.field}.on_resolve" if tool.field != "(not in the file)" else "tools"
        where = (
            f"tool {trig.name!r} has on_resolve: {tool.on_resolve}"
            if "on_resolve" in tool.given
            else f"tool {trig.name!r} has Tavus's default on_resolve: fire_and_forget"
        )
        first = speech[0]
        line = first.loc.line if first.loc else "?"
        yield Diagnostic(
            f"the tool_result answers {trig.name}, then state {waiting!r} waits for the replica "
            f"to speak (line {line}), but {where} in {pf.describe()}: nothing is spoken after "
            f"the result{' and nothing else leaves that state' if only else ''}; set on_resolve: "
            f"generate_response in the persona, or speak it yourself (echo) [persona field: "
            f"{field}]",
            trig.loc or t.loc,
            "error" if only else "warning",
            "persona-unspoken-result",
        )


def _error_results(sc: m.Scenario) -> Iterator[Diagnostic]:
    """Issue: a persona reply using {{ result }} for a call the scenario answers with an error."""
    errored: dict[str, m.Location | None] = {}
    for t in _transitions(sc):
        if isinstance(t.trigger, m.ToolCallTrigger):
            for action in t.do:
                status = action.status if isinstance(action, m.ToolResult) else None
                if status is not None and status.source.strip() == "error":
                    errored.setdefault(t.trigger.name, action.loc or t.loc)
    if not errored:
        return
    for r in sc.rehearsals:
        for rule in r.persona:
            if rule.tool_call is None or rule.say is None or rule.tool_call.name not in errored:
                continue
            if not _READS_RESULT.search(rule.say.source):
                continue
            at = errored[rule.tool_call.name]
            yield _warn(
                rule.say.loc or rule.loc,
                "persona-error-result",
                f"this reply is never spoken: the scenario answers {rule.tool_call.name} with "
                f"status: error (line {at.line if at else '?'}), and the replica acknowledges "
                "the failure instead of speaking a result",
            )


# ----------------------------------------------------------------------------------- helpers


def _warn(loc: m.Location | None, code: str, message: str) -> Diagnostic:
    return Diagnostic(message, loc, "warning", code)


def _transitions(sc: m.Scenario) -> list[m.Transition]:
    return sc.transitions()


def _transitions_with_state(sc: m.Scenario) -> Iterator[tuple[str | None, m.Transition]]:
    for t in sc.any:
        yield None, t
    for name, st in sc.states.items():
        for t in st.on:
            yield name, t


def _kind(trigger: Any) -> str:
    if isinstance(trigger, m.UtteranceTrigger):
        return "utterance:"
    if isinstance(trigger, m.EventTrigger):
        return f"event: {trigger.name}"
    return "perception:"


def _visitor_trigger(trigger: Any) -> bool:
    if isinstance(trigger, m.UtteranceTrigger):
        return trigger.role == "user"
    if isinstance(trigger, m.EventTrigger):
        name = trigger.name
        if name.startswith(("user.", "conversation.user.")):
            return True
        if name in ("utterance", "conversation.utterance", "utterance.streaming"):
            return trigger.where.get("role") == "user"
    return _perception_trigger(trigger)


def _perception_trigger(trigger: Any) -> bool:
    if isinstance(trigger, m.PerceptionTrigger):
        return True
    return isinstance(trigger, m.EventTrigger) and trigger.name in _PERCEPTION_EVENTS


def _replica_speech(trigger: Any) -> bool:
    if isinstance(trigger, m.UtteranceTrigger):
        return trigger.role == "replica"
    if isinstance(trigger, m.EventTrigger):
        if trigger.name in _REPLICA_SPEECH:
            return True
        if trigger.name in ("utterance", "conversation.utterance", "utterance.streaming"):
            return trigger.where.get("role") in ("replica", "pal")
    return False


def _objective_name(trigger: Any) -> str | None:
    """The objective an `objective:` trigger waits for."""
    if not isinstance(trigger, ObjectiveTrigger):
        return None
    return trigger.name or None


def _answers(actions: list[m.Action]) -> bool:
    for action in actions:
        if isinstance(action, m.ToolResult):
            return True
        if isinstance(action, m.Call) and (action.answer or _answers(action.then)):
            return True
    return False


def _speaks(actions: list[m.Action]) -> bool:
    for action in actions:
        if isinstance(action, m.Echo | m.EchoAudio | m.Respond):
            return True
        if isinstance(action, m.Call) and _speaks(action.then):
            return True
    return False
