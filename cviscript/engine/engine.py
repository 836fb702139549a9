"""The scenario engine: it runs one conversation's scenario on a `transitions` machine.

This module coordinates; each part of the work has a module of its own: machine.py builds the
`transitions` machine, hierarchy.py works out compound states (the transitions a leaf sees, the
enter/exit chains, `resume:` history), timers.py schedules `after:` timers and the run's timeout,
final_wait.py ends the run from a final state, hooks.py runs `call:` hooks, actions.py runs
actions and describe.py words triggers for the trace. Each part owns its state and is handed
what it needs (the clock, the scenario, a callback or two), never the engine: the engine calls
them, they do not reach back into it.

* which transition fires is decided by the engine, before it pulls that trigger: it checks the
  current state's transitions in contract order (`any:` first, then the enclosing states' `on:`
  outermost first, then the state's own) and fires the first whose trigger matches and whose
  `when` holds; the others are not evaluated. (Letting `transitions` try every transition's
  conditions in turn cost more than a bare trigger per transition tried: see bench/.) The
  candidates of a state are listed once, when first needed;
* events are queued: one that arrives while a transition is running (from an action's send, the
  simulated replica, an expired timer, a hook's result) waits until that transition finished and
  is then matched in the state it left, so a timer and an event can never interleave
  mid-transition. The machine is configured `queued` too. No auto transitions.

The hot path (an event in, a transition, its actions, messages out) stays in this module, with the
hierarchy's candidate table held directly (`_candidates`), so splitting the work across modules
costs no attribute hop per event.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock
from ..errors import CviscriptError, TemplateRenderError
from ..language.hooks_lookup import missing_hooks
from ..language.model import Scenario, Transition
from ..language.templates import evaluate
from ..language.triggers import NO_GROUPS, kind_of
from ..protocol import Event, Interactions
from ..trace import Trace
from . import matchers
from .actions import ActionRunner, EndRun
from .context import event_view
from .describe import describe_trigger, jsonable
from .final_wait import FinalWait, Speech, words
from .hierarchy import Hierarchy
from .hooks import HookRunner, Pending, failure
from .machine import INIT, Model, build_machine
from .timers import Timers

OWN_RESPONDS = 8  # recent `respond` texts remembered, to recognise one coming back


@dataclass(slots=True)
class RunResult:
    outcome: str  # completed | failed | timed_out | error | stopped (by the operator: /quit)
    reason: str
    state: str | None  # the state the run ended in
    path: list[str]  # states entered, in order
    vars: dict[str, Any]
    duration: float  # seconds on the run's clock
    sent: list[str] = field(default_factory=list)  # event types sent, in order

    @property
    def ok(self) -> bool:
        return self.outcome == "completed"


class Engine:
    def __init__(
        self,
        scenario: Scenario,
        clock: Clock,
        send: Callable[[dict[str, Any]], None],
        trace: Trace,
        *,
        interactions: Interactions,
        vars_override: dict[str, Any] | None = None,
    ):
        self.scenario = scenario
        self.clock = clock
        self.trace = trace
        self.vars: dict[str, Any] = {**scenario.vars, **(vars_override or {})}
        self.visits: dict[str, int] = {}
        self.path: list[str] = []
        self.sent: list[str] = []
        self.result: RunResult | None = None
        self.event: Event | None = None  # the event that fired the running transition
        self.groups: dict[str, Any] = {}
        self.speech = Speech()  # the replica's speech: speaking, requested, when last asked
        # the texts of the scenario's own `respond`s: Tavus's own template expects one back as a
        # user-role utterance, which is the scenario talking, not the visitor (`own_respond`)
        self._own_responds: deque[str] = deque(maxlen=OWN_RESPONDS)
        self._send = send
        self._done_callbacks: list[Callable[[RunResult], None]] = []
        self._prev_state: str | None = None
        self._via = "initial"
        self._ctx: tuple[Any, ...] | None = None  # (event, groups, its template view)
        self._described: dict[str, str] = {}  # transition id -> describe_trigger(), when fired
        # arrived during a transition
        self._inbox: deque[Event | matchers.Tick | matchers.Manual] = deque()
        self._busy = False  # a transition is running
        self._firing: Transition | None = None  # the transition being fired
        self._target: str | None = None  # where the firing transition goes (goto or resumed)
        self.hierarchy = Hierarchy(scenario)
        self._nested = self.hierarchy.nested
        self._candidates = self.hierarchy.candidates  # the same dict: read on every event
        self.timers = Timers(
            clock,
            scenario,
            self.hierarchy,
            fire=self._feed,
            finish=self.finish,
            context=lambda: self.template_context(self.event, self.groups),
        )
        self.hooks = HookRunner(
            clock, os.path.dirname(os.path.abspath(scenario.path)), self._hook_done
        )
        self.final = FinalWait(
            clock,
            scenario.final_wait,
            self.speech,
            hooks_running=lambda: bool(self.hooks.pending),
            finish=self.finish,
        )
        self.actions = ActionRunner(self, interactions)
        # One bound method each, shared by every state and transition; `_before` finds the
        # transition in `self._firing`.
        self.model: Model
        self.machine, self.model = build_machine(
            scenario, self._nested, self._on_enter, self._on_exit, self._before, self._note_start
        )

    # ---------------------------------------------------------------------------------- lifecycle

    @property
    def state(self) -> str | None:
        s = self.model.state
        return None if s == INIT else s

    @property
    def done(self) -> bool:
        return self.result is not None

    def on_done(self, callback: Callable[[RunResult], None]) -> None:
        self._done_callbacks.append(callback)

    def template_context(self, event: Event | None, groups: dict[str, Any] | None) -> dict:
        """What templates see now. The `event` view is built once per (event, groups): a
        transition's guard, its `do` and the target's `enter` render several templates for the
        same event. `vars` is the live dict, so `set:` is seen without rebuilding."""
        c = self._ctx
        if c is not None and c[0] is event and c[1] is groups:
            view = c[2]
        else:
            view = event_view(event, groups)
            self._ctx = (event, groups, view)
        state = self.model.state
        if state == INIT:
            return {"vars": self.vars, "event": view, "state": None, "visits": 0}
        return {
            "vars": self.vars,
            "event": view,
            "state": state,
            "visits": self.visits.get(state, 0),
        }

    def start(self) -> None:
        missing = missing_hooks(self.scenario, self.hooks.canned)
        if missing:  # found before anything is said, not when the call comes (or never)
            self.finish("error", "a hook cannot be found: " + "; ".join(missing))
            return
        self.timers.start()
        self._busy = True  # events sent while the initial state is entered wait for it
        try:
            self._guarded(self.machine.events["start"].trigger, self.model)
        finally:
            self._busy = False
        self._drain()

    def handle(self, event: Event) -> None:
        """Feed one normalised event."""
        if self.result is not None:  # done
            return
        kind = event.type
        if kind == "utterance" and self._own_responds and self._own_respond(event):
            return
        if kind == "replica.started_speaking":
            self.speech.started()
        elif kind == "replica.stopped_speaking":
            self.speech.stopped()
        elif kind == "utterance" and event.role == "replica":
            self.speech.said(event.text)
        if self.final.active:
            self.final.check()
            return
        self._feed(event)

    def _own_respond(self, event: Event) -> bool:
        """A user utterance repeating one of the scenario's own `respond` texts: Tavus echoed it
        back (its template: "if Tavus echoes the conversation.respond back as a user turn"). It
        is marked as the scenario's own and fires no transition."""
        if event.role != "user" or not isinstance(event.text, str):
            return False
        said = words(event.text)
        if said not in self._own_responds:
            return False
        self._own_responds.remove(said)
        self.trace.emit_data(
            "log",
            {
                "text": "the scenario's own respond came back as a user utterance "
                "(not the visitor's words): no transition fires on it",
                "level": "info",
                "own_respond": True,
            },
        )
        return True

    def fire(self, name: str) -> str | None:
        """An operator fires `manual: name` (a key, the control interface, a rehearsal's
        `operator:` rule). The first transition of the current state (`any:` first) with that
        manual name whose `when` holds fires; returns its id, or None when none could (not in
        this state, a guard said no, the run has not started or is over, or the fire was queued
        behind a running transition). Recorded as an `operator` trace record either way, so a
        replay fires it again at the same moment."""
        if self.result is not None or self.final.active:
            self.trace.emit_data("operator", {"name": name, "fired": None, "state": self.state})
            return None
        item = matchers.Manual(name)
        self._feed(item)
        return item.fired

    def manual_names(self) -> list[str]:
        """The `manual:` names that can fire in the current state, in contract order."""
        state = self.model.state
        if state == INIT or self.done:
            return []
        names: list[str] = []
        for t in self.scenario.chain(state):
            if kind_of(t.trigger).operator and t.trigger.name not in names:  # type: ignore[union-attr]
                names.append(t.trigger.name)  # type: ignore[union-attr]
        return names

    def _feed(self, item: Event | matchers.Tick | matchers.Manual) -> None:
        """Process `item` now, or after the running transition (and what queued before it)."""
        if self._busy:
            self._inbox.append(item)
            return
        self._busy = True
        try:
            self._process(item)
            self._drain_inbox()
        finally:
            self._busy = False
            self._inbox.clear()  # only left over when the run ended

    def _hook_done(self, call: Pending) -> None:
        """A hook's result (or failure) is in: handled like an event, between transitions."""
        if self.result is None:
            self._feed(call)
            if self.result is None and self.final.active:
                self.final.check()  # the final state waited for this hook

    def _drain(self) -> None:
        self._busy = True
        try:
            self._drain_inbox()
        finally:
            self._busy = False
            self._inbox.clear()

    def _drain_inbox(self) -> None:
        inbox = self._inbox
        while inbox and self.result is None:
            self._process(inbox.popleft())

    def _process(self, item: Event | matchers.Tick | matchers.Manual) -> None:
        fired = None
        try:
            fired = self._select(item)
            if fired is not None:
                self._fire(fired)
        except EndRun:
            pass  # finish() already recorded the outcome
        except CviscriptError as err:  # a template that cannot render, a message too big ...
            self.finish("error", str(err))
        if fired is None and not self.done and isinstance(item, Event) and item.type == "shutdown":
            reason = item.text or item.properties.get("shutdown_reason") or "no reason given"
            self.finish("failed", f"the conversation was shut down by the server: {reason}")

    def _select(self, item: Event | matchers.Tick | matchers.Manual) -> Transition | None:
        """The first transition of the current state whose trigger matches and whose `when`
        holds (contract order); it becomes the transition's `event` and `groups`."""
        state = self.model.state
        if isinstance(item, matchers.Manual):
            return self._select_manual(item, state)
        if state == INIT:
            return None
        if isinstance(item, matchers.Tick):
            t = self.timers.due(item)
            return t if t is not None and self._holds(t, self.event, NO_GROUPS) else None
        if isinstance(item, Pending):
            self._hook_result(item)
            return None
        candidates = self._candidates.get(state)
        if candidates is None:
            candidates = self.hierarchy.candidates_of(state)
        for t, match, view in candidates:
            groups = match(t.trigger, item)
            if groups is not None:
                event = item if view is None else view(item)
                if self._holds(t, event, groups):
                    self.event = event
                    return t
        return None

    def _select_manual(self, item: matchers.Manual, state: str) -> Transition | None:
        found = None
        if state != INIT and not self.final.active:
            for t in self.scenario.chain(state):
                trigger = t.trigger
                if (
                    kind_of(trigger).operator
                    and trigger.name == item.name  # type: ignore[union-attr]
                    and self._holds(t, self.event, NO_GROUPS)
                ):
                    found = t
                    break
        item.processed = True
        item.fired = None if found is None else found.id
        self.trace.emit_data(
            "operator",
            {"name": item.name, "fired": item.fired, "state": None if state == INIT else state},
        )
        return found

    def _holds(self, t: Transition, event: Event | None, groups: dict[str, Any]) -> bool:
        if t.when is not None:
            ctx = self.template_context(event, groups)
            if not evaluate(t.when, ctx, ctx["state"]):
                return False
        self.groups = groups
        return True

    def _fire(self, t: Transition) -> None:
        self._firing = t
        if t.resume is not None:
            self._target = self.hierarchy.resume_target(t)
            dest = self.scenario.entry_leaf(self._target)
            self.machine.events[f"{t.id}>{dest}"].trigger(self.model)
            return
        self._target = t.goto
        self.machine.events[t.id].trigger(self.model)

    def finish(self, outcome: str, reason: str) -> None:
        if self.done:
            return
        self.timers.stop()
        self.final.stop()
        self.actions.stop()
        self.hooks.stop()
        self.result = RunResult(
            outcome=outcome,
            reason=reason,
            state=self.state,
            path=list(self.path),
            vars=dict(self.vars),
            duration=self.trace.elapsed(),
            sent=list(self.sent),
        )
        self.trace.emit(
            "outcome",
            outcome=outcome,
            reason=reason,
            state=self.state,
            path=self.result.path,
            vars=jsonable(self.vars),
            duration=round(self.result.duration, 6),
        )
        for cb in self._done_callbacks:
            cb(self.result)

    # -------------------------------------------------------------------------- sending (actions)

    def send(self, message: dict[str, Any]) -> None:
        event_type = message.get("event_type", "")
        # No size check here: every message is built by `Interactions`, which already refused
        # one over the limit (checking twice was a measurable part of each event's cost).
        self.trace.emit_data("sent", {"message": message})
        self.sent.append(event_type)
        if event_type in ("conversation.echo", "conversation.respond"):
            props = message.get("properties") or {}
            text = props.get("text")
            if event_type == "conversation.respond" and isinstance(text, str):
                self._own_responds.append(words(text))
            if (
                event_type == "conversation.respond"
                or props.get("modality") == "text"
                or props.get("done") is True
            ):
                echo_text = text if event_type == "conversation.echo" else None
                self.speech.asked(
                    self.clock.now(), echo_text if isinstance(echo_text, str) else None
                )
        elif event_type == "conversation.interrupt":
            self.speech.cancelled()
        self._send(message)

    # ---------------------------------------------------------------------- transitions callbacks

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except EndRun:
            pass  # finish() already recorded the outcome
        except TemplateRenderError as err:
            self.finish("error", str(err))
        except CviscriptError as err:
            self.finish("error", str(err))

    def _note_start(self, _ed: Any) -> None:
        self._prev_state = None
        self._via = "initial"

    # The records are built as dict literals (`emit_data`), in the field order `emit` would give.

    def _before(self, ed: Any) -> None:
        t = self._firing
        state = self.model.state
        if state == INIT:  # pragma: no cover - scenario transitions never leave the pseudo-state
            state = None
        self._prev_state = state
        self._via = t.id
        trigger = self._described.get(t.id)
        if trigger is None:
            trigger = self._described[t.id] = describe_trigger(t)
        self.trace.emit_data(
            "transition", {"id": t.id, "from": state, "to": self._target, "trigger": trigger}
        )
        if t.do:
            self.actions.run(t.do, state)

    def _on_enter(self, ed: Any) -> None:
        name = self.model.state
        if self._nested:
            self._enter_outer(name)
        visits = self.visits[name] = self.visits.get(name, 0) + 1
        self.path.append(name)
        self.trace.emit_data(
            "state", {"state": name, "from": self._prev_state, "via": self._via, "visits": visits}
        )
        state = self.scenario.states[name]
        self.timers.enter(name)
        if state.enter:
            self.actions.run(state.enter, name)
        if state.final and not self.done:
            self.timers.hold()
            self.final.enter(name)

    def _on_exit(self, ed: Any) -> None:
        name = self.model.state
        self.timers.leave()
        actions = self.scenario.states[name].exit
        if actions:
            self.actions.run(actions, name)
        if self._nested:
            self._exit_outer(name)

    def _enter_outer(self, leaf: str) -> None:
        """Entering `leaf`: enter the compound states on the way down (a new epoch, a visit,
        their timers, their `enter` actions), outermost first."""
        states = self.scenario.states
        target = self._target or self.scenario.initial
        for name in self.hierarchy.enter(self._prev_state, target, leaf):
            self.visits[name] = self.visits.get(name, 0) + 1
            self.timers.enter_outer(name)
            actions = states[name].enter
            if actions:
                self.actions.run(actions, name)

    def _exit_outer(self, leaf: str) -> None:
        """Leaving `leaf`: cancel the timers and run the `exit` actions of the compound states
        the firing transition leaves, innermost first."""
        target = self._target
        if target is None:  # pragma: no cover - an internal transition exits nothing
            return
        for name in self.hierarchy.exits(leaf, target):
            self.timers.leave_outer(name)
            actions = self.scenario.states[name].exit
            if actions:
                self.actions.run(actions, name)

    # ------------------------------------------------------------------------------ hook results

    def _hook_result(self, call: Pending) -> None:
        """A finished `call:` hook: its failure ends the run as an error; its value is saved
        (`save:`), answers the tool call that fired the transition (`answer: true`) and runs
        its `then:` actions, in the state, event and match groups of the transition that
        called it (delivered between transitions, like an event; hooks.py runs the call)."""
        problem = failure(call)
        if problem is not None:
            self.finish("error", problem)
            return
        action, value = call.action, call.outcome[0][1]
        if action.save is not None:
            self.vars[action.save] = value
        saved = self.event, self.groups
        self.event, self.groups = call.event, call.groups
        try:
            if action.answer:
                self.actions.answer_tool_call(value, call.state, action.loc)
            if action.then:
                self.actions.run(action.then, call.state)
        finally:
            self.event, self.groups = saved
