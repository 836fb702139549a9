"""The scenario engine: it runs one conversation's scenario on a `transitions` machine.

This module coordinates; each part of the work has a module of its own: machine.py builds the
`transitions` machine, hierarchy.py works out compound states (the transitions a leaf sees, the
enter/exit chains, `resume:` history), timers.py schedules `after:` timers, the run's timeout and
the final-state wait, hook_results.py applies a finished `call:` hook, actions.py runs actions and
describe.py words triggers for the trace.

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
helpers' lookup tables held directly (`_candidates`, `_timers`), so splitting the work across
modules costs no attribute hop per event.
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
from .hierarchy import Hierarchy
from .hook_results import apply_hook_result
from .hooks import HookRunner, Pending
from .machine import INIT, Model, build_machine
from .timers import Timers


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
        self.replica_speaking = False
        self.pending_speech = 0  # speech requested and not yet started
        # `_speech_asked_at`, `_epoch`, `_prev_state`, `_target` and `_feed` are shared with
        # the engine's helpers (timers.py, hierarchy.py), not with anything outside the engine.
        self._speech_asked_at = 0.0  # clock time of the last speech request
        self._send = send
        self._done_callbacks: list[Callable[[RunResult], None]] = []
        self._epoch = 0  # bumped on every state entry; stale ticks are ignored
        self._prev_state: str | None = None
        self._via = "initial"
        self._ctx: tuple[Any, ...] | None = None  # (event, groups, its template view)
        self._described: dict[str, str] = {}  # transition id -> describe_trigger(), when fired
        # arrived during a transition
        self._inbox: deque[Event | matchers.Tick | matchers.Manual] = deque()
        self._busy = False  # a transition is running
        self._firing: Transition | None = None  # the transition being fired
        self._target: str | None = None  # where the firing transition goes (goto or resumed)
        self.hierarchy = Hierarchy(self)
        self._nested = self.hierarchy.nested
        self._candidates = self.hierarchy.candidates  # the same dict: read on every event
        self.timers = Timers(self)
        self._timers = self.timers.leaf  # the same list: cancelled on every exit
        self.hooks = HookRunner(
            clock, os.path.dirname(os.path.abspath(scenario.path)), self._hook_done
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
        if kind == "replica.started_speaking":
            self.replica_speaking = True
            self.pending_speech = max(0, self.pending_speech - 1)
        elif kind == "replica.stopped_speaking":
            self.replica_speaking = False
        if self.timers.final_wait is not None:
            self.timers.check_final()
            return
        self._feed(event)

    def fire(self, name: str) -> str | None:
        """An operator fires `manual: name` (a key, the control interface, a rehearsal's
        `operator:` rule). The first transition of the current state (`any:` first) with that
        manual name whose `when` holds fires; returns its id, or None when none could (not in
        this state, a guard said no, the run has not started or is over, or the fire was queued
        behind a running transition). Recorded as an `operator` trace record either way, so a
        replay fires it again at the same moment."""
        if self.result is not None or self.timers.final_wait is not None:
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
            if self.result is None and self.timers.final_wait is not None:
                self.timers.check_final()  # the final state waited for this hook

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
            hierarchy = self.hierarchy
            owner = hierarchy.owner.get(item.transition_id)
            if owner is None:
                if item.epoch != self._epoch:
                    return None
            elif hierarchy.state_epoch.get(owner) != item.epoch:
                return None
            t = hierarchy.timer_by_id.get(item.transition_id)
            if t is None:
                return None
            return t if self._holds(t, self.event, NO_GROUPS) else None
        if isinstance(item, Pending):
            apply_hook_result(self, item)
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
        if state != INIT and self.timers.final_wait is None:
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
        self.timers.cancel_all()
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
            if (
                event_type == "conversation.respond"
                or props.get("modality") == "text"
                or props.get("done") is True
            ):
                self.pending_speech += 1
                self._speech_asked_at = self.clock.now()
        elif event_type == "conversation.interrupt":
            self.pending_speech = 0
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
            self.hierarchy.enter_outer(name)
        self._epoch += 1
        visits = self.visits[name] = self.visits.get(name, 0) + 1
        self.path.append(name)
        self.trace.emit_data(
            "state", {"state": name, "from": self._prev_state, "via": self._via, "visits": visits}
        )
        state = self.scenario.states[name]
        self.timers.arm(name)
        if state.enter:
            self.actions.run(state.enter, name)
        if state.final and not self.done:
            self.timers.enter_final()

    def _on_exit(self, ed: Any) -> None:
        name = self.model.state
        timers = self._timers
        if timers:
            for handle in timers:
                handle.cancel()
            timers.clear()
        actions = self.scenario.states[name].exit
        if actions:
            self.actions.run(actions, name)
        if self._nested:
            self.hierarchy.exit_outer(name)
