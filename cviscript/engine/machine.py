"""How a scenario becomes a `transitions` machine.

* every scenario state is a machine state; a pseudo-state ``__init__`` lets the initial state's
  `enter` actions run through the same `on_enter` path as every other entry;
* every scenario transition becomes a trigger of its own, named by its id (``ask.on[1]``,
  ``any[0]``), added from its source state (an `any:` transition from every state). A transition
  without `goto` is an internal transition (no exit, no re-entry); a `goto` to the same state is an
  external self-transition (exit, then enter again). `transitions` runs the exit, `do` (`before`)
  and enter callbacks and keeps the state;
* the machine is `queued`, sends event data, ignores triggers invalid in the current state and
  has no auto transitions: the engine decides which trigger to pull (see engine.py).

With compound states only the leaves are machine states, named by their dotted names
(``tour.scale``): a compound state's transition is added from every leaf inside it and lands in
its target's entry leaf; a `resume: X` transition is added once per leaf it can land in, as
``ID>LEAF`` (see hierarchy.py for the enter/exit chains and the history). A `resume:` to a state
with no states inside it is a plain `goto` to it (``ID>STATE``), nested or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transitions import Machine

from ..language.model import Scenario

INIT = "__init__"


class Model:
    """The object `transitions` drives: it only carries the state.

    `transitions` also hangs convenience methods on its models (`is_<state>`, a `<trigger>` and a
    `may_<trigger>` per trigger): the engine fires triggers through the machine and needs none of
    them, and with a thousand conversations in one process they were a tenth of each one's
    memory, so they are dropped on assignment while the machine is built (`_NewModel`).
    """

    __slots__ = ("state",)


class _NewModel(Model):
    """A `Model` while `transitions` decorates it: every attribute but `state` is dropped. Once
    the machine is built the model becomes a plain `Model` (same layout), so the state
    assignment of every transition is a slot store, not a call of this `__setattr__`."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "state":
            object.__setattr__(self, name, value)


Callback = Callable[[Any], None]


def build_machine(
    scenario: Scenario,
    nested: bool,
    enter: Callback,
    exit_: Callback,
    before: Callback,
    note_start: Callback,
) -> tuple[Machine, Model]:
    """The machine and the model it drives, in `INIT`. `enter`/`exit_` are every state's entry
    and exit callbacks, `before` every scenario transition's, `note_start` the start trigger's.
    Each is one bound method shared by every state and transition (each `self._x` access makes
    a new bound-method object)."""
    sc = scenario
    model: Model = _NewModel()
    leaves = sc.leaves() if nested else list(sc.states)
    states = [{"name": INIT}] + [
        {"name": name, "on_enter": enter, "on_exit": exit_} for name in leaves
    ]
    machine = Machine(
        model=model,
        states=states,
        initial=INIT,
        auto_transitions=False,
        queued=True,
        send_event=True,
        ignore_invalid_triggers=True,
    )
    if not nested:
        machine.add_transition("start", INIT, sc.initial, before=note_start)
        for owner, transitions in ((None, sc.any), *((n, st.on) for n, st in sc.states.items())):
            source = leaves if owner is None else owner
            for t in transitions:
                if t.resume is not None:  # no compound state to resume: a plain goto
                    machine.add_transition(f"{t.id}>{t.resume}", source, t.resume, before=before)
                else:  # dest None: an internal transition
                    machine.add_transition(t.id, source=source, dest=t.goto, before=before)
    else:
        machine.add_transition("start", INIT, sc.entry_leaf(sc.initial), before=note_start)
        under: dict[str, list[str]] = {name: [] for name in sc.states}
        for leaf in leaves:
            under[leaf].append(leaf)
            for outer in sc.ancestors(leaf):
                under[outer].append(leaf)
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
    model.__class__ = Model
    return machine, model
