"""Every rehearsal case shipped under scenarios/ and examples/ passes (the project's own CI).

A failing case fails with the same report `cviscript rehearse` prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cviscript.rehearsal.results import CaseResult
from cviscript.rehearsal.suite import collect, run_case
from cviscript.rehearsal.text import failure_report

REPO = Path(__file__).resolve().parent.parent
FOLDERS = [REPO / "scenarios", REPO / "examples"]

_collected = collect([f for f in FOLDERS if f.is_dir()])
CASES = [
    pytest.param(ref, id=f"{Path(ref.file).relative_to(REPO)}::{ref.case}")
    for ref in _collected.cases
]


def test_every_shipped_scenario_loads():
    assert not _collected.invalid, "\n".join(
        line for bad in _collected.invalid for line in bad.diagnostics
    )
    assert len(_collected.files) >= 3


@pytest.mark.parametrize("ref", CASES)
def test_rehearsal_passes(ref):
    run = run_case(ref.file, ref.case)
    if not run.passed:
        case = CaseResult(ref.file, ref.scenario, ref.case, ref.line, ref.replay, [run])
        pytest.fail("\n".join(failure_report(case)), pytrace=False)
