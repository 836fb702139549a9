"""Run every cviscript benchmark and print one table.

    python bench/run.py            # the full run (a few minutes)
    python bench/run.py --quick    # a short smoke run (fewer rounds, smaller counts)
    python bench/run.py live_latency memory --json out/bench.json

Each benchmark runs in a fresh interpreter, one after another, so none slows another (a heap, a
cache, a warmed allocator). Each figure is compared with a baseline measured in the same run;
the table says which target each one meets. Needs the `bench` extra (`pip install -e '.[bench]'`,
for sismic). Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Row, machine  # noqa: E402

BENCHMARKS = (
    "live_latency",
    "throughput",
    "rehearsal_speed",
    "suite",
    "loading",
    "memory",
    "startup",
    "audio_echo",
    "soak",
)


def run_one(name: str, quick: bool) -> list[Row]:
    code = (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import {name}; "
        f"print('\\n' + json.dumps([r.to_json() for r in {name}.run({quick})]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return [Row(name, "crashed", "—", "—", "—", None, last[:120])]
    return [Row(**r) for r in json.loads(proc.stdout.strip().splitlines()[-1])]


def table(rows: list[Row]) -> str:
    head = ["what", "measured", "baseline (same run)", "ratio", "target", "", "notes"]
    body = [
        [
            r.what,
            r.figure,
            r.baseline,
            r.ratio,
            r.target,
            "PASS" if r.ok else ("MISS" if r.ok is False else "n/a"),
            r.note,
        ]
        for r in rows
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    info = machine()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"cviscript benchmarks{' (quick)' if args.quick else ''}: {info['cpu']}, "
        f"{info['cores']} cores, {info['memory']}, {info['os']}, {info['python']}, "
        f"load average {load:.2f} at start",
        flush=True,
    )
    rows: list[Row] = []
    started = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        got = run_one(name, args.quick)
        rows += got
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print()
    print(table(rows))
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"machine": info, "rows": [r.to_json() for r in rows]}, indent=2) + "\n",
            encoding="utf-8",
        )
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
