"""Draw a scenario's state machine with `transitions`' own diagram support.

The scenario becomes a `transitions` `GraphMachine` the way the engine builds its machine (one
machine state per scenario state, one transition per `on:` entry, in order) and `transitions`
draws it: its Mermaid backend (no dependency) or its Graphviz backend (the `graphviz` Python
package, ``pip install 'cviscript[graph]'``; SVG/PNG also need Graphviz's ``dot`` program:
``apt-get install graphviz`` / ``brew install graphviz``). Small subclasses of its graph classes
only adjust what the scenario needs:

* edge labels are the engine's `describe_trigger` (trigger and ``[when ...]`` guard), one per
  transition; transitions between the same two states share one edge, labels joined by `` | ``;
  in Graphviz each is shortened to `LABEL_MAX` characters with the whole text as the edge's
  tooltip, and a scenario of `TOP_DOWN_FROM` states or more is drawn top to bottom, so a diagram
  of 20+ states stays a readable width;
  a transition without `goto` is a loop marked ``(stay)``;
* `any:` transitions start from one extra node, ``(any state)``, instead of from every state;
* final states end in Mermaid's ``[*]`` and get a double border in Graphviz; the initial state
  is entered from ``[*]`` / a start dot;
* Mermaid ids may not contain ``-``, spaces or ``:``, so states get safe ids and keep their real
  names as labels; text is escaped with Mermaid's entity codes (``#58;`` for ``:``, which would
  end a label);
* with a `Highlight` (from a run's transcript) visited states are filled and taken transitions
  are marked ``✔`` (with a count when taken more than once) and drawn bold in Graphviz.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transitions import State
from transitions.extensions.diagrams import GraphMachine
from transitions.extensions.diagrams_mermaid import Graph as _MermaidBase

from ..engine.describe import describe_trigger
from ..errors import CviscriptError
from ..language.model import Scenario, Transition

FORMATS = ("mermaid", "dot", "svg", "png")
ANY_LABEL = "(any state)"
LABEL_MAX = 40  # characters of a transition's label on a Graphviz edge (its tooltip has all)
TOP_DOWN_FROM = 12  # states from which Graphviz draws top to bottom (left to right grows wide)
GRAPHVIZ_PIP_HINT = "pip install 'cviscript[graph]' (the graphviz Python package)"
GRAPHVIZ_DOT_HINT = (
    "Graphviz's dot program is not installed: apt-get install graphviz (Debian/Ubuntu), "
    "brew install graphviz (macOS); or use --format mermaid / dot"
)
_RESERVED = {"state", "note", "class", "classdef", "style", "direction", "hide", "scale", "end"}


class GraphError(CviscriptError):
    """A diagram cannot be made (a missing optional dependency, a transcript of another run)."""


@dataclass(slots=True)
class Highlight:
    """What a run did: states entered and transitions taken, with counts."""

    states: Counter[str] = field(default_factory=Counter)
    transitions: Counter[str] = field(default_factory=Counter)  # transition id -> times taken
    scenario: str | None = None  # the scenario name the transcript's header gives

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Highlight:
        h = cls()
        for r in records:
            kind = r.get("kind")
            if kind == "header":
                h.scenario = r.get("scenario")
            elif kind == "state" and isinstance(r.get("state"), str):
                h.states[r["state"]] += 1
            elif kind == "transition" and isinstance(r.get("id"), str):
                h.transitions[r["id"]] += 1
        return h

    @classmethod
    def from_transcript(cls, path: str | Path) -> Highlight:
        from ..transcript import read_transcript

        header, records = read_transcript(path)
        return cls.from_records([header, *records])

    def check(self, sc: Scenario) -> list[str]:
        """Raise when the transcript is of another scenario; else problems worth a warning."""
        if self.scenario is not None and sc.name and self.scenario != sc.name:
            raise GraphError(
                f"the transcript is of scenario {self.scenario!r}, not {sc.name!r}: "
                "highlight a run of the same scenario"
            )
        ids = {t.id for t in sc.transitions()}
        unknown = sorted(s for s in self.states if s not in sc.states)
        unknown += sorted(t for t in self.transitions if t not in ids)
        if unknown:
            return [
                "the transcript names states or transitions this scenario no longer has "
                f"(edited since the run?): {', '.join(unknown)}"
            ]
        return []


# ------------------------------------------------------------------------------------- escaping

_MERMAID_ENTITIES = {"#": "#35;", ":": "#58;", ";": "#59;", '"': "#quot;", "<": "#lt;", ">": "#gt;"}


def mermaid_text(text: str) -> str:
    """`text` safe inside a Mermaid state label or transition description (one line)."""
    text = " ".join(text.split())
    return "".join(_MERMAID_ENTITIES.get(c, c) for c in text)


def short_label(text: str, limit: int = LABEL_MAX) -> str:
    """An edge label of at most `limit` characters (the tooltip keeps the whole text)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dot_text(text: str) -> str:
    """`text` for a Graphviz label: backslashes are Graphviz escapes (``\\l``), so double them."""
    return " ".join(text.split()).replace("\\", "\\\\")


def state_ids(sc: Scenario) -> tuple[dict[str, str], str]:
    """Scenario state name -> a Mermaid-safe id (the name itself when it already is one), and
    the id of the ``(any state)`` node."""
    ids: dict[str, str] = {}
    used: set[str] = set()

    def unique(base: str) -> str:
        candidate, n = base, 2
        while candidate.lower() in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate.lower())
        return candidate

    for name in sc.states:
        base = re.sub(r"\W", "_", name, flags=re.ASCII) or "state"
        if base[0].isdigit() or base.lower() in _RESERVED:
            base = f"s_{base}"
        ids[name] = unique(base)
    return ids, unique("any_state")


# ------------------------------------------------------------------------- transitions subclasses


class _LabeledState(State):
    """A `transitions` state carrying a display label (markup exports `label`)."""

    def __init__(self, *args: Any, label: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.label = label


class _Labels:
    """Shared by both graph classes: the scenario's own edge labels and highlight marks."""

    machine: Any

    def _edge_text(self, tran: dict[str, Any]) -> str:
        info = self.machine.cv_edges.get(tran.get("trigger"))
        if info is None:  # transitions' own pseudo edges (none in a flat machine)
            return str(tran.get("trigger", ""))
        label, taken = info
        if taken:
            label = ("✔ " if taken == 1 else f"✔×{taken} ") + label
        return label


class _MermaidGraph(_Labels, _MermaidBase):
    def _transition_label(self, tran: dict[str, Any]) -> str:
        return mermaid_text(self._edge_text(tran))

    def _convert_state_attributes(self, state: dict[str, Any]) -> str:
        return mermaid_text(state.get("label", state["name"]))

    def _add_nodes(self, states: list[dict[str, Any]], container: list[str]) -> None:
        super()._add_nodes(states, container)
        container.extend(f"{s['name']} --> [*]" for s in states if s.get("final"))


def _dot_graph_class() -> type:
    try:
        import graphviz  # noqa: F401
    except ImportError:
        raise GraphError(
            f"--format dot/svg/png needs Graphviz support: {GRAPHVIZ_PIP_HINT}"
        ) from None
    from transitions.extensions.diagrams_graphviz import Graph as DotBase

    class _DotGraph(_Labels, DotBase):
        def _transition_label(self, tran: dict[str, Any]) -> str:
            return dot_text(self._edge_text(tran))

        def _convert_state_attributes(self, state: dict[str, Any]) -> str:
            return dot_text(state.get("label", state["name"]))

        def _add_edges(self, transitions: list[dict[str, Any]], container: Any) -> None:
            # as transitions' own, with each label shortened and the full text as the tooltip
            # (an SVG <title>): a long regex or guard no longer sets the drawing's width
            grouped: dict[tuple[str, str], list[str]] = {}
            for tran in transitions:
                key = (tran["source"], tran.get("dest", tran["source"]))
                grouped.setdefault(key, []).append(self._edge_text(tran))
            edge_styles = self.machine.style_attributes.get("edge", {})
            for (src, dst), labels in grouped.items():
                style = self.custom_styles["edge"][src][dst]
                full = dot_text("\n".join(labels))
                container.edge(
                    src,
                    dst,
                    label=dot_text(" | ".join(short_label(text) for text in labels)),
                    tooltip=full,
                    labeltooltip=full,
                    **edge_styles.get(style, {}),
                )

        def get_graph(self, title: str | None = None, roi_state: Any = None) -> Any:
            graph = super().get_graph(title, roi_state)
            graph.node("__start__", label="", shape="point", width="0.15")
            graph.edge("__start__", self.machine.initial)
            return graph

    return _DotGraph


_STYLES: dict[str, Any] = {
    "node": {
        "default": {
            "style": "rounded,filled",
            "shape": "rectangle",
            "fillcolor": "white",
            "color": "black",
            "peripheries": "1",
        },
        "final": {"fillcolor": "white", "color": "black", "peripheries": "2"},
        "any": {"style": "dashed,rounded", "fillcolor": "white", "color": "gray40"},
        "visited": {"fillcolor": "lightblue", "color": "navy", "peripheries": "1"},
        "visited_final": {"fillcolor": "lightblue", "color": "navy", "peripheries": "2"},
    },
    "edge": {"default": {"color": "black"}, "taken": {"color": "navy", "penwidth": "2.5"}},
    "graph": {"default": {"color": "black", "fillcolor": "white", "style": "solid"}},
}


class _ScenarioMachine(GraphMachine):
    state_cls = _LabeledState
    style_attributes = _STYLES

    def __init__(
        self, *, edges: dict[str, tuple[str, int]], dot: bool, top_down: bool, **kwargs: Any
    ):
        self.cv_edges = edges  # trigger (a transition id) -> (label, times taken)
        self.cv_dot = dot
        if top_down:
            self.machine_attributes = {**self.machine_attributes, "rankdir": "TB"}
        super().__init__(**kwargs)

    def _init_graphviz_engine(self, graph_engine: Any) -> type:
        return _dot_graph_class() if self.cv_dot else _MermaidGraph


class _Model:
    """The object `transitions` binds `get_graph` to."""


# ---------------------------------------------------------------------------------------- build


def _edge_label(t: Transition) -> str:
    if t.resume is not None:
        return describe_trigger(t) + " (resume)"
    return describe_trigger(t) + ("" if t.goto else " (stay)")


def _dest(t: Transition) -> str | None:
    return t.goto if t.resume is None else t.resume


def _graph(sc: Scenario, *, dot: bool, highlight: Highlight | None) -> Any:
    ids, any_id = state_ids(sc)
    hl = highlight or Highlight()
    edges = {t.id: (_edge_label(t), hl.transitions.get(t.id, 0)) for t in sc.transitions()}
    states: list[dict[str, Any]] = [
        {"name": ids[name], "label": name, "final": st.final} for name, st in sc.states.items()
    ]
    if sc.any:
        states.append({"name": any_id, "label": ANY_LABEL})
    sources = [(any_id, t) for t in sc.any]
    sources += [(ids[name], t) for name, st in sc.states.items() for t in st.on]
    # trigger = the transition's id: the graph classes find its label and marks by it
    transitions = [
        {"trigger": t.id, "source": source, "dest": ids[_dest(t)] if _dest(t) else None}
        for source, t in sources
    ]
    # No model until every state and transition is in: `GraphMachine` redraws each model's whole
    # graph after every `add_transition`, which made a 5,000-state scenario take minutes.
    machine = _ScenarioMachine(
        edges=edges,
        dot=dot,
        top_down=dot and len(sc.states) >= TOP_DOWN_FROM,
        model=[],
        states=states,
        transitions=transitions,
        initial=ids[sc.initial],
        auto_transitions=False,
        title=sc.name or "scenario",
        graph_engine="graphviz" if dot else "mermaid",
    )
    model = _Model()
    machine.add_model(model)
    graph = machine.model_graphs[id(model)]
    graph.reset_styling()  # transitions marks the model's current state "active": not wanted
    for name, st in sc.states.items():
        visited = hl.states.get(name, 0) > 0
        style = ("visited_" if visited else "") + ("final" if st.final else "")
        graph.set_node_style(ids[name], style.rstrip("_") or "default")
    if sc.any:
        graph.set_node_style(any_id, "any")
    for source, t in sources:
        if hl.transitions.get(t.id):
            graph.custom_styles["edge"][source][ids[_dest(t)] if _dest(t) else source] = "taken"
    title = sc.name or "scenario"
    # Mermaid reads the title from YAML front matter: `title: "..."` (JSON strings are YAML)
    drawn = graph.get_graph(title=title if dot else f"title: {json.dumps(title)}")
    if dot and any(st.children for st in sc.states.values()):
        _clusters(drawn, sc, ids, None)
    return drawn


def _clusters(container: Any, sc: Scenario, ids: dict[str, str], parent: str | None) -> None:
    """Graphviz: each compound state becomes a cluster (a box) holding its node and the states
    inside it, nested as the states are."""
    for name, st in sc.states.items():
        if st.parent != parent or not st.children:
            continue
        with container.subgraph(name=f"cluster_{ids[name]}") as box:
            box.attr(label="", style="rounded,dashed", color="gray50")
            box.node(ids[name])
            for child in st.children:
                if not sc.states[child].children:
                    box.node(ids[child])
            _clusters(box, sc, ids, name)


def _nest_mermaid(source: str, sc: Scenario) -> str:
    """Mermaid: each compound state becomes a composite state (``state tour { ... }``) holding
    the declarations of the states inside it; edges stay where they are."""
    ids, _ = state_ids(sc)
    lines = source.split("\n")
    decl: dict[str, list[str]] = {}
    by_id = {ids[name]: name for name in sc.states}
    kept: list[str] = []
    insert_at = None
    for line in lines:
        words = line.split()
        owner = None
        if line.startswith("  state ") and " as " in line:
            owner = by_id.get(words[-1])
        elif line.startswith("  Class ") and len(words) == 3:
            owner = by_id.get(words[1])
        if owner is None:
            kept.append(line)
            continue
        if insert_at is None:
            insert_at = len(kept)
        decl.setdefault(owner, []).append(line.strip())

    def block(name: str, depth: int) -> list[str]:
        pad = "  " * depth
        st = sc.states[name]
        if not st.children:
            return [pad + line for line in decl.get(name, [])]
        out = [f"{pad}state {ids[name]} {{"]
        for child in st.children:
            out += block(child, depth + 1)
        out.append(pad + "}")  # no `class` line: Mermaid does not style composite states
        return out

    nested: list[str] = []
    for name, st in sc.states.items():
        if st.parent is None:
            nested += block(name, 1)
    at = len(kept) if insert_at is None else insert_at
    return "\n".join(kept[:at] + nested + kept[at:])


def mermaid(sc: Scenario, highlight: Highlight | None = None) -> str:
    """Mermaid ``stateDiagram-v2`` source (front matter with the scenario's name as title);
    compound states are composite states."""
    source = _graph(sc, dot=False, highlight=highlight).source
    if any(st.children for st in sc.states.values()):
        source = _nest_mermaid(source, sc)
    return source + "\n"


def dot(sc: Scenario, highlight: Highlight | None = None) -> str:
    """Graphviz DOT source (compound states are clusters). Needs the `graphviz` Python package
    (the `graph` extra)."""
    return _graph(sc, dot=True, highlight=highlight).source


def render(sc: Scenario, fmt: str, highlight: Highlight | None = None) -> bytes:
    """An SVG or PNG image. Needs the `graphviz` package and Graphviz's ``dot`` program."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"render makes svg or png, not {fmt!r}")
    graph = _graph(sc, dot=True, highlight=highlight)
    import graphviz

    if shutil.which("dot") is None:
        raise GraphError(GRAPHVIZ_DOT_HINT)
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphError(GRAPHVIZ_DOT_HINT) from None
    except graphviz.CalledProcessError as err:
        raise GraphError(f"dot failed: {err.stderr.decode(errors='replace').strip()}") from None


def draw(sc: Scenario, fmt: str, highlight: Highlight | None = None) -> str | bytes:
    """The diagram in `fmt` (one of `FORMATS`): text for mermaid/dot, bytes for svg/png."""
    if fmt == "mermaid":
        return mermaid(sc, highlight)
    if fmt == "dot":
        return dot(sc, highlight)
    if fmt in ("svg", "png"):
        return render(sc, fmt, highlight)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
