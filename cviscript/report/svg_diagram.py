"""A scenario's state diagram as inline SVG, with what one run did highlighted.

The HTML report must be one self-contained file that fetches nothing when it is opened, so the
diagram cannot be drawn by Mermaid or Graphviz in the browser; it is laid out here, in Python, and
written as plain SVG. The layout is a small Sugiyama-style layered drawing, enough for the
handful-of-states machines scenarios are:

1. layers: edges that close a cycle (found by a depth-first walk from the initial state) are
   reversed, then every state goes one layer below its lowest predecessor (longest path), so a
   scenario reads top to bottom in the order it runs;
2. every edge becomes a chain through the layers it crosses, with one *label node* as wide as its
   trigger text right next to the state it leaves: labels then take part in the placement and
   never overlap states or each other; an edge across more than `LONG_SPAN` layers of states is a
   *jump* instead, a short arrow to a "→ target: trigger" label (a chain through every layer made
   large scenarios quadratic, and a tangle);
3. each layer is ordered by the barycentre of its neighbours (a few sweeps, the ordering with the
   fewest crossings wins), then x positions are relaxed toward the neighbours' mean while keeping
   the order and the spacing.

A compound state is a labelled, rounded box around its own node and the states nested in it
(`svg_boxes` keeps each box's items together and everything else out of it; coloured like the
states: ``compound visited`` when a state inside was entered).

`any:` transitions leave a dashed pseudo-state "any state"; transitions that stay in their state
(no `goto`) or re-enter it are loops on the state's right side. Visited states, the transitions
taken and the state the run ended in carry CSS classes (``visited``, ``taken``, ``end``) that the
page styles; every element has a `<title>` tooltip with the full text.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from html import escape

from ..engine.describe import describe_trigger
from ..language.model import Scenario
from .svg_boxes import (
    BOX_HEAD,
    BOX_PAD,
    box_x,
    clusters_of,
    common,
    fill,
    group,
    separate,
    stack_margins,
    state_paths,
)

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


# ----------------------------------------------------------------------------------------- layout


@dataclass(slots=True)
class _Item:
    key: str
    kind: str  # "state" | "any" | "label" | "dummy"
    rank: int
    left: float  # extent left of x
    right: float  # extent right of x
    x: float = 0.0
    edge: int | None = None  # the edge a label/dummy belongs to
    loops: list[int] = field(default_factory=list)  # self-loop edges of a state
    path: tuple[str, ...] = ()  # the compound states whose box holds it, outermost first


@dataclass(slots=True)
class _Layout:
    items: dict[str, _Item]
    ranks: list[list[str]]
    chains: dict[int, list[str]]  # edge index -> item keys from upper end to lower end
    reversed: set[int]  # edges drawn upward (they close a cycle)
    jumps: set[int]  # edges drawn as a short arrow to a "→ target" label (they span many layers)
    rank_y: list[float]  # centre y of each rank
    width: float
    height: float
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    # compound state -> its box (x0, y0, x1, y1), outermost first


def _filler(key: str, rank: int, path: tuple[str, ...]) -> _Item:
    return _Item(key, "dummy", rank, 1, 1, path=path)


def _text_w(text: str, char_w: float = CHAR_W) -> float:
    return len(text) * char_w


def _half_w(name: str) -> float:
    return max(_text_w(name) + 24, NODE_MIN_W) / 2


def _short(text: str, limit: int = LABEL_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _edge_label(edge: Edge, taken: int, *, jump: bool = False) -> str:
    target = f"→ {edge.target}: " if jump else ""  # a state's name is never shortened
    return target + _short(edge.label) + (f"  ×{taken}" if taken > 1 else "")


def _layers(graph: Graph) -> tuple[dict[str, int], set[int], list[str]]:
    nodes = list(graph.states)
    if any(e.source == ANY for e in graph.edges):
        nodes.append(ANY)
    out: dict[str, list[tuple[int, str]]] = {n: [] for n in nodes}
    for i, e in enumerate(graph.edges):
        if e.source != e.target and e.target in out and e.source in out:
            out[e.source].append((i, e.target))
    # depth-first from the initial state, then the rest: edges to a state on the stack close a
    # cycle. Iterative (an explicit stack of edge iterators): scenarios can have thousands of states.
    order: list[str] = []
    back: set[int] = set()
    seen: set[str] = set()
    on_stack: set[str] = set()
    starts = [graph.initial] if graph.initial in out else []
    for root in starts + nodes:
        if root in seen:
            continue
        seen.add(root)
        on_stack.add(root)
        order.append(root)
        stack = [(root, iter(out[root]))]
        while stack:
            n, edges = stack[-1]
            for i, m in edges:
                if m in on_stack:
                    back.add(i)
                elif m not in seen:
                    seen.add(m)
                    on_stack.add(m)
                    order.append(m)
                    stack.append((m, iter(out[m])))
                    break
            else:
                stack.pop()
                on_stack.discard(n)
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for n in nodes:
        for i, m in out[n]:
            u, v = (m, n) if i in back else (n, m)
            preds[v].append(u)
            succs[u].append(v)
    layer: dict[str, int] = {}
    indeg = {n: len(preds[n]) for n in nodes}
    ready = deque(n for n in order if indeg[n] == 0)
    while ready:
        n = ready.popleft()
        layer[n] = max((layer[p] + 1 for p in preds[n]), default=0)
        for m in succs[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return layer, back, order


def layout(graph: Graph, taken: Counter[str] | None = None) -> _Layout:
    taken = taken or Counter()
    layer, back, order = _layers(graph)
    items: dict[str, _Item] = {}
    paths = state_paths(graph.states, graph.parents)
    for n in order:
        half = _half_w(ANY_LABEL if n == ANY else n)
        kind = "any" if n == ANY else "state"
        items[n] = _Item(n, kind, 2 * layer[n], half, half, path=paths.get(n, ()))
    chains: dict[int, list[str]] = {}
    jumps: set[int] = set()
    for i, e in enumerate(graph.edges):
        if e.source not in items:
            continue
        if e.source == e.target:
            items[e.source].loops.append(i)
            continue
        if e.target not in items:
            continue
        up, down = (e.target, e.source) if i in back else (e.source, e.target)
        inside = common(items[up].path, items[down].path)  # the boxes the edge stays in
        r0, r1 = items[up].rank, items[down].rank
        if r1 - r0 > 2 * LONG_SPAN:
            # a jump: a short arrow to a label naming the target ("→ target: trigger"), not a
            # chain through every layer between (that was quadratic in large scenarios, and a
            # tangle long before)
            key = f"\x00e{i}"
            source = items[e.source]
            w = _text_w(_edge_label(e, taken[e.id], jump=True), LABEL_CHAR_W) + 10
            items[key] = _Item(key, "label", source.rank + 1, 6, w + 3, edge=i, path=inside)
            chains[i] = [e.source, key]
            jumps.add(i)
            continue
        label_rank = r1 - 1 if i in back else r0 + 1  # the label sits next to the state it leaves
        chain = [up]
        for r in range(r0 + 1, r1):
            key = f"\x00e{i}r{r}"
            if r == label_rank:
                w = _text_w(_edge_label(e, taken[e.id]), LABEL_CHAR_W) + 10
                items[key] = _Item(key, "label", r, 6, w + 3, edge=i, path=inside)
            else:
                half = DUMMY_W / 2
                items[key] = _Item(key, "dummy", r, half, half, edge=i, path=inside)
            chain.append(key)
        chain.append(down)
        chains[i] = chain
    for it in items.values():  # loops and their labels widen a state on its right
        if it.loops:
            labels = [_edge_label(graph.edges[i], taken[graph.edges[i].id]) for i in it.loops]
            it.right += 14 + 8 * len(it.loops) + max(_text_w(t, LABEL_CHAR_W) for t in labels) + 8
    if graph.parents:
        fill(items, _filler)
    n_ranks = max((it.rank for it in items.values()), default=0) + 1
    ranks: list[list[str]] = [[] for _ in range(n_ranks)]
    for key, it in items.items():
        ranks[it.rank].append(key)
    up_nb: dict[str, list[str]] = {k: [] for k in items}
    down_nb: dict[str, list[str]] = {k: [] for k in items}
    for chain in chains.values():
        for a, b in zip(chain, chain[1:], strict=False):
            down_nb[a].append(b)
            up_nb[b].append(a)
    ranks = _order(ranks, up_nb, down_nb)
    nested = bool(graph.parents)
    if nested:
        ranks = group(ranks, items)
    _place(items, ranks, up_nb, down_nb)
    clusters = clusters_of(items) if nested else {}
    if clusters:
        separate(items, ranks, clusters)
        left = min(box_x(cl, items)[0] for cl in clusters.values())
        for it in items.values():  # the outermost boxes' edges, too, right of the margin
            it.x += max(0.0, MARGIN - left)
    # vertical positions: state ranks are taller than label ranks; a box's name goes above its
    # top rank, and nested boxes that start (or end) at one rank stack their margins
    head, foot = stack_margins(clusters, n_ranks)
    rank_y, rank_h, y = [], [], TOP
    for r in range(n_ranks):
        h = NODE_H if r % 2 == 0 else LABEL_H
        y += BOX_HEAD * head[r]
        rank_y.append(y + h / 2)
        rank_h.append(h)
        y += h + BOX_PAD * foot[r] + RANK_GAP
    height = y - RANK_GAP + MARGIN
    boxes = {}
    for c, cl in clusters.items():
        x0, x1 = box_x(cl, items)
        y0 = rank_y[cl.top] - rank_h[cl.top] / 2 - BOX_HEAD * cl.head
        y1 = rank_y[cl.bottom] + rank_h[cl.bottom] / 2 + BOX_PAD * cl.foot
        boxes[c] = (x0, y0, x1, y1)
    width = max((it.x + it.right for it in items.values()), default=0) + MARGIN
    width = max([width] + [b[2] + MARGIN for b in boxes.values()])
    return _Layout(items, ranks, chains, back - jumps, jumps, rank_y, width, height, boxes)


def _crossings(ranks: list[list[str]], down_nb: dict[str, list[str]]) -> int:
    """Edge crossings between consecutive ranks: inversions counted with a Fenwick tree."""
    total = 0
    for upper, lower in zip(ranks, ranks[1:], strict=False):
        pos = {k: i for i, k in enumerate(lower)}
        pairs = sorted((i, pos[b]) for i, a in enumerate(upper) for b in down_nb[a] if b in pos)
        tree = [0] * (len(lower) + 1)
        for seen, (_, low) in enumerate(pairs):
            # earlier pairs (smaller upper position, or the same one) ending right of `low` cross
            # it; those of the same upper node end left of it, as pairs are sorted
            j, not_right = low + 1, 0
            while j > 0:
                not_right += tree[j]
                j -= j & -j
            total += seen - not_right
            j = low + 1
            while j <= len(lower):
                tree[j] += 1
                j += j & -j
    return total


def _order(
    ranks: list[list[str]], up_nb: dict[str, list[str]], down_nb: dict[str, list[str]]
) -> list[list[str]]:
    best, best_c = [list(r) for r in ranks], _crossings(ranks, down_nb)
    cur = [list(r) for r in ranks]
    for sweep in range(8):
        downward = sweep % 2 == 0
        seq = range(1, len(cur)) if downward else range(len(cur) - 2, -1, -1)
        for r in seq:
            ref = cur[r - 1] if downward else cur[r + 1]
            nb = up_nb if downward else down_nb
            pos = {k: i for i, k in enumerate(ref)}

            def bary(k: str, i: int, pos=pos, nb=nb) -> float:
                ps = [pos[n] for n in nb[k] if n in pos]
                return sum(ps) / len(ps) if ps else float(i)

            cur[r] = [k for _, k in sorted(((bary(k, i), i), k) for i, k in enumerate(cur[r]))]
        c = _crossings(cur, down_nb)
        if c < best_c:
            best, best_c = [list(r) for r in cur], c
    return best


def _gap(a: _Item, b: _Item) -> float:
    g = NODE_GAP if a.kind in ("state", "any") and b.kind in ("state", "any") else 8
    if a.path or b.path:  # room for the box edges between them
        g += (BOX_PAD + 4) * (len(a.path) + len(b.path) - 2 * len(common(a.path, b.path)))
    return a.right + b.left + g


def _place(
    items: dict[str, _Item],
    ranks: list[list[str]],
    up_nb: dict[str, list[str]],
    down_nb: dict[str, list[str]],
) -> None:
    for rank in ranks:  # packed from the left
        x = 0.0
        for i, k in enumerate(rank):
            x = x + _gap(items[rank[i - 1]], items[k]) if i else items[k].left
            items[k].x = x
    for _ in range(12):
        for rank in ranks + ranks[::-1]:
            its = [items[k] for k in rank]
            want = []
            for it in its:
                xs = [items[n].x for n in up_nb[it.key] + down_nb[it.key]]
                want.append(sum(xs) / len(xs) if xs else it.x)
            lft, rgt = list(want), list(want)
            for i in range(1, len(its)):  # push right, keeping the order and spacing
                lft[i] = max(lft[i], lft[i - 1] + _gap(its[i - 1], its[i]))
            for i in range(len(its) - 2, -1, -1):  # push left
                rgt[i] = min(rgt[i], rgt[i + 1] - _gap(its[i], its[i + 1]))
            for it, a, b in zip(its, lft, rgt, strict=True):
                it.x = (a + b) / 2  # both are feasible, so is their mean
    shift = MARGIN - min((it.x - it.left for it in items.values()), default=0)
    for it in items.values():
        it.x += shift


# ---------------------------------------------------------------------------------------- drawing


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
    visited = visited or Counter()
    taken = taken or Counter()
    lay = layout(graph, taken)
    items = lay.items

    def y_of(it: _Item) -> float:
        return lay.rank_y[it.rank]

    def half_w(it: _Item) -> float:
        return _half_w(ANY_LABEL if it.kind == "any" else it.key)

    # ports: the edges meeting a state's bottom (or top) spread out in the order they leave
    meeting: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for i, ch in lay.chains.items():
        meeting.setdefault((ch[0], "bottom"), []).append((items[ch[1]].x, i))
        if i not in lay.jumps:
            meeting.setdefault((ch[-1], "top"), []).append((items[ch[-2]].x, i))
    ports: dict[tuple[int, str], float] = {}
    for (key, side), ends in meeting.items():
        it = items[key]
        ends.sort()
        span = min(half_w(it) * 1.4, 18.0 * (len(ends) - 1))
        for n, (_, i) in enumerate(ends):
            off = 0.0 if len(ends) == 1 else -span / 2 + span * n / (len(ends) - 1)
            ports[(i, side)] = it.x + off

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

    edges_svg, labels_svg = [], []
    for i, chain in lay.chains.items():
        e = graph.edges[i]
        n = taken[e.id]
        cls = "edge taken" if n else "edge"
        if e.source == ANY:
            cls += " from-any"
        upper, lower = items[chain[0]], items[chain[-1]]
        pts = [(ports[(i, "bottom")], y_of(upper) + NODE_H / 2)]
        title = _edge_title(e, n)
        arrow = f"{uid}-arrow-{'taken' if n else 'plain'}"
        if i in lay.jumps:  # a short arrow to its "→ target" label
            pts.append((lower.x + 8, y_of(lower) - LABEL_H / 2))
            edges_svg.append(
                f'<path class="{cls} jump" data-id="{escape(e.id)}" d="{_curve(pts)}" '
                f'marker-end="url(#{arrow})"><title>{title}</title></path>'
            )
            labels_svg.append(
                f'<text class="edge-label jump{" taken" if n else ""}" x="{_f(lower.x + 8)}" '
                f'y="{_f(y_of(lower) + 4)}">{escape(_edge_label(e, n, jump=True))}'
                f"<title>{title}</title></text>"
            )
            continue
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
            pts.append((px, y_of(it)))
        pts.append((ports[(i, "top")], y_of(lower) - NODE_H / 2))
        if i in lay.reversed:
            pts.reverse()
        edges_svg.append(
            f'<path class="{cls}" data-id="{escape(e.id)}" d="{_curve(pts)}" '
            f'marker-end="url(#{arrow})"><title>{title}</title></path>'
        )
        if label_item is not None:
            ly = y_of(label_item) + 4
            if label_end:
                lx, anchor = label_item.x + label_item.right - 11, ' text-anchor="end"'
            else:
                lx, anchor = label_item.x + 8, ""
            labels_svg.append(
                f'<text class="edge-label{" taken" if n else ""}" x="{_f(lx)}" y="{_f(ly)}"'
                f"{anchor}>"
                f"{escape(_edge_label(e, n))}<title>{title}</title></text>"
            )

    nodes_svg = []
    for key, it in items.items():
        if it.kind not in ("state", "any"):
            continue
        hw, cy = half_w(it), y_of(it)
        x0, y0 = it.x - hw, cy - NODE_H / 2
        if it.kind == "any":
            nodes_svg.append(
                f'<g class="state any"><rect x="{_f(x0)}" y="{_f(y0)}" width="{_f(2 * hw)}" '
                f'height="{NODE_H}" rx="16"/><text x="{_f(it.x)}" y="{_f(cy + 4)}">{ANY_LABEL}'
                "</text><title>transitions under any: apply in every state</title></g>"
            )
        else:
            classes = ["state"]
            times = visited[key]
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
                    f'marker-end="url(#{uid}-arrow-{"taken" if times else "plain"})"/>'
                )
            parts.append(f"<title>{escape(title)}</title></g>")
            nodes_svg.append("".join(parts))
        # loops on the right side, widest outside, labels stacked to their right
        for j, i in enumerate(it.loops):
            e = graph.edges[i]
            n = taken[e.id]
            reach = 14 + 8 * (j + 1)
            dy = 5 + 3 * j
            xr = it.x + hw
            d = (
                f"M{_f(xr)},{_f(cy - dy)} C{_f(xr + reach)},{_f(cy - dy - 10)} "
                f"{_f(xr + reach)},{_f(cy + dy + 10)} {_f(xr + 1)},{_f(cy + dy)}"
            )
            cls = "edge loop" + (" taken" if n else "") + (" stays" if e.stays else "")
            title = _edge_title(e, n)
            arrow = f"{uid}-arrow-{'taken' if n else 'plain'}"
            edges_svg.append(
                f'<path class="{cls}" data-id="{escape(e.id)}" d="{d}" '
                f'marker-end="url(#{arrow})"><title>{title}</title></path>'
            )
            lx = xr + 14 + 8 * len(it.loops) + 4
            ly = cy + 4 + (j - (len(it.loops) - 1) / 2) * 13
            labels_svg.append(
                f'<text class="edge-label{" taken" if n else ""}" x="{_f(lx)}" y="{_f(ly)}">'
                f"{escape(_edge_label(e, n))}<title>{title}</title></text>"
            )

    boxes_svg = []
    entered: Counter[str] = Counter()  # a compound state counts as entered when a state in it is
    for key, it in items.items():
        if it.kind == "state" and visited[key]:
            for c in it.path:
                entered[c] += visited[key]
    for c, (bx0, by0, bx1, by1) in lay.boxes.items():
        cls = "compound visited" if entered[c] else "compound"
        title = f"{c}: compound state, " + ("entered" if entered[c] else "not entered in this run")
        boxes_svg.append(
            f'<g class="{cls}" data-compound="{escape(c)}"><rect x="{_f(bx0)}" y="{_f(by0)}" '
            f'width="{_f(bx1 - bx0)}" height="{_f(by1 - by0)}" rx="12" fill="none" stroke="#8c959f"/>'
            f'<text x="{_f(bx0 + 10)}" y="{_f(by0 + 14)}">{escape(c)}</text>'
            f"<title>{escape(title)}</title></g>"
        )
    out += boxes_svg + edges_svg + nodes_svg + labels_svg
    out.append("</svg>")
    return "\n".join(out)


def _edge_title(e: Edge, n: int) -> str:
    source = ANY_LABEL if e.source == ANY else e.source
    where = f"{source}: stays (no goto)" if e.stays else f"{source} → {e.target}"
    times = f"taken {n}×" if n else "not taken in this run"
    return escape(f"{e.id}: {e.label} — {where}; {times}")
