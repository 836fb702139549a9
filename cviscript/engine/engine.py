"""The scenario engine: a `transitions` machine per conversation.

How the scenario maps onto `transitions`:

* every scenario state is a machine state; a pseudo-state ``__init__`` lets the initial state's
  `enter` actions run through the same `on_enter` path as every other entry;
* every scenario transition becomes a trigger of its own, named by its id (``ask.on[1]``,
  ``any[0]``), added from its source state (an `any:` transition from every state). A transition
  without `goto` is an internal transition (no exit, no re-entry); a `goto` to the same state is an
  external self-transition (exit, then enter again). `transitions` runs the exit, `do` (`before`)
  and enter callbacks and keeps the state;
* which transition fires is decided by the engine, before it pulls that trigger: it checks the
  current state's transitions in contract order (`any:` first, then the state's own `on:`) and
  fires the first whose trigger matches and whose `when` holds; the others are not evaluated.
  (Letting `transitions` try every transition's conditions in turn cost more than a bare trigger
  per transition tried: see bench/.) The candidates of a state are listed once, when first needed;
* events are queued: one that arrives while a transition is running (from an action's send, the
  simulated replica) waits until that transition finished and is then matched in the state it
  left, so a timer and an event can never interleave mid-transition. The machine is configured
  `queued` too. No auto transitions.

Compound states (a state with `states:` and `initial:`) stay a flat `transitions` machine: only
the leaves are machine states, named by their dotted names (``tour.scale``); a compound state is
the set of leaves under it. A compound state's transition is added from every leaf inside it, and
the candidates of a leaf are `any:`, then each enclosing state's `on:` from the outermost
inwards, then its own. A `goto` lands in the target's entry leaf (initial children, down); the
`enter`/`exit` actions of the compound states crossed run from the leaf callbacks: exits innermost
first up to (not including) the deepest state enclosing both ends, then enters outermost first —
a `goto` to a state enclosing the source exits and re-enters it, as a self-transition does. The
last child entered of every compound state is remembered; `resume: X` is a `goto` to it (X's
initial child the first time), added as one trigger per possible leaf (``ID>LEAF``). Why not
`transitions`' HierarchicalMachine: it has no history, tries a child's triggers before its
parent's (cviscript checks outside first) and costs more per trigger; the engine picks the
transition itself anyway, so nesting is only the enter/exit chain, worked out once per pair.

Timers (`after:`) are not `transitions`' thread-based Timeout: the engine schedules them on its
clock when a state is entered and cancels them on exit; an expired timer sends a `Tick` that only
its own transition matches, and only in the state entry (`epoch`) that armed it. The same code
therefore runs on wall time live and on virtual time in rehearsal.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine

from ..clock import Clock
from ..errors import CviscriptError, TemplateRenderError
from ..language.durations import parse_duration
from ..language.model import AfterTrigger, ManualTrigger, Scenario, Transition
from ..language.templates import evaluate, render
from ..protocol import Event, Interactions
from ..trace import Trace
from . import matchers
from .actions import ActionRunner, EndRun
from .context import event_view
from .hooks import HookRunner, Pending, failure

log = logging.getLogger("cviscript.engine")

INIT = "__init__"
# More `after:` timers firing than this within one second of the run's clock is a loop, not a
# conversation (typically `after: 0s` back into the same state): on a virtual clock time would
# never pass again, and live it would flood the call with the state's `enter` actions. The run
# ends as an error. (Entries caused by events need the room to send them, so they are not counted.)
MAX_TICKS_PER_SECOND = 1000
# A final state waits for speech it asked for only this long to *start* (a text echo starts in
# well under a second, an LLM reply to `respond` in a few): a persona or LLM that never answers
# must not hold the run for the whole `final_wait`, which bounds speech that did start.
REPLY_GRACE = 5.0


@dataclass(slots=True)
class RunResult:
    outcome: str  # completed | failed | timed_out | error
    reason: str
    state: str | None  # the state the run ended in
    path: list[str]  # states entered, in order
    vars: dict[str, Any]
    duration: float  # seconds on the run's clock
    sent: list[str] = field(default_factory=list)  # event types sent, in order

    @property
    def ok(self) -> bool:
        return self.outcome == "completed"


class _Model:
    """The object `transitions` drives: it only carries the state.

    `transitions` also hangs convenience methods on its models (`is_<state>`, a `<trigger>` and a
    `may_<trigger>` per trigger): the engine fires triggers through the machine and needs none of
    them, and with a thousand conversations in one process they were a tenth of each one's
    memory, so they are dropped on assignment while the machine is built (`_NewModel`).
    """

    __slots__ = ("state",)


class _NewModel(_Model):
    """A `_Model` while `transitions` decorates it: every attribute but `state` is dropped. Once
    the machine is built the model becomes a plain `_Model` (same layout), so the state
    assignment of every transition is a slot store, not a call of this `__setattr__`."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "state":
            object.__setattr__(self, name, value)


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
        self._speech_asked_at = 0.0  # clock time of the last speech request
        self._grace: Any = None  # final state: waits for requested speech to start
        self._send = send
        self._done_callbacks: list[Callable[[RunResult], None]] = []
        self._timers: list[Any] = []
        self._epoch = 0  # bumped on every state entry; stale ticks are ignored
        self._deadline: Any = None
        self._final_wait: Any = None
        self._prev_state: str | None = None
        self._via = "initial"
        self._ctx: tuple[Any, ...] | None = None  # (event, groups, its template view)
        self._described: dict[str, str] = {}  # transition id -> describe_trigger(), when fired
        self._candidates: dict[str, tuple[tuple[Transition, Any], ...]] = {}  # see _candidates_of
        self._timed: dict[str, tuple[Transition, ...]] = {}  # state -> its `after:` transitions
        # arrived during a transition
        self._inbox: deque[Event | matchers.Tick | matchers.Manual] = deque()
        self._busy = False  # a transition is running
        self._firing: Transition | None = None  # the transition being fired
        self._window_start = float("-inf")  # loop guard: timer firings within a second
        self._window_ticks = 0
        sc = scenario
        self._nested = any(st.children for st in sc.states.values())
        self._owner: dict[str, str] = {}  # transition id -> its compound state (nested only)
        self._outer_timers: dict[str, list[Any]] = {}  # compound state -> its armed timers
        self._state_epoch: dict[str, int] = {}  # compound state -> epoch of its entry
        self._history: dict[str, str] = {}  # compound state -> the child last entered
        self._chains: dict[tuple[str | None, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._target: str | None = None  # where the firing transition goes (goto or resumed)
        self._timer_by_id: dict[str, Transition] = {}
        self.hooks = HookRunner(clock, os.path.dirname(os.path.abspath(sc.path)), self._hook_done)
        self.actions = ActionRunner(self, interactions)
        self.model: _Model = _NewModel()
        self.machine = self._build_machine()
        self.model.__class__ = _Model

    # ------------------------------------------------------------------------------ construction

    def _build_machine(self) -> Machine:
        sc = self.scenario
        # One bound method each, shared by every state and transition (each `self._x` access
        # makes a new bound-method object); `_before` finds the transition in `self._firing`.
        enter, exit_, before = self._on_enter, self._on_exit, self._before
        leaves = sc.leaves() if self._nested else list(sc.states)
        states = [{"name": INIT}] + [
            {"name": name, "on_enter": enter, "on_exit": exit_} for name in leaves
        ]
        machine = Machine(
            model=self.model,
            states=states,
            initial=INIT,
            auto_transitions=False,
            queued=True,
            send_event=True,
            ignore_invalid_triggers=True,
        )
        if not self._nested:
            machine.add_transition("start", INIT, sc.initial, before=self._note_start)
            for t in sc.any:
                machine.add_transition(t.id, source=leaves, dest=t.goto, before=before)
            for name, state in sc.states.items():
                for t in state.on:  # dest None: an internal transition
                    machine.add_transition(t.id, source=name, dest=t.goto, before=before)
            return machine
        machine.add_transition("start", INIT, sc.entry_leaf(sc.initial), before=self._note_start)
        under: dict[str, list[str]] = {name: [] for name in sc.states}
        for leaf in leaves:
            under[leaf].append(leaf)
            for outer in sc.ancestors(leaf):
                under[outer].append(leaf)
        for name, state in sc.states.items():
            if state.children:
                for t in state.on:
                    self._owner[t.id] = name
        for owner, transitions in ((None, sc.any), *((n, st.on) for n, st in sc.states.items())):
            source = leaves if owner is None else under[owner]
            for t in transitions:
                if t.resume is not None:
                    target = sc.states[t.resume]
                    for child in target.children or [t.resume]:
                        dest = sc.entry_leaf(child)
                        machine.add_transition(f"{t.id}>{dest}", source, dest, before=before)
                else:
                    dest = None if t.goto is None else sc.entry_leaf(t.goto)
                    machine.add_transition(t.id, source=source, dest=dest, before=before)
        return machine

    def _chain_of(self, state: str) -> tuple[Transition, ...]:
        """`any:`, then each enclosing state's `on:` outermost first, then the state's own."""
        sc = self.scenario
        if not self._nested:
            return (*sc.any, *sc.states[state].on)
        outer = [t for name in sc.ancestors(state) for t in sc.states[name].on]
        return (*sc.any, *outer, *sc.states[state].on)

    def _candidates_of(self, state: str) -> tuple[tuple[Transition, Any], ...]:
        """The transitions an event can fire in `state`, in contract order, each with the
        function that matches its trigger (listed once per state, when first needed)."""
        found = self._candidates.get(state)
        if found is None:
            found = tuple(
                (t, matchers.matcher_for(t.trigger))
                for t in self._chain_of(state)
                if not isinstance(t.trigger, AfterTrigger | ManualTrigger)
            )
            self._candidates[state] = found
        return found

    def _timed_of(self, state: str) -> tuple[Transition, ...]:
        """The `after:` transitions armed when `state` is entered, in contract order: `any:`'s
        and its own (a compound state's own are armed when it is entered, not per child)."""
        found = self._timed.get(state)
        if found is None:
            st = self.scenario.states[state]
            found = tuple(
                t
                for t in ((*st.on,) if st.children else (*self.scenario.any, *st.on))
                if isinstance(t.trigger, AfterTrigger)
            )
            self._timed[state] = found
            for t in found:
                self._timer_by_id[t.id] = t
        return found

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
        self._deadline = self.clock.call_later(self.scenario.timeout, self._on_deadline)
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
        if self._final_wait is not None:
            self._check_final()
            return
        self._feed(event)

    def fire(self, name: str) -> str | None:
        """An operator fires `manual: name` (a key, the control interface, a rehearsal's
        `operator:` rule). The first transition of the current state (`any:` first) with that
        manual name whose `when` holds fires; returns its id, or None when none could (not in
        this state, a guard said no, the run has not started or is over, or the fire was queued
        behind a running transition). Recorded as an `operator` trace record either way, so a
        replay fires it again at the same moment."""
        if self.result is not None or self._final_wait is not None:
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
        for t in self._chain_of(state):
            if isinstance(t.trigger, ManualTrigger) and t.trigger.name not in names:
                names.append(t.trigger.name)
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
            owner = self._owner.get(item.transition_id)
            if owner is None:
                if item.epoch != self._epoch:
                    return None
            elif self._state_epoch.get(owner) != item.epoch:
                return None
            t = self._timer_by_id.get(item.transition_id)
            if t is None:
                return None
            return t if self._holds(t, self.event, matchers._NO_GROUPS) else None
        if isinstance(item, Pending):
            self._hook_result(item)
            return None
        candidates = self._candidates.get(state)
        if candidates is None:
            candidates = self._candidates_of(state)
        for t, match in candidates:
            groups = match(t.trigger, item)
            if groups is not None and self._holds(t, item, groups):
                self.event = item
                return t
        return None

    def _select_manual(self, item: matchers.Manual, state: str) -> Transition | None:
        found = None
        if state != INIT and self._final_wait is None:
            for t in self._chain_of(state):
                trigger = t.trigger
                if (
                    isinstance(trigger, ManualTrigger)
                    and trigger.name == item.name
                    and self._holds(t, self.event, matchers._NO_GROUPS)
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
            target = self.scenario.states[t.resume]
            child = self._history.get(t.resume) or target.initial if target.children else None
            self._target = child or t.resume
            dest = self.scenario.entry_leaf(self._target)
            self.machine.events[f"{t.id}>{dest}"].trigger(self.model)
            return
        self._target = t.goto
        self.machine.events[t.id].trigger(self.model)

    def finish(self, outcome: str, reason: str) -> None:
        if self.done:
            return
        for handle in (*self._timers, self._deadline, self._final_wait, self._grace):
            if handle is not None:
                handle.cancel()
        self._timers.clear()
        for handles in self._outer_timers.values():
            for handle in handles:
                handle.cancel()
        self._outer_timers.clear()
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
            vars=_jsonable(self.vars),
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
            self._enter_outer(name)
        self._epoch += 1
        visits = self.visits[name] = self.visits.get(name, 0) + 1
        self.path.append(name)
        self.trace.emit_data(
            "state", {"state": name, "from": self._prev_state, "via": self._via, "visits": visits}
        )
        state = self.scenario.states[name]
        self._arm_timers(name)
        if state.enter:
            self.actions.run(state.enter, name)
        if state.final and not self.done:
            self._final_wait = self.clock.call_later(self.scenario.final_wait, self._final_timeout)
            self._check_final()

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
            self._exit_outer(name)

    # --------------------------------------------------------------------------- compound states

    def _chain(self, source: str | None, target: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The compound states a transition from leaf `source` to `target` exits (innermost
        first) and enters (outermost first, down to the entry leaf's parent)."""
        key = (source, target)
        found = self._chains.get(key)
        if found is None:
            sc = self.scenario
            dest = sc.entry_leaf(target)
            src_chain = [] if source is None else [*sc.ancestors(source), source]
            tgt_chain = [*sc.ancestors(target), target]
            k = 0
            while k < min(len(src_chain), len(tgt_chain)) and src_chain[k] == tgt_chain[k]:
                k += 1
            if k == len(tgt_chain):  # the target encloses (or is) the source: exit it, re-enter
                k -= 1
            dest_chain = [*sc.ancestors(dest), dest]
            found = (tuple(reversed(src_chain[k:-1])), tuple(dest_chain[k:-1]))
            self._chains[key] = found
        return found

    def _exit_outer(self, leaf: str) -> None:
        target = self._target
        if target is None:  # pragma: no cover - an internal transition exits nothing
            return
        for name in self._chain(leaf, target)[0]:
            for handle in self._outer_timers.pop(name, ()):
                handle.cancel()
            actions = self.scenario.states[name].exit
            if actions:
                self.actions.run(actions, name)

    def _enter_outer(self, leaf: str) -> None:
        sc = self.scenario
        source = self._prev_state
        target = self._target or sc.initial
        for name in self._chain(source, target)[1]:
            parent = sc.states[name].parent
            if parent is not None:
                self._history[parent] = name
            self._epoch += 1
            self._state_epoch[name] = self._epoch
            self.visits[name] = self.visits.get(name, 0) + 1
            self._arm_timers(name, self._outer_timers.setdefault(name, []))
            actions = sc.states[name].enter
            if actions:
                self.actions.run(actions, name)
        parent = sc.states[leaf].parent
        if parent is not None:
            self._history[parent] = leaf

    # ------------------------------------------------------------------------------------ hooks

    def _hook_done(self, call: Pending) -> None:
        """A hook's result (or failure) is in: handled like an event, between transitions."""
        if self.result is None:
            self._feed(call)

    def _hook_result(self, call: Pending) -> None:
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

    # ------------------------------------------------------------------------------------ timers

    def _arm_timers(self, name: str, into: list[Any] | None = None) -> None:
        timed = self._timed.get(name)
        if timed is None:
            timed = self._timed_of(name)
        epoch = self._epoch
        handles = self._timers if into is None else into
        for t in timed:
            trigger = t.trigger
            seconds = trigger.seconds if trigger.template is None else self._timer_seconds(t, name)
            # The `Tick` is made when the timer fires: most are cancelled first.
            handles.append(self.clock.call_later(seconds, self._on_tick, t.id, epoch))

    def _timer_seconds(self, t: Transition, state: str) -> float:
        """A template `after:` (``"{{ vars.wait }}"``), rendered as its state is entered."""
        template = t.trigger.template
        text = render(template, self.template_context(self.event, self.groups), state)
        try:
            return parse_duration(text.strip())
        except ValueError as e:
            raise CviscriptError(
                f"{template.loc}: after: '{template.source}' gives {text!r} in state {state!r}: {e}"
            ) from None

    def _on_tick(self, transition_id: str, epoch: int) -> None:
        if self.done or self._final_wait is not None:
            return
        owner = self._owner.get(transition_id)
        if epoch != (self._epoch if owner is None else self._state_epoch.get(owner)):
            return
        now = self.clock.now()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_ticks = now, 0
        self._window_ticks += 1
        if self._window_ticks > MAX_TICKS_PER_SECOND:
            self.finish(
                "error",
                f"`after:` timers fired more than {MAX_TICKS_PER_SECOND} times within a second "
                f"(in state {self.state!r}): the scenario loops without waiting (an `after` of "
                f"zero back into the same state?)",
            )
            return
        self._feed(matchers.Tick(transition_id, epoch))

    def _on_deadline(self) -> None:
        self.finish("timed_out", f"the run reached its timeout of {_fmt(self.scenario.timeout)}")

    def _check_final(self) -> None:
        """In a final state: end the run once the replica is silent and no speech it was asked
        for can still be expected to start (see `REPLY_GRACE`)."""
        if self.done or self.replica_speaking:
            return  # stopped_speaking calls again; `final_wait` bounds it
        if self.pending_speech == 0:
            self.finish("completed", f"reached final state {self.state!r}")
            return
        grace = min(REPLY_GRACE, self.scenario.final_wait)
        left = self._speech_asked_at + grace - self.clock.now()
        if left <= 1e-9:
            self.finish(
                "completed",
                f"reached final state {self.state!r} (the replica did not start speaking within "
                f"{_fmt(grace)} of the last echo/respond; not waiting for it)",
            )
        elif self._grace is None:
            self._grace = self.clock.call_later(left, self._grace_over)

    def _grace_over(self) -> None:
        self._grace = None
        self._check_final()

    def _final_timeout(self) -> None:
        self.finish(
            "completed",
            f"reached final state {self.state!r} (stopped waiting for the replica to finish "
            f"speaking after {_fmt(self.scenario.final_wait)})",
        )


def describe_trigger(t: Transition) -> str:
    """A short human description of a transition's trigger, for transcripts and diagrams."""
    from ..language.model import EventTrigger, PerceptionTrigger, ToolCallTrigger, UtteranceTrigger

    trig = t.trigger
    if isinstance(trig, UtteranceTrigger):
        parts = [f"{trig.role} says"]
        if trig.match is not None:
            parts.append(f"/{trig.match.pattern}/")
        if trig.contains:
            parts.append("~" + "|".join(trig.contains))
        if trig.equals is not None:
            parts.append(f'"{trig.equals}"')
        text = " ".join(parts)
    elif isinstance(trig, EventTrigger):
        text = trig.name + ("" if not trig.where else f" {trig.where}")
    elif isinstance(trig, ToolCallTrigger):
        args = ", ".join(f"{k}={v}" for k, v in trig.arguments.items())
        text = f"tool_call {trig.name}" + (f"({args})" if args else "")
    elif isinstance(trig, PerceptionTrigger):
        text = "perception" + (f" /{trig.match.pattern}/" if trig.match else "")
    elif isinstance(trig, ManualTrigger):
        text = f"manual {trig.name}"
    elif isinstance(trig, AfterTrigger):
        text = f"after {trig.template.source if trig.template else _fmt(trig.seconds)}"
    else:
        text = type(trig).__name__
    if t.when is not None:
        text += f" [when {t.when.source}]"
    return text


def _fmt(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if seconds < 1:
        return f"{int(round(seconds * 1000))}ms"
    return f"{seconds:g}s"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
