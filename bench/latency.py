"""Engine latency: a wire event received → the interaction it causes handed to the session.

The scenario (`bench/scenarios/latency.yaml`) is realistic: the user's answer is a raw wire dict
(as daily delivers it) that is normalised, de-duplicated, recorded in the trace, checked against
an `any:` regex and a `where:` trigger that do not fire and a regex with a named group that does,
guarded by a `when:` expression, and re-enters the state, whose `enter` renders a template into
an echo that is built, JSON-encoded, size-checked and recorded. The clock
is virtual and never run, so only the engine's own work is timed.

Baseline: a bare trigger of the same `transitions` machine class, configured as the engine
configures it (queued, send_event, no auto transitions, invalid triggers ignored), firing the
same shape of transition (an external self-transition with a condition, a `before` callback and
`on_exit`/`on_enter` callbacks) whose callbacks do nothing. The two alternate event by event, so
that both see the same machine noise (a burst of another process's work would otherwise fall
mostly on whichever takes longer).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from common import Row, fmt_us, percentile, scenario

EVENT = {
    "message_type": "conversation",
    "event_type": "conversation.utterance",
    "conversation_id": "c-bench",
    "properties": {"role": "user", "speech": "Hmm, I'd say 4 out of 5."},
}


class _Session:
    conversation_id = "c-bench"

    def __init__(self) -> None:
        self.at = 0
        self.count = 0

    def start(self, sink: Any) -> None:
        self.sink = sink

    def send(self, message: dict[str, Any]) -> None:
        self.at = time.perf_counter_ns()
        self.count += 1

    def close(self) -> None:
        pass

    def observe(self, record: Any) -> None:
        pass


def _conversation(sc: Any) -> tuple[Any, _Session]:
    from cviscript.clock import VirtualClock
    from cviscript.engine.conversation import Conversation

    session = _Session()
    conv = Conversation(sc, session, VirtualClock())  # the trace is kept, as in a real run
    conv.start()
    return conv, session


def _bare_machine() -> tuple[Any, list[int]]:
    from transitions import Machine

    class Model:
        pass

    stamp = [0]

    def noop(_ed: Any) -> None:
        pass

    def enter(_ed: Any) -> None:
        stamp[0] = time.perf_counter_ns()

    model = Model()
    machine = Machine(
        model=model,
        states=[{"name": "ask", "on_enter": enter, "on_exit": noop}],
        initial="ask",
        auto_transitions=False,
        queued=True,
        send_event=True,
        ignore_invalid_triggers=True,
    )
    machine.add_transition("dispatch", "ask", "ask", conditions=[lambda _ed: True], before=noop)
    return model, stamp


def paired_round(sc: Any, n: int) -> tuple[list[int], list[int]]:
    """`n` events through a fresh conversation and `n` bare triggers, alternating one by one (so
    a burst of noise on a shared machine hits both the same)."""
    conv, session = _conversation(sc)
    model, stamp = _bare_machine()
    dispatch = model.dispatch
    clock_ns = time.perf_counter_ns
    eng, bare = [], []
    for i in range(n):
        payload = dict(EVENT)
        payload["seq"] = i + 1
        t0 = clock_ns()
        dispatch(payload)
        bare.append(stamp[0] - t0)
        message = dict(EVENT)
        message["seq"] = i + 1
        sent = session.count
        t0 = clock_ns()
        conv.on_message(message)
        assert session.count == sent + 1, "the event did not cause an interaction"
        eng.append(session.at - t0)
    assert conv.engine.visits["ask"] == n + 1 and not conv.done
    return eng, bare


def run(quick: bool = False) -> list[Row]:
    sc = scenario("latency.yaml")
    rounds, per_round = (6, 300) if quick else (40, 500)
    paired_round(sc, 200)  # warm up caches and the allocator
    eng: list[int] = []
    bare: list[int] = []
    gc.collect()
    for _ in range(rounds):
        e, b = paired_round(sc, per_round)
        eng += e
        bare += b
    eng.sort()
    bare.sort()
    e50, e99 = percentile(eng, 0.50), percentile(eng, 0.99)
    b50, b99 = percentile(bare, 0.50), percentile(bare, 0.99)
    ratio = e99 / b99
    return [
        Row(
            what="engine latency, event received → interaction sent (p50 / p99)",
            figure=f"{fmt_us(e50)} / {fmt_us(e99)}",
            baseline=f"bare `transitions` trigger {fmt_us(b50)} / {fmt_us(b99)}",
            ratio=f"p99 {ratio:.2f}× (p50 {e50 / b50:.2f}×)",
            target="p99 ≤ 3× bare",
            ok=ratio <= 3.0,
            note=f"{len(eng)} events, each right after a bare trigger, in {rounds} conversations",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
