"""Rehearsals in CI: run every case of every scenario, check `expect:`, report.

The pieces, each with one job (events → matcher → results, as in pipecat-evals):

* `suite` — find cases in files and folders, run one case (simulated or replayed), run many
  (``-j N`` processes, ``--repeat`` seeds);
* `expectations` — check a finished run against `expect:`, one `Failure` per unmet expectation,
  with a stable code;
* `results` — the plain, JSON-able results;
* `excerpt` — the transcript lines around where a run went wrong;
* `text`, `junit` — the console report and JUnit XML;
* `coverage` — which states and transitions the rehearsals exercised.
"""

from .results import CaseResult, CaseRun, Failure, InvalidFile, SuiteResult
from .suite import collect, discover, run_case, run_suite

__all__ = [
    "CaseResult",
    "CaseRun",
    "Failure",
    "InvalidFile",
    "SuiteResult",
    "collect",
    "discover",
    "run_case",
    "run_suite",
]
