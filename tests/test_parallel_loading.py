"""`rehearse -j N`: the workers load and validate their own files, the parent only lists them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cviscript.language import validate as V
from cviscript.language.validate import load_scenario
from cviscript.rehearsal.suite import run_suite

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


_CASES = {f.name: len(load_scenario(f, cache=False).rehearsals) for f in SCENARIOS.glob("*.yaml")}


def _cases(glob: str) -> int:
    return sum(_CASES[f.name] for f in SCENARIOS.glob(glob))


@pytest.fixture
def suite_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("CVISCRIPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CVISCRIPT_NO_CACHE", raising=False)
    for i in range(3):
        shutil.copytree(SCENARIOS, tmp_path / "suite" / f"copy{i}")
    return tmp_path / "suite"


@pytest.fixture
def load_log(tmp_path, monkeypatch):
    """Every real load, in whichever process: (pid, file, whether it was a fresh one)."""
    log = tmp_path / "loads.jsonl"
    real = V._load_unguarded

    def logged(path, source, **kw):
        with open(log, "a") as f:
            fresh = kw.get("lint_it", True)
            f.write(json.dumps([os.getpid(), os.fspath(path), fresh]) + "\n")
        return real(path, source, **kw)

    monkeypatch.setattr(V, "_load_unguarded", logged)
    return lambda: [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.parametrize("cache", [True, False], ids=["cold-cache", "no-cache"])
def test_with_two_jobs_the_parent_loads_nothing_and_each_file_is_validated_once(
    suite_copy, load_log, monkeypatch, cache
):
    if not cache:
        monkeypatch.setenv("CVISCRIPT_NO_CACHE", "1")
    suite = run_suite([suite_copy], jobs=2)
    assert suite.ok and len(suite.cases) == 3 * _cases("*.yaml")
    loads = load_log()
    assert all(pid != os.getpid() for pid, _, _ in loads)  # the parent only listed
    fresh = [file for _, file, is_fresh in loads if is_fresh]
    files = {case.file for case in suite.cases}
    if cache:  # validated once each with every check; a worker that takes over a file reuses it
        assert sorted(fresh) == sorted(files)
    else:  # no cache: a worker that takes over another's file loads it again
        assert set(fresh) == files
    assert len({pid for pid, _, _ in loads}) == 2  # both workers loaded files


def test_a_warm_cache_lists_without_loading_and_reports_the_same(suite_copy, load_log):
    cold = run_suite([suite_copy], jobs=2)
    before = len(load_log())
    warm = run_suite([suite_copy], jobs=2)
    assert [c.id for c in warm.cases] == [c.id for c in cold.cases]
    assert [c.passed for c in warm.cases] == [c.passed for c in cold.cases]
    assert all(not is_fresh for _, _, is_fresh in load_log()[before:])


def test_an_invalid_file_found_by_a_worker_is_reported_and_the_rest_runs(suite_copy):
    bad = suite_copy / "copy1" / "kiosk.yaml"
    bad.write_text(bad.read_text().replace("initial:", "initial: nowhere\nold_initial:", 1))
    suite = run_suite([suite_copy], jobs=2)
    assert [i.file for i in suite.invalid] == [str(bad)]
    assert any("nowhere" in line for line in suite.invalid[0].diagnostics)
    assert len(suite.cases) == 3 * _cases("*.yaml") - _cases("kiosk.yaml")
    assert all(c.passed for c in suite.cases)


def test_a_tiny_suite_is_not_spread_over_workers_it_cannot_pay_for(suite_copy, load_log):
    """One file of a few cases: a second worker would fork and load the file again for a case or
    two, slower than -j 1; it is not started."""
    suite = run_suite([suite_copy / "copy0" / "kiosk.yaml"], jobs=2)
    assert suite.ok and len(suite.cases) == _cases("kiosk.yaml")
    assert len({pid for pid, _, _ in load_log()}) == 1
