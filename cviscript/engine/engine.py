"""The scenario engine: a `transitions` machine per conversation.

How the scenario maps onto `transitions`:

* every scenario state is a machine state; a pseudo-state ``__init__`` lets the initial state's
  `enter` actions run through the same `on_enter` path as every other entry;
* every scenario transition becomes one transition of the single trigger ``dispatch``, added per
  source state in contract order (`any:` first, then the state's own `on:`). `transitions` tries a
  trigger's transitions in the order they were added and stops at the first whose conditions hold,
  which is exactly "the first whose trigger matches and whose `when` holds fires; the others are not
  evaluated". A transition without `goto` is an internal transition (no exit, no re-entry); a
  `goto` to the same state is an external self-transition (exit, then enter again);
* the machine is `queued`: an event that arrives while a transition is running (from an action's
  send, a timer, the simulated replica) waits until the transition finished, so a timer and an event
  can never interleave mid-transition. No auto transitions.

Timers (`after:`) are not `transitions`' thread-based Timeout: the engine schedules them on its
clock when a state is entered and cancels them on exit; an expired timer dispatches a `Tick` that
only its own transition matches. The same code therefore runs on wall time live and on virtual
time in rehearsal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from transitions import Machine

from ..clock import Clock
from ..errors import CviscriptError, TemplateRenderError
from ..model import AfterTrigger, Scenario, Transition
from ..protocol import Event, Interactions, check_size
from ..trace import Trace
from . import matchers
from .actions import ActionRunner, EndRun
from .context import template_context

log = logging.getLogger("cviscript.engine")

INIT = "__init__"


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
    """The object `transitions` drives; it only carries the state attribute and the trigger."""

    state: str


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
        self._send = send
        self._done_callbacks: list[Callable[[RunResult], None]] = []
        self._timers: list[Any] = []
        self._epoch = 0  # bumped on every state entry; stale ticks are ignored
        self._deadline: Any = None
        self._final_wait: Any = None
        self._fired: Transition | None = None
        self._prev_state: str | None = None
        self._via = "initial"
        self.actions = ActionRunner(self, interactions)
        self.model = _Model()
        self.machine = self._build_machine()
        # a scenario without any transition has no `dispatch` trigger: events then change nothing
        self._dispatch = getattr(self.model, "dispatch", lambda _event: None)

    # ------------------------------------------------------------------------------ construction

    def _build_machine(self) -> Machine:
        sc = self.scenario
        states = [{"name": INIT}] + [
            {"name": name, "on_enter": self._on_enter, "on_exit": self._on_exit}
            for name in sc.states
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
        machine.add_transition("start", INIT, sc.initial, before=self._note_start)
        for name, state in sc.states.items():
            for t in (*sc.any, *state.on):
                machine.add_transition(
                    "dispatch",
                    source=name,
                    dest=t.goto,  # None: internal transition
                    conditions=[partial(self._condition, t)],
                    before=partial(self._before, t),
                )
        return machine

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

    def start(self) -> None:
        self._deadline = self.clock.call_later(self.scenario.timeout, self._on_deadline)
        self._guarded(self.model.start)

    def handle(self, event: Event) -> None:
        """Feed one normalised event."""
        if self.done:
            return
        if event.type == "replica.started_speaking":
            self.replica_speaking = True
            self.pending_speech = max(0, self.pending_speech - 1)
        elif event.type == "replica.stopped_speaking":
            self.replica_speaking = False
        if self._final_wait is not None:
            self._check_final()
            return
        self._fired = None
        self._guarded(self._dispatch, event)
        if self._fired is None and event.type == "shutdown" and not self.done:
            reason = event.text or event.properties.get("shutdown_reason") or "no reason given"
            self.finish("failed", f"the conversation was shut down by the server: {reason}")

    def finish(self, outcome: str, reason: str) -> None:
        if self.done:
            return
        for handle in (*self._timers, self._deadline, self._final_wait):
            if handle is not None:
                handle.cancel()
        self._timers.clear()
        self.actions.stop()
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
        check_size(message)
        self.trace.emit("sent", message=message)
        self.sent.append(event_type)
        if event_type in ("conversation.echo", "conversation.respond"):
            props = message.get("properties") or {}
            if (
                event_type == "conversation.respond"
                or props.get("modality") == "text"
                or props.get("done") is True
            ):
                self.pending_speech += 1
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

    def _condition(self, t: Transition, ed: Any) -> bool:
        if self.done:
            return False
        event = ed.args[0]
        if isinstance(event, matchers.Tick):
            if event.transition_id != t.id or event.epoch != self._epoch:
                return False
            groups: dict[str, Any] | None = matchers._NO_GROUPS
        elif isinstance(t.trigger, AfterTrigger):
            return False
        else:
            groups = matchers.match(t.trigger, event)
            if groups is None:
                return False
        if t.when is not None:
            from ..templates import evaluate

            ctx = template_context(self, event if isinstance(event, Event) else self.event, groups)
            if not evaluate(t.when, ctx, self.state):
                return False
        self.groups = groups
        if isinstance(event, Event):
            self.event = event
        return True

    def _before(self, t: Transition, ed: Any) -> None:
        self._fired = t
        self._prev_state = self.state
        self._via = t.id
        self.trace.emit(
            "transition", id=t.id, **{"from": self.state}, to=t.goto, trigger=describe_trigger(t)
        )
        self.actions.run(t.do, self.state)

    def _on_enter(self, ed: Any) -> None:
        name = self.model.state
        self._epoch += 1
        self.visits[name] = self.visits.get(name, 0) + 1
        self.path.append(name)
        self.trace.emit(
            "state",
            state=name,
            **{"from": self._prev_state},
            via=self._via,
            visits=self.visits[name],
        )
        state = self.scenario.states[name]
        self._arm_timers(name)
        self.actions.run(state.enter, name)
        if state.final and not self.done:
            self._final_wait = self.clock.call_later(self.scenario.final_wait, self._final_timeout)
            self._check_final()

    def _on_exit(self, ed: Any) -> None:
        name = self.model.state
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self.actions.run(self.scenario.states[name].exit, name)

    # ------------------------------------------------------------------------------------ timers

    def _arm_timers(self, name: str) -> None:
        epoch = self._epoch
        for t in (*self.scenario.any, *self.scenario.states[name].on):
            if isinstance(t.trigger, AfterTrigger):
                tick = matchers.Tick(t.id, epoch)
                self._timers.append(self.clock.call_later(t.trigger.seconds, self._on_tick, tick))

    def _on_tick(self, tick: matchers.Tick) -> None:
        if self.done or tick.epoch != self._epoch or self._final_wait is not None:
            return
        self._guarded(self._dispatch, tick)

    def _on_deadline(self) -> None:
        self.finish("timed_out", f"the run reached its timeout of {_fmt(self.scenario.timeout)}")

    def _check_final(self) -> None:
        if self.done:
            return
        if not self.replica_speaking and self.pending_speech == 0:
            self.finish("completed", f"reached final state {self.state!r}")

    def _final_timeout(self) -> None:
        self.finish(
            "completed",
            f"reached final state {self.state!r} (stopped waiting for the replica to finish "
            f"speaking after {_fmt(self.scenario.final_wait)})",
        )


def describe_trigger(t: Transition) -> str:
    """A short human description of a transition's trigger, for transcripts and diagrams."""
    from ..model import EventTrigger, PerceptionTrigger, ToolCallTrigger, UtteranceTrigger

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
        text = f"tool_call {trig.name}"
    elif isinstance(trig, PerceptionTrigger):
        text = "perception" + (f" /{trig.match.pattern}/" if trig.match else "")
    elif isinstance(trig, AfterTrigger):
        text = f"after {_fmt(trig.seconds)}"
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
