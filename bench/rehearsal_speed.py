"""Rehearsal speed: simulated conversation time per second of wall time.

`bench/scenarios/ten-minutes.yaml` runs a little over ten minutes of conversation (30 rounds of a
templated question, the visitor's answer, a context update and a persona reply, with timers armed
and cancelled in every state) against the simulated replica on the virtual clock. The figure is
the median wall time of whole runs (the scenario is loaded once, as `cviscript rehearse` does),
the baseline the run's own simulated duration in real time. The replica speaks the default 2026
stream (copies, streaming chunks, heartbeats): about four times the messages of a 2024 server, and
the note gives the count, as the time follows it.
"""

from __future__ import annotations

import statistics
import time

from common import Row, fmt_s, scenario


def run(quick: bool = False) -> list[Row]:
    from cviscript.rehearsal.expectations import check
    from cviscript.sessions.simulated.runner import run_simulated

    sc = scenario("ten-minutes.yaml")
    case = sc.rehearsals[0]
    conv = run_simulated(sc, rehearsal=case)  # warm up, and check it does what it says
    failures = check(case.expect, conv.result, conv.trace.records)
    simulated = conv.result.duration
    assert not failures and simulated >= 600, (failures, simulated)
    walls = []
    for _ in range(5 if quick else 25):
        t0 = time.perf_counter()
        run_simulated(sc, rehearsal=case)
        walls.append(time.perf_counter() - t0)
    wall = statistics.median(walls)
    speed = simulated / wall
    return [
        Row(
            what="rehearsal speed, 10 min of simulated conversation",
            figure=fmt_s(wall),
            baseline=f"real time {simulated:.0f} s",
            ratio=f"{speed:,.0f}× faster",
            target="≥ 5,000× faster",
            ok=speed >= 5000,
            note=f"{len(conv.trace.records)} trace records from {len(conv.session.emitted)} messages "
            f"of a 2026 stream; median of {len(walls)} runs",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
