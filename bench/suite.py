"""Suites as users run them: `rehearse -j 2` against `-j 1`, the pytest plugin under xdist, and a
robustness sweep — each command in a fresh process (start-up, discovery, loading, workers, the
report), wall time from the shell's view.

Suites:

* 840 cases in 280 files: the shipped scenarios (`scenarios/`, with their fragment and hook
  module) copied 70 times;
* 500 cases in 100 files: the example scenarios' own cases (kiosk, product demo, survey: tool
  calls, barge-ins, timers, re-prompts, a failing survey) written 5 to a file;
* a tiny suite: the shipped scenarios once (4 files), where `-j 2` must not be slower;
* a sweep: 50 cases (10 files of 5) each with random network faults, `--repeat 100` (5,000 runs).

`rehearse` runs with a cold scenario cache (a fresh, empty `CVISCRIPT_CACHE_DIR` each run): the
workers load and validate the files. `pytest` runs with a warm one (filled by a first run that is
not timed), as a CI cache or a developer's second run has it. `-j 1` and `-j 2` (`-n 0`, `-n 2`)
alternate, best of 3 each, so both see the same machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SCENARIOS, Row, fmt_s

FILES = 100
CASES_PER_FILE = 5
BASES = ("kiosk.yaml", "product-demo.yaml", "survey.yaml")
COPIES = 70  # of the shipped scenarios: 280 files
ROUNDS = 3
FAULTS = "    faults: {jitter: 400ms, duplicate: 0.05, drop: 0.02}\n"


def cviscript_command() -> list[str]:
    exe = Path(sys.executable).with_name("cviscript")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cviscript"]


def write_suite(folder: Path, files: int = FILES, faults: bool = False) -> int:
    """Write `files` generated files of CASES_PER_FILE cases; returns the number of cases."""
    folder.mkdir(parents=True, exist_ok=True)
    for asset in SCENARIOS.iterdir():  # what the scenarios name: persona files, hook modules
        if asset.is_file() and asset.suffix not in (".yaml", ".yml"):
            shutil.copy(asset, folder / asset.name)
    total = 0
    for i in range(files):
        base = (SCENARIOS / BASES[i % len(BASES)]).read_text(encoding="utf-8")
        head, sep, block = base.partition("\nrehearsals:\n")
        assert sep, f"{BASES[i % len(BASES)]} has no rehearsals"
        cases = re.split(r"(?m)^(?=  - name: )", block)
        cases = [c.rstrip("\n") + "\n" for c in cases if c.strip()]
        chosen = []
        for k in range(CASES_PER_FILE):
            case = cases[k % len(cases)]
            if k >= len(cases):
                case = re.sub(r"(?m)^(  - name: .*)$", rf"\1 (again {k})", case, count=1)
            if faults:
                case = re.sub(r"(?m)^    faults: .*\n", "", case)
                case = re.sub(
                    r"(?m)^(  - name: .*\n)", lambda m: m.group(1) + FAULTS, case, count=1
                )
            chosen.append(case)
        head = re.sub(r"(?m)^name: (.*)$", rf"name: \1-{i:03d}", head, count=1)
        (folder / f"case-{i:03d}.yaml").write_text(head + sep + "".join(chosen), encoding="utf-8")
        total += len(chosen)
    return total


def copy_shipped(folder: Path, copies: int) -> int:
    """`copies` copies of scenarios/ (fragments and hook modules included); returns the cases."""
    for i in range(copies):
        shutil.copytree(SCENARIOS, folder / f"copy{i:03d}")
    return copies * sum(
        len(re.findall(r"(?m)^  - name: ", p.read_text(encoding="utf-8")))
        for p in SCENARIOS.glob("*.yaml")
    )


def _timed(cmd: list[str], cache: Path, **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds of the process and all its children, the result), with the
    scenario cache in `cache`."""
    import os
    import resource

    env = {**os.environ, "CVISCRIPT_CACHE_DIR": str(cache)}
    env.pop("CVISCRIPT_NO_CACHE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def _cpu_note(cpu1: float, cpu2: float, serial: str) -> str:
    """CPU time does not depend on what else the machine runs: with it, the speed-up the
    parallel run would reach on two idle cores (its CPU over two cores, no faster than serial)."""
    bound = cpu1 / max(cpu2 / 2, 1e-9)
    return (
        f"CPU {cpu1:.1f} s ({serial}) vs {cpu2:.1f} s (2 workers): ≤ {bound:.2f}x on 2 idle cores"
    )


def _passed(proc: subprocess.CompletedProcess, cases: int) -> bool:
    return f"{cases} passed" in proc.stdout


def _scaling(what: str, folder: Path, cases: int, target: float, rounds: int) -> tuple[Row, float]:
    """`-j 2` against `-j 1` with a cold cache, alternating, best of `rounds`. Also returns the
    best `-j 2` wall time."""
    walls: dict[int, list[float]] = {1: [], 2: []}
    cpus: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(rounds):
        for jobs in (1, 2):
            cmd = [*cviscript_command(), "rehearse", "-j", str(jobs), "-q", "--no-color"]
            with tempfile.TemporaryDirectory(prefix="cviscript-bench-cache-") as cache:
                wall, cpu, proc = _timed([*cmd, str(folder)], Path(cache))
            if not _passed(proc, cases):
                tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-2:])
                return Row(what, "failed", "—", "—", f"≥ {target}x", False, tail), float("nan")
            walls[jobs].append(wall)
            cpus[jobs].append(cpu)
    best1, best2 = min(walls[1]), min(walls[2])
    speedup = best1 / best2
    row = Row(
        what=what,
        figure=fmt_s(best2),
        baseline=f"{fmt_s(best1)} (-j 1)",
        ratio=f"{speedup:.2f}x faster",
        target=f"≥ {target}x, cold cache",
        ok=speedup >= target,
        note=f"best of {rounds}; {_cpu_note(min(cpus[1]), min(cpus[2]), '-j 1')}",
    )
    return row, best2


def _pytest_scaling(folder: Path, cases: int, rounds: int) -> Row:
    """`pytest -n 2` (pytest-xdist) against `-n 0` on the same suite with a warm scenario cache,
    as a user runs it (a fresh pytest process, the plugin found by its entry point)."""
    what = f"`pytest -n 2` (the plugin under pytest-xdist) against `-n 0`, {cases} cases"
    target = "≥ 1.4x, warm cache"
    try:
        import xdist  # noqa: F401
    except ImportError:
        return Row(what, "—", "—", "—", target, None, "pytest-xdist not installed")
    # without this venv's dev plugins (hypothesis costs each process a second to import)
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    base += ["-p", "no:hypothesispytest"]
    walls: dict[int, list[float]] = {0: [], 2: []}
    cpus: dict[int, list[float]] = {0: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="cviscript-bench-cache-") as tmp:
        cache = Path(tmp)
        _timed([*base, "-n", "0", str(folder)], cache, cwd=folder)  # fills the cache
        for _ in range(rounds):
            for n in (0, 2):
                wall, cpu, proc = _timed([*base, "-n", str(n), str(folder)], cache, cwd=folder)
                if not _passed(proc, cases):
                    tail = " | ".join(proc.stdout.strip().splitlines()[-2:])
                    return Row(what, "failed", "—", "—", target, False, tail)
                walls[n].append(wall)
                cpus[n].append(cpu)
    speedup = min(walls[0]) / min(walls[2])
    return Row(
        what=what,
        figure=fmt_s(min(walls[2])),
        baseline=f"{fmt_s(min(walls[0]))} (-n 0)",
        ratio=f"{speedup:.2f}x faster",
        target=target,
        ok=speedup >= 1.4,
        note=f"best of {rounds}; {_cpu_note(min(cpus[0]), min(cpus[2]), '-n 0')}",
    )


def _sweep(folder: Path, cases: int, rounds: int, repeat: int) -> Row:
    """`rehearse --repeat N -j 2` over cases with random faults: wall time and the pass rates."""
    what = f"robustness sweep: `rehearse --repeat {repeat} -j 2`, {cases} cases with random faults"
    cmd = [*cviscript_command(), "rehearse", "-j", "2", "--repeat", str(repeat), "--no-color"]
    walls, cpus, out = [], [], ""
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="cviscript-bench-cache-") as cache:
            wall, cpu, proc = _timed([*cmd, str(folder)], Path(cache))
        cpus.append(cpu)
        out = proc.stdout
        if proc.returncode not in (0, 1):
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-2:])
            return Row(what, "failed", "—", "—", "≤ 10 s wall on 2 cores", False, tail)
        walls.append(wall)
    rates = [int(m) for m in re.findall(r"runs passed \((\d+)%", out)]
    runs = cases * repeat
    wall = min(walls)
    return Row(
        what=what,
        figure=fmt_s(wall),
        baseline="—",
        ratio=f"{wall / 10:.0%} of budget",
        target="≤ 10 s wall on 2 cores",
        ok=wall <= 10.0 and len(rates) == cases,
        note=f"{runs:,} runs, cold cache, best of {rounds}; CPU {min(cpus):.1f} s: "
        f"≥ {min(cpus) / 2:.1f} s on 2 idle cores; pass rates {min(rates, default=0)}–"
        f"{max(rates, default=0)}% with their 95% intervals",
    )


def run(quick: bool = False) -> list[Row]:
    if (
        shutil.which("cviscript") is None
        and not Path(sys.executable).with_name("cviscript").exists()
    ):
        return [Row("rehearse suites", "—", "—", "—", "—", None, "cviscript not installed")]
    rounds = 1 if quick else ROUNDS
    with tempfile.TemporaryDirectory(prefix="cviscript-bench-suite-") as tmp:
        root = Path(tmp)
        shipped = copy_shipped(root / "shipped", 8 if quick else COPIES)
        generated = write_suite(root / "generated", 20 if quick else FILES)
        tiny = copy_shipped(root / "tiny", 1)
        sweep = write_suite(root / "sweep", 10, faults=True)
        n_shipped = len(list((root / "shipped").rglob("*.yaml"))) - (8 if quick else COPIES)
        n_gen = 20 if quick else FILES
        rows = []
        row, _ = _scaling(
            f"`rehearse -j 2` against `-j 1`, {shipped} cases in {n_shipped} files",
            root / "shipped", shipped, 1.6, rounds,
        )  # fmt: skip
        rows.append(row)
        row, best2 = _scaling(
            f"`rehearse -j 2` against `-j 1`, {generated} cases in {n_gen} files",
            root / "generated", generated, 1.6, rounds,
        )  # fmt: skip
        rows.append(row)
        row, _ = _scaling(
            f"`rehearse -j 2` against `-j 1`, a tiny suite ({tiny} cases in 4 files)",
            root / "tiny", tiny, 1.0, rounds,
        )  # fmt: skip
        rows.append(row)
        rows.append(_pytest_scaling(root / "generated", generated, rounds))
        rows.append(_sweep(root / "sweep", sweep, rounds, 20 if quick else 100))
        rows.append(
            Row(
                what=f"suite of {generated} rehearsal cases, `cviscript rehearse -j 2`",
                figure=fmt_s(best2),
                baseline="—",
                ratio=f"{best2 / 10:.0%} of budget",
                target="≤ 10 s wall on 2 cores",
                ok=best2 <= 10.0,
                note="the -j 2 run of the row above (cold cache)",
            )
        )
        return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
