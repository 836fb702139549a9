"""The state diagram's model: a scenario as states and edges, and the items a layered drawing places.

`scenario_graph` reads the scenario; `svg_layout` places an `Item` per state, edge label and
edge bend; `svg_boxes` keeps compound states' items together; `svg_diagram` draws the result. The
sizes here (character widths, node and label heights) are shared by layout and drawing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.describe import describe_trigger
from ..language.model import Scenario

ANY = "\x00any"  # the pseudo-state `any:` transitions leave (cannot clash with a state name)
ANY_LABEL = "any state"

CHAR_W = 7.3  # px per character of the 12px monospace font the diagram uses (0.6 em)
LABEL_CHAR_W = 6.7  # and of the 11px edge labels
NODE_H = 34
NODE_MIN_W = 84
LABEL_H = 18
RANK_GAP = 20
NODE_GAP = 28
DUMMY_W = 10
MARGIN = 16
TOP = 30  # room for the initial-state marker
LABEL_MAX = 34  # characters of a trigger shown on an edge (the tooltip has all of it)
LONG_SPAN = 4  # an edge across more layers of states than this is drawn as a jump


@dataclass(slots=True)
class Edge:
    id: str  # the transition id, "ask.on[2]" / "any[0]"
    source: str  # a state name, or ANY
    target: str  # a state name (the source itself for a transition that stays)
    label: str  # the trigger, described
    stays: bool = False  # no `goto`: handled without leaving (or re-entering) the state


@dataclass(slots=True)
class Graph:
    states: list[str]
    initial: str
    finals: set[str]
    edges: list[Edge]
    parents: dict[str, str] = field(default_factory=dict)  # a nested state -> its compound state


def scenario_graph(scenario: Scenario) -> Graph:
    """States and transitions of `scenario`, in file order."""
    edges = []
    for t in scenario.any:
        edges.append(Edge(t.id, ANY, t.goto or ANY, describe_trigger(t), t.goto is None))
    for state in scenario.states.values():
        for t in state.on:
            edges.append(
                Edge(t.id, state.name, t.goto or state.name, describe_trigger(t), t.goto is None)
            )
    finals = {s.name for s in scenario.states.values() if s.final}
    parents = {s.name: s.parent for s in scenario.states.values() if s.parent is not None}
    return Graph(list(scenario.states), scenario.initial, finals, edges, parents)


@dataclass(slots=True)
class Item:
    """One thing the layered drawing places: a state, the `any:` pseudo-state, an edge's label,
    or a bend of an edge crossing a layer (a dummy)."""

    key: str
    kind: str  # "state" | "any" | "label" | "dummy"
    rank: int
    left: float  # extent left of x
    right: float  # extent right of x
    x: float = 0.0
    edge: int | None = None  # the edge a label/dummy belongs to
    loops: list[int] = field(default_factory=list)  # self-loop edges of a state
    path: tuple[str, ...] = ()  # the compound states whose box holds it, outermost first


def text_width(text: str, char_w: float = CHAR_W) -> float:
    return len(text) * char_w


def node_half_width(name: str) -> float:
    return max(text_width(name) + 24, NODE_MIN_W) / 2


def shorten(text: str, limit: int = LABEL_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def edge_label(edge: Edge, taken: int, *, jump: bool = False) -> str:
    target = f"→ {edge.target}: " if jump else ""  # a state's name is never shortened
    return target + shorten(edge.label) + (f"  ×{taken}" if taken > 1 else "")
