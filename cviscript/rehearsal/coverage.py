"""Rehearsal coverage: which states and transitions of each scenario the rehearsals exercised.

A green suite says little if the rehearsals never take the `after: 45s` branch or never reach the
`no_answers` state. Coverage is measured from what the runs recorded — their `state` records
(states entered) and `transition` records (transition ids taken, ``"ask.on[2]"``, ``"any[0]"``) —
kept in every `CaseRun` as `path` and `transitions`, against every state and transition the
scenario declares. A transition counts once for the scenario however many source states it
applies to (an `any:` transition is one id).

The percentage of a scenario is (states entered + transitions taken) / (states + transitions); the
total is the same ratio over every scenario, so a big scenario weighs more than a small one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..engine.describe import describe_trigger
from ..language.model import Scenario
from .results import CaseResult


@dataclass(slots=True)
class TransitionInfo:
    id: str
    source: str  # "any" or the state it belongs to
    target: str | None
    trigger: str  # short description
    line: int | None
    fragment: str | None = None  # the included fragment it is written in (None: the scenario)


@dataclass(slots=True)
class ScenarioCoverage:
    file: str
    scenario: str
    states: list[str]
    transitions: list[TransitionInfo]
    entered: set[str] = field(default_factory=set)
    taken: set[str] = field(default_factory=set)
    cases: int = 0
    fragments: dict[str, str] = field(default_factory=dict)  # state -> included fragment file

    @property
    def states_missed(self) -> list[str]:
        return [s for s in self.states if s not in self.entered]

    @property
    def transitions_missed(self) -> list[TransitionInfo]:
        return [t for t in self.transitions if t.id not in self.taken]

    @property
    def covered(self) -> int:
        return (
            len(self.states)
            - len(self.states_missed)
            + len(self.transitions)
            - len(self.transitions_missed)
        )

    @property
    def total(self) -> int:
        return len(self.states) + len(self.transitions)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "scenario": self.scenario,
            "cases": self.cases,
            "percent": round(self.percent, 2),
            "states": {
                "total": len(self.states),
                "entered": [s for s in self.states if s in self.entered],
                "missed": self.states_missed,
            },
            "transitions": {
                "total": len(self.transitions),
                "taken": [t.id for t in self.transitions if t.id in self.taken],
                "missed": [
                    {"id": t.id, "to": t.target, "trigger": t.trigger, "line": t.line}
                    | ({"fragment": t.fragment} if t.fragment else {})  # the line is in it
                    for t in self.transitions_missed
                ],
            },
        }


@dataclass(slots=True)
class Coverage:
    scenarios: list[ScenarioCoverage] = field(default_factory=list)

    @property
    def percent(self) -> float:
        total = sum(s.total for s in self.scenarios)
        return 100.0 * sum(s.covered for s in self.scenarios) / total if total else 100.0

    def to_json(self) -> dict[str, Any]:
        return {
            "percent": round(self.percent, 2),
            "scenarios": [s.to_json() for s in self.scenarios],
        }


def for_scenario(file: str, scenario: Scenario) -> ScenarioCoverage:
    """An empty coverage record listing everything `scenario` declares."""
    transitions = []
    for t in scenario.any:
        transitions.append(_info(t, "any", scenario.path))
    for state in scenario.states.values():
        for t in state.on:
            transitions.append(_info(t, state.name, scenario.path))
    # the states a run can be in: a compound state is covered through the states inside it
    fragments = {
        name: st.loc.file
        for name, st in scenario.states.items()
        if st.loc and st.loc.file and st.loc.file != scenario.path
    }
    return ScenarioCoverage(
        file, scenario.name, scenario.leaves(), transitions, fragments=fragments
    )


def _info(t: Any, source: str, path: str) -> TransitionInfo:
    target = t.goto if t.resume is None else t.resume
    line = t.loc.line if t.loc else None
    fragment = t.loc.file if t.loc and t.loc.file and t.loc.file != path else None
    return TransitionInfo(t.id, source, target, describe_trigger(t), line, fragment)


def measure(scenarios: dict[str, Scenario], cases: Iterable[CaseResult]) -> Coverage:
    """Coverage of each scenario (file -> Scenario, in report order) by the runs of `cases`."""
    by_file = {file: for_scenario(file, sc) for file, sc in scenarios.items()}
    for case in cases:
        cov = by_file.get(case.file)
        if cov is None:
            continue
        cov.cases += 1
        for run in case.runs:
            cov.entered.update(run.path)
            cov.taken.update(run.transitions)
    return Coverage(list(by_file.values()))


def format_coverage(coverage: Coverage) -> list[str]:
    """The plain-text coverage report: one block per scenario, then the total."""
    lines = ["coverage:"]
    for s in coverage.scenarios:
        n_states = len(s.states) - len(s.states_missed)
        n_trans = len(s.transitions) - len(s.transitions_missed)
        lines.append(
            f"  {s.file} ({s.scenario}): states {n_states}/{len(s.states)}, "
            f"transitions {n_trans}/{len(s.transitions)}, {s.percent:.0f}%"
        )
        if s.states_missed:
            missed = [
                f"{name} (from {s.fragments[name]})" if name in s.fragments else name
                for name in s.states_missed
            ]
            lines.append("    states never entered: " + ", ".join(missed))
        if s.transitions_missed:
            lines.append("    transitions never taken:")
            for t in s.transitions_missed:
                where = f" (line {t.line})" if t.line else ""
                if t.fragment:  # written in an included fragment: name it, and the scenario
                    where = f" ({t.fragment}:{t.line}, included by {s.file})"
                target = f" → {t.target}" if t.target else " (stays)"
                lines.append(f"      {t.id}: {t.trigger}{target}{where}")
    lines.append(f"  total: {coverage.percent:.1f}%")
    return lines
