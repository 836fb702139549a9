"""Fidelity: under a 2026-style stream, no event waits — each is handled the instant it arrives.

Today's servers send several copies of one event (role-specific and role-agnostic spellings,
`pal` and `replica` roles, each with its own `seq`); a copy that is dropped must still fill its
`seq`, or the next event waits for the reorder window (250 ms) as if a message were missing — the
defect issue 9 measured live (an utterance arriving at 5.60 s fired its transition at 5.85 s).

A long rehearsal (`bench/scenarios/ten-minutes.yaml`: 30 rounds, a little over ten minutes) runs
against the built-in replica model speaking 2026 and 2024; for every event the engine is handed,
the delay is (virtual time the engine handled it) − (virtual time its message reached the
conversation). On the virtual clock that is exactly 0 when nothing waits, so this is a check of
behaviour, not a performance figure (it used to be a row of `bench/run.py`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from cviscript.engine.conversation import Conversation
from cviscript.engine.engine import Engine
from cviscript.language.validate import load_scenario
from cviscript.sessions.simulated.runner import run_simulated

TEN_MINUTES = Path(__file__).resolve().parent.parent / "bench" / "scenarios" / "ten-minutes.yaml"


def _delays(vintage: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[float], int, Any]:
    sc = load_scenario(TEN_MINUTES)
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

    monkeypatch.setattr(Conversation, "on_message", on_message)
    monkeypatch.setattr(Engine, "handle", handle)
    conv = run_simulated(sc, rehearsal=case)
    monkeypatch.undo()
    assert conv.result is not None and conv.result.outcome == "completed", conv.result
    assert conv.engine.vars["asked"] == 30
    return delays, messages, conv.result


@pytest.mark.parametrize("vintage", ["2026", "2024"])
def test_no_event_waits_for_the_reorder_window(vintage, monkeypatch):
    delays, messages, result = _delays(vintage, monkeypatch)
    assert result.duration > 600  # a ten-minute conversation
    assert delays and max(delays) == 0.0
    if vintage == "2026":  # the copies were there, and were folded without a wait
        assert messages > len(delays) * 1.5
