"""Soak: many rehearsals in one process without memory growth; an hour of timers without drift.

* 10,000 rehearsals (every case of the example scenarios, round-robin, each loaded scenario
  reused as `cviscript rehearse` does) in one fresh process. The resident set size is sampled
  every 250 runs; the figure is the least-squares slope of RSS over the second half (after the
  allocator and caches have settled), in KB per 1,000 rehearsals. Memory that leaks per run would
  show as a steady slope; the target is a flat line (below 1 KB per rehearsal).
* One hour of conversation in which an `after: 1s` timer fires every second and re-enters its state
  (`bench/scenarios/timer-hour.yaml`). The virtual clock has no drift: the Nth entry must be at
  exactly N seconds. The clock's queue must stay small although every entry cancels a timer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from common import BENCH, SCENARIOS, Row, fmt_s, scenario

BASES = ("kiosk.yaml", "product-demo.yaml", "survey.yaml")
SAMPLE_EVERY = 250


def _rss_kb() -> float:
    import resource

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1024


def rehearsals(n: int) -> dict:
    """In this process: run `n` rehearsals, sampling RSS."""
    from cviscript.language.validate import load_scenario
    from cviscript.rehearsal.expectations import check
    from cviscript.sessions.simulated.runner import run_simulated

    cases = [
        (sc, r) for sc in (load_scenario(str(SCENARIOS / b)) for b in BASES) for r in sc.rehearsals
    ]
    samples: list[tuple[int, float]] = []
    failed = 0
    t0 = time.perf_counter()
    for i in range(n):
        sc, r = cases[i % len(cases)]
        conv = run_simulated(sc, rehearsal=r)
        if check(r.expect, conv.result, conv.trace.records):
            failed += 1
        if (i + 1) % SAMPLE_EVERY == 0:
            samples.append((i + 1, _rss_kb()))
    return {"samples": samples, "failed": failed, "wall": time.perf_counter() - t0}


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope (y per x)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx if sxx else 0.0


def timer_hour() -> dict:
    from cviscript.clock import VirtualClock
    from cviscript.sessions.simulated.runner import simulated_conversation

    sc = scenario("timer-hour.yaml")
    clock = VirtualClock()
    conv = simulated_conversation(sc, sc.rehearsals[0], clock=clock)
    longest = 0

    def stop() -> bool:
        nonlocal longest
        longest = max(longest, clock.queued())
        return conv.done

    t0 = time.perf_counter()
    conv.start()
    clock.run(stop=stop)
    wall = time.perf_counter() - t0
    entries = [r.t for r in conv.trace.records if r.kind == "state" and r.data["state"] == "tick"]
    drift = max(abs(t - k) for k, t in enumerate(entries))
    return {
        "entries": len(entries),
        "drift": drift,
        "wall": wall,
        "duration": conv.result.duration,
        "outcome": conv.result.outcome,
        "ticks": conv.result.vars.get("ticks"),
        "longest_queue": longest,
    }


def run(quick: bool = False) -> list[Row]:
    n = 1000 if quick else 10_000
    code = (
        f"import json, sys; sys.path.insert(0, {str(BENCH)!r}); import soak; "
        f"print(json.dumps(soak.rehearsals({n})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    samples = res["samples"]
    settled = samples[len(samples) // 2 :]
    per_1000 = slope(settled) * 1000
    first, last = samples[0][1], samples[-1][1]
    rows = [
        Row(
            what=f"soak: {n:,} rehearsals in one process, RSS slope",
            figure=f"{per_1000:+.1f} KB per 1,000 runs",
            baseline=f"RSS {first / 1024:.1f} MB after {samples[0][0]} runs",
            ratio=f"{last / 1024:.1f} MB after {samples[-1][0]}",
            target="no growth (< 1 KB per run)",
            ok=per_1000 < 1000 and res["failed"] == 0,
            note=f"{res['failed']} failed; {fmt_s(res['wall'])} wall",
        )
    ]
    hour = timer_hour()
    ok = (
        hour["drift"] == 0
        and hour["entries"] == 3601
        and hour["ticks"] == 3600
        and hour["outcome"] == "completed"
    )
    rows.append(
        Row(
            what="1 h of simulated conversation, a timer every second: drift",
            figure=f"{hour['drift']:.3g} s after {hour['entries'] - 1} firings",
            baseline=f"real time {hour['duration']:.0f} s",
            ratio=f"{hour['duration'] / hour['wall']:,.0f}× faster ({fmt_s(hour['wall'])})",
            target="no drift (Nth firing at N s)",
            ok=ok,
            note=f"clock queue never above {hour['longest_queue']} entries",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(row)
