"""`cviscript graph`: Mermaid and DOT from transitions' diagram support, every state and every
transition drawn, labels escaped, and --highlight marking what a run did."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import tools
from click.testing import CliRunner
from conftest import REPO

from cviscript.cli.main import cli
from cviscript.engine.describe import describe_trigger
from cviscript.language.validate import load_scenario
from cviscript.report import graph as g
from cviscript.sessions.simulated.runner import run_simulated
from cviscript.transcript import TranscriptWriter

SHIPPED = sorted((REPO / "scenarios").glob("*.yaml")) + sorted((REPO / "examples").rglob("*.yaml"))
# flat scenarios: the structure checks below parse flat diagrams; nesting is tested in
# tests/test_compound.py
SHIPPED = [p for p in SHIPPED if p.name != "guided-tour.yaml"]

EDGE = re.compile(r"^\s*(\S+) --> (\S+): (.+)$")
NODE = re.compile(r'^\s*state "([^"]*)" as (\w+)$')

WEIRD = """\
cviscript: 1
name: 'weird: "name"'
initial: tour-deploy
vars: {n: 0}
any:
  - {tool_call: lookup, do: [{tool_result: ok}]}
states:
  tour-deploy:
    on:
      - utterance: {match: "(?:a|b);#c <d> \\"q\\" \\\\d+"}
        when: "vars.n < 3"
        goto: state
      - {event: replica.stopped_speaking, where: {interrupted: true}, goto: end}
  state:
    on: [{after: 2s, goto: a b}]
  end:
    on: [{after: 1s, goto: a b}]
  a b:
    final: true
"""


def mermaid_parts(text: str):
    nodes = dict(NODE.match(line).groups()[::-1] for line in text.splitlines() if NODE.match(line))
    edges = [EDGE.match(line).groups() for line in text.splitlines() if EDGE.match(line)]
    return nodes, edges  # id -> label, [(source, target, description)]


@pytest.fixture(params=SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def scenario(request):
    return load_scenario(request.param)


# --------------------------------------------------------------------------------------- mermaid


def test_mermaid_draws_every_state_and_every_transition(scenario):
    text = g.mermaid(scenario)
    assert text.startswith(f'---\ntitle: "{scenario.name}"\n---\nstateDiagram-v2\n')
    nodes, edges = mermaid_parts(text)
    ids, any_id = g.state_ids(scenario)
    assert {ids[s]: s for s in scenario.states} == {k: v for k, v in nodes.items() if k != any_id}
    assert f"[*] --> {ids[scenario.initial]}" in text
    for name, state in scenario.states.items():
        assert (f"{ids[name]} --> [*]" in text) == state.final
    drawn = {(src, dst): desc for src, dst, desc in edges if dst != "[*]"}
    sources = [(any_id, t) for t in scenario.any]
    sources += [(ids[s], t) for s, st in scenario.states.items() for t in st.on]
    expected: dict[tuple[str, str], list[str]] = {}
    for source, t in sources:  # transitions between the same states share an edge, in order
        target = ids[t.goto] if t.goto else source
        label = g.mermaid_text(describe_trigger(t) + ("" if t.goto else " (stay)"))
        expected.setdefault((source, target), []).append(label)
    assert drawn == {pair: " | ".join(labels) for pair, labels in expected.items()}


def test_mermaid_ids_and_labels_are_safe_for_the_mermaid_grammar():
    sc = load_scenario("weird.yaml", source=WEIRD)
    text = g.mermaid(sc)
    nodes, edges = mermaid_parts(text)
    assert set(nodes.values()) == {"tour-deploy", "state", "end", "a b", "(any state)"}
    assert all(re.fullmatch(r"[A-Za-z_]\w*", i) for i in nodes)
    assert {"state", "end"}.isdisjoint(nodes)  # Mermaid keywords are renamed
    for _src, _dst, desc in edges:  # ':' or ';' would end the label; entity codes stand in
        assert not set(re.sub(r"#\w+;", "", desc)) & set(':;"<>#'), desc
    assert "#58;" in text and "#59;" in text and "#35;" in text and "#quot;" in text
    assert 'title: "weird: \\"name\\""' in text


def test_any_transitions_start_from_one_node_and_stays_loop():
    sc = load_scenario("weird.yaml", source=WEIRD)
    _, edges = mermaid_parts(g.mermaid(sc))
    assert ("any_state", "any_state", "tool_call lookup (stay)") in edges


def test_mermaid_needs_no_graphviz(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    sc = load_scenario(SHIPPED[0])
    assert "stateDiagram-v2" in g.mermaid(sc)
    with pytest.raises(g.GraphError, match=r"pip install 'cviscript\[graph\]'"):
        g.dot(sc)


# ------------------------------------------------------------------------------------------- dot


def dot_structure(text: str):
    """A small structural parse of the DOT transitions writes: nodes, edges with labels."""
    assert text.startswith("digraph ") and text.rstrip().endswith("}")
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)  # braces inside labels do not count
    assert bare.count("{") == bare.count("}")
    nodes = {}
    edges = []
    for line in text.splitlines()[1:-1]:
        line = line.strip()
        if m := re.fullmatch(
            r'("(?:[^"\\]|\\.)*"|\w+) -> ("(?:[^"\\]|\\.)*"|\w+)(?: \[(.*)\])?', line
        ):
            attrs = m.group(3) or ""
            label = re.search(r'(?<!\w)label="((?:[^"\\]|\\.)*)"|(?<!\w)label=(\w+)', attrs)
            tip = re.search(r'(?<!\w)tooltip="((?:[^"\\]|\\.)*)"|(?<!\w)tooltip=(\w+)', attrs)
            edges.append(
                (
                    m.group(1),
                    m.group(2),
                    (label.group(1) or label.group(2)) if label else "",
                    (tip.group(1) or tip.group(2)) if tip else "",
                )
            )
        elif m := re.fullmatch(r'(\w+) \[label=("(?:[^"\\]|\\.)*"|[\w.]+)(.*)\]', line):
            nodes[m.group(1)] = m.group(2).strip('"')
        else:
            assert line.startswith(("graph [", "node [", "edge [")), line
    return nodes, edges


def test_dot_draws_every_state_and_every_transition(scenario):
    tools.module("graphviz", install="graphviz")
    text = g.dot(scenario)
    nodes, edges = dot_structure(text)
    ids, any_id = g.state_ids(scenario)
    for name in scenario.states:
        assert nodes[ids[name]] == g.dot_text(name).replace('"', '\\"')
    assert ("__start__", ids[scenario.initial], "", "") in edges
    sources = [(any_id, t) for t in scenario.any]
    sources += [(ids[s], t) for s, st in scenario.states.items() for t in st.on]
    labels = {(a, b): lab for a, b, lab, _ in edges}
    tips = {(a, b): tip for a, b, _, tip in edges}
    for source, t in sources:
        target = ids[t.goto] if t.goto else source
        full = describe_trigger(t) + ("" if t.goto else " (stay)")
        shown = g.dot_text(g.short_label(full))
        assert len(g.short_label(full)) <= g.LABEL_MAX
        assert shown.replace('"', '\\"') in labels[(source, target)]
        assert g.dot_text(full).replace('"', '\\"') in tips[(source, target)]  # hover: all


def test_dot_output_is_accepted_by_graphviz(scenario):
    tools.module("graphviz", install="graphviz")
    tools.program("dot", install="graphviz")
    for sc in (scenario, load_scenario("weird.yaml", source=WEIRD)):
        proc = subprocess.run(
            ["dot", "-Tcanon"], input=g.dot(sc), capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0 and not proc.stderr, proc.stderr


def test_svg_and_png(tmp_path):
    tools.module("graphviz", install="graphviz")
    tools.program("dot", install="graphviz")
    sc = load_scenario(SHIPPED[0])
    assert b"<svg" in g.render(sc, "svg")
    out = tmp_path / "g.png"
    res = CliRunner().invoke(cli, ["graph", str(SHIPPED[0]), "--format", "png", "-o", str(out)])
    assert res.exit_code == 0 and out.read_bytes().startswith(b"\x89PNG")


def test_svg_without_dot_says_how_to_install_it(monkeypatch):
    tools.module("graphviz", install="graphviz")
    monkeypatch.setattr(g.shutil, "which", lambda _name: None)
    res = CliRunner().invoke(cli, ["graph", str(SHIPPED[0]), "--format", "svg"])
    assert res.exit_code == 2 and "apt-get install graphviz" in res.output


# ------------------------------------------------------------------------------------ highlight


@pytest.fixture
def demo_run(tmp_path):
    path = REPO / "scenarios" / "product-demo.yaml"
    sc = load_scenario(path)
    transcript = tmp_path / "run.jsonl"
    with TranscriptWriter(transcript) as writer:
        conv = run_simulated(sc, rehearsal="visitor cuts in during the tour", subscribers=[writer])
    return path, sc, transcript, conv.result


def test_highlight_marks_visited_states_and_taken_transitions(demo_run):
    path, sc, transcript, result = demo_run
    res = CliRunner().invoke(cli, ["graph", str(path), "--highlight", str(transcript)])
    assert res.exit_code == 0, res.output
    text = res.output
    ids, _ = g.state_ids(sc)
    for name in sc.states:
        style = "s_visited" if name in result.path else "s_default"
        if sc.states[name].final:
            style = "s_visited_final" if name in result.path else "s_final"
        assert f"Class {ids[name]} {style}" in text
    _, edges = mermaid_parts(text)
    marked = [label for _, _, desc in edges for label in desc.split(" | ✔")[1:]]
    marked += [desc for _, _, desc in edges if desc.startswith("✔")]
    taken = [r for r in transcript.read_text().splitlines() if '"kind": "transition"' in r]
    assert len(marked) == len(taken) == len(result.path) - 1
    assert "✔ user.started_speaking" in text  # tour_deploy -> take_over
    assert "after 8s" in text and "✔ after 8s" not in text  # never timed out in this run


def test_highlight_in_dot_colours_taken_edges(demo_run):
    tools.module("graphviz", install="graphviz")
    _, sc, transcript, result = demo_run
    text = g.dot(sc, g.Highlight.from_transcript(transcript))
    taken = [line for line in text.splitlines() if "penwidth=2.5" in line]
    assert len(taken) == len(result.path) - 1 and all("✔" in line for line in taken)
    assert "fillcolor=lightblue" in text


def test_highlight_with_a_transcript_of_another_scenario_is_refused(demo_run, tmp_path):
    _, _, transcript, _ = demo_run
    res = CliRunner().invoke(
        cli, ["graph", str(REPO / "scenarios" / "kiosk.yaml"), "--highlight", str(transcript)]
    )
    assert res.exit_code == 2 and "transcript is of scenario 'product-demo'" in res.output


def test_highlight_warns_about_states_the_scenario_no_longer_has(demo_run):
    _, sc, transcript, _ = demo_run
    h = g.Highlight.from_transcript(transcript)
    h.states["gone"] += 1
    assert "gone" in g.Highlight.check(h, sc)[0]


# ------------------------------------------------------------------------------------------ cli


def test_cli_writes_to_a_file_and_rejects_bad_files(tmp_path):
    out = tmp_path / "g.mmd"
    res = CliRunner().invoke(cli, ["graph", str(SHIPPED[0]), "-o", str(out)])
    assert res.exit_code == 0 and out.read_text().startswith("---\ntitle:")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cviscript: 1\nname: b\ninitial: a\nstates:\n  a: {enter: [{eccho: x}]}\n")
    res = CliRunner().invoke(cli, ["graph", str(bad)])
    assert res.exit_code == 2 and "eccho" in res.output


def test_a_where_clause_reads_as_written_not_as_python(tmp_path):
    # it read "replica.stopped_speaking {'interrupted': False}" in diagrams, lints and coverage
    path = tmp_path / "w.yaml"
    path.write_text(
        "cviscript: 1\nname: w\ninitial: a\nstates:\n  a:\n    on:\n"
        "      - event: replica.stopped_speaking\n        where: {interrupted: false}\n"
        "        goto: b\n  b: {final: true}\n"
    )
    transition = load_scenario(str(path)).states["a"].on[0]
    assert describe_trigger(transition) == "replica.stopped_speaking where {interrupted: false}"


def test_console_shows_tool_arguments_and_results_as_json(tmp_path):
    # they read as Python: "tool call book({'name': 'Ann'})", "tool_result success "{'slot': ...}""
    path = tmp_path / "t.yaml"
    path.write_text(
        "cviscript: 1\nname: t\ninitial: a\nstates:\n  a:\n    on:\n"
        "      - tool_call: book\n        do: [{tool_result: {output: {slot: 3pm, ok: true}}}]\n"
        "        goto: b\n  b: {final: true}\n"
        "rehearsals:\n  - name: r\n    user:\n      - on: {at: 1s}\n"
        "        tool_call: {name: book, arguments: {name: Ann}}\n"
    )
    out = CliRunner().invoke(cli, ["run", str(path)]).output
    assert 'tool call book({"name": "Ann"})' in out
    assert 'tool_result success {"slot": "3pm", "ok": true}' in out
