"""Find rehearsal cases in files and folders, run them (in parallel, repeatedly), collect results.

A case is a pure function of (scenario file, case name, seed): it loads the file, runs the scenario
against the simulated replica on a virtual clock (or replays a recorded transcript, `replay:`) and
checks `expect:`. Nothing else goes in, so `-j N` can hand workers only those three plain values
(`concurrent.futures.ProcessPoolExecutor`; no scenario object crosses a process boundary) and
the pytest plugin can run one case per test item, on any xdist worker.

Discovery: a file given by name is a scenario whatever it is called (loading says if it is not
one); a folder is searched recursively for ``*.yaml`` / ``*.yml`` files that have a top-level
``cviscript:`` key — so CI workflow files, docker-compose files and other YAML next to the
scenarios are left alone. Hidden folders (``.git``, ``.venv``) are skipped.

Repeats: ``--repeat N --seed-from S`` runs each simulated case with seeds S .. S+N-1 (default S:
the case's own `seed`), which is what finds the seed where a race under `faults:` goes wrong; the
case then has a pass rate. A replay case is deterministic and always runs once.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..engine.describe import jsonable
from ..errors import CviscriptError, ScenarioError, UsageError
from ..language import cache as scenario_cache
from ..language.files import is_scenario_file, yaml_files_under
from ..language.model import Scenario
from .excerpt import excerpt
from .expectations import check, replica_speech
from .results import CaseResult, CaseRun, Failure, InvalidFile, SuiteResult

KeepTraces = Literal["none", "failed", "all"]


def _shown_path(path: str, scenario_file: str) -> str:
    """A file a scenario names (a `replay:` recording), as reports show it: relative to the
    current folder when below it, else to the scenario file — never the absolute path
    of one machine's checkout (JUnit and HTML reports are archived and shared)."""
    here = os.path.relpath(path)
    if not here.startswith(os.pardir):
        return here
    beside = os.path.relpath(path, os.path.dirname(os.path.abspath(scenario_file)))
    if os.path.isabs(scenario_file):
        return beside  # as the scenario wrote it
    return os.path.normpath(os.path.join(os.path.dirname(scenario_file), beside))


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Scenario files under `paths`, in a stable order, each once. Raises UsageError for a path
    that does not exist."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files_here = [f for f in yaml_files_under(p) if is_scenario_file(f)]
        elif p.is_file():
            files_here = [str(raw)]
        else:
            raise UsageError(f"{raw}: no such file or folder")
        for f in files_here:
            key = os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                out.append(os.path.normpath(f))
    return out


# ------------------------------------------------------------------------------ loading, cached

_CACHE: dict[tuple[Any, ...], Scenario] = {}
_CACHE_MAX = 256  # scenarios kept in one process


def load(file: str) -> Scenario:
    """The scenario in `file`, loaded once per process while it and every file it depends on
    (fragments, hook modules: the scenario cache's record) are unchanged; by modification time
    of the file alone when the scenario cache is off."""
    from ..language.validate import load_scenario

    real = os.path.realpath(file)
    if scenario_cache.cache_dir() is None:
        st = os.stat(file)
        key: tuple[Any, ...] | None = (real, st.st_mtime_ns, st.st_size)
    else:
        entry = scenario_cache.lookup(file)
        key = (real, entry.signature) if entry is not None else None
    if key is not None and (sc := _CACHE.get(key)) is not None:
        return sc
    sc = load_scenario(file)
    if key is None:  # changed (or new): the load just wrote its entry
        entry = scenario_cache.lookup(file)
        key = (real, entry.signature) if entry is not None else None
    if key is not None:
        if len(_CACHE) >= _CACHE_MAX:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[key] = sc
    return sc


def listing(file: str) -> tuple[str, list[scenario_cache.Case]]:
    """The scenario's name and cases, from the scenario cache when it knows the file (nothing is
    loaded), else by loading it. Raises `ScenarioError` / `OSError` as loading does."""
    entry = scenario_cache.lookup(file)
    if entry is None:
        return scenario_cache.listing(load(file))
    if not entry.valid:
        raise ScenarioError(entry.diagnostics)
    return entry.name, entry.cases


# ------------------------------------------------------------------------------------ the cases


@dataclass(slots=True)
class CaseRef:
    file: str
    case: str
    scenario: str
    line: int | None = None
    replay: str | None = None
    seed: int = 0

    @property
    def id(self) -> str:
        return f"{self.file}::{self.case}"


@dataclass(slots=True)
class Collection:
    cases: list[CaseRef] = field(default_factory=list)
    invalid: list[InvalidFile] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    without_cases: list[str] = field(default_factory=list)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    interrupted: bool = False  # Ctrl-C while the workers were listing the files


def matches(case_id: str, patterns: Sequence[str]) -> bool:
    """`-k`: a case is selected when any pattern matches its id ``file::case``.

    A pattern is a case-insensitive substring, or a glob when it has ``*``, ``?`` or ``[``;
    ``not PATTERN`` deselects. Several patterns: selected by any positive one (all cases when
    there is none) and by no negative one.
    """
    cid = case_id.lower()

    def hit(p: str) -> bool:
        p = p.strip().lower()
        if any(ch in p for ch in "*?["):
            return fnmatch.fnmatchcase(cid, p if p.startswith("*") else f"*{p}*")
        return p in cid

    positive = [p for p in patterns if not p.strip().lower().startswith("not ")]
    negative = [p.strip()[4:] for p in patterns if p.strip().lower().startswith("not ")]
    if positive and not any(hit(p) for p in positive):
        return False
    return not any(hit(p) for p in negative)


def collect(
    paths: Iterable[str | os.PathLike[str]],
    patterns: Sequence[str] = (),
    *,
    scenarios: bool = True,
) -> Collection:
    """Every case under `paths` (filtered by `patterns`), and the files that could not be loaded.
    `scenarios`: load each scenario into `Collection.scenarios`; without it, a file the scenario
    cache knows is only listed (nothing loaded)."""
    out = Collection()
    for file in discover(paths):
        out.files.append(file)
        add_listing(out, file, patterns, scenarios=scenarios)
    return out


def add_listing(out: Collection, file: str, patterns: Sequence[str], *, scenarios: bool) -> None:
    """`file`'s cases (those `patterns` select) into `out`, or `file` into `out.invalid`."""
    if scenarios:
        try:
            sc = out.scenarios[file] = load(file)
        except (ScenarioError, OSError) as err:
            out.invalid.append(_invalid(file, err))
            return
        _add_cases(out, file, scenario_cache.listing(sc), patterns)
    else:
        _add_cases(out, file, _listed(file), patterns)


def _listed(file: str) -> tuple[str, list[scenario_cache.Case]] | InvalidFile:
    """`listing`, or why the file cannot be listed (as it travels back from a worker)."""
    try:
        return listing(file)
    except (ScenarioError, OSError) as err:
        return _invalid(file, err)


def _invalid(file: str, err: ScenarioError | OSError) -> InvalidFile:
    if isinstance(err, ScenarioError):
        return InvalidFile(file, [str(d) for d in err.diagnostics if d.severity == "error"])
    return InvalidFile(file, [f"{file}: cannot read: {err.strerror}"])


def _add_cases(
    out: Collection,
    file: str,
    listed: tuple[str, list[scenario_cache.Case]] | InvalidFile,
    patterns: Sequence[str],
) -> None:
    if isinstance(listed, InvalidFile):
        out.invalid.append(listed)
        return
    name, cases = listed
    if not cases:
        out.without_cases.append(file)
    for c in cases:
        replay = _shown_path(c.replay, file) if c.replay else None
        ref = CaseRef(file, c.name, name, c.line, replay, c.seed)
        if not patterns or matches(ref.id, patterns):
            out.cases.append(ref)


def run_case(
    file: str,
    case: str,
    *,
    seed: int | None = None,
    keep_trace: KeepTraces = "none",
    scenario: Scenario | None = None,
) -> CaseRun:
    """Run one case once and check its expectations. Never raises for a failing scenario; a crash
    of cviscript itself becomes an `internal-error` failure. `scenario`: `file` already loaded."""
    started = time.perf_counter()
    sc = scenario if scenario is not None else load(file)
    reh = sc.rehearsal(case)
    if reh is None:
        raise UsageError(f"{file}: no rehearsal named {case!r}")
    run_seed = reh.seed if seed is None or reh.replay else seed
    try:
        failures: list[Failure] = []
        if reh.replay:
            from ..sessions.replay import replay

            rr = replay(reh.replay, sc, vars_override=reh.vars)
            result, records = rr.conversation.result, rr.records
            if rr.divergence is not None:
                failures.append(_diverged(rr, reh.loc))
            failures += check(reh.expect, result, records, recorded_outcome=rr.recorded_outcome)
        else:
            from ..sessions.simulated.runner import run_simulated

            conv = run_simulated(sc, rehearsal=reh, seed=run_seed)
            result, records = conv.result, conv.trace.records
            failures += check(reh.expect, result, records)
    except Exception as err:
        if reh.replay and isinstance(err, CviscriptError):  # the recording cannot be replayed
            failure = Failure(
                code="replay-invalid",
                expectation="replay",
                message=str(err),
                loc=str(reh.loc) if reh.loc else None,
            )
            return _not_run(run_seed, started, str(err), failure)
        # a bug in cviscript: report it on this case and keep the suite going
        failure = Failure(
            code="internal-error",
            expectation="run",
            message=f"cviscript crashed running this case: {type(err).__name__}: {err}",
            context=traceback.format_exc().rstrip().splitlines(),
        )
        reason = f"cviscript crashed: {type(err).__name__}: {err}"
        return _not_run(run_seed, started, reason, failure)
    assert result is not None
    passed = not failures
    keep = keep_trace == "all" or (keep_trace == "failed" and not passed)
    return finished_run(run_seed, result, records, failures, started, keep=keep)


def _not_run(seed: int, started: float, reason: str, failure: Failure) -> CaseRun:
    return failed_run(seed, failure, wall=time.perf_counter() - started, reason=reason)


def _diverged(rr: Any, loc: Any) -> Failure:
    d = rr.divergence
    sent_records = [i for i, r in enumerate(rr.records) if r.kind == "sent"]
    focus = sent_records[d.index] if d.index < len(sent_records) else None
    return Failure(
        code="replay-diverged",
        expectation="replay",
        message=d.describe(),
        expected=d.expected,
        actual=d.actual,
        loc=str(loc) if loc else None,
        context=excerpt(rr.records, focus),
        diff=d.diff,
    )


_LOADED: dict[str, Scenario] = {}  # in a worker: each scenario is loaded once
_LIST = "list"  # a worker task (file, None, None, _LIST): load the file and list its cases


def _task(args: tuple[str, str | None, int | None, Any]) -> Any:
    file, case, seed, keep = args
    sc = _LOADED.get(file)
    if sc is None:
        if case is None:  # listing: the worker keeps the scenario for the cases it will run
            try:
                sc = load(file)
            except (ScenarioError, OSError) as err:
                return _invalid(file, err)
        else:
            sc = load(file)
        if len(_LOADED) >= _CACHE_MAX:
            del _LOADED[next(iter(_LOADED))]
        _LOADED[file] = sc
    if case is None:
        return scenario_cache.listing(sc)
    return run_case(file, case, seed=seed, keep_trace=keep, scenario=sc)


def _lost(args: tuple[str, str | None, int | None, Any], code: str, reason: str, wall: float):
    if args[1] is None:  # it died loading the file
        return InvalidFile(args[0], [f"{args[0]}: {reason}"])
    failure = Failure(code=code, expectation="run", message=reason)
    run = _not_run(args[2] or 0, time.perf_counter() - wall, reason, failure)
    return run


def in_shard(case_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether `case_id` belongs to shard I of N (1-based): a stable hash of the id, the same on
    every machine and Python (not `hash()`, which is randomised per process)."""
    if shard is None:
        return True
    index, count = shard
    digest = hashlib.sha256(case_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count == index - 1


def seeds_for(ref: CaseRef, repeat: int, seed_from: int | None) -> list[int | None]:
    if ref.replay or (repeat <= 1 and seed_from is None):
        return [None]
    start = ref.seed if seed_from is None else seed_from
    return list(range(start, start + max(1, repeat)))


DEFAULT_CASE_TIMEOUT = 60.0  # wall-clock seconds for one run of one case


def run_suite(
    paths: Iterable[str | os.PathLike[str]],
    *,
    patterns: Sequence[str] = (),
    jobs: int = 1,
    repeat: int = 1,
    seed_from: int | None = None,
    keep_traces: KeepTraces = "failed",
    coverage: bool = False,
    on_case: Callable[[CaseResult], None] | None = None,
    on_collected: Callable[[Collection], None] | None = None,
    case_timeout: float | None = DEFAULT_CASE_TIMEOUT,
    shard: tuple[int, int] | None = None,
    min_pass_rate: float | None = None,
) -> SuiteResult:
    """Run every case under `paths` (those of `shard` I of N). `on_case` sees each finished case,
    in file order. Cases run on `jobs` worker processes (0: one per CPU), each run gets
    `case_timeout` wall-clock seconds (None with one job: no limit, and cases run in this process),
    and Ctrl-C returns what finished, with `interrupted` set. `min_pass_rate`: a case passes when
    at least this fraction of its runs passed (with `repeat`, a robustness sweep)."""
    started = time.perf_counter()
    workers = (os.cpu_count() or 1) if jobs <= 0 else jobs
    # on worker processes, which can be killed, whenever a case has a wall-clock limit
    pool = None
    if workers > 1 or case_timeout is not None:
        from .pool import WorkerPool

        pool = WorkerPool(workers, _task, _lost)
    try:
        col = collect(paths, patterns) if pool is None else _collect_on(pool, paths, patterns)
        found = len(col.cases)
        col.cases = [ref for ref in col.cases if in_shard(ref.id, shard)]
        if on_collected is not None:
            on_collected(col)
        suite = SuiteResult(invalid=col.invalid, files=col.files, without_cases=col.without_cases)
        suite.min_pass_rate = min_pass_rate
        suite.outside_shard = found - len(col.cases)
        suite.interrupted = col.interrupted
        plan = [(ref, seeds_for(ref, repeat, seed_from)) for ref in col.cases]
        if pool is not None and not col.interrupted:
            tasks = [(ref.file, ref.case, s, keep_traces) for ref, seeds in plan for s in seeds]
            suite.interrupted = not _run_parallel(plan, tasks, pool, case_timeout, suite, on_case)
        elif pool is None:
            suite.interrupted = not _run_here(plan, col, keep_traces, suite, on_case)
    finally:
        if pool is not None:
            pool.close()
    if coverage:
        from .coverage import measure

        invalid = {bad.file for bad in col.invalid}
        for file in col.files:
            if file not in invalid and file not in col.scenarios:
                col.scenarios[file] = load(file)
        suite.coverage = measure(col.scenarios, suite.cases)
    suite.wall = time.perf_counter() - started
    return suite


def _run_here(plan, col: Collection, keep_traces: KeepTraces, suite, on_case) -> bool:
    """Run the cases in this process, one after another. False when interrupted."""
    try:
        for ref, seeds in plan:
            sc = col.scenarios.get(ref.file)
            runs = [
                run_case(ref.file, ref.case, seed=s, keep_trace=keep_traces, scenario=sc)
                for s in seeds
            ]
            _deliver(case_result(ref, runs), suite, on_case)
    except KeyboardInterrupt:
        return False
    return True


def _collect_on(pool: Any, paths: Iterable[str | os.PathLike[str]], patterns) -> Collection:
    """`collect` where this process only lists: the files the scenario cache knows are listed
    from it, the others are loaded and listed by the workers, which keep them for their cases."""
    files = discover(paths)
    unknown = [f for f in files if scenario_cache.lookup(f) is None]
    listed: dict[str, Any] = {}
    out = Collection()
    if unknown:
        tasks = [(f, None, None, _LIST) for f in unknown]
        got = listed.__setitem__
        lister = pool.run  # several files to a batch: each is listed once, by whoever has it
        if not lister(
            tasks, lambda i, r: got(unknown[i], r), _no_limit, per_worker=4, by_file=False
        ):
            out.interrupted = True
            return out
    for file in files:
        out.files.append(file)
        _add_cases(out, file, listed[file] if file in listed else _listed(file), patterns)
    return out


def _no_limit(task: Any) -> None:
    return None


def _deliver(case: CaseResult, suite: SuiteResult, on_case: Callable | None) -> None:
    case.min_pass_rate = suite.min_pass_rate
    suite.cases.append(case)
    if on_case is not None:
        on_case(case)


MIN_RUNS_PER_NEW_WORKER = 8  # a worker forked (and a scenario loaded) for fewer costs more


def _run_parallel(plan, tasks, pool, case_timeout, suite, on_case) -> bool:
    """Run `tasks` on the worker `pool` and deliver each case in file order as soon as it and
    every case before it are done. False when interrupted."""
    results: dict[int, CaseRun] = {}
    first, at = [], 0  # index of each case's first task
    for _, seeds in plan:
        first.append(at)
        at += len(seeds)
    next_case = 0

    def on_result(index: int, run: CaseRun) -> None:
        nonlocal next_case
        results[index] = run
        while next_case < len(plan):
            ref, seeds = plan[next_case]
            start = first[next_case]
            if any(start + i not in results for i in range(len(seeds))):
                break
            _deliver(
                case_result(ref, [results.pop(start + i) for i in range(len(seeds))]),
                suite,
                on_case,
            )
            next_case += 1

    def limit(task) -> float | None:
        return case_timeout

    done = pool.run(tasks, on_result, limit, per_worker=MIN_RUNS_PER_NEW_WORKER)
    if not done:  # deliver the cases that finished, whatever came before them
        for n in range(next_case, len(plan)):
            ref, seeds = plan[n]
            runs = [results.get(first[n] + i) for i in range(len(seeds))]
            if runs and all(r is not None for r in runs):
                _deliver(case_result(ref, runs), suite, on_case)
    return done


def case_result(ref: CaseRef, runs: list[CaseRun]) -> CaseResult:
    """The result of the case `ref` names, from its runs."""
    return CaseResult(ref.file, ref.scenario, ref.case, ref.line, ref.replay, runs)


def finished_run(
    seed: int,
    result: Any,
    records: list[Any],
    failures: list[Failure],
    started: float,
    *,
    keep: bool = True,
    reason: str | None = None,
) -> CaseRun:
    """The `CaseRun` of a run that finished (simulated, replayed or live): what it did and the
    failures found, with its trace when `keep`; `reason` overrides the run's own."""
    return CaseRun(
        seed=seed,
        passed=not failures,
        outcome=result.outcome,
        reason=result.reason if reason is None else reason,
        state=result.state,
        path=list(result.path),
        transitions=[str(r.data.get("id")) for r in records if r.kind == "transition"],
        vars=jsonable(result.vars),
        duration=result.duration,
        wall=time.perf_counter() - started,
        sent=list(result.sent),
        said=[text for _, text in replica_speech(records)],
        failures=failures,
        trace=[r.to_json() for r in records] if keep else None,
    )


def failed_run(
    seed: int, failure: Failure, *, wall: float = 0.0, reason: str | None = None
) -> CaseRun:
    """The `CaseRun` of a run that did not finish — it could not start, crashed, was stopped or
    ran out of time: outcome ``error``, nothing done, the one `failure` (its message is the
    reason unless `reason` says otherwise). `finished_run` builds the rest."""
    return CaseRun(
        seed=seed,
        passed=False,
        outcome="error",
        reason=failure.message if reason is None else reason,
        state=None,
        path=[],
        transitions=[],
        vars={},
        duration=0.0,
        wall=wall,
        sent=[],
        said=[],
        failures=[failure],
    )
