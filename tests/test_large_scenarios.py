"""Large scenarios: `graph` and the HTML report's diagram stay near-linear and never recurse.

A 5,000-state `graph` took 427 s (the `transitions` machine redrew its whole graph after every
transition it was given) and the report's diagram hit `RecursionError` at 1,000 states. The checks
here count work rather than time it: how often the whole graph is drawn, and how many layout items
the diagram builds; one subprocess run gives a generous wall-clock bound as a backstop.
"""

from __future__ import annotations

import dataclasses
import random
import re
import subprocess
import sys
import textwrap

import pytest
import tools
from helpers import scenario_from

from cviscript.report import graph as g
from cviscript.report.svg_diagram import render_diagram
from cviscript.report.svg_graph import scenario_graph
from cviscript.report.svg_layout import crossings, layout

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
        tools.module("graphviz", install="graphviz")
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


def test_the_report_diagram_of_1000_states_is_iterative_and_linear():
    sc = big_scenario(1000)
    graph = scenario_graph(sc)
    lay = layout(graph)
    # every state, one label per edge and few bends: linear in the scenario (a chain through
    # every layer an edge crosses made ring-shaped scenarios quadratic)
    assert len(lay.items) < 3 * (len(graph.states) + len(graph.edges))
    svg = render_diagram(graph)  # the depth-first walk recursed once per state
    assert svg.count('class="state') == 1000 + 1  # and the "any state" node
    assert "→ s" in svg  # long edges are jumps naming their target


def test_the_rehearsal_report_of_a_1000_state_scenario_is_written(tmp_path):
    lines = ["cviscript: 1", "name: big", "initial: s0", "states:"]
    for i in range(1000):
        lines += [
            f"  s{i}:",
            "    on:",
            '      - utterance: "(?i)next"',
            f"        goto: s{i + 1}",
            '      - utterance: "(?i)jump"',
            f"        goto: s{(7 * i + 3) % 1000}",
        ]
    lines += ["  s1000: {final: true}", "rehearsals:", "  - name: first step", "    user:"]
    lines += ["      - on: {at: 1s}", '        say: "next"', "    expect: {path: [s0, s1]}"]
    (tmp_path / "big.yaml").write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "cviscript", "rehearse", "big.yaml", "--html", "r.html"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<g class="state[ "]', html)) == 1001  # every state of the diagram


def _crossings_by_pairs(ranks, down_nb):
    total = 0
    for upper, lower in zip(ranks, ranks[1:], strict=False):
        pos = {k: i for i, k in enumerate(lower)}
        pairs = [(i, pos[b]) for i, a in enumerate(upper) for b in down_nb[a] if b in pos]
        for a in range(len(pairs)):
            for b in range(a + 1, len(pairs)):
                (u1, l1), (u2, l2) = pairs[a], pairs[b]
                total += (u1 - u2) * (l1 - l2) < 0
    return total


def test_crossings_are_counted_as_every_pair_would_count_them():
    rng = random.Random(7)
    for _ in range(200):
        ranks = [[f"r{r}n{i}" for i in range(rng.randint(1, 6))] for r in range(3)]
        down_nb = {k: [] for rank in ranks for k in rank}
        for upper, lower in zip(ranks, ranks[1:], strict=False):
            for a in upper:
                down_nb[a] = rng.sample(lower, rng.randint(0, len(lower)))
                down_nb[a] += rng.sample(lower, rng.randint(0, 1))  # parallel edges too
        assert crossings(ranks, down_nb) == _crossings_by_pairs(ranks, down_nb)


def test_a_graph_of_25_states_is_drawn_top_down_at_a_readable_width():
    tools.module("graphviz", install="graphviz")
    sc = big_scenario(25)
    assert "rankdir=TB" in g.dot(sc)
    assert "rankdir=LR" in g.dot(big_scenario(5))  # small machines still read left to right
    tools.program("dot", install="graphviz")
    svg = g.render(sc, "svg").decode()
    width = float(re.search(r'<svg width="([\d.]+)pt"', svg).group(1))
    assert width < 4000  # 7,570 pt left to right with whole regexes on the edges
    assert "xlink:title=" in svg  # the whole label on hover
