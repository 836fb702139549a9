"""A scenario's state diagram as inline SVG, with what one run did highlighted: the drawing.

The HTML report must be one self-contained file that fetches nothing when it is opened, so the
diagram is laid out in Python (`svg_layout`, over the model in `svg_graph`) and written here as
plain SVG. A compound state is a labelled, rounded box around its own node and the states nested
in it (coloured like the states: ``compound visited`` when a state inside was entered).

`any:` transitions leave a dashed pseudo-state "any state"; transitions that stay in their state
(no `goto`) or re-enter it are loops on the state's right side; an edge across many layers is a
jump, a short arrow to a "→ target: trigger" label. Visited states, the transitions taken and the
state the run ended in carry CSS classes (``visited``, ``taken``, ``end``) that the page styles;
every element has a `<title>` tooltip with the full text.
"""

from __future__ import annotations

from collections import Counter
from html import escape

from .svg_graph import (
    ANY,
    ANY_LABEL,
    LABEL_H,
    NODE_H,
    Edge,
    Graph,
    Item,
    edge_label,
    node_half_width,
)
from .svg_layout import Layout, layout


def render_diagram(
    graph: Graph,
    *,
    visited: Counter[str] | None = None,
    taken: Counter[str] | None = None,
    end_state: str | None = None,
    failed: bool = False,
    uid: str = "d",
) -> str:
    """The diagram as an ``<svg>`` element. `visited`: state -> times entered; `taken`: transition
    id -> times taken; `uid` makes the arrowhead ids unique on a page with several diagrams."""
    taken = taken or Counter()
    drawing = _Drawing(graph, layout(graph, taken), visited or Counter(), taken, uid)
    return drawing.svg(end_state, failed)


class _Drawing:
    """One diagram being drawn: the SVG of its boxes, edges, nodes and labels, in that order
    (later ones are painted over earlier ones)."""

    def __init__(
        self, graph: Graph, lay: Layout, visited: Counter[str], taken: Counter[str], uid: str
    ):
        self.graph, self.lay, self.items = graph, lay, lay.items
        self.visited, self.taken, self.uid = visited, taken, uid
        self.ports = self._ports()
        self.edges: list[str] = []
        self.labels: list[str] = []
        self.nodes: list[str] = []

    def svg(self, end_state: str | None, failed: bool) -> str:
        for i, chain in self.lay.chains.items():
            self._edge(i, chain)
        for key, it in self.items.items():
            if it.kind == "any":
                self._any(it)
            elif it.kind == "state":
                self._state(key, it, end_state, failed)
            else:
                continue
            self._loops(it)
        out = self._head() + self._boxes() + self.edges + self.nodes + self.labels
        out.append("</svg>")
        return "\n".join(out)

    def y_of(self, it: Item) -> float:
        return self.lay.rank_y[it.rank]

    def half_w(self, it: Item) -> float:
        return node_half_width(ANY_LABEL if it.kind == "any" else it.key)

    def arrow(self, n: int) -> str:
        return f"{self.uid}-arrow-{'taken' if n else 'plain'}"

    def _ports(self) -> dict[tuple[int, str], float]:
        """Where each edge meets a state: the edges at a state's bottom (or top) spread out in
        the order they leave."""
        items = self.items
        meeting: dict[tuple[str, str], list[tuple[float, int]]] = {}
        for i, ch in self.lay.chains.items():
            meeting.setdefault((ch[0], "bottom"), []).append((items[ch[1]].x, i))
            if i not in self.lay.jumps:
                meeting.setdefault((ch[-1], "top"), []).append((items[ch[-2]].x, i))
        ports: dict[tuple[int, str], float] = {}
        for (key, side), ends in meeting.items():
            it = items[key]
            ends.sort()
            span = min(self.half_w(it) * 1.4, 18.0 * (len(ends) - 1))
            for n, (_, i) in enumerate(ends):
                off = 0.0 if len(ends) == 1 else -span / 2 + span * n / (len(ends) - 1)
                ports[(i, side)] = it.x + off
        return ports

    def _head(self) -> list[str]:
        lay, uid = self.lay, self.uid
        out = [
            f'<svg class="diagram" xmlns="http://www.w3.org/2000/svg" width="{_f(lay.width)}" '
            f'height="{_f(lay.height)}" viewBox="0 0 {_f(lay.width)} {_f(lay.height)}" role="img" '
            f'aria-label="state diagram">',
            "<defs>",
        ]
        for kind in ("plain", "taken"):
            out.append(
                f'<marker id="{uid}-arrow-{kind}" class="arrow {kind}" viewBox="0 0 10 10" refX="9" '
                'refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                '<path d="M0,0 L10,5 L0,10 z"/></marker>'
            )
        out.append("</defs>")
        return out

    def _edge(self, i: int, chain: list[str]) -> None:
        items, e = self.items, self.graph.edges[i]
        n = self.taken[e.id]
        cls = "edge taken" if n else "edge"
        if e.source == ANY:
            cls += " from-any"
        upper, lower = items[chain[0]], items[chain[-1]]
        pts = [(self.ports[(i, "bottom")], self.y_of(upper) + NODE_H / 2)]
        title = _edge_title(e, n)
        if i in self.lay.jumps:  # a short arrow to its "→ target" label
            pts.append((lower.x + 8, self.y_of(lower) - LABEL_H / 2))
            self.edges.append(
                f'<path class="{cls} jump" data-id="{escape(e.id)}" d="{_curve(pts)}" '
                f'marker-end="url(#{self.arrow(n)})"><title>{title}</title></path>'
            )
            self.labels.append(
                f'<text class="edge-label jump{" taken" if n else ""}" x="{_f(lower.x + 8)}" '
                f'y="{_f(self.y_of(lower) + 4)}">{escape(edge_label(e, n, jump=True))}'
                f"<title>{title}</title></text>"
            )
            return
        label_item, label_end = None, False
        for j, k in enumerate(chain[1:-1], start=1):
            it = items[k]
            px = it.x
            if it.kind == "label":
                # the edge passes the end of the label that faces its neighbours, so it does
                # not cross the text
                label_item = it
                nb = (items[chain[j - 1]].x + items[chain[j + 1]].x) / 2
                label_end = nb > it.x + (it.right - it.left) / 2
                if label_end:
                    px = it.x + it.right - 3
            pts.append((px, self.y_of(it)))
        pts.append((self.ports[(i, "top")], self.y_of(lower) - NODE_H / 2))
        if i in self.lay.reversed:
            pts.reverse()
        self.edges.append(
            f'<path class="{cls}" data-id="{escape(e.id)}" d="{_curve(pts)}" '
            f'marker-end="url(#{self.arrow(n)})"><title>{title}</title></path>'
        )
        if label_item is not None:
            self._label(e, n, label_item, label_end, title)

    def _label(self, e: Edge, n: int, it: Item, at_end: bool, title: str) -> None:
        ly = self.y_of(it) + 4
        if at_end:
            lx, anchor = it.x + it.right - 11, ' text-anchor="end"'
        else:
            lx, anchor = it.x + 8, ""
        self.labels.append(
            f'<text class="edge-label{" taken" if n else ""}" x="{_f(lx)}" y="{_f(ly)}"'
            f"{anchor}>"
            f"{escape(edge_label(e, n))}<title>{title}</title></text>"
        )

    def _any(self, it: Item) -> None:
        hw, cy = self.half_w(it), self.y_of(it)
        x0, y0 = it.x - hw, cy - NODE_H / 2
        self.nodes.append(
            f'<g class="state any"><rect x="{_f(x0)}" y="{_f(y0)}" width="{_f(2 * hw)}" '
            f'height="{NODE_H}" rx="16"/><text x="{_f(it.x)}" y="{_f(cy + 4)}">{ANY_LABEL}'
            "</text><title>transitions under any: apply in every state</title></g>"
        )

    def _state(self, key: str, it: Item, end_state: str | None, failed: bool) -> None:
        graph = self.graph
        hw, cy = self.half_w(it), self.y_of(it)
        x0, y0 = it.x - hw, cy - NODE_H / 2
        classes = ["state"]
        times = self.visited[key]
        if times:
            classes.append("visited")
        if key in graph.finals:
            classes.append("final")
        if key == graph.initial:
            classes.append("initial")
        if key == end_state:
            classes.append("end failed" if failed else "end")
        title = f"{key}: " + (f"entered {times}×" if times else "not entered in this run")
        if key in graph.finals:
            title += " (final state)"
        if key == end_state:
            title += " — the run ended here"
        parts = [
            f'<g class="{" ".join(classes)}" data-state="{escape(key)}">',
            f'<rect x="{_f(x0)}" y="{_f(y0)}" width="{_f(2 * hw)}" height="{NODE_H}" rx="8"/>',
        ]
        if key in graph.finals:
            parts.append(
                f'<rect class="inner" x="{_f(x0 + 3)}" y="{_f(y0 + 3)}" '
                f'width="{_f(2 * hw - 6)}" height="{NODE_H - 6}" rx="6"/>'
            )
        parts.append(f'<text x="{_f(it.x)}" y="{_f(cy + 4)}">{escape(key)}</text>')
        if times > 1:
            parts.append(
                f'<g class="count"><circle cx="{_f(x0)}" cy="{_f(y0)}" r="8"/>'
                f'<text x="{_f(x0)}" y="{_f(y0 + 3.5)}">{times}</text></g>'
            )
        if key == graph.initial:
            parts.append(
                f'<circle class="start" cx="{_f(it.x)}" cy="{_f(y0 - 20)}" r="5"/>'
                f'<path class="start" d="M{_f(it.x)},{_f(y0 - 15)} V{_f(y0 - 1)}" '
                f'marker-end="url(#{self.arrow(times)})"/>'
            )
        parts.append(f"<title>{escape(title)}</title></g>")
        self.nodes.append("".join(parts))

    def _loops(self, it: Item) -> None:
        """Loops on the right side, widest outside, labels stacked to their right."""
        hw, cy = self.half_w(it), self.y_of(it)
        for j, i in enumerate(it.loops):
            e = self.graph.edges[i]
            n = self.taken[e.id]
            reach = 14 + 8 * (j + 1)
            dy = 5 + 3 * j
            xr = it.x + hw
            d = (
                f"M{_f(xr)},{_f(cy - dy)} C{_f(xr + reach)},{_f(cy - dy - 10)} "
                f"{_f(xr + reach)},{_f(cy + dy + 10)} {_f(xr + 1)},{_f(cy + dy)}"
            )
            cls = "edge loop" + (" taken" if n else "") + (" stays" if e.stays else "")
            title = _edge_title(e, n)
            self.edges.append(
                f'<path class="{cls}" data-id="{escape(e.id)}" d="{d}" '
                f'marker-end="url(#{self.arrow(n)})"><title>{title}</title></path>'
            )
            lx = xr + 14 + 8 * len(it.loops) + 4
            ly = cy + 4 + (j - (len(it.loops) - 1) / 2) * 13
            self.labels.append(
                f'<text class="edge-label{" taken" if n else ""}" x="{_f(lx)}" y="{_f(ly)}">'
                f"{escape(edge_label(e, n))}<title>{title}</title></text>"
            )

    def _boxes(self) -> list[str]:
        out = []
        entered: Counter[str] = (
            Counter()
        )  # a compound state counts as entered when a state in it is
        for key, it in self.items.items():
            if it.kind == "state" and self.visited[key]:
                for c in it.path:
                    entered[c] += self.visited[key]
        for c, (bx0, by0, bx1, by1) in self.lay.boxes.items():
            cls = "compound visited" if entered[c] else "compound"
            title = f"{c}: compound state, " + (
                "entered" if entered[c] else "not entered in this run"
            )
            out.append(
                f'<g class="{cls}" data-compound="{escape(c)}"><rect x="{_f(bx0)}" y="{_f(by0)}" '
                f'width="{_f(bx1 - bx0)}" height="{_f(by1 - by0)}" rx="12" fill="none" stroke="#8c959f"/>'
                f'<text x="{_f(bx0 + 10)}" y="{_f(by0 + 14)}">{escape(c)}</text>'
                f"<title>{escape(title)}</title></g>"
            )
        return out


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _curve(points: list[tuple[float, float]]) -> str:
    """A smooth path through `points`, vertical at each of them."""
    (x0, y0), rest = points[0], points[1:]
    d = [f"M{_f(x0)},{_f(y0)}"]
    px, py = x0, y0
    for x, y in rest:
        my = (py + y) / 2
        d.append(f"C{_f(px)},{_f(my)} {_f(x)},{_f(my)} {_f(x)},{_f(y)}")
        px, py = x, y
    return " ".join(d)


def _edge_title(e: Edge, n: int) -> str:
    source = ANY_LABEL if e.source == ANY else e.source
    where = f"{source}: stays (no goto)" if e.stays else f"{source} → {e.target}"
    times = f"taken {n}×" if n else "not taken in this run"
    return escape(f"{e.id}: {e.label} — {where}; {times}")
