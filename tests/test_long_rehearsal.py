"""Ten minutes of simulated conversation: takes no wall time to speak of, same transcript each run."""

from __future__ import annotations

import time

from helpers import scenario_from

from cviscript.sessions.simulated.runner import run_simulated
from cviscript.transcript import dumps

CHATTER = """
cviscript: 1
name: chatter
timeout: 20m
vars: {rounds: 0}
initial: talk
states:
  talk:
    enter:
      - set: {rounds: "{{ vars.rounds + 1 }}"}
      - echo: "Here is fact number {{ vars.rounds }} about our product, told in a few words."
    on:
      - event: replica.stopped_speaking
        goto: listen
  listen:
    on:
      - utterance: {match: "(?i)tell me more"}
        when: "vars.rounds < 80"
        goto: talk
      - utterance: {match: "(?i)tell me more"}
        goto: bye
      - after: 30s
        goto: bye
  bye:
    enter: [{echo: "That was all {{ vars.rounds }} facts."}]
    final: true
rehearsals:
  - name: curious visitor
    user:
      - on: {event: replica.stopped_speaking}
        say: "Interesting, please tell me more about that, I have plenty of time today."
        times: 0
"""


def test_ten_minutes_of_conversation_rehearse_fast_and_identically():
    scenario = scenario_from(CHATTER)
    started = time.process_time()  # CPU time: a loaded machine's pauses are not the run's
    first = run_simulated(scenario)
    cpu = time.process_time() - started
    assert first.result.outcome == "completed"
    assert first.result.vars["rounds"] == 80
    assert first.result.duration >= 600  # virtual seconds
    # a loose sanity bound only; the real speed figure is measured by bench/
    assert cpu < 10
    second = run_simulated(scenario)
    assert dumps(first.trace.records) == dumps(second.trace.records)
