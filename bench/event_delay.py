"""Added delay of events under a 2026-style stream, on the virtual clock.

Today's servers send several copies of one event (role-specific and role-agnostic spellings,
`pal` and `replica` roles, each with its own `seq`); a copy that is dropped must still fill its
`seq`, or the next event waits for the reorder window (250 ms) as if a message were missing — the
defect issue 9 measured live (an utterance arriving at 5.60 s fired its transition at 5.85 s).

A long rehearsal (`bench/scenarios/ten-minutes.yaml`: 30 rounds, a little over ten minutes) runs
against the built-in replica model speaking its default vintage, 2026. For every event the engine
is handed, the delay is (virtual time the engine handled it) − (virtual time its message reached
the conversation); max and mean are printed, target 0. The same rehearsal against the 2024
vintage (one spelling per event, no copies) is the baseline, in the same run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from common import Row, scenario


def measure(vintage: str) -> dict[str, Any]:
    from cviscript.engine.conversation import Conversation
    from cviscript.engine.engine import Engine
    from cviscript.sessions.simulated.runner import run_simulated

    sc = scenario("ten-minutes.yaml")
    case = sc.rehearsals[0]
    case = dataclasses.replace(case, replica=dataclasses.replace(case.replica, vintage=vintage))
    arrived: dict[int, float] = {}
    delays: list[float] = []
    messages = 0
    real_on_message, real_handle = Conversation.on_message, Engine.handle

    def on_message(self: Conversation, message: Any, sender: str | None = None) -> None:
        nonlocal messages
        messages += 1
        arrived[id(message)] = self.clock.now()
        real_on_message(self, message, sender)

    def handle(self: Engine, event: Any) -> None:
        delays.append(self.clock.now() - arrived.pop(id(event.message)))
        real_handle(self, event)

    Conversation.on_message, Engine.handle = on_message, handle  # type: ignore[method-assign]
    try:
        conv = run_simulated(sc, rehearsal=case)
    finally:
        Conversation.on_message, Engine.handle = real_on_message, real_handle  # type: ignore[method-assign]
    assert conv.result is not None and conv.result.outcome == "completed", conv.result
    assert conv.engine.vars["asked"] == 30, conv.engine.vars
    return {
        "messages": messages,
        "events": len(delays),
        "max": max(delays),
        "mean": sum(delays) / len(delays),
        "duration": conv.result.duration,
    }


def run(quick: bool = False) -> list[Row]:
    today = measure("2026")
    older = measure("2024")
    copies = today["messages"] - today["events"]
    return [
        Row(
            what="added delay of events under a 2026-style stream, virtual clock "
            "(engine handled − message arrived; max / mean)",
            figure=f"{today['max'] * 1000:.1f} ms / {today['mean'] * 1000:.3f} ms",
            baseline=f"2024 stream (no copies) {older['max'] * 1000:.1f} ms / "
            f"{older['mean'] * 1000:.3f} ms",
            ratio="—",
            target="max = 0",
            ok=today["max"] == 0.0,
            note=f"{today['events']} events from {today['messages']} messages ({copies} copies "
            f"and heartbeats folded) over {today['duration'] / 60:.1f} min of rehearsal",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
