"""Start-up: `cviscript --help` and `cviscript validate` against `python -c pass`.

Each command runs as a user runs it, in a fresh process, many times, alternating with the
baseline; the figure is the median wall time above the median of `python -c pass`. Python caches
compiled modules (`__pycache__`) after the first import, as every installed package has: the
benchmark puts that cache in a temporary folder (`PYTHONPYCACHEPREFIX`, so the source tree is left
alone), warms it once, and then measures. The cold figure (no bytecode cache at all, every module
compiled on import, as with `PYTHONDONTWRITEBYTECODE=1` on a fresh checkout) is given as a note.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SCENARIOS, Row

LIMIT_MS = 250.0


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}")
    return dt


def _cviscript() -> list[str]:
    exe = Path(sys.executable).with_name("cviscript")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cviscript"]


def run(quick: bool = False) -> list[Row]:
    repeat = 7 if quick else 21
    scenario = str(SCENARIOS / "product-demo.yaml")
    commands = {
        "`cviscript --help`": [*_cviscript(), "--help"],
        # a fresh check; the scenario cache's answer for an unchanged file is in the note
        "`cviscript validate`": [*_cviscript(), "validate", "--no-cache", scenario],
    }
    cached_cmd = [*_cviscript(), "validate", scenario]
    baseline_cmd = [sys.executable, "-c", "pass"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="cviscript-bench-pycache-") as cache:
        scenario_cache = dict(os.environ, CVISCRIPT_CACHE_DIR=cache + "-scenarios")
        scenario_cache.pop("CVISCRIPT_NO_CACHE", None)
        warm = dict(scenario_cache, PYTHONPYCACHEPREFIX=cache)
        warm.pop("PYTHONDONTWRITEBYTECODE", None)
        cold = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=cache + "-none")
        for cmd in commands.values():
            _time(cmd, warm)  # fills the bytecode cache
        for label, cmd in commands.items():
            base, ours, ours_cold, hits = [], [], [], []
            _time(cached_cmd, warm)  # fills the scenario cache
            for _ in range(repeat):
                base.append(_time(baseline_cmd, warm))
                ours.append(_time(cmd, warm))
                ours_cold.append(_time(cmd, cold))
                if "validate" in label:
                    hits.append(_time(cached_cmd, warm))
            b, o, c = (statistics.median(x) * 1000 for x in (base, ours, ours_cold))
            extra = o - b
            note = f"no bytecode cache: +{c - b:.0f} ms; median of {repeat}"
            if hits:
                hit = statistics.median(hits) * 1000
                note = f"with --no-cache; answered by the scenario cache: +{hit - b:.0f} ms; {note}"
            rows.append(
                Row(
                    what=f"{label} start-up",
                    figure=f"{o:.0f} ms (+{extra:.0f} ms)",
                    baseline=f"`python -c pass` {b:.0f} ms",
                    ratio=f"{o / b:.1f}×",
                    target=f"≤ {LIMIT_MS:.0f} ms extra",
                    ok=extra <= LIMIT_MS,
                    note=note,
                )
            )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
