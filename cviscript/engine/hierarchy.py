"""Compound states: which transitions a leaf sees, what a transition exits and enters, history.

A compound state (a state with `states:` and `initial:`) is the set of leaves under it; only the
leaves are machine states (machine.py). The candidates of a leaf are `any:`, then each enclosing
state's `on:` from the outermost inwards, then its own. A `goto` lands in the target's entry leaf
(initial children, down); the `enter`/`exit` actions of the compound states crossed run from the
leaf callbacks: exits innermost first up to (not including) the deepest state enclosing both ends,
then enters outermost first — a `goto` to a state enclosing the source exits and re-enters it, as
a self-transition does. The last child entered of every compound state is remembered; `resume: X`
is a `goto` to it (X's initial child the first time).

Why not `transitions`' HierarchicalMachine: it has no history, tries a child's triggers before its
parent's (cviscript checks outside first) and costs more per trigger; the engine picks the
transition itself anyway, so nesting is only the enter/exit chain, worked out once per pair.

The tables here (candidates, timers, chains) are built per state when first needed; a flat
scenario uses only the candidate and timer tables.
"""

from __future__ import annotations

from typing import Any

from ..language.model import Scenario, Transition
from ..language.triggers import kind_of


class Hierarchy:
    """The compound-state structure of one scenario (tables built once per state, when first
    needed) and the one piece of run state it keeps: each compound state's history. It knows
    nothing of the engine: the engine asks which compound states a transition exits and enters
    and does the rest (timers, visits, actions)."""

    def __init__(self, scenario: Scenario):
        sc = self.scenario = scenario
        self.nested = any(st.children for st in sc.states.values())
        self.owner: dict[str, str] = {}  # transition id -> its compound state (nested only)
        if self.nested:
            for name, state in sc.states.items():
                if state.children:
                    for t in state.on:
                        self.owner[t.id] = name
        self.history: dict[str, str] = {}  # compound state -> the child last entered
        self.candidates: dict[str, tuple[tuple[Transition, Any, Any], ...]] = {}
        self.timed: dict[str, tuple[Transition, ...]] = {}  # state -> its `after:` transitions
        self.timer_by_id: dict[str, Transition] = {}
        self._chains: dict[tuple[str | None, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}

    # ------------------------------------------------------------------------------------ tables
    def candidates_of(self, state: str) -> tuple[tuple[Transition, Any, Any], ...]:
        """The transitions an event can fire in `state`, in contract order
        (`Scenario.chain`), each with its kind's `match` and, for a kind that changes what
        templates see of the event, its `view` (else None); listed once per state."""
        found = self.candidates.get(state)
        if found is None:
            kinds = [(t, kind_of(t.trigger)) for t in self.scenario.chain(state)]
            found = tuple(
                (t, kind.match, kind.view if kind.adapts else None)
                for t, kind in kinds
                if kind.matches_events
            )
            self.candidates[state] = found
        return found

    def timed_of(self, state: str) -> tuple[Transition, ...]:
        """The `after:` transitions armed when `state` is entered (`Scenario.timer_scope`)."""
        found = self.timed.get(state)
        if found is None:
            found = tuple(self.scenario.timer_scope(state))
            self.timed[state] = found
            for t in found:
                self.timer_by_id[t.id] = t
        return found

    def chain(self, source: str | None, target: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
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

    # ---------------------------------------------------------------------------- while running

    def resume_target(self, t: Transition) -> str:
        """Where `resume: X` goes: X's child last entered (its initial child the first time)."""
        assert t.resume is not None
        target = self.scenario.states[t.resume]
        child = self.history.get(t.resume) or target.initial if target.children else None
        return child or t.resume

    def exits(self, leaf: str, target: str) -> tuple[str, ...]:
        """The compound states a transition from `leaf` to `target` leaves, innermost first."""
        return self.chain(leaf, target)[0]

    def enter(self, source: str | None, target: str, leaf: str) -> tuple[str, ...]:
        """The compound states a transition from `source` to `target` (landing in `leaf`)
        enters, outermost first; each one's child entered is remembered for `resume:`."""
        entered = self.chain(source, target)[1]
        states = self.scenario.states
        history = self.history
        for name in entered:
            parent = states[name].parent
            if parent is not None:
                history[parent] = name
        parent = states[leaf].parent
        if parent is not None:
            history[parent] = leaf
        return entered
