"""What a rehearsal produced: plain, picklable, JSON-able dataclasses.

Results cross process boundaries (`-j N` runs cases in worker processes) and end up in JSON, JUnit
and HTML reports, so they hold only plain values: no scenario objects, no live trace records. A
run's trace travels as its JSONL records (``TraceRecord.to_json()`` dicts), the same form as a
transcript file, and only when it was asked for.

The layers, as in pipecat-evals: `Failure` (one unmet expectation, with a *stable* `code` that
tools may match on), `CaseRun` (one run of one case with one seed), `CaseResult` (every run of one
case: with ``--repeat`` a case has a pass rate), `SuiteResult` (everything a command ran).

Failure codes (stable; tools match on them):

===================  ==========================================================================
code                 meaning
===================  ==========================================================================
path-mismatch        the states entered differ from `expect.path`
final-mismatch       the run ended in another state than `expect.final`
outcome-mismatch     the outcome differs from `expect.outcome` (or, replaying, from the recording)
run-error            no `expect.outcome`, and the run ended in error (never a pass)
said-missing         an `expect.said` text was not spoken (in order) by the replica
sent-missing         an `expect.sent` interaction was not sent (in order)
not-sent-sent        an `expect.not_sent` interaction was sent
vars-mismatch        a variable of `expect.vars` has another value at the end
duration-exceeded    the run took longer (virtual time) than `expect.duration.max`
replay-diverged      replaying a transcript, the scenario sent other interactions
replay-invalid       the case's recorded transcript cannot be read
internal-error       cviscript itself crashed running the case (a bug: please report it)
===================  ==========================================================================
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

CONFIDENCE = 0.95  # of the interval a repeated case's pass rate is reported with
_Z = 1.959963984540054  # the standard normal quantile for a two-sided 95% interval


def wilson_interval(passed: int, runs: int, z: float = _Z) -> tuple[float, float]:
    """The Wilson score interval of a pass rate (`passed` of `runs`), 95% by default.

    Unlike the textbook "rate ± z·sqrt(rate(1-rate)/n)", it stays inside [0, 1] and does not
    collapse to a zero width at 0/n or n/n: 100 passes out of 100 runs is [96.3%, 100%], not a
    certainty."""
    if runs <= 0:
        return 0.0, 1.0
    p = passed / runs
    z2 = z * z
    centre = (p + z2 / (2 * runs)) / (1 + z2 / runs)
    half = z * math.sqrt(p * (1 - p) / runs + z2 / (4 * runs * runs)) / (1 + z2 / runs)
    return max(0.0, centre - half), min(1.0, centre + half)


FAILURE_CODES = (
    "path-mismatch",
    "final-mismatch",
    "outcome-mismatch",
    "run-error",
    "said-missing",
    "sent-missing",
    "not-sent-sent",
    "vars-mismatch",
    "duration-exceeded",
    "replay-diverged",
    "replay-invalid",
    "internal-error",
    "case-timeout",  # the case ran past its wall-clock limit; its worker was killed
    "worker-lost",  # the worker process running the case died (OOM killer, a signal)
)


@dataclass(slots=True)
class Failure:
    """One unmet expectation."""

    code: str  # one of FAILURE_CODES
    expectation: str  # what was checked: "expect.path", "expect.said[2]", "replay", ...
    message: str  # one line: what happened instead
    expected: Any = None
    actual: Any = None
    loc: str | None = None  # file:line:col where the expectation is written
    context: list[str] = field(default_factory=list)  # transcript lines around where it went wrong
    diff: str | None = None  # a unified diff, when one says it better

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class CaseRun:
    """One run of one case (one seed)."""

    seed: int
    passed: bool
    outcome: str
    reason: str
    state: str | None
    path: list[str]  # states entered, in order
    transitions: list[str]  # transition ids taken, in order
    vars: dict[str, Any]
    duration: float  # virtual seconds
    wall: float  # real seconds the run took
    sent: list[str]  # interaction types sent, in order
    said: list[str]  # replica speech received, in order
    failures: list[Failure] = field(default_factory=list)
    trace: list[dict[str, Any]] | None = None  # JSONL records, when kept
    # a live run's differences from the replica model (`cviscript.fidelity`); None: not checked
    fidelity: list[dict[str, Any]] | None = None

    def to_json(self, *, trace: bool = True) -> dict[str, Any]:
        out = {
            "seed": self.seed,
            "passed": self.passed,
            "outcome": self.outcome,
            "reason": self.reason,
            "state": self.state,
            "path": self.path,
            "transitions": self.transitions,
            "vars": self.vars,
            "duration": round(self.duration, 6),
            "wall": round(self.wall, 6),
            "sent": self.sent,
            "said": self.said,
            "failures": [f.to_json() for f in self.failures],
        }
        if self.fidelity is not None:
            out["fidelity"] = self.fidelity
        if trace and self.trace is not None:
            out["trace"] = self.trace
        return out


@dataclass(slots=True)
class CaseResult:
    """Every run of one rehearsal case."""

    file: str  # the scenario file, as given (relative paths stay relative)
    scenario: str  # the scenario's name
    case: str  # the rehearsal's name
    line: int | None = None  # where the case is written
    replay: str | None = None  # the transcript a replay case replays
    runs: list[CaseRun] = field(default_factory=list)
    # `--min-pass-rate`: the case passes when at least this fraction of its runs passed
    # (None: every run must pass)
    min_pass_rate: float | None = None
    skipped: str | None = None  # why the case did not run (neither passed nor failed): no runs

    @property
    def id(self) -> str:
        return f"{self.file}::{self.case}"

    @property
    def passed(self) -> bool:
        if not self.runs:
            return False
        if self.min_pass_rate is not None:
            return self.pass_rate >= self.min_pass_rate - 1e-12
        return all(r.passed for r in self.runs)

    @property
    def pass_rate(self) -> float:
        return sum(r.passed for r in self.runs) / len(self.runs) if self.runs else 0.0

    @property
    def pass_interval(self) -> tuple[float, float]:
        """The 95% Wilson interval of the pass rate (`wilson_interval`)."""
        return wilson_interval(sum(r.passed for r in self.runs), len(self.runs))

    def rate_text(self) -> str:
        """``97/100 runs passed (97%, 95% CI 91.5-99.0%)``, and the minimum when one is set."""
        low, high = self.pass_interval
        n_ok = sum(r.passed for r in self.runs)
        text = (
            f"{n_ok}/{len(self.runs)} runs passed ({100 * self.pass_rate:.0f}%, "
            f"{CONFIDENCE:.0%} CI {100 * low:.1f}–{100 * high:.1f}%)"
        )
        if self.min_pass_rate is not None:
            text += f", minimum {100 * self.min_pass_rate:g}%"
        return text

    @property
    def wall(self) -> float:
        return sum(r.wall for r in self.runs)

    @property
    def first_failed(self) -> CaseRun | None:
        return next((r for r in self.runs if not r.passed), None)

    @property
    def failing_seeds(self) -> list[int]:
        return [r.seed for r in self.runs if not r.passed]

    def to_json(self, *, traces: bool = True) -> dict[str, Any]:
        return {
            "id": self.id,
            "file": self.file,
            "scenario": self.scenario,
            "case": self.case,
            "line": self.line,
            "replay": self.replay,
            "passed": self.passed,
            "skipped": self.skipped,
            "pass_rate": round(self.pass_rate, 6),
            "pass_rate_interval": [round(v, 6) for v in self.pass_interval],
            "min_pass_rate": self.min_pass_rate,
            "wall": round(self.wall, 6),
            "runs": [r.to_json(trace=traces) for r in self.runs],
        }


@dataclass(slots=True)
class InvalidFile:
    """A scenario file that could not be loaded: its cases did not run."""

    file: str
    diagnostics: list[str]  # "file:line:col: error: message" lines

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "diagnostics": self.diagnostics}


@dataclass(slots=True)
class SuiteResult:
    cases: list[CaseResult] = field(default_factory=list)
    invalid: list[InvalidFile] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every scenario file looked at
    without_cases: list[str] = field(default_factory=list)  # scenarios with no rehearsals
    wall: float = 0.0
    coverage: Any = None  # coverage.Coverage, when asked for
    interrupted: bool = False  # Ctrl-C: `cases` holds those that finished
    min_pass_rate: float | None = None  # `--min-pass-rate`, applied to every case
    outside_shard: int = 0  # cases found that belong to the other shards (--shard I/N)

    @property
    def passed(self) -> list[CaseResult]:
        return [c for c in self.cases if c.passed]

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed and c.skipped is None]

    @property
    def skipped(self) -> list[CaseResult]:
        """Cases that could not run here (`rehearse --live`: a rule a live visitor cannot play)."""
        return [c for c in self.cases if c.skipped is not None]

    @property
    def ok(self) -> bool:
        return not self.invalid and not self.failed

    def to_json(self, *, traces: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passed": len(self.passed),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "invalid": [i.to_json() for i in self.invalid],
            "files": self.files,
            "without_cases": self.without_cases,
            "wall": round(self.wall, 6),
            "cases": [c.to_json(traces=traces) for c in self.cases],
        }
        if self.outside_shard:
            out["outside_shard"] = self.outside_shard
        if self.coverage is not None:
            out["coverage"] = self.coverage.to_json()
        return out
