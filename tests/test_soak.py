"""Soak: rehearsal after rehearsal in one process without growth; an hour of timers without drift;
a virtual clock whose queue stays as small as what is pending.

The always-on tests are short versions (hundreds of rehearsals, counted in live objects, which is
exact where RSS is noisy); the full 10,000-rehearsal soak is `slow` (CVISCRIPT_SLOW=1) and is also
in `bench/run.py`, which reports its RSS slope.
"""

from __future__ import annotations

import gc
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cviscript.clock import VirtualClock
from cviscript.language.validate import load_scenario
from cviscript.rehearsal.expectations import check
from cviscript.sessions.simulated.runner import run_simulated, simulated_conversation

REPO = Path(__file__).resolve().parent.parent
CASES = [
    (sc, r)
    for sc in (load_scenario(str(p)) for p in sorted((REPO / "scenarios").glob("*.yaml")))
    for r in sc.rehearsals
]


def _rehearse(n: int, start: int = 0) -> int:
    failed = 0
    for i in range(start, start + n):
        sc, r = CASES[i % len(CASES)]
        conv = run_simulated(sc, rehearsal=r)
        failed += bool(check(r.expect, conv.result, conv.trace.records))
    return failed


def _live_objects() -> int:
    gc.collect()
    return len(gc.get_objects())


def test_rehearsals_in_one_process_leave_nothing_behind():
    assert _rehearse(2 * len(CASES)) == 0  # warm every path and cache
    before = _live_objects()
    assert _rehearse(30 * len(CASES), start=0) == 0  # 270 rehearsals
    grown = _live_objects() - before
    # A leak of one trace, one machine or one timer per run would be hundreds of objects a run.
    assert grown < 50, f"{grown} objects left behind by 270 rehearsals"


@pytest.mark.slow
def test_ten_thousand_rehearsals_rss_stays_flat():
    import resource

    def rss_kb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 1024

    samples = []
    failed = 0
    for block in range(40):
        failed += _rehearse(250, start=block * 250)
        samples.append(rss_kb())
    assert failed == 0
    settled = samples[len(samples) // 2 :]
    n = len(settled)
    mx, my = (n - 1) / 2, sum(settled) / n
    slope = sum((i - mx) * (y - my) for i, y in enumerate(settled)) / sum(
        (i - mx) ** 2 for i in range(n)
    )
    per_run = slope / 250
    assert per_run < 1.0, f"RSS grows {per_run:.2f} KB per rehearsal"


# ---------------------------------------------------------------------------------------- timers

HOUR = """
cviscript: 1
name: timer-hour
vars: {ticks: 0}
initial: tick
timeout: 2h
states:
  tick:
    on:
      - after: 1s
        when: "vars.ticks < 3600"
        do:
          - set: {ticks: "{{ vars.ticks + 1 }}"}
        goto: tick
      - after: 1s
        goto: done
      - after: 10m
        goto: done
  done:
    final: true
"""


def test_an_hour_of_a_timer_every_second_has_no_drift():
    sc = load_scenario("hour.yaml", source=HOUR)
    clock = VirtualClock()
    conv = simulated_conversation(sc, None, clock=clock)
    longest = 0

    def stop() -> bool:
        nonlocal longest
        longest = max(longest, clock.queued())
        return conv.done

    conv.start()
    clock.run(stop=stop)
    assert conv.result.outcome == "completed" and conv.result.vars["ticks"] == 3600
    entries = [r.t for r in conv.trace.records if r.kind == "state" and r.data["state"] == "tick"]
    assert len(entries) == 3601
    assert entries == [float(n) for n in range(3601)]  # the Nth firing at exactly N seconds
    assert conv.result.duration == 3601.0
    # Every entry arms a 10-minute timer and cancels it a second later: without purging, 600 of
    # them would wait in the queue at any time.
    assert longest < 300


def test_cancelled_timers_are_purged_and_order_is_kept():
    clock = VirtualClock()
    fired: list[int] = []
    keep = []
    for i in range(5000):
        h = clock.call_later(600.0 + i % 7, fired.append, i)
        if i % 50 == 0:
            keep.append((600.0 + i % 7, i))
        else:
            h.cancel()
        assert clock.queued() < 300
    assert clock.pending() == len(keep)
    clock.run()
    assert fired == [i for _, i in sorted(keep)]  # time order, ties in scheduling order
    assert clock.queued() == 0 and clock.pending() == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 400)), max_size=300))
def test_the_clock_matches_a_naive_model(ops):
    """Random schedules, cancels (also of fired and already cancelled handles) and steps."""
    clock = VirtualClock()
    handles: list = []
    model: dict[int, tuple[float, int]] = {}  # id -> (when, order) of live timers
    fired: list[int] = []
    order = 0
    for op, x in ops:
        if op <= 1:  # schedule
            hid = len(handles)
            handles.append(clock.call_later(x / 10.0, fired.append, hid))
            model[hid] = (clock.now() + x / 10.0, order)
            order += 1
        elif op == 2 and handles:  # cancel any handle, live or not
            hid = x % len(handles)
            handles[hid].cancel()
            model.pop(hid, None)
        elif op == 3:  # run one
            expected = min(model, key=lambda h: model[h]) if model else None
            ran = clock.step()
            assert ran == (expected is not None)
            if expected is not None:
                assert fired[-1] == expected
                del model[expected]
        assert clock.pending() == len(model)
        assert clock.queued() >= clock.pending()
    clock.run()
    assert sorted(fired) == sorted(set(fired))  # nothing ran twice


def test_a_random_mix_of_long_conversations_keeps_the_queue_small():
    rng = random.Random(3)
    clock = VirtualClock()
    convs = []
    for _ in range(40):
        sc, r = rng.choice(CASES)
        convs.append(simulated_conversation(sc, r, clock=clock))
    longest = 0

    def stop() -> bool:
        nonlocal longest
        longest = max(longest, clock.queued())
        return all(c.done for c in convs)

    for c in convs:
        c.start()
    clock.run(stop=stop)
    assert all(c.result.outcome in ("completed", "failed") for c in convs)
    assert longest < 40 * 20
