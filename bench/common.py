"""What every benchmark shares: the result row, percentiles, the machine description, timing.

Each benchmark module has `run(quick: bool) -> list[Row]`; `bench/run.py` runs every module in a
fresh interpreter (so one benchmark's heap and caches never slow another) and prints the rows as
one table. A row's figure is compared with a baseline measured in the same run, because absolute
numbers on a shared or virtual machine drift from one minute to the next while ratios hold.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SCENARIOS = REPO / "scenarios"

if str(REPO) not in sys.path:  # `python bench/run.py` from a checkout without installing
    sys.path.insert(0, str(REPO))


@dataclass
class Row:
    what: str
    figure: str  # the measured value, formatted
    baseline: str  # what it is compared with, formatted ("—" when the target is absolute)
    ratio: str  # figure / baseline (or figure / target unit), formatted
    target: str
    ok: bool | None  # None: could not be measured
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest-rank."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[k]


def fmt_us(ns: float) -> str:
    return f"{ns / 1000:.1f} µs"


def fmt_kb(n_bytes: float) -> str:
    return f"{n_bytes / 1024:.1f} KB"


def fmt_s(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def best_of(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def median_of(fn: Callable[[], float], repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count() or "?"),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def scenario(name: str):
    """A scenario from `bench/scenarios/` or the repo's `scenarios/`, loaded and validated."""
    from cviscript.language.validate import load_scenario

    path = BENCH / "scenarios" / name
    if not path.exists():
        path = SCENARIOS / name
    return load_scenario(str(path))
