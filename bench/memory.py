"""1,000 simulated conversations at once in one process: peak memory per conversation.

Every rehearsal case of the example scenarios (kiosk, product demo, survey), round-robin, each
with its own engine (`transitions` machine), simulated replica, user and kept trace, all created
first and then run together on one virtual clock, so all of them are alive at the peak. Each
outcome is then checked against its case's `expect:` with the rehearsal checker.

Peak memory is Python's own allocations (`tracemalloc`) above what the process held before the
conversations were created; the baseline is the same measure for one conversation alone. Each
measure runs in a fresh interpreter. The resident-set growth (`ru_maxrss`) of the 1,000 is given
as a note: it includes the allocator's own overhead and free lists.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tracemalloc

from common import BENCH, SCENARIOS, Row, fmt_kb

BASES = ("kiosk.yaml", "product-demo.yaml", "survey.yaml")
LIMIT = 150 * 1024


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def measure(n: int, trace_memory: bool) -> dict:
    """In this process: create `n` conversations, run them together, check every outcome."""
    from cviscript.clock import VirtualClock
    from cviscript.language.validate import load_scenario
    from cviscript.rehearsal.expectations import check
    from cviscript.sessions.simulated.runner import run_simulated, simulated_conversation

    scenarios = [load_scenario(str(SCENARIOS / name)) for name in BASES]
    cases = [(sc, r) for sc in scenarios for r in sc.rehearsals]
    for sc, r in cases:  # warm every code path and cache once
        run_simulated(sc, rehearsal=r)
    import gc

    gc.collect()
    rss0 = _rss()
    if trace_memory:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0] if trace_memory else 0
    clock = VirtualClock()
    convs = []
    for i in range(n):
        sc, r = cases[i % len(cases)]
        convs.append((r, simulated_conversation(sc, r, clock=clock)))
    for _, c in convs:
        c.start()
    clock.run(stop=lambda: all(c.done for _, c in convs))
    peak = tracemalloc.get_traced_memory()[1] - base if trace_memory else 0
    if trace_memory:
        tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    wrong = []
    for r, c in convs:
        if not c.done or check(r.expect, c.result, c.trace.records):
            wrong.append(r.name)
    return {
        "n": n,
        "peak": peak,
        "rss_growth": max(0, rss_peak - rss0),
        "wrong": len(wrong),
        "examples": wrong[:3],
    }


def _child(n: int, trace_memory: bool) -> dict:
    code = (
        f"import json, sys; sys.path.insert(0, {str(BENCH)!r}); import memory; "
        f"print(json.dumps(memory.measure({n}, {trace_memory})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[Row]:
    n = 300 if quick else 1000
    one = _child(1, True)
    many = _child(n, True)
    rss = _child(n, False)
    per_one, per_many = one["peak"], many["peak"] / n
    ok = per_many <= LIMIT and many["wrong"] == 0 and one["wrong"] == 0
    note = f"RSS growth {fmt_kb(rss['rss_growth'] / n)} per conversation"
    note += "; all outcomes as expected" if many["wrong"] == 0 else f"; {many['wrong']} WRONG"
    return [
        Row(
            what=f"{n:,} simulated conversations at once, peak memory per conversation",
            figure=fmt_kb(per_many),
            baseline=f"one conversation {fmt_kb(per_one)}",
            ratio=f"{per_many / per_one:.2f}× (limit {fmt_kb(LIMIT)})",
            target="≤ 150 KB each, all outcomes correct",
            ok=ok,
            note=note,
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
