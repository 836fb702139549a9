"""Embed cviscript in your own Python code: load a scenario, run it, react to what happens.

    python examples/embed/run_from_python.py [scenarios/kiosk.yaml]

Everything the CLI does is a library call: `load_scenario` gives the validated model,
`run_simulated` runs it against the built-in simulated replica on a virtual clock, and any callable
subscribed to the trace sees every record (state changes, interactions sent, messages received) as
it happens — the same records the JSONL transcript holds.
"""

from __future__ import annotations

import sys

import cviscript
from cviscript.trace import TraceRecord


def _is_replica_speech(event) -> bool:
    return event is not None and event.type == "utterance" and event.role == "replica"


def main(path: str) -> int:
    try:
        scenario = cviscript.load_scenario(path)
    except cviscript.ScenarioError as err:
        for diagnostic in err.diagnostics:  # file:line:col: error: message
            print(diagnostic, file=sys.stderr)
        return 2

    heard: list[str] = []

    def on_record(record: TraceRecord) -> None:
        if record.kind == "state":
            print(f"{record.t:7.2f}s  entered {record.data['state']}")
        elif record.kind == "received" and _is_replica_speech(record.event):
            heard.append(record.event.text or "")

    for case in scenario.rehearsals or [None]:
        name = case.name if case else "(silent user)"
        print(f"--- {scenario.name}: {name}")
        conv = cviscript.run_simulated(scenario, rehearsal=case, subscribers=[on_record])
        result = conv.result
        print(f"outcome: {result.outcome} after {result.duration:.1f}s of conversation")
        print(f"the replica said {len(heard)} things; last: {heard[-1] if heard else '-'}")
        heard.clear()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "scenarios/kiosk.yaml"))
