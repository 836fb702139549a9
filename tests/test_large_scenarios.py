"""Large scenarios: `graph` and the HTML report's diagram stay near-linear and never recurse.

A 5,000-state `graph` took 427 s (the `transitions` machine redrew its whole graph after every
transition it was given) and the report's diagram hit `RecursionError` at 1,000 states. The checks
here count work rather than time it: how often the whole graph is drawn, and how many layout items
the diagram builds; one subprocess run gives a generous wall-clock bound as a backstop.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import pytest
from helpers import scenario_from

from cviscript.report import graph as g

SEED = """
cviscript: 1
name: big
initial: s0
any:
  - utterance: "(?i)goodbye"
    goto: s1
states:
  s0:
    enter: [{echo: "Hello"}]
    on:
      - utterance: "(?i)next"
        goto: s1
      - utterance: {contains: [back]}
        when: "visits > 1"
        goto: s1
      - after: 5s
        goto: s1
  s1:
    final: true
"""


def big_scenario(n: int):
    """`n` states in a ring, each with a step forward, a step back and a jump across."""
    seed = scenario_from(SEED)
    proto = seed.states["s0"]
    states = {}
    for i in range(n):
        name = f"s{i}"
        targets = [f"s{(i + 1) % n}", f"s{max(i - 1, 0)}", f"s{(7 * i + 3) % n}"]
        on = [
            dataclasses.replace(t, id=f"{name}.on[{k}]", goto=goto)
            for k, (t, goto) in enumerate(zip(proto.on, targets, strict=True))
        ]
        states[name] = dataclasses.replace(proto, name=name, on=on, final=(i == n - 1))
    return dataclasses.replace(seed, states=states)


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_graph_draws_a_large_scenario_once_not_once_per_transition(fmt, monkeypatch):
    if fmt == "dot":
        pytest.importorskip("graphviz")
    sc = big_scenario(2000)
    drawn = []
    real = g._ScenarioMachine._get_graph

    def counting(self, *args, **kwargs):
        drawn.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(g._ScenarioMachine, "_get_graph", counting)
    text = g.draw(sc, fmt)
    assert len(drawn) <= 2  # once when the model is added (was: after each of 6,000 transitions)
    assert text.count("s1999") >= 1 and len(text) > 100_000


def test_a_5000_state_graph_takes_seconds_in_a_fresh_process():
    code = textwrap.dedent(
        """
        import sys, time
        sys.path.insert(0, "tests")
        from test_large_scenarios import big_scenario
        from cviscript.report.graph import draw
        sc = big_scenario(5000)
        start = time.process_time()
        draw(sc, "mermaid")
        print(time.process_time() - start)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 20  # CPU seconds; about 1.5 s on a laptop (427 s before)
